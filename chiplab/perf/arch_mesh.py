"""Performance model of many-core meshes (``arch.kind: mesh``).

A matrix op is split across the grid in two dimensions: output rows (M) over the
mesh rows, output columns (N) over the mesh columns, so each core computes a
``ceil(M/r) × ceil(N/c)`` block over the full K with its own matrix unit. The cost
of moving data between cores: each A row-block must reach every core of its mesh
row and each B column-block every core of its mesh column; that traffic crosses the
grid's bisection, so t_noc = (A·(c-1) + B·(r-1)) / 2 / bisection bandwidth plus the
hop latency across the grid. Weights that fit in the cores' SRAM (all cores
together) stay resident; otherwise they stream from DRAM. Activations live in the other
half of the SRAM; a layer whose activations (inputs and output) do not fit there reads
and writes them through DRAM once. Time = max(compute, NoC, DRAM); the bound says
which. Element-wise tails fuse into the producing op.
"""
from __future__ import annotations

import math

from chiplab.hw.arch.mesh import MeshArch
from chiplab.ir.graph import Graph, Node
from chiplab.perf.base import ModelBase
from chiplab.perf.common import Actions, gemm_operand_bytes, node_bytes, price, utilization, vector_layer
from chiplab.perf.registry import register
from chiplab.perf.result import Bound, LayerEstimate


@register("mesh")
class MeshModel(ModelBase):
    arch_type = MeshArch
    weights_resident = False   # decided per graph in prepare()

    def prepare(self, graph: Graph) -> None:
        """Weights stay in the cores' SRAM when all of them fit in half of it (the rest holds activations)."""
        total_w = sum(gemm_operand_bytes(n, self.precision)[1] for n in graph.nodes
                      if n.op.is_matrix and n.gemm.b_is_weight)
        self.weights_resident = total_w <= 0.5 * self.arch.cores * self.arch.sram_per_core

    @property
    def activation_capacity(self) -> float:
        """Bytes of the cores' SRAM for a layer's activations: the half weights do not use."""
        return 0.5 * self.arch.cores * self.arch.sram_per_core

    def vector_layer(self, node: Node) -> LayerEstimate:
        """Activations live in the cores' SRAM: on-chip roofline over all lanes (DRAM when they do not fit)."""
        if sum(node_bytes(node, self.precision)) > self.activation_capacity:
            return vector_layer(node, self.chip, self.precision, self.clock_hz,
                                bandwidth_bytes_per_s=self.chip.memory.dram_bandwidth)
        bw = self.chip.vector.lanes * 4 * self.clock_hz    # [A] each lane moves 4 B per cycle from local SRAM
        return vector_layer(node, self.chip, self.precision, self.clock_hz, bandwidth_bytes_per_s=bw,
                            memory=Bound.SRAM)

    def matrix_layer(self, node: Node) -> LayerEstimate:
        a, g, p = self.arch, node.gemm, self.precision
        r, c = a.mesh_rows, a.mesh_cols
        block_macs = g.batch * math.ceil(g.M / r) * math.ceil(g.N / c) * g.K
        compute_cycles = block_macs / (a.macs_per_core[p] * a.core_efficiency)
        ab, bb, cb = gemm_operand_bytes(node, p)
        noc_bytes = ab * (c - 1) + bb * (r - 1)
        hops = (r + c) if a.topology == "mesh" else (r + c) / 2
        t_noc = noc_bytes / 2 / a.bisection_bandwidth + hops * a.noc_hop_latency
        weights_from_dram = g.b_is_weight and not self.weights_resident
        acts_in = ab + (0.0 if g.b_is_weight else bb)
        acts_spill = acts_in + cb > self.activation_capacity     # activations read and written once via DRAM
        dram_write = cb if acts_spill else 0.0
        dram = (bb if weights_from_dram else 0.0) + (acts_in if acts_spill else 0.0) + dram_write
        t_dram = dram / self.chip.memory.dram_bandwidth
        terms = {Bound.COMPUTE: compute_cycles / self.clock_hz, Bound.NOC: t_noc, Bound.DRAM: t_dram}
        bound = max(terms, key=terms.get)
        t = terms[bound]
        acts = Actions(macs=node.macs, dram_read=dram - dram_write, dram_write=dram_write, sram_read=ab + bb + noc_bytes, sram_write=cb + noc_bytes)
        energy, br = price(acts, self.chip, p)
        cycles = t * self.clock_hz
        return LayerEstimate(name=node.label, node=node.name, op=node.op.value, macs=node.macs, cycles=cycles,
                             latency_s=t, energy_j=energy, bound=bound,
                             utilization=utilization(node.macs, cycles, self.peak_macs_per_cycle), unit="cores",
                             dram_bytes=dram, sram_bytes=ab + bb + cb + 2 * noc_bytes, compute_cycles=compute_cycles,
                             energy_breakdown=br, notes=[f"split {r}x{c} over the mesh; NoC {noc_bytes / 1e6:.2f} MB"])
