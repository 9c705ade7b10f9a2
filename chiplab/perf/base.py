"""What every architecture class shares: construction checks and dispatch on the op kind.

An architecture class *counts*: it sets ``arch_type`` and implements ``matrix_counts``
(a node → :class:`~chiplab.perf.counts.Counts`); it may override ``vector_counts``,
``plan`` (whole-graph decisions, e.g. which activations stay on chip), ``fuses`` (False
for an eager framework) and ``host_side`` (True for the host CPU, where the data already
is). The one run over a graph — passes, plan, counts, pricing, host transfers — is
:func:`chiplab.perf.runner.run`; :mod:`chiplab.perf.price` prices the counts.
"""
from __future__ import annotations

from typing import Any

from chiplab.errors import ChiplabError
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import Graph, GraphError, Node, OpKind
from chiplab.perf.common import hw_block_counts, vector_counts, view_counts
from chiplab.perf.counts import Bound, Counts, Sum, seconds
from chiplab.perf.passes import Plan
from chiplab.perf.price import price_row
from chiplab.perf.registry import EstimateOptions
from chiplab.perf.result import LayerEstimate


class ModelBase:
    arch_type: type = object
    fuses: bool = True
    host_side: bool = False
    compat_modes: tuple[str, ...] = ("default",)

    def __init__(self, chip: ChipSpec, options: EstimateOptions) -> None:
        if not isinstance(chip.arch, self.arch_type):
            raise TypeError(f"{chip.name}: {type(self).__name__} needs a {self.arch_type.__name__}, "
                            f"got arch kind {chip.arch.kind!r}")
        if options.compat not in self.compat_modes:
            if options.compat in ("default", "scalesim"):
                raise ChiplabError(f"{chip.name}: --compat {options.compat} applies to systolic arrays only")
            raise ChiplabError(f"compat: unknown {options.compat!r} (known: default, scalesim)")
        chip.arch.require(options.precision, chip.name)
        self.chip, self.options, self.arch, self.precision = chip, options, chip.arch, options.precision

    @property
    def clock_hz(self) -> float:
        return self.chip.clock_hz

    @property
    def peak_macs_per_cycle(self) -> float:
        return self.arch.peak_macs_per_cycle(self.precision)

    def plan(self, graph: Graph, passes: Plan) -> dict[str, Any]:
        """Whole-graph decisions before the layers are counted: {node: its context}."""
        return {}

    def run(self, graph: Graph) -> list[LayerEstimate]:
        from chiplab.perf.runner import run

        return run(self, graph)

    # --- counting, dispatched on the op kind
    def counts(self, node: Node, ctx: Any = None) -> Counts:
        if node.op.is_matrix:
            if node.gemm is None:
                raise GraphError(f"{node.label}: matrix node without a GemmShape")
            return self.matrix_counts(node, ctx)
        if node.op is OpKind.VIEW:
            return view_counts(node)
        if node.op is OpKind.HW_BLOCK:
            return hw_block_counts(node)
        if node.op.is_vector:
            return self.vector_counts(node, ctx)
        raise ChiplabError(f"{node.label}: op kind {node.op.value!r} has no {self.arch.kind} cost model")

    def matrix_counts(self, node: Node, ctx: Any = None) -> Counts:  # pragma: no cover - abstract
        raise NotImplementedError

    def vector_counts(self, node: Node, ctx: Any = None) -> Counts:
        """Default: the vector unit by roofline against DRAM."""
        return vector_counts(node, self.precision)

    # --- one node priced at once (tests, notebooks)
    def price(self, node: Node, counts: Counts) -> LayerEstimate:
        return price_row(counts, self.chip, self.precision, name=node.label, node=node.name, op=node.op.value,
                         macs=node.macs, peak_macs_per_cycle=self.peak_macs_per_cycle)

    def layer(self, node: Node, ctx: Any = None) -> LayerEstimate:
        return self.price(node, self.counts(node, ctx))

    def matrix_layer(self, node: Node, ctx: Any = None) -> LayerEstimate:
        if node.gemm is None:
            raise GraphError(f"{node.label}: matrix node without a GemmShape")
        return self.price(node, self.matrix_counts(node, ctx))

    @staticmethod
    def with_overhead(c: Counts, path: str) -> Counts:
        """Charge a fixed per-op cost (kernel launch, dispatch) named by a chip path; it is
        the bound when it dominates."""
        c.time = Sum((c.time, seconds(Bound.LAUNCH, 1.0, path)))
        return c
