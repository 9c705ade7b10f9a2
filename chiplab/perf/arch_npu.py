"""Performance model of NPUs (``arch.kind: npu``): GEMM engines beside vector cores.

Each GEMM engine is a systolic array, so matrix ops reuse the systolic model
(:mod:`chiplab.perf.arch_systolic`) on an equivalent single array whose three
buffers are carved from the shared SRAM. With several engines, a layer's output is
split across them (images of a batch first, else output rows): the cycles are those
of one engine's share, while energy and DRAM traffic are those of the whole layer
(weights are broadcast, read once). The layer is never faster than the whole layer's
DRAM traffic at full bandwidth. Non-matrix ops run on the vector cores by roofline.
"""
from __future__ import annotations

import dataclasses
import math

from chiplab.hw.arch.npu import NpuArch
from chiplab.ir.graph import GemmShape, Node
from chiplab.perf.arch_systolic import ArrayView, SystolicModel
from chiplab.perf.counts import Counts, Level, Max, over
from chiplab.perf.registry import register
from chiplab.perf.result import Bound


def engine_view(a: NpuArch) -> ArrayView:
    """One GEMM engine with its three buffers carved from the shared SRAM."""
    rest = a.sram * (1 - a.activation_fraction) / 2
    return ArrayView(rows=a.rows, cols=a.cols, dataflow=a.dataflow, macs_per_pe=a.macs_per_pe,
                     ifmap_sram=a.sram * a.activation_fraction, filter_sram=rest, ofmap_sram=rest,
                     ifmap_sram_bandwidth=a.sram_bandwidth, double_buffered=True)


def share(node: Node, parts: int) -> Node:
    """One engine's share of a matrix node when ``parts`` engines split it."""
    if parts == 1:
        return node
    if node.conv is not None:
        c = node.conv
        if c.N >= parts:
            c2 = dataclasses.replace(c, N=math.ceil(c.N / parts))
        else:    # split output rows of the image (halo rows ignored)
            c2 = dataclasses.replace(c, H=max(c.R, math.ceil(c.H / parts)))
        g2 = c2.as_gemm()
        return dataclasses.replace(node, conv=c2, gemm=g2, macs=g2.macs)
    g = node.gemm
    g2 = GemmShape(M=math.ceil(g.M / parts), N=g.N, K=g.K, batch=g.batch, b_is_weight=g.b_is_weight)
    return dataclasses.replace(node, gemm=g2, macs=g2.macs)


@register("npu")
class NpuModel(SystolicModel):
    arch_type = NpuArch
    compat_modes = ("default",)

    def array_view(self) -> ArrayView:
        return engine_view(self.arch)

    def matrix_counts(self, node: Node, res=None) -> Counts:
        whole = super().matrix_counts(node, res)
        if self.arch.arrays == 1:
            return whole
        part = super().matrix_counts(share(node, self.arch.arrays), res)
        t = Max((part.time, over(Bound.DRAM, whole.bytes(Level.DRAM), "memory.dram_bandwidth")))
        return dataclasses.replace(whole, time=t, compute_cycles=part.compute_cycles, stall_cycles=None,
                                   notes=[*whole.notes, f"split over {self.arch.arrays} engines"])
