"""The cost model of a split run: each node's time on each device, and the host link.

A node placed on a device costs its latency there: ``chiplab.estimate`` of the whole graph on
the accelerator (at the run precision) and on the host CPU (fp32), transfers off, read per node
from ``Estimate.layers``. A tensor whose producer and some consumer sit on different devices is
moved once over the accelerator's ``host_link``: ``latency + bytes / bandwidth``; the link's
per-transfer latency stands for the launch and the synchronisation a cut costs. Graph inputs
start on the host, graph outputs end there; weights and device state are resident where their
node runs (preloaded, not moved per run).

Serial latency is host busy + accelerator busy + link busy (one thing at a time). The
pipelined figure, ``batch / max(host busy, acc busy, link busy)``, is the overlapped bound:
successive batches in flight on the three resources at once, never reached when one stage
waits on another.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Mapping

from chiplab.errors import ChiplabError
from chiplab.ir.graph import Graph, Role


@dataclass(frozen=True)
class Tensor:
    """A value that may cross the link: ``producer`` None is a graph input, a consumer None the graph output."""

    producer: str | None
    consumers: tuple[str | None, ...]
    nbytes: int


@dataclass
class CostTable:
    host_s: dict[str, float]              # node -> latency on the host
    acc_s: dict[str, float]               # node -> latency on the accelerator
    link_bandwidth: float                 # bytes/s of the accelerator's host link
    link_latency: float                   # s per transfer
    host_only: dict[str, str] = field(default_factory=dict)   # node -> why it cannot run on the accelerator
    batch: int = 1
    acc: str = "acc"
    host: str = "host"
    precision: str = ""

    def transfer_s(self, nbytes: int) -> float:
        return self.link_latency + nbytes / self.link_bandwidth


def tensors(graph: Graph) -> list[Tensor]:
    """Activations that flow along the graph's edges, one per produced value, with every consumer."""
    cons: dict[tuple, list[str | None]] = {}
    size: dict[tuple, int] = {}
    for n in graph.nodes:
        for t in n.inputs:
            if t.role in (Role.WEIGHT, Role.STATE):
                continue
            key = (t.producer, t.shape, t.dtype)
            size[key] = t.nbytes
            if n.name not in cons.setdefault(key, []):
                cons[key].append(n.name)
    used = graph.consumers()
    for n in graph.nodes:
        if not used[n.name]:
            for t in n.outputs:
                key = (n.name, t.shape, t.dtype)
                size[key] = t.nbytes
                cons.setdefault(key, []).append(None)
    return [Tensor(k[0], tuple(v), size[k]) for k, v in cons.items()]


@dataclass
class PolicyResult:
    policy: str
    latency_s: float
    throughput_per_s: float               # serial: batch / latency
    pipelined_throughput_per_s: float     # overlapped bound: batch / max(host, acc, link busy)
    host_busy_s: float
    acc_busy_s: float
    link_busy_s: float
    bytes_moved: int
    cuts: int                             # tensors moved over the link
    acc_nodes: int
    host_nodes: int
    placement: dict[str, str]
    # filled by chiplab.partition.run_policies (chiplab/partition/schedule.py): the placement on a timeline
    single_stream_latency_s: float | None = None    # one batch, the stages back to back
    offline_throughput_per_s: float | None = None   # batches pipelined on host, link and accelerator
    # filled by chiplab.partition.numerics.accuracy: the split model's output vs fp32
    accuracy: dict | None = None

    def to_dict(self, labels: Mapping[str, str] | None = None) -> dict:
        d = asdict(self)
        if labels is not None:
            d["placement"] = [{"node": k, "layer": labels.get(k, k), "device": v} for k, v in self.placement.items()]
        return d


def evaluate(graph: Graph, table: CostTable, placement: Mapping[str, str], policy: str = "",
             moved: list[Tensor] | None = None) -> PolicyResult:
    """The cost of running ``graph`` with ``placement`` under ``table`` (see the module docstring)."""
    for name, why in table.host_only.items():
        if placement.get(name) == "acc":
            raise ChiplabError(f"{policy or 'placement'}: node {name!r} cannot run on {table.acc}: {why}")
    busy = {"host": 0.0, "acc": 0.0}
    for n in graph.nodes:
        dev = placement[n.name]
        busy[dev] += (table.acc_s if dev == "acc" else table.host_s).get(n.name, 0.0)
    link, nbytes, cuts = 0.0, 0, 0
    for t in moved if moved is not None else tensors(graph):
        src = placement[t.producer] if t.producer is not None else "host"
        if any((placement[c] if c is not None else "host") != src for c in t.consumers):
            link += table.transfer_s(t.nbytes)
            nbytes += t.nbytes
            cuts += 1
    latency = busy["host"] + busy["acc"] + link
    bottleneck = max(busy["host"], busy["acc"], link)
    acc_nodes = sum(1 for v in placement.values() if v == "acc")
    return PolicyResult(policy, latency, table.batch / latency if latency > 0 else float("inf"),
                        table.batch / bottleneck if bottleneck > 0 else float("inf"),
                        busy["host"], busy["acc"], link, nbytes, cuts, acc_nodes, len(placement) - acc_nodes,
                        dict(placement))


def cost_table(graph: Graph, acc, host="host", *, precision: str | None = None) -> CostTable:
    """Per-node costs of ``graph`` on accelerator ``acc`` and CPU ``host`` (names, files or ChipSpecs)."""
    from chiplab.hw import load_chip
    from chiplab.partition.capability import capabilities, host_reason
    from chiplab.perf.estimate import estimate

    acc_spec, host_spec = load_chip(acc), load_chip(host)
    if host_spec.arch.kind != "cpu":
        raise ChiplabError(f"--host: chip {host_spec.name!r} is of class {host_spec.arch.kind}, not cpu")
    if acc_spec.host_link is None:
        raise ChiplabError(f"{acc_spec.name}: no host_link section (bandwidth, latency): the cost of a cut is unknown")
    prec = precision or acc_spec.native_precision
    caps = capabilities(acc_spec)
    forced = {n.name: r for n in graph.nodes if (r := host_reason(n, caps, prec)) is not None}
    batch = int(graph.meta.get("batch", 1))
    acc_prec = prec if prec in caps.precisions else acc_spec.native_precision   # its matrix ops are host-only
    host_prec = "fp32" if "fp32" in host_spec.arch.precisions else host_spec.native_precision
    per_dev = []
    for spec, p in ((acc_spec, acc_prec), (host_spec, host_prec)):
        est = estimate(graph, spec, batch=batch, precision=p, host_transfers=False)
        lat: dict[str, float] = {}
        for l in est.layers:
            lat[l.node] = lat.get(l.node, 0.0) + l.latency_s
        per_dev.append(lat)
    return CostTable(host_s=per_dev[1], acc_s=per_dev[0], link_bandwidth=acc_spec.host_link.bandwidth,
                     link_latency=acc_spec.host_link.latency, host_only=forced, batch=batch, acc=acc_spec.name,
                     host=host_spec.name, precision=prec)
