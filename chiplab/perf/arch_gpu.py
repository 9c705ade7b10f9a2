"""Performance model of GPUs, registered for ``arch.kind: gpu``.

Matrix ops (GEMM, convolution as implicit GEMM) per layer:

* **Tiles and waves**: the output is cut into ``tile_m × tile_n`` tiles, one per CTA;
  ``sms × ctas_per_sm`` run at once, so time is counted in whole waves and whole tiles
  (tile and wave quantization: a 129-row GEMM costs two tile rows; 109 tiles on 108
  SMs cost two waves).
* **Compute**: a tile of depth K takes ``tile_m·tile_n·K / (MACs per SM per cycle ×
  tensor_efficiency / ctas_per_sm)`` cycles on the tensor cores (CUDA cores for fp32
  when the tensor cores have no fp32 rate).
* **Memory**: L2 traffic is every tile reading its A rows and B columns; DRAM traffic
  is the cache-blocked traffic through L2 (:func:`blocked_dram_bytes`) at
  ``dram_efficiency`` of the HBM bandwidth.
* **Launch**: each kernel pays ``launch_overhead``; element-wise tails fused into a
  GEMM/conv epilogue (cuDNN, TensorRT) pay neither launch nor memory.

Time = max(compute, L2, DRAM) + launch; the bound is the largest term. Non-matrix ops
run on the CUDA cores by roofline. Energy = action counts × the chip's energy table.
"""
from __future__ import annotations

import math

from chiplab.hw.arch.gpu import GpuArch
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import Graph, Node, OpKind
from chiplab.perf.common import (Actions, add_fused_rows, blocked_dram_bytes, fusion_plan, gemm_operand_bytes,
                                 host_transfer_layers, hw_block_layer, price, utilization, vector_layer, view_layer)
from chiplab.perf.registry import EstimateOptions, register
from chiplab.perf.result import Bound, LayerEstimate


@register("gpu")
class GpuModel:
    def __init__(self, chip: ChipSpec, options: EstimateOptions) -> None:
        if not isinstance(chip.arch, GpuArch):
            raise TypeError(f"{chip.name}: GpuModel needs a gpu arch, got {chip.arch.kind!r}")
        if options.compat != "default":
            raise ValueError(f"{chip.name}: --compat {options.compat} applies to systolic arrays only")
        chip.arch.require(options.precision, chip.name)
        self.chip, self.options, self.arch, self.precision = chip, options, chip.arch, options.precision

    @property
    def clock_hz(self) -> float:
        return self.chip.clock_hz

    @property
    def peak_macs_per_cycle(self) -> float:
        return self.arch.peak_macs_per_cycle(self.precision)

    def run(self, graph: Graph) -> list[LayerEstimate]:
        before, after = ([], [])
        if self.options.host_transfers:
            before, after = host_transfer_layers(graph, self.chip, self.precision, self.clock_hz)
        fused = fusion_plan(graph)
        rows = [None if n.name in fused else self.layer(n) for n in graph.nodes]
        return before + add_fused_rows(rows, graph, fused, self.chip, self.precision, self.clock_hz) + after

    def layer(self, node: Node) -> LayerEstimate:
        if node.op.is_matrix:
            return self.matrix_layer(node)
        if node.op is OpKind.VIEW:
            return view_layer(node)
        if node.op is OpKind.HW_BLOCK:
            return hw_block_layer(node, self.clock_hz)
        if node.op.is_vector:
            row = vector_layer(node, self.chip, self.precision, self.clock_hz,
                               bandwidth_bytes_per_s=self.chip.memory.dram_bandwidth * self.arch.dram_efficiency)
            return self._add_launch(row)
        raise ValueError(f"{node.label}: op kind {node.op.value!r} has no GPU cost model")

    def _add_launch(self, row: LayerEstimate) -> LayerEstimate:
        t = self.arch.launch_overhead
        if row.latency_s < t:
            row.bound = Bound.LAUNCH
        row.latency_s += t
        row.cycles += t * self.clock_hz
        return row

    def matrix_layer(self, node: Node) -> LayerEstimate:
        a, g, p = self.arch, node.gemm, self.precision
        if g is None:
            raise ValueError(f"{node.label}: matrix node without a GemmShape")
        tiles_m, tiles_n = math.ceil(g.M / a.tile_m), math.ceil(g.N / a.tile_n)
        tiles = g.batch * tiles_m * tiles_n
        slots = a.sms * a.ctas_per_sm
        waves = math.ceil(tiles / slots)
        rate = a.macs_per_sm(p) * a.tensor_efficiency / a.ctas_per_sm     # MACs per cycle per CTA
        t_compute = waves * (a.tile_m * a.tile_n * g.K / rate) / self.clock_hz
        ab, bb, cb = gemm_operand_bytes(node, p)
        e = ab / max(g.batch * g.M * g.K, 1)      # bytes per A element as streamed (conv: ifmap reuse)
        l2_bytes = tiles * g.K * (a.tile_m * e + a.tile_n * bb / max(g.batch * g.K * g.N, 1)) + cb
        dram = blocked_dram_bytes(ab, bb, cb, a.l2)
        t_l2 = l2_bytes / a.l2_bandwidth
        t_dram = dram / (self.chip.memory.dram_bandwidth * a.dram_efficiency)
        terms = {Bound.COMPUTE: t_compute, Bound.SRAM: t_l2, Bound.DRAM: t_dram}
        bound = max(terms, key=terms.get)
        t = terms[bound]
        acts = Actions(macs=node.macs, dram_read=dram - cb, dram_write=cb, sram_read=l2_bytes - cb, sram_write=cb)
        energy, br = price(acts, self.chip, p)
        cycles = t * self.clock_hz
        row = LayerEstimate(name=node.label, node=node.name, op=node.op.value, macs=node.macs, cycles=cycles,
                            latency_s=t, energy_j=energy, bound=bound,
                            utilization=0.0, unit="tensor" if p in a.tensor_macs_per_sm else "cuda",
                            dram_bytes=dram, sram_bytes=l2_bytes, compute_cycles=t_compute * self.clock_hz,
                            energy_breakdown=br,
                            notes=[f"{tiles} tiles of {a.tile_m}x{a.tile_n} in {waves} wave(s) on {a.sms} SMs"])
        row = self._add_launch(row)
        row.utilization = utilization(node.macs, row.cycles, self.peak_macs_per_cycle)
        return row
