"""Serve an LLM on a system: simulate at a QPS, or search the highest QPS meeting MLPerf's latency limits.

MLPerf Inference Llama-2-70B Server scenario limits (mlcommons/inference ``loadgen/mlperf.conf``:
``llama2-70b.Server.ttft_latency = 2000``, ``llama2-70b.Server.tpot_latency = 200``, in ms, judged at
the 99th percentile): TTFT p99 <= 2 s and TPOT p99 <= 200 ms.

The system's chips are split into ``replicas = chips // (tp * pp)`` independent engines; arrivals are
dispatched to them at random, which splits a Poisson stream of rate λ into Poisson streams of λ/replicas
(so one engine is simulated and its throughput multiplied). A trace (``--trace``) is dispatched at random
and every engine is simulated. With ``disaggregate=(P, D)`` the replicas form ``replicas // (P + D)`` units
of P prefill and D decode engines (:mod:`chiplab.serve.cluster`).

Efficiency: ``tokens_per_s_per_watt`` divides by the chips' TDP (``power.tdp`` x chips): an upper bound on
the chips' power (the power wall caps them there), so the figure is a lower bound for the chips alone;
host CPUs, switches, fans and power conversion are not counted. ``tokens_per_s_per_usd`` divides by the
chips' purchase price (``power.price`` x chips; capital only, no host, power or operating cost). A chip
file without the figure gives null and a note, never a guess.
"""
from __future__ import annotations

import numpy as np

from chiplab.errors import ChiplabError
from chiplab.serve.cluster import kv_transfer_s, simulate_disaggregated, simulate_replicas
from chiplab.serve.cost import LlmCost
from chiplab.serve.models import get_model
from chiplab.serve.sim import Workload, poisson_workload, simulate
from chiplab.system import load_system

TTFT_P99_LIMIT_S = 2.0
TPOT_P99_LIMIT_S = 0.200


def _pct(x: np.ndarray) -> dict[str, float]:
    if len(x) == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0}
    p = np.percentile(x, [50, 90, 99])
    return {"p50": float(p[0]), "p90": float(p[1]), "p99": float(p[2])}


def _wpct(x: np.ndarray, w: np.ndarray) -> dict[str, float]:
    """Weighted percentiles (the smallest value whose cumulative weight reaches q)."""
    if len(x) == 0 or w.sum() == 0:
        return {"p50": 0.0, "p90": 0.0, "p99": 0.0}
    o = np.argsort(x, kind="stable")
    cum = np.cumsum(w[o])
    pick = lambda q: float(x[o][min(np.searchsorted(cum, q * cum[-1]), len(x) - 1)])  # noqa: E731
    return {"p50": pick(0.50), "p90": pick(0.90), "p99": pick(0.99)}


def _units(cost: LlmCost, disaggregate: tuple[int, int] | None) -> int:
    """Independent serving units: replicas, or groups of P prefill + D decode replicas."""
    if disaggregate is None:
        return cost.replicas
    p, d = disaggregate
    if p < 1 or d < 1 or cost.replicas % (p + d):
        raise ChiplabError(f"--disaggregate {p}:{d}: needs P, D >= 1 and P + D dividing the {cost.replicas} replicas "
                           f"(tp={cost.tp} x pp={cost.pp} of {cost.system.count} chips)")
    return cost.replicas // (p + d)


def _simulate(cost: LlmCost, wl: Workload, engines: int, seed: int, disaggregate, sim_kw: dict):
    """``wl`` across ``engines`` serving units (one unit: a replica, or P + D engines)."""
    if disaggregate is not None:
        p, d = disaggregate
        return simulate_disaggregated(cost, wl, p * engines, d * engines, lambda n: kv_transfer_s(cost, n), seed,
                                      **sim_kw)
    if engines == 1:
        return simulate(cost, wl, **sim_kw)
    return simulate_replicas(cost, wl, engines, seed, **sim_kw)


