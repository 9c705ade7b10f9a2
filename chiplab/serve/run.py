"""Serve an LLM on a system: simulate at a QPS, or search the highest QPS meeting MLPerf's latency limits.

MLPerf Inference Llama-2-70B Server scenario limits (mlcommons/inference ``loadgen/mlperf.conf``:
``llama2-70b.Server.ttft_latency = 2000``, ``llama2-70b.Server.tpot_latency = 200``, in ms, judged at
the 99th percentile): TTFT p99 <= 2 s and TPOT p99 <= 200 ms.

The system's chips are split into ``replicas = chips // (tp * pp)`` independent engines; arrivals are
dispatched to them at random, which splits a Poisson stream of rate λ into Poisson streams of λ/replicas
(so one engine is simulated and its throughput multiplied).
"""
from __future__ import annotations

import numpy as np

from chiplab.errors import ChiplabError
from chiplab.serve.cost import LlmCost
from chiplab.serve.models import get_model
from chiplab.serve.sim import poisson_workload, simulate
from chiplab.system import load_system

TTFT_P99_LIMIT_S = 2.0
TPOT_P99_LIMIT_S = 0.200


def _pct(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0}
    p = np.percentile(x, [50, 90, 99])
    return {"p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2])}


def run_at(cost: LlmCost, qps: float, requests: int, seed: int = 0, **sim_kw) -> dict:
    if not qps > 0:
        raise ChiplabError(f"--qps must be > 0, got {qps}")
    wl = poisson_workload(qps / cost.replicas, requests, seed=seed)
    r = simulate(cost, wl, **sim_kw)
    tok_s = r.tokens / r.span_s * cost.replicas
    chips = cost.tp * cost.pp * cost.replicas
    out = {"qps": qps, "requests": requests, "ttft_s": _pct(r.ttft), "tpot_s": _pct(r.tpot), "e2e_s": _pct(r.e2e),
           "tokens_per_s": tok_s, "tokens_per_s_per_chip": tok_s / chips, "steps": r.steps}
    out["meets_constraints"] = bool(out["ttft_s"]["p99"] <= TTFT_P99_LIMIT_S and out["tpot_s"]["p99"] <= TPOT_P99_LIMIT_S)
    return out


def search_qps(cost: LlmCost, requests: int, seed: int = 0, iters: int = 12, **sim_kw) -> tuple[float | None, dict | None]:
    """Highest QPS (to ~1 %) whose run meets the limits: double until a run fails, then bisect."""
    lo, lo_res = 0.0, None
    hi = 0.25 * cost.replicas
    for _ in range(40):
        res = run_at(cost, hi, requests, seed, **sim_kw)
        if not res["meets_constraints"]:
            break
        lo, lo_res, hi = hi, res, hi * 2
    else:
        return lo, lo_res
    if lo_res is None:     # even the lowest rate fails: try lower before giving up
        probe = hi / 64
        res = run_at(cost, probe, requests, seed, **sim_kw)
        if not res["meets_constraints"]:
            return None, None
        lo, lo_res = probe, res
    for _ in range(iters):
        mid = (lo + hi) / 2
        res = run_at(cost, mid, requests, seed, **sim_kw)
        if res["meets_constraints"]:
            lo, lo_res = mid, res
        else:
            hi = mid
        if hi - lo < 0.01 * hi:
            break
    return lo, lo_res


def serve(model: str, system: str, *, tp: int | None = None, pp: int = 1, qps: float | None = None,
          search: bool = False, requests: int = 2000, seed: int = 0, precision: str | None = None,
          max_seqs: int = 256, token_budget: int = 8192, weights: str | None = None, kv: str | None = None) -> dict:
    m, sysm = get_model(model), load_system(system)
    fmt = {"precision": precision, "weights": weights, "kv": kv}
    cost = LlmCost(m, sysm, tp=tp if tp is not None else _default_tp(m, sysm, pp, **fmt), pp=pp, **fmt)
    kw = {"max_seqs": max_seqs, "token_budget": token_budget}
    head = {"model": m.name, "system": sysm.name, "chip": cost.chip.name, "precision": cost.precision,
            "weights": cost.weights, "kv": cost.kv, "tp": cost.tp, "pp": cost.pp, "replicas": cost.replicas,
            "kv_capacity_tokens": cost.kv_capacity_tokens}
    best = None
    if search or qps is None:
        best, res = search_qps(cost, requests, seed, **kw)
        if res is None:
            res = run_at(cost, qps or 0.01, requests, seed, **kw)
        elif qps is not None:
            res = run_at(cost, qps, requests, seed, **kw)
    else:
        res = run_at(cost, qps, requests, seed, **kw)
    return {**head, **res, "max_qps_meeting_constraints": best,
            "constraints": {"ttft_p99_s": TTFT_P99_LIMIT_S, "tpot_p99_s": TPOT_P99_LIMIT_S}}


def _default_tp(m, sysm, pp: int, **fmt) -> int:
    """The smallest tp (dividing the heads and the chips) whose weights fit; else all chips (to get the error)."""
    from chiplab.errors import CapacityError
    for tp in range(1, sysm.count // pp + 1):
        if m.heads % tp or (sysm.count // pp) % tp or (m.experts > 1 and m.experts % tp):
            continue
        try:
            LlmCost(m, sysm, tp=tp, pp=pp, **fmt)
            return tp
        except CapacityError:
            continue
    return sysm.count // pp
