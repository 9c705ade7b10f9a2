"""Performance model of row-stationary arrays (``arch.kind: row_stationary``, Eyeriss).

Compute (Chen et al., ISCA 2016, section V): a convolution with an R×S filter and a P×Q
output is a logical PE set of R × P PEs, each running a 1-D convolution (S taps, Q outputs:
Q·S MACs). The set is folded onto the array: ``ceil(R / rows)`` folds of the filter rows,
``ceil(P / cols)`` strips of output rows, and replicated ``rows // R`` times over
(image, input channel, filter) triples. Cycles = strips × ceil(triples / replicas) × row
folds × Q·S / MACs per PE. A matrix product is a 1×1 convolution (R = S = Q = 1, P = M).
Memory: traffic and energy are those of the same layer on an equivalent weight-stationary
array whose buffers are the global buffer (activations, psums) and the PE scratchpads
(filters) — the systolic model's tiling — and the layer is never faster than that DRAM
traffic at full bandwidth.
"""
from __future__ import annotations

import dataclasses
import math

from chiplab.hw.arch.rs import RowStationaryArch
from chiplab.ir.graph import Node
from chiplab.perf.arch_systolic import ArrayView, SystolicModel
from chiplab.perf.counts import Counts, Level, Max, cycles, over
from chiplab.perf.registry import register
from chiplab.perf.result import Bound


def rs_cycles(node: Node, rows: int, cols: int, macs_per_pe: float) -> float:
    c, g = node.conv, node.gemm
    if c is not None:
        images, cin, cout, groups = c.N, c.C // c.groups, c.K // c.groups, c.groups
        R, S, P, Q = c.R, c.S, c.P, c.Q
    else:
        images, cin, cout, groups = 1, g.K, g.N, g.batch
        R, S, P, Q = 1, 1, g.M, 1
    r_used = min(R, rows)
    row_folds = math.ceil(R / rows)
    replicas = rows // r_used
    strips = math.ceil(P / cols)
    triples = images * groups * cin * cout
    return strips * math.ceil(triples / replicas) * row_folds * Q * S / macs_per_pe


@register("row_stationary")
class RowStationaryModel(SystolicModel):
    arch_type = RowStationaryArch
    compat_modes = ("default",)

    def array_view(self) -> ArrayView:
        """The memory side: a weight-stationary array whose buffers are the global buffer
        (activations, psums) and the PE scratchpads (filters)."""
        a = self.arch
        return ArrayView(rows=a.rows, cols=a.cols, dataflow="ws", macs_per_pe=a.macs_per_pe,
                         ifmap_sram=a.global_buffer / 2, filter_sram=a.filter_spad * a.rows * a.cols,
                         ofmap_sram=a.global_buffer / 2, double_buffered=True, accumulator_bytes=a.accumulator_bytes)

    def matrix_counts(self, node: Node, res=None) -> Counts:
        mem = super().matrix_counts(node, res)
        a = self.arch
        compute = rs_cycles(node, a.rows, a.cols, a.macs_per_pe[self.precision])
        t = Max((cycles(Bound.COMPUTE, compute), over(Bound.DRAM, mem.bytes(Level.DRAM), "memory.dram_bandwidth")))
        return dataclasses.replace(mem, time=t, compute_cycles=compute, stall_cycles=None,
                                   notes=[f"row-stationary: {a.rows}x{a.cols} PEs; traffic as WS tiling"])