class EnergyMeter:
    """Wraps a cost model and adds up the dynamic energy of every step it prices, from the chip's energy table:
    MACs x ``energy.mac[precision]``, DRAM bytes x ``energy.dram_read_per_byte`` (writes priced as reads),
    vector ops x ``energy.vector_op``; link energy is not counted (systems carry no link energy figure).
    ``work()`` is one tensor-parallel rank's share over all layers, so the engine's energy is tp times it."""

    def __init__(self, cost: LlmCost) -> None:
        self.cost, self.joules = cost, 0.0
        e = cost.chip.energy
        self._mac, self._byte, self._vec = e.mac_energy(cost.precision, cost.chip.name), e.dram_read_per_byte, e.vector_op

    def __getattr__(self, name):
        return getattr(self.cost, name)

    def step_time(self, n_tok, n_out, pairs, kv_read) -> float:
        if not n_tok:
            return 0.0
        w = self.cost.work(n_tok, n_out, pairs, kv_read)
        self.joules += self.cost.tp * ((w.gemm_macs + w.attn_macs) * self._mac + w.vec_ops * self._vec
                                       + (w.gemm_bytes + w.attn_bytes + w.vec_bytes) * self._byte)
        return self.cost.time(w)


def modelled_power(cost: LlmCost, meter: EnergyMeter, span_s: float, engines: int) -> dict:
    """Average power per chip over the run: static power + the steps' dynamic energy / (time x chips)."""
    chips = engines * cost.tp * cost.pp
    w = cost.chip.energy.static_power + meter.joules / (span_s * chips) if span_s > 0 else cost.chip.energy.static_power
    tdp = cost.chip.power.tdp
    out = {"modelled_chip_power_w": w, "modelled_power_basis": "static + energy table x simulated work, per chip "
           "(the chip file's energy figures; no link energy)"}
    if tdp and w > tdp:
        out["modelled_power_note"] = f"above the {tdp:.0f} W TDP: the chip would throttle (not modelled by serve)"
    return out


def efficiency(cost: LlmCost, tok_s: float, chips: int) -> dict:
    """tokens/s per watt of chip TDP and per dollar of chip price (null, with a note, when not in the chip file)."""
    chip, notes = cost.chip, []
    tdp, price = chip.power.tdp, chip.power.price
    out = {"power_w": tdp * chips if tdp else None, "power_basis": "chip TDP x chips (power.tdp; chips only)",
           "tokens_per_s_per_watt": tok_s / (tdp * chips) if tdp else None,
           "chips_price_usd": price * chips if price else None,
           "tokens_per_s_per_usd": tok_s / (price * chips) if price else None}
    if not tdp:
        notes.append(f"{chip.name} has no power.tdp: tokens_per_s_per_watt is null")
    if not price:
        notes.append(f"{chip.name} has no power.price: tokens_per_s_per_usd is null")
    out["efficiency_notes"] = notes
    return out


def run_at(cost: LlmCost, qps: float | None, requests: int, seed: int = 0, *, trace: Workload | None = None,
           disaggregate: tuple[int, int] | None = None, **sim_kw) -> dict:
    units = _units(cost, disaggregate)
    if trace is not None:
        wl, engines, scale = trace, units, 1
        span = float(np.ptp(trace.arrivals))
        requests, qps = len(trace.arrivals), (len(trace.arrivals) - 1) / span if span > 0 else None
    else:
        if not (qps is not None and qps > 0):
            raise ChiplabError(f"--qps must be > 0, got {qps}")
        wl, engines, scale = poisson_workload(qps / units, requests, seed=seed), 1, units
    meter = EnergyMeter(cost)
    r = _simulate(meter, wl, engines, seed, disaggregate, sim_kw)
    tok_s = r.tokens / r.span_s * scale
    chips = cost.tp * cost.pp * cost.replicas
    out = {"qps": qps, "requests": requests, "ttft_s": _pct(r.ttft), "tpot_s": _pct(r.tpot), "e2e_s": _pct(r.e2e),
           "itl_s": _wpct(*r.itl()), "tokens_per_s": tok_s, "tokens_per_s_per_chip": tok_s / chips, "steps": r.steps,
           "preemptions": r.preemptions}
    if disaggregate is not None:
        out["kv_transfer_s"] = {**_pct(r.kv_transfer), "mean": float(r.kv_transfer.mean()) if len(r.kv_transfer) else 0.0}
    out.update(efficiency(cost, tok_s, chips))
    out.update(modelled_power(cost, meter, r.span_s, engines * (1 if disaggregate is None else sum(disaggregate))))
    out["meets_constraints"] = bool(out["ttft_s"]["p99"] <= TTFT_P99_LIMIT_S and out["tpot_s"]["p99"] <= TPOT_P99_LIMIT_S)
    return out


