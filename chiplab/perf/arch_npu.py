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

from chiplab.errors import ChiplabError
from chiplab.hw.arch.npu import NpuArch
from chiplab.hw.arch.systolic import SystolicArch
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import GemmShape, Node
from chiplab.perf.arch_systolic import SystolicModel
from chiplab.perf.registry import EstimateOptions, register
from chiplab.perf.result import Bound, LayerEstimate


def as_systolic(chip: ChipSpec) -> ChipSpec:
    """The equivalent single-engine systolic chip (same memory, vector unit, energy)."""
    a: NpuArch = chip.arch
    rest = a.sram * (1 - a.activation_fraction) / 2
    arch = SystolicArch(kind="systolic", clock=a.clock, rows=a.rows, cols=a.cols, dataflow=a.dataflow,
                        macs_per_pe=a.macs_per_pe, ifmap_sram=a.sram * a.activation_fraction, filter_sram=rest,
                        ofmap_sram=rest, ifmap_sram_bandwidth=a.sram_bandwidth, double_buffered=True)
    return chip.model_copy(update={"arch": arch})


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
    def __init__(self, chip: ChipSpec, options: EstimateOptions) -> None:
        if not isinstance(chip.arch, NpuArch):
            raise TypeError(f"{chip.name}: NpuModel needs an npu arch, got {chip.arch.kind!r}")
        if options.compat != "default":
            raise ChiplabError(f"{chip.name}: --compat {options.compat} applies to systolic arrays only")
        self.npu = chip.arch
        super().__init__(as_systolic(chip), options)
        self.npu_chip = chip

    @property
    def peak_macs_per_cycle(self) -> float:
        return self.npu.peak_macs_per_cycle(self.precision)

    def matrix_layer(self, node: Node, res=None) -> LayerEstimate:
        whole = super().matrix_layer(node, res)
        if self.npu.arrays == 1:
            return whole
        part = super().matrix_layer(share(node, self.npu.arrays), res)
        t_dram = whole.dram_bytes / self.chip.memory.dram_bandwidth
        t = max(part.latency_s, t_dram)
        bound = Bound.DRAM if t_dram > part.latency_s else part.bound
        cycles = t * self.clock_hz
        util = node.macs / (self.peak_macs_per_cycle * cycles) if cycles > 0 else 0.0
        return dataclasses.replace(whole, cycles=cycles, latency_s=t, bound=bound, utilization=util,
                                   compute_cycles=part.compute_cycles,
                                   notes=[*whole.notes, f"split over {self.npu.arrays} engines"])
