"""Host CPUs: cores with SIMD FMA units, a cache hierarchy and DRAM."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from chiplab.hw.class_knobs import knob_default
from chiplab.hw.arch.base import ArchBase, Count, Rates
from chiplab.hw.quantity import Bandwidth, Bytes, Time


class CpuArch(ArchBase):
    """``simd_macs_per_core`` is MACs per core per cycle by precision (e.g. Haswell AVX2:
    two 256-bit FMA units = 16 fp32 MACs). ``threads`` limits the cores used (default:
    all). ``gemm_efficiency``, ``dram_efficiency`` and ``op_overhead`` are the knobs
    ``chiplab calibrate`` fits to measurements of the machine."""

    kind: Literal["cpu"] = "cpu"
    cores: Count
    threads: Count | None = None
    simd_macs_per_core: Rates
    l1d_per_core: Bytes
    l2_per_core: Bytes
    llc: Bytes
    llc_bandwidth: Bandwidth | None = None
    gemm_efficiency: float = Field(default=knob_default("cpu", "gemm_efficiency"), gt=0, le=1)   # hw/class_knobs.yaml
    dram_efficiency: float = Field(default=knob_default("cpu", "dram_efficiency"), gt=0, le=1)
    op_overhead: Time = knob_default("cpu", "op_overhead")


    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.simd_macs_per_core)

    @property
    def active_cores(self) -> int:
        return min(self.cores, self.threads or self.cores)

    def peak_macs_per_cycle(self, precision: str) -> float:
        self.require(precision)
        return self.active_cores * self.simd_macs_per_core[precision]
