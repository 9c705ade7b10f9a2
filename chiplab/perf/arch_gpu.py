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
from chiplab.ir.graph import Node
from chiplab.perf.base import ModelBase
from chiplab.perf.common import Actions, blocked_dram_bytes, gemm_operand_bytes, price, utilization, vector_layer
from chiplab.perf.registry import register
from chiplab.perf.result import Bound, LayerEstimate


@register("gpu")
class GpuModel(ModelBase):
    arch_type = GpuArch

    def vector_layer(self, node: Node) -> LayerEstimate:
        """CUDA cores by roofline against HBM, plus a kernel launch."""
        row = vector_layer(node, self.chip, self.precision, self.clock_hz,
                           bandwidth_bytes_per_s=self.chip.memory.dram_bandwidth * self.arch.dram_efficiency)
        return self.add_overhead(row, self.arch.launch_overhead)

    def matrix_layer(self, node: Node) -> LayerEstimate:
        a, g, p = self.arch, node.gemm, self.precision
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
        row = self.add_overhead(row, a.launch_overhead)
        row.utilization = utilization(node.macs, row.cycles, self.peak_macs_per_cycle)
        return row
