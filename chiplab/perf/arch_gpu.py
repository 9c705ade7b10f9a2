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
from chiplab.perf.common import blocked_dram_bytes, gemm_operand_bytes, vector_counts
from chiplab.perf.counts import READ, WRITE, Counts, Level, Max, Operand, Term, over
from chiplab.perf.registry import register
from chiplab.perf.result import Bound

DRAM = ("memory.dram_bandwidth", "arch.dram_efficiency")


@register("gpu")
class GpuModel(ModelBase):
    arch_type = GpuArch

    def vector_counts(self, node: Node, ctx=None) -> Counts:
        """CUDA cores by roofline against HBM, plus a kernel launch."""
        return self.with_overhead(vector_counts(node, self.precision, rate=DRAM), "arch.launch_overhead")

    def matrix_counts(self, node: Node, ctx=None) -> Counts:
        a, g, p = self.arch, node.gemm, self.precision
        tiles_m, tiles_n = math.ceil(g.M / a.tile_m), math.ceil(g.N / a.tile_n)
        tiles = g.batch * tiles_m * tiles_n
        slots = a.sms * a.ctas_per_sm
        waves = math.ceil(tiles / slots)
        # cycles at full tensor efficiency: MACs per cycle per CTA = macs_per_sm / ctas_per_sm
        ideal = waves * a.tile_m * a.tile_n * g.K * a.ctas_per_sm / a.macs_per_sm(p)
        ab, bb, cb = gemm_operand_bytes(node, p)
        e = ab / max(g.batch * g.M * g.K, 1)      # bytes per A element as streamed (conv: ifmap reuse)
        l2_bytes = tiles * g.K * (a.tile_m * e + a.tile_n * bb / max(g.batch * g.K * g.N, 1)) + cb
        dram = blocked_dram_bytes(ab, bb, cb, a.l2, g.batch)
        t = Max((Term(Bound.COMPUTE, ideal, div=("clock_hz", "arch.tensor_efficiency")),
                 over(Bound.SRAM, l2_bytes, "arch.l2_bandwidth"), over(Bound.DRAM, dram, *DRAM)))
        c = Counts(time=t, unit="tensor" if p in a.tensor_macs_per_sm else "cuda", macs=node.macs,
                   compute_cycles=ideal / a.tensor_efficiency,
                   notes=[f"{tiles} tiles of {a.tile_m}x{a.tile_n} in {waves} wave(s) on {a.sms} SMs"])
        w = min(bb, dram - cb)
        c.add(Level.DRAM, Operand.WEIGHT, READ, w).add(Level.DRAM, Operand.INPUT, READ, dram - cb - w)
        c.add(Level.DRAM, Operand.OUTPUT, WRITE, cb)
        c.add(Level.SRAM, Operand.INPUT, READ, l2_bytes - cb).add(Level.SRAM, Operand.OUTPUT, WRITE, cb)
        return self.with_overhead(c, "arch.launch_overhead")
