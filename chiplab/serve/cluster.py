"""Many engines: random dispatch over replicas, and prefill/decode disaggregation with KV transfer.

**Replicas.** A request stream for the whole system (a trace) is dispatched to the engines uniformly at
random (seeded) and every engine is simulated; the results are merged per request.

**Disaggregation** (DistServe, Zhong et al., OSDI 2024; Splitwise, Patel et al., ISCA 2024): ``P`` prefill
engines run prompts only (a prefill engine is :func:`~chiplab.serve.sim.simulate` with every output cut
to the one token the prefill emits, so the first token, hence TTFT, comes from it); the prompt's KV is then
sent to one of ``D`` decode engines (random dispatch), which admit the request with its KV in place
(``prefilled=True``) and emit the remaining ``output - 1`` tokens. The transfer is a point-to-point
message per chip of the tensor-parallel group (chip k of the prefill engine to chip k of the decode
engine, all in parallel) over the system's link, α + n/B (:func:`chiplab.system.collectives.point_to_point`,
with the link's latency and per-direction bandwidth), n = prompt tokens x KV bytes per token per chip.
Each prefill engine's transfers queue on its outgoing link (first come, first served); the decode side's
inbound link and the link time shared with tensor-parallel all-reduces are not modelled.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from chiplab.serve.sim import Result, Workload, simulate
from chiplab.system import collectives as coll


@dataclass
class ClusterResult(Result):
    kv_transfer: np.ndarray | None = None     # per request sent to a decode engine: transfer time incl. queueing (s)


def kv_transfer_s(cost, tokens: float) -> float:
    """Time to move ``tokens`` tokens of KV between two engines of ``cost``'s deployment."""
    link = cost.system.link
    return coll.point_to_point(tokens * cost.kv_bytes_per_token_chip, link.bandwidth, link.latency)


def _sub(wl: Workload, idx: np.ndarray) -> Workload:
    return Workload(wl.arrivals[idx], wl.prompts[idx], wl.outputs[idx], None if wl.beams is None else wl.beams[idx])


def _merge(wl: Workload, parts: list[tuple[np.ndarray, Result]]) -> ClusterResult:
    n = len(wl.arrivals)
    first, finish = np.zeros(n), np.zeros(n)
    for idx, r in parts:
        first[idx], finish[idx] = r.first, r.finish
    return _result(wl, first, finish, [r for _, r in parts])


def _result(wl: Workload, first, finish, runs: list[Result], kv=None) -> ClusterResult:
    multi = wl.outputs > 1
    tpot = (finish[multi] - first[multi]) / (wl.outputs[multi] - 1)
    return ClusterResult(first - wl.arrivals, tpot, finish - wl.arrivals, sum(r.tokens for r in runs),
                         float(finish.max() - wl.arrivals.min()), max(r.steps for r in runs),
                         sum(r.preemptions for r in runs), first, finish,
                         np.concatenate([r.step_s for r in runs]), np.concatenate([r.step_decoders for r in runs]), kv)


def simulate_replicas(cost, wl: Workload, engines: int, seed: int = 0, **sim_kw) -> ClusterResult:
    """Dispatch ``wl`` at random over ``engines`` identical engines and simulate each."""
    which = np.random.default_rng(seed).integers(engines, size=len(wl.arrivals))
    parts = [(idx, simulate(cost, _sub(wl, idx), **sim_kw)) for e in range(engines)
             if len(idx := np.flatnonzero(which == e))]
    return _merge(wl, parts)


def simulate_disaggregated(cost, wl: Workload, prefill: int, decode: int, transfer, seed: int = 0,
                           **sim_kw) -> ClusterResult:
    """``prefill`` prefill engines, ``decode`` decode engines; ``transfer(prompt_tokens)`` -> seconds."""
    rng = np.random.default_rng(seed)
    n = len(wl.arrivals)
    first, finish, kv_done = np.zeros(n), np.zeros(n), np.zeros(n)
    runs = []
    which = rng.integers(prefill, size=n)
    for e in range(prefill):
        idx = np.flatnonzero(which == e)
        if not len(idx):
            continue
        sub = _sub(wl, idx)
        sub.outputs = np.ones(len(idx), dtype=np.int64)
        r = simulate(cost, sub, **sim_kw)
        runs.append(r)
        first[idx] = finish[idx] = r.first
        free = 0.0                                     # this engine's link is busy until then
        for j in np.argsort(r.first, kind="stable"):
            start = max(r.first[j], free)
            free = kv_done[idx[j]] = start + transfer(int(wl.prompts[idx[j]]))
    go = np.flatnonzero(wl.outputs > 1)
    which = rng.integers(decode, size=len(go))
    for e in range(decode):
        idx = go[which == e]
        if not len(idx):
            continue
        idx = idx[np.argsort(kv_done[idx], kind="stable")]          # decode engines see KV arrivals in order
        sub = Workload(kv_done[idx], wl.prompts[idx] + 1, wl.outputs[idx] - 1,
                       None if wl.beams is None else wl.beams[idx])
        r = simulate(cost, sub, prefilled=True, **sim_kw)
        runs.append(r)
        finish[idx] = r.finish
    return _result(wl, first, finish, runs, kv_done[go] - first[go])
