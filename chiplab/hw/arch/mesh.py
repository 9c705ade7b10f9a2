"""Many-core meshes: a 2-D grid of cores, each with local SRAM and a small matrix unit,
joined by a network-on-chip (Tesla D1 / Dojo, Graphcore IPU-like, Xeon Phi-like)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from chiplab.hw.class_knobs import knob_default
from chiplab.hw.arch.base import ArchBase, Count, Rates
from chiplab.hw.quantity import Bandwidth, Bytes, Time


class MeshArch(ArchBase):
    """``mesh_rows × mesh_cols`` cores; each does ``macs_per_core`` MACs per cycle and
    holds ``sram_per_core`` bytes. Neighbouring cores are joined by links of
    ``noc_link_bandwidth`` each way (``topology`` mesh or torus); a message pays
    ``noc_hop_latency`` per hop. ``core_efficiency`` is the fraction of the matrix
    unit's peak a core sustains on its share of a layer (a calibration knob)."""

    kind: Literal["mesh"] = "mesh"
    mesh_rows: Count
    mesh_cols: Count
    macs_per_core: Rates
    sram_per_core: Bytes
    noc_link_bandwidth: Bandwidth
    noc_hop_latency: Time = 0.0
    topology: Literal["mesh", "torus"] = "mesh"
    core_efficiency: float = Field(default=knob_default("mesh", "core_efficiency"), gt=0, le=1)   # hw/class_knobs.yaml


    @property
    def cores(self) -> int:
        return self.mesh_rows * self.mesh_cols

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.macs_per_core)

    def peak_macs_per_cycle(self, precision: str) -> float:
        self.require(precision)
        return self.cores * self.macs_per_core[precision]

    @property
    def bisection_bandwidth(self) -> float:
        """Bytes/s across the narrower cut of the grid (doubled links on a torus)."""
        links = min(self.mesh_rows, self.mesh_cols) * (2 if self.topology == "torus" else 1)
        return links * self.noc_link_bandwidth
