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
from chiplab.perf.common import Actions, blocked_dram_bytes, gemm_operand_bytes, node_bytes, price, utilization, vector_layer
from chiplab.perf.registry import register
from chiplab.perf.result import Bound, LayerEstimate


@register("cpu")
class CpuModel(ModelBase):
    arch_type = CpuArch
    fuses = False        # eager framework: one op at a time
    host_side = True     # the data is already on the host: no host-link transfers

    def vector_layer(self, node: Node) -> LayerEstimate:
        """SIMD lanes by roofline against the LLC when the op's bytes fit in it, else DRAM."""
        read, written = node_bytes(node, self.precision)
        fits = read + written <= self.arch.llc
        llc_bw = self.arch.llc_bandwidth or self.chip.memory.dram_bandwidth
        bw = llc_bw if fits else self.chip.memory.dram_bandwidth * self.arch.dram_efficiency
        row = vector_layer(node, self.chip, self.precision, self.clock_hz, bandwidth_bytes_per_s=bw,
                           memory=Bound.SRAM if fits else Bound.DRAM)
        return self.add_overhead(row, self.arch.op_overhead)

    def matrix_layer(self, node: Node) -> LayerEstimate:
        a, p = self.arch, self.precision
        t_compute = node.macs / (self.peak_macs_per_cycle * a.gemm_efficiency * self.clock_hz)
        ab, bb, cb = gemm_operand_bytes(node, p)
        dram = blocked_dram_bytes(ab, bb, cb, a.llc)
        t_dram = dram / (self.chip.memory.dram_bandwidth * a.dram_efficiency)
        terms = {Bound.COMPUTE: t_compute, Bound.DRAM: t_dram}
        if a.llc_bandwidth:
            terms[Bound.SRAM] = (ab + bb + cb) / a.llc_bandwidth
        bound = max(terms, key=terms.get)
        t = terms[bound]
        acts = Actions(macs=node.macs, dram_read=dram - cb, dram_write=cb, sram_read=ab + bb, sram_write=cb)
        energy, br = price(acts, self.chip, p)
        row = LayerEstimate(name=node.label, node=node.name, op=node.op.value, macs=node.macs, cycles=t * self.clock_hz,
                            latency_s=t, energy_j=energy, bound=bound, utilization=0.0, unit="simd",
                            dram_bytes=dram, sram_bytes=ab + bb + cb, compute_cycles=t_compute * self.clock_hz,
                            energy_breakdown=br)
        row = self.add_overhead(row, a.op_overhead)
        row.utilization = utilization(node.macs, row.cycles, self.peak_macs_per_cycle)
        return row
