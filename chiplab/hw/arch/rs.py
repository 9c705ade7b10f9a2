"""Row-stationary arrays (Eyeriss; Chen, Emer, Sze, ISCA 2016): each PE runs a 1-D
convolution of one filter row over one input row, so a 2-D convolution needs a logical
PE set of R (filter rows) x E (output rows) PEs, folded and replicated onto the array."""
from __future__ import annotations

from typing import Literal

from chiplab.hw.arch.base import ArchBase, Count, Rates
from chiplab.hw.quantity import Bytes


class RowStationaryArch(ArchBase):
    """``rows × cols`` PEs; a PE set uses R PE rows and up to ``cols`` output rows per pass,
    replicated ``rows // R`` times over (image, channel, filter) triples; each PE does
    ``macs_per_pe`` MACs per cycle. ``global_buffer`` holds activations and psums; each PE
    keeps its filter row in a ``filter_spad`` scratchpad."""

    kind: Literal["row_stationary"] = "row_stationary"
    rows: Count
    cols: Count
    macs_per_pe: Rates
    global_buffer: Bytes
    filter_spad: Bytes
    accumulator_bytes: Count = 2

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.macs_per_pe)

    def peak_macs_per_cycle(self, precision: str) -> float:
        self.require(precision)
        return self.rows * self.cols * self.macs_per_pe[precision]
