"""A split run on a timeline: the placement's work as events on three resources.

Resources: the ``host`` CPU, the accelerator (``acc``) and the ``link`` between them (one
resource for both directions, as :func:`chiplab.partition.cost.evaluate` prices it). One batch
is a chain of *stages*: graph-order runs of nodes on one device, with the transfers of the
tensors that cross between them (a tensor moves right before its first consumer on the other
device; graph outputs return to the host at the end).

* **SingleStream** (one batch, latency): the stages back to back, one thing at a time;
  ``single_stream_latency_s`` equals the serial latency of the cost model.
* **Offline** (many batches in flight): every batch's chain is list-scheduled on the three
  resources (non-preemptive; whenever a resource can start something, the earliest-startable
  stage, lowest batch first, goes next). ``offline_throughput_per_s`` is
  ``batch / period``, the period being the steady-state time per batch:
  ``(T(N) - T(N/2)) / (N - N/2)`` with ``T(n)`` the makespan of ``n`` batches and ``N`` =
  :data:`OFFLINE_BATCHES` (the fill and the drain cancel out), and never below the busiest
  resource's time per batch (no schedule beats that; a finite-N difference can dip under it). It never exceeds the overlapped
  bound ``batch / max(host, acc, link busy)``; a chain that visits one resource twice with
  the other resources in between may fall short of it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

from chiplab.ir.graph import Graph
from chiplab.partition.cost import CostTable, Tensor, tensors

RESOURCES = ("host", "link", "acc")
OFFLINE_BATCHES = 24        # our choice: enough batches for the completion gaps to settle


@dataclass(frozen=True)
class Stage:
    resource: str           # host | acc | link
    names: tuple[str, ...]  # nodes run (host/acc) or producers of the tensors moved (link; "input" for graph inputs)
    dur_s: float


def stages(graph: Graph, table: CostTable, placement: Mapping[str, str],
           moved: list[Tensor] | None = None) -> list[Stage]:
    """One batch of ``placement`` as a chain of stages (consecutive same-resource work merged)."""
    moved = moved if moved is not None else tensors(graph)
    dev = lambda n: placement[n] if n is not None else "host"     # noqa: E731 - graph ends live on the host
    before: dict[str, list[Tensor]] = {}      # node -> tensors moved right before it runs
    at_end: list[Tensor] = []
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    for t in moved:
        src = dev(t.producer)
        away = [c for c in t.consumers if dev(c) != src]
        if not away:
            continue
        first = min((c for c in away if c is not None), key=order.__getitem__, default=None)
        (before.setdefault(first, []) if first is not None else at_end).append(t)
    raw: list[tuple[str, str, float]] = []
    for n in graph.nodes:
        for t in before.get(n.name, ()):
            raw.append(("link", t.producer or "input", table.transfer_s(t.nbytes)))
        d = placement[n.name]
        raw.append((d, n.name, (table.acc_s if d == "acc" else table.host_s).get(n.name, 0.0)))
    raw += [("link", t.producer or "input", table.transfer_s(t.nbytes)) for t in at_end]
    out: list[Stage] = []
    for res, name, dur in raw:
        if out and out[-1].resource == res:
            out[-1] = Stage(res, out[-1].names + (name,), out[-1].dur_s + dur)
        else:
            out.append(Stage(res, (name,), dur))
    return out


def schedule(chain: list[Stage], batches: int) -> list[dict]:
    """Events ``{"resource", "batch", "stage", "start_s", "dur_s"}`` of ``batches`` copies of
    ``chain`` list-scheduled on the resources (see the module docstring)."""
    free = dict.fromkeys(RESOURCES, 0.0)
    ready = [0.0] * batches                   # when batch b's next stage may start
    nxt = [0] * batches
    events: list[dict] = []
    live = [b for b in range(batches) if chain]
    while live:
        b = min(live, key=lambda b: (max(ready[b], free[chain[nxt[b]].resource]), b))
        st = chain[nxt[b]]
        t = max(ready[b], free[st.resource])
        events.append({"resource": st.resource, "batch": b, "stage": nxt[b], "start_s": t, "dur_s": st.dur_s})
        free[st.resource] = ready[b] = t + st.dur_s
        nxt[b] += 1
        if nxt[b] == len(chain):
            live.remove(b)
    return events


def figures(chain: list[Stage], batch: int, batches: int = OFFLINE_BATCHES) -> dict:
    """``single_stream_latency_s`` (one batch) and ``offline_throughput_per_s`` (pipelined batches)."""
    single = sum(s.dur_s for s in chain)
    def makespan(n: int) -> float:
        return max((e["start_s"] + e["dur_s"] for e in schedule(chain, n)), default=0.0)

    half = batches // 2
    period = (makespan(batches) - makespan(half)) / (batches - half) if batches > 1 else single
    busiest = max((sum(s.dur_s for s in chain if s.resource == r) for r in RESOURCES), default=0.0)
    period = max(period, busiest)
    return {"single_stream_latency_s": single,
            "offline_throughput_per_s": batch / period if period > 0 else float("inf"),
            "offline_period_s": period, "stages": len(chain)}
