"""Systolic "Many-MAC" arrays (TPU-style): the structure a chip file describes."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from chiplab.hw.arch.base import ArchBase, Count, Rates
from chiplab.hw.quantity import Bytes, BytesPerCycle


class SystolicArch(ArchBase):
    """A rows × cols array of MACs ("Many-MAC", TPU-style) with three SRAMs.

    ``macs_per_pe`` gives MACs per PE per cycle for each supported precision (1 for
    a plain 8-bit array). SRAM bandwidths are per buffer, in bytes per cycle; when
    omitted, a buffer is assumed to feed the array edge at full rate.
    """

    kind: Literal["systolic"] = "systolic"
    rows: Count
    cols: Count
    # "flexible": a reconfigurable array that picks, per layer, the dataflow with the fewest
    # cycles (ties: fewer DRAM bytes, then os, ws, is), as MAERI (Kwon et al., ASPLOS 2018) and
    # Eyeriss v2 (Chen et al., IEEE JETCAS 2019) do. Its area is the fixed array's (optimistic:
    # the reconfigurable interconnect costs area that no cited figure here prices).
    dataflow: Literal["os", "ws", "is", "flexible"]
    macs_per_pe: Rates = Field(default_factory=lambda: {"int8": 1.0})
    ifmap_sram: Bytes
    filter_sram: Bytes
    ofmap_sram: Bytes
    ifmap_sram_bandwidth: BytesPerCycle | None = None
    filter_sram_bandwidth: BytesPerCycle | None = None
    ofmap_sram_bandwidth: BytesPerCycle | None = None
    double_buffered: bool = True
    accumulator_bytes: Count = 4   # psum width in the ofmap buffer
    # How a convolution's reduction meets the array rows: "im2col" unrolls C/groups x R x S
    # over the rows (TPU, SCALE-Sim); "channels" unrolls input channels only and steps the
    # R x S filter taps in time, accumulating in place (ZigZag's tpu_like mapping, K x C).
    conv_rows: Literal["im2col", "channels"] = "im2col"
    # Per-operand DRAM ports, as SCALE-Sim's USER bandwidth mode has them (its
    # IfmapSRAMBankBandwidth / FilterSRAMBankBandwidth / Bandwidth, in words per cycle).
    # When omitted, the three operands share memory.dram_bandwidth.
    ifmap_dram_bandwidth: BytesPerCycle | None = None
    filter_dram_bandwidth: BytesPerCycle | None = None
    ofmap_dram_bandwidth: BytesPerCycle | None = None


    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.macs_per_pe)

    @property
    def pes(self) -> int:
        return self.rows * self.cols

    def peak_macs_per_cycle(self, precision: str) -> float:
        self.require(precision)
        return self.pes * self.macs_per_pe[precision]
