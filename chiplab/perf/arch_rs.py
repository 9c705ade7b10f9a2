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

from chiplab.errors import ChiplabError
from chiplab.hw.arch.rs import RowStationaryArch
from chiplab.hw.arch.systolic import SystolicArch
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import Node
from chiplab.perf.arch_systolic import SystolicModel
from chiplab.perf.common import utilization
from chiplab.perf.registry import EstimateOptions, register
from chiplab.perf.result import Bound, LayerEstimate


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
    def __init__(self, chip: ChipSpec, options: EstimateOptions) -> None:
        if not isinstance(chip.arch, RowStationaryArch):
            raise TypeError(f"{chip.name}: RowStationaryModel needs a row_stationary arch, got {chip.arch.kind!r}")
        if options.compat != "default":
            raise ChiplabError(f"{chip.name}: --compat {options.compat} applies to systolic arrays only")
        self.rs = chip.arch
        a = chip.arch
        ws = SystolicArch(kind="systolic", clock=a.clock, rows=a.rows, cols=a.cols, dataflow="ws",
                          macs_per_pe=a.macs_per_pe, ifmap_sram=a.global_buffer / 2,
                          filter_sram=a.filter_spad * a.rows * a.cols, ofmap_sram=a.global_buffer / 2,
                          double_buffered=True, accumulator_bytes=a.accumulator_bytes)
        super().__init__(chip.model_copy(update={"arch": ws}), options)

    def matrix_layer(self, node: Node, res=None) -> LayerEstimate:
        mem = super().matrix_layer(node, res)
        compute = rs_cycles(node, self.rs.rows, self.rs.cols, self.rs.macs_per_pe[self.precision])
        dram_cycles = mem.dram_bytes / self.chip.memory.dram_bandwidth * self.clock_hz
        cycles = max(compute, dram_cycles)
        bound = Bound.COMPUTE if compute >= dram_cycles else Bound.DRAM
        return dataclasses.replace(mem, cycles=cycles, latency_s=cycles / self.clock_hz, compute_cycles=compute,
                                   bound=bound, utilization=utilization(node.macs, cycles, self.peak_macs_per_cycle),
                                   notes=[f"row-stationary: {self.rs.rows}x{self.rs.cols} PEs; traffic as WS tiling"])
