"""What every roofline-style model shares: construction checks, the run over a graph
(host transfers, fusion of element-wise tails) and dispatch on the op kind.

A subclass sets ``arch_type`` and implements ``matrix_layer``; it may override
``vector_layer``, ``fuses`` (False for an eager framework) and ``host_side`` (True
for the host CPU, where the data already is).
"""
from __future__ import annotations

from chiplab.errors import ChiplabError
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import Graph, GraphError, Node, OpKind
from chiplab.perf.common import add_fused_rows, fusion_plan, host_transfer_layers, hw_block_layer, vector_layer, view_layer
from chiplab.perf.registry import EstimateOptions
from chiplab.perf.result import Bound, LayerEstimate


class ModelBase:
    arch_type: type = object
    fuses: bool = True
    host_side: bool = False

    def __init__(self, chip: ChipSpec, options: EstimateOptions) -> None:
        if not isinstance(chip.arch, self.arch_type):
            raise TypeError(f"{chip.name}: {type(self).__name__} needs a {self.arch_type.__name__}, "
                            f"got arch kind {chip.arch.kind!r}")
        if options.compat != "default":
            raise ChiplabError(f"{chip.name}: --compat {options.compat} applies to systolic arrays only")
        chip.arch.require(options.precision, chip.name)
        self.chip, self.options, self.arch, self.precision = chip, options, chip.arch, options.precision

    @property
    def clock_hz(self) -> float:
        return self.chip.clock_hz

    @property
    def peak_macs_per_cycle(self) -> float:
        return self.arch.peak_macs_per_cycle(self.precision)

    def prepare(self, graph: Graph) -> None:
        """Whole-graph decisions before the layers are priced (e.g. weight residency)."""

    def run(self, graph: Graph) -> list[LayerEstimate]:
        self.prepare(graph)
        before, after = ([], [])
        if self.options.host_transfers and not self.host_side:
            before, after = host_transfer_layers(graph, self.chip, self.precision, self.clock_hz)
        fused = fusion_plan(graph) if self.fuses else {}
        rows = [None if n.name in fused else self.layer(n) for n in graph.nodes]
        return before + add_fused_rows(rows, graph, fused, self.chip, self.precision, self.clock_hz) + after

    def layer(self, node: Node) -> LayerEstimate:
        if node.op.is_matrix:
            if node.gemm is None:
                raise GraphError(f"{node.label}: matrix node without a GemmShape")
            return self.matrix_layer(node)
        if node.op is OpKind.VIEW:
            return view_layer(node)
        if node.op is OpKind.HW_BLOCK:
            return hw_block_layer(node, self.clock_hz)
        if node.op.is_vector:
            return self.vector_layer(node)
        raise ChiplabError(f"{node.label}: op kind {node.op.value!r} has no {self.arch.kind} cost model")

    def matrix_layer(self, node: Node) -> LayerEstimate:  # pragma: no cover - abstract
        raise NotImplementedError

    def vector_layer(self, node: Node) -> LayerEstimate:
        """Default: the vector unit by roofline against DRAM."""
        return vector_layer(node, self.chip, self.precision, self.clock_hz,
                            bandwidth_bytes_per_s=self.chip.memory.dram_bandwidth)

    def add_overhead(self, row: LayerEstimate, seconds: float) -> LayerEstimate:
        """Charge a fixed per-op cost (kernel launch, dispatch); it is the bound when it dominates."""
        if row.latency_s < seconds:
            row.bound = Bound.LAUNCH
        row.latency_s += seconds
        row.cycles += seconds * self.clock_hz
        return row
