"""Performance model of host CPUs, registered for ``arch.kind: cpu``.

It models a framework running one op at a time (PyTorch eager), so nothing is
fused. Per matrix op: time = max(MACs / (cores × SIMD MACs × gemm_efficiency),
cache-blocked DRAM bytes through the last-level cache / (DRAM bandwidth ×
dram_efficiency)) + ``op_overhead`` (dispatch). Non-matrix ops: SIMD lanes by
roofline against the LLC when their bytes fit in it, else DRAM; plus the overhead.
"""
from __future__ import annotations

from chiplab.hw.arch.cpu import CpuArch
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import Graph, Node, OpKind
from chiplab.perf.common import (Actions, blocked_dram_bytes, gemm_operand_bytes, host_transfer_layers, hw_block_layer,
                                 node_bytes, price, utilization, vector_layer, view_layer)
from chiplab.perf.registry import EstimateOptions, register
from chiplab.perf.result import Bound, LayerEstimate


@register("cpu")
class CpuModel:
    def __init__(self, chip: ChipSpec, options: EstimateOptions) -> None:
        if not isinstance(chip.arch, CpuArch):
            raise TypeError(f"{chip.name}: CpuModel needs a cpu arch, got {chip.arch.kind!r}")
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
        # the host is where the data already is: no host-link transfers
        return [self.layer(n) for n in graph.nodes]

    def layer(self, node: Node) -> LayerEstimate:
        if node.op.is_matrix:
            return self.matrix_layer(node)
        if node.op is OpKind.VIEW:
            return view_layer(node)
        if node.op is OpKind.HW_BLOCK:
            return hw_block_layer(node, self.clock_hz)
        if node.op.is_vector:
            read, written = node_bytes(node, self.precision)
            fits = read + written <= self.arch.llc
            llc_bw = self.arch.llc_bandwidth or self.chip.memory.dram_bandwidth
            bw = llc_bw if fits else self.chip.memory.dram_bandwidth * self.arch.dram_efficiency
            row = vector_layer(node, self.chip, self.precision, self.clock_hz, bandwidth_bytes_per_s=bw,
                               memory=Bound.SRAM if fits else Bound.DRAM)
            return self._overhead(row)
        raise ValueError(f"{node.label}: op kind {node.op.value!r} has no CPU cost model")

    def _overhead(self, row: LayerEstimate) -> LayerEstimate:
        t = self.arch.op_overhead
        if row.latency_s < t:
            row.bound = Bound.LAUNCH
        row.latency_s += t
        row.cycles += t * self.clock_hz
        return row

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
        row = self._overhead(row)
        row.utilization = utilization(node.macs, row.cycles, self.peak_macs_per_cycle)
        return row
