"""Host + accelerator partitioning of a graph: which node runs where, and what the cuts cost.

``partition(graph, acc, host)`` prices every policy (greedy, min-block, optimal, and a user's own
placement) under one cost model; see docs/partition.md.
"""
from __future__ import annotations

from typing import Mapping

from chiplab.ir.graph import Graph
from chiplab.partition.capability import Capabilities, capabilities, host_reason, op_class
from chiplab.partition.cost import CostTable, PolicyResult, cost_table, evaluate, tensors
from chiplab.partition.placement import PlacementError, load_placement, save_placement, validate
from chiplab.partition.policies import MIN_BLOCK_SIZE, POLICIES, greedy, min_block, optimal
from chiplab.partition.schedule import figures, schedule, stages

__all__ = ["Capabilities", "CostTable", "MIN_BLOCK_SIZE", "POLICIES", "PlacementError", "PolicyResult",
           "capabilities", "cost_table", "evaluate", "greedy", "host_reason", "load_placement", "min_block",
           "op_class", "optimal", "partition", "run_policies", "save_placement", "schedule", "stages", "tensors",
           "validate"]


def run_policies(graph: Graph, table: CostTable, policies=POLICIES, *, min_block_size: int = MIN_BLOCK_SIZE,
                 placement: Mapping[str, str] | None = None) -> dict[str, PolicyResult]:
    """Each policy's placement of ``graph`` priced under ``table`` (``placement``: a user's own, as "file")."""
    moved = tensors(graph)
    makers = {"greedy": lambda: greedy(graph, table), "min-block": lambda: min_block(graph, table, min_block_size),
              "optimal": lambda: optimal(graph, table, moved)}
    out = {p: evaluate(graph, table, makers[p](), p, moved) for p in policies}
    if placement is not None:
        out["file"] = evaluate(graph, table, validate(graph, placement), "file", moved)
    for r in out.values():
        fig = figures(stages(graph, table, r.placement, moved), table.batch)
        r.single_stream_latency_s, r.offline_throughput_per_s = fig["single_stream_latency_s"], fig["offline_throughput_per_s"]
    return out


def partition(graph: Graph, acc, host="host", *, precision: str | None = None, policies=POLICIES,
              min_block_size: int = MIN_BLOCK_SIZE, placement: Mapping[str, str] | None = None
              ) -> dict[str, PolicyResult]:
    """Price ``policies`` for ``graph`` on accelerator ``acc`` with CPU ``host`` (names, files or ChipSpecs)."""
    table = cost_table(graph, acc, host, precision=precision)
    return run_policies(graph, table, policies, min_block_size=min_block_size, placement=placement)
