"""NPUs / ASICs: one or more fixed MAC arrays (GEMM engines) beside programmable
vector cores, sharing one software-managed SRAM (Goya, Tesla FSD NPU, DianNao,
TPU v2-v4 TensorCores with several MXUs)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from chiplab.hw.arch.base import ArchBase, Count, Rates
from chiplab.hw.quantity import Bytes, BytesPerCycle


class NpuArch(ArchBase):
    """``arrays`` GEMM engines of ``rows × cols`` MACs with a dataflow; a layer's output
    rows are split across the engines (data parallel), weights broadcast to all. The
    ``sram`` is shared: ``activation_fraction`` of it holds activations, the rest is
    split evenly between weights and partial sums. ``vector_cores`` programmable cores
    (the chip's ``vector`` unit gives their total lanes) run everything else."""

    kind: Literal["npu"] = "npu"
    arrays: Count = 1
    rows: Count
    cols: Count
    dataflow: Literal["os", "ws", "is"]
    macs_per_pe: Rates
    sram: Bytes
    sram_bandwidth: BytesPerCycle | None = None
    activation_fraction: float = Field(default=0.5, gt=0, lt=1)
    vector_cores: Count = 1


    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.macs_per_pe)

    def peak_macs_per_cycle(self, precision: str) -> float:
        self.require(precision)
        return self.arrays * self.rows * self.cols * self.macs_per_pe[precision]
