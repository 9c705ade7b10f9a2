"""Performance model of host CPUs, registered for ``arch.kind: cpu``.

It models a framework running one op at a time (PyTorch eager), so nothing is
fused. Per matrix op: time = max(MACs / (cores × SIMD MACs × gemm_efficiency),
cache-blocked DRAM bytes through the last-level cache / (DRAM bandwidth ×
dram_efficiency)) + ``op_overhead`` (dispatch). Non-matrix ops: SIMD lanes by
roofline against the LLC when their bytes fit in it, else DRAM; plus the overhead.
"""
from __future__ import annotations

from chiplab.hw.arch.cpu import CpuArch
from chiplab.ir.graph import Node
from chiplab.perf.base import ModelBase
from chiplab.perf.common import blocked_dram_bytes, gemm_operand_bytes, node_bytes, vector_counts
from chiplab.perf.counts import READ, WRITE, Counts, Level, Max, Operand, Term, over
from chiplab.perf.registry import register
from chiplab.perf.result import Bound

DRAM = ("memory.dram_bandwidth", "arch.dram_efficiency")


@register("cpu")
class CpuModel(ModelBase):
    arch_type = CpuArch
    fuses = False        # eager framework: one op at a time
    host_side = True     # the data is already on the host: no host-link transfers

    def vector_counts(self, node: Node, ctx=None) -> Counts:
        """SIMD lanes by roofline against the LLC when the op's bytes fit in it, else DRAM."""
        read, written = node_bytes(node, self.precision)
        if read + written <= self.arch.llc:
            llc = ("arch.llc_bandwidth",) if self.arch.llc_bandwidth else ("memory.dram_bandwidth",)
            c = vector_counts(node, self.precision, rate=llc, memory=Bound.SRAM)
        else:
            c = vector_counts(node, self.precision, rate=DRAM, memory=Bound.DRAM)
        return self.with_overhead(c, "arch.op_overhead")

    def matrix_counts(self, node: Node, ctx=None) -> Counts:
        a, p = self.arch, self.precision
        ideal = node.macs / self.peak_macs_per_cycle
        ab, bb, cb = gemm_operand_bytes(node, p)
        dram = blocked_dram_bytes(ab, bb, cb, a.llc, node.gemm.batch)
        terms = [Term(Bound.COMPUTE, ideal, div=("clock_hz", "arch.gemm_efficiency")), over(Bound.DRAM, dram, *DRAM)]
        if a.llc_bandwidth:
            terms.append(over(Bound.SRAM, ab + bb + cb, "arch.llc_bandwidth"))
        c = Counts(time=Max(tuple(terms)), unit="simd", macs=node.macs, compute_cycles=ideal / a.gemm_efficiency)
        w = min(bb, dram - cb)
        c.add(Level.DRAM, Operand.WEIGHT, READ, w).add(Level.DRAM, Operand.INPUT, READ, dram - cb - w)
        c.add(Level.DRAM, Operand.OUTPUT, WRITE, cb)
        c.add(Level.SRAM, Operand.INPUT, READ, ab).add(Level.SRAM, Operand.WEIGHT, READ, bb)
        c.add(Level.SRAM, Operand.OUTPUT, WRITE, cb)
        return self.with_overhead(c, "arch.op_overhead")