def steady_rate(first: np.ndarray, finish: np.ndarray) -> float:
    """Requests per second an engine completes while it is saturated, from a run where every request
    arrived at t = 0: requests finished before the last one got its first token (the queue had not
    drained yet, so the engine ran full) over that time. Without such a window (fewer requests than the
    engine runs at once) it is every request over the run's span (conservative: includes the ramp-down)."""
    t_drain = float(np.max(first))
    done = int(np.count_nonzero(finish <= t_drain))
    if done > 0 and t_drain > 0:
        return done / t_drain
    span = float(np.max(finish))
    return len(finish) / span if span > 0 else float("inf")


def saturation_qps(cost: LlmCost, requests: int, seed: int = 0, disaggregate: tuple[int, int] | None = None,
                   **sim_kw) -> float:
    """The system's saturated throughput in requests/s (all units): the same engine with a queue that never
    empties (MLPerf's Offline). No Server rate above it is sustainable: a run as long as MLPerf's (600 s)
    would queue without bound, while a short simulated run can still meet the latency limits. At least
    8 x max_seqs requests are queued so that the engine runs full for a while."""
    n = max(requests, 8 * int(sim_kw.get("max_seqs", 256)))
    wl = poisson_workload(1.0, n, seed=seed)
    wl = Workload(np.zeros(n), wl.prompts, wl.outputs)
    units = _units(cost, disaggregate)
    r = _simulate(cost, wl, 1, seed, disaggregate, sim_kw)
    return steady_rate(np.asarray(r.first), np.asarray(r.finish)) * units


def search_qps(cost: LlmCost, requests: int, seed: int = 0, iters: int = 12, **sim_kw) -> tuple[float | None, dict | None]:
    """Highest QPS (to ~1 %) whose run meets the limits and does not exceed the system's saturated
    throughput (:func:`saturation_qps`): double until a run fails, then bisect."""
    lo, lo_res = 0.0, None
    cap = saturation_qps(cost, requests, seed, **sim_kw)
    hi = min(0.25 * _units(cost, sim_kw.get("disaggregate")), cap)

    def run(q: float) -> dict:
        res = run_at(cost, q, requests, seed, **sim_kw)
        res["saturation_qps"] = cap
        if q > cap:
            res["meets_constraints"] = False
        return res

    for _ in range(40):
        res = run(hi)
        if not res["meets_constraints"]:
            break
        lo, lo_res, hi = hi, res, hi * 2
    else:
        return lo, lo_res
    if lo_res is None:     # even the lowest rate fails: try lower before giving up
        probe = hi / 64
        res = run(probe)
        if not res["meets_constraints"]:
            return None, None
        lo, lo_res = probe, res
    for _ in range(iters):
        mid = (lo + hi) / 2
        res = run(mid)
        if res["meets_constraints"]:
            lo, lo_res = mid, res
        else:
            hi = mid
        if hi - lo < 0.01 * hi:
            break
    return lo, lo_res


