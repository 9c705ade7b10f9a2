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

import dataclasses
import math

from chiplab.hw.arch.mesh import MeshArch
from chiplab.ir.graph import Graph, Node
from chiplab.perf.base import ModelBase
from chiplab.perf.common import gemm_operand_bytes, node_bytes, vector_counts, vector_time
from chiplab.perf.counts import READ, WRITE, Counts, Level, Max, Operand, Sum, Term, over, seconds
from chiplab.perf.registry import register
from chiplab.perf.result import Bound


@register("mesh")
class MeshModel(ModelBase):
    arch_type = MeshArch
    weights_resident = False   # decided per graph in prepare()

    def prepare(self, graph: Graph) -> None:
        """Weights stay in the cores' SRAM when all of them fit in half of it (the rest holds activations)."""
        total_w = sum(gemm_operand_bytes(n, self.precision)[1] for n in graph.nodes
                      if n.op.is_matrix and n.gemm.b_is_weight)
        self.weights_resident = total_w <= 0.5 * self.arch.cores * self.arch.sram_per_core

    def plan(self, graph: Graph, passes) -> dict[str, bool]:
        """{matrix node: its weights resident on chip}."""
        self.prepare(graph)
        return {n.name: self.weights_resident for n in graph.nodes if n.op.is_matrix}

    @property
    def activation_capacity(self) -> float:
        """Bytes of the cores' SRAM for a layer's activations: the half weights do not use."""
        return 0.5 * self.arch.cores * self.arch.sram_per_core

    def vector_counts(self, node: Node, ctx=None) -> Counts:
        """Activations live in the cores' SRAM: on-chip roofline over all lanes (DRAM when they do not fit)."""
        if sum(node_bytes(node, self.precision)) > self.activation_capacity:
            return vector_counts(node, self.precision)
        c = vector_counts(node, self.precision, rate=1.0, memory=Bound.SRAM)
        # [A] each lane moves 4 B per cycle from local SRAM
        sram = Term(Bound.SRAM, sum(node_bytes(node, self.precision)) / 4, div=("vector.lanes", "clock_hz"))
        return dataclasses.replace(c, time=Max((vector_time(node), sram)))

    def matrix_counts(self, node: Node, ctx: bool | None = None) -> Counts:
        a, g, p = self.arch, node.gemm, self.precision
        r, c = a.mesh_rows, a.mesh_cols
        block_macs = g.batch * math.ceil(g.M / r) * math.ceil(g.N / c) * g.K
        ideal = block_macs / a.macs_per_core[p]
        ab, bb, cb = gemm_operand_bytes(node, p)
        noc_bytes = ab * (c - 1) + bb * (r - 1)
        hops = (r + c) if a.topology == "mesh" else (r + c) / 2
        t_noc = Sum((over(Bound.NOC, noc_bytes / 2, "arch.bisection_bandwidth"),
                     seconds(Bound.NOC, hops, "arch.noc_hop_latency")))
        weights_from_dram = g.b_is_weight and not (self.weights_resident if ctx is None else ctx)
        acts_in = ab + (0.0 if g.b_is_weight else bb)
        acts_spill = acts_in + cb > self.activation_capacity     # activations read and written once via DRAM
        dram_write = cb if acts_spill else 0.0
        dram = (bb if weights_from_dram else 0.0) + (acts_in if acts_spill else 0.0) + dram_write
        t = Max((Term(Bound.COMPUTE, ideal, div=("clock_hz", "arch.core_efficiency")), t_noc,
                 over(Bound.DRAM, dram, "memory.dram_bandwidth")))
        cn = Counts(time=t, unit="cores", macs=node.macs, compute_cycles=ideal / a.core_efficiency,
                    notes=[f"split {r}x{c} over the mesh; NoC {noc_bytes / 1e6:.2f} MB"])
        cn.add(Level.DRAM, Operand.WEIGHT, READ, bb if weights_from_dram else 0.0)
        cn.add(Level.DRAM, Operand.INPUT, READ, acts_in if acts_spill else 0.0)
        cn.add(Level.DRAM, Operand.OUTPUT, WRITE, dram_write)
        cn.add(Level.SRAM, Operand.INPUT, READ, ab).add(Level.SRAM, Operand.WEIGHT, READ, bb)
        cn.add(Level.SRAM, Operand.OUTPUT, WRITE, cb)
        return cn.add(Level.NOC, Operand.INPUT, READ, ab * (c - 1)).add(Level.NOC, Operand.WEIGHT, READ, bb * (r - 1))
