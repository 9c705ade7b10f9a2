"""The single run of a graph on a chip: passes, plan, per-node counts, pricing, host transfers.

Every architecture class plugs in here the same way (:class:`~chiplab.perf.base.ModelBase`):
the runner asks it for a plan of the whole graph, then for each node's counts, and
prices them all with :mod:`chiplab.perf.price`; fused tails overlap their heads.
"""
from __future__ import annotations

from chiplab.ir.graph import Graph
from chiplab.perf.common import fused_counts, host_counts, host_rows_bytes
from chiplab.perf.passes import Plan, run_passes
from chiplab.perf.counts import Rates
from chiplab.perf.price import overlap_fused, price_row
from chiplab.perf.result import LayerEstimate


def run(model, graph: Graph, passes: Plan | None = None) -> list[LayerEstimate]:
    """One row per node (and one per host transfer), priced, each keeping its counts.
    ``passes``: the compiler passes' decisions (default: :func:`run_passes` with the
    options' passes, none for a model that does not fuse)."""
    chip, p = model.chip, model.precision
    if passes is None:
        passes = run_passes(graph, model.options.passes if model.fuses else ())
    fused = passes.fused
    plan = model.plan(graph, passes)
    rates = Rates(chip)
    peak = model.peak_macs_per_cycle

    def priced(counts, **ident) -> LayerEstimate:
        return price_row(counts, chip, p, peak_macs_per_cycle=peak, rates=rates, **ident)

    rows: list[LayerEstimate] = []
    before = after = 0.0
    if model.options.host_transfers and not model.host_side and chip.host_link is not None:
        before, after = host_rows_bytes(graph, p)
    if before > 0:
        rows.append(priced(host_counts(before), name="host:inputs", node="host:inputs", op="host_transfer", macs=0))
    for n in graph.nodes:
        if n.name in fused:
            res = plan.get(n.name)
            c = fused_counts(n, fused[n.name], p, passes.side.get(n.name, ()),
                             getattr(res, "inputs_on_chip", None))
        else:
            c = model.counts(n, plan.get(n.name))
        rows.append(priced(c, name=n.label, node=n.name, op=n.op.value, macs=n.macs))
    if after > 0:
        rows.append(priced(host_counts(after), name="host:outputs", node="host:outputs", op="host_transfer", macs=0))
    return overlap_fused(rows, rates)