def serve(model: str, system: str, *, tp: int | None = None, pp: int = 1, qps: float | None = None,
          search: bool = False, requests: int = 2000, seed: int = 0, precision: str | None = None,
          max_seqs: int = 256, token_budget: int = 8192, weights: str | None = None, kv: str | None = None,
          block_size: int = 16, kv_policy: str = "reserve", chunked_prefill: bool = False,
          disaggregate: tuple[int, int] | None = None, trace: str | None = None) -> dict:
    m, sysm = get_model(model), load_system(system)
    fmt = {"precision": precision, "weights": weights, "kv": kv}
    cost = LlmCost(m, sysm, tp=tp if tp is not None else _default_tp(m, sysm, pp, **fmt), pp=pp, **fmt)
    kw = {"max_seqs": max_seqs, "token_budget": token_budget, "block_size": block_size, "kv_policy": kv_policy,
          "chunked_prefill": chunked_prefill, "disaggregate": disaggregate}
    head = {"model": m.name, "system": sysm.name, "chip": cost.chip.name, "precision": cost.precision,
            "weights": cost.weights, "kv": cost.kv, "tp": cost.tp, "pp": cost.pp, "replicas": cost.replicas,
            "kv_capacity_tokens": cost.kv_capacity_tokens, "model_notes": m.notes,
            "engine": {"block_size": block_size, "kv_policy": kv_policy, "chunked_prefill": chunked_prefill,
                       "max_batched_tokens": token_budget, "max_seqs": max_seqs,
                       "disaggregate": None if disaggregate is None else {"prefill": disaggregate[0],
                                                                          "decode": disaggregate[1]}}}
    best = None
    if trace is not None:
        if search or qps is not None:
            raise ChiplabError("--trace fixes the arrival times: drop --qps / --search")
        res = run_at(cost, None, 0, seed, trace=load_trace(trace), **kw)
    elif search or qps is None:
        best, res = search_qps(cost, requests, seed, **kw)
        if res is None:
            res = run_at(cost, qps or 0.01, requests, seed, **kw)
        elif qps is not None:
            res = _at_rate(cost, qps, requests, seed, kw)
    else:
        res = _at_rate(cost, qps, requests, seed, kw)
    return {**head, **res, "max_qps_meeting_constraints": best,
            "constraints": {"ttft_p99_s": TTFT_P99_LIMIT_S, "tpot_p99_s": TPOT_P99_LIMIT_S}}


def _at_rate(cost: LlmCost, qps: float, requests: int, seed: int, kw: dict) -> dict:
    """One run at a fixed rate, checked against the saturated throughput: above it the run is marked as
    not meeting the limits (a short run can meet them while its queue grows without bound)."""
    res = run_at(cost, qps, requests, seed, **kw)
    cap = res["saturation_qps"] = saturation_qps(cost, requests, seed, **kw)
    if qps > cap:
        res["meets_constraints"] = False
        res["saturation_note"] = (f"{qps:.4g} QPS is above the system's saturated throughput ({cap:.4g} requests/s, "
                                  "all requests queued): over a long run the queue grows without bound")
    return res


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


TRACE_COLUMNS = ("arrival_s", "prompt_tokens", "output_tokens")


def load_trace(path: str) -> Workload:
    """A CSV of requests with a header naming ``arrival_s, prompt_tokens, output_tokens`` (other columns are
    ignored); arrivals in seconds, non-decreasing; lengths whole numbers >= 1. Errors name the row and column."""
    import csv
    from pathlib import Path

    p = Path(path)
    try:
        fh = p.open(newline="")
    except OSError as e:
        raise ChiplabError(f"--trace {path}: cannot read ({e.strerror or e})") from None
    arr, pr, out = [], [], []
    with fh:
        rows = csv.reader(fh)
        header = [h.strip() for h in next(rows, [])]
        missing = [c for c in TRACE_COLUMNS if c not in header]
        if missing:
            raise ChiplabError(f"{path}: header lacks column(s) {', '.join(missing)} (need {', '.join(TRACE_COLUMNS)})")
        cols = [header.index(c) for c in TRACE_COLUMNS]
        last = -np.inf
        for line, row in enumerate(rows, start=2):
            if not row or all(not c.strip() for c in row):
                continue
            vals = []
            for c, name in zip(cols, TRACE_COLUMNS):
                cell = row[c].strip() if c < len(row) else ""
                try:
                    v = float(cell) if name == "arrival_s" else int(cell)
                except ValueError:
                    raise ChiplabError(f"{path}: row {line}, column {name}: {cell!r} is not "
                                       f"{'a number' if name == 'arrival_s' else 'a whole number'}") from None
                if name == "arrival_s" and not (np.isfinite(v) and v >= last and v >= 0):
                    raise ChiplabError(f"{path}: row {line}, column {name}: {cell} must be a finite time >= 0 and "
                                       f"not before the previous row's")
                if name != "arrival_s" and v < 1:
                    raise ChiplabError(f"{path}: row {line}, column {name}: {v} must be >= 1")
                vals.append(v)
            last = vals[0]
            arr.append(vals[0])
            pr.append(vals[1])
            out.append(vals[2])
    if not arr:
        raise ChiplabError(f"{path}: no requests (a header and at least one row are needed)")
    return Workload(np.array(arr, dtype=float), np.array(pr, dtype=np.int64), np.array(out, dtype=np.int64))
