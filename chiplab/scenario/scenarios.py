"""LoadGen's four scenarios on a service model: how many queries, what is measured, and
when a run is VALID (MLPerf Inference rules as LoadGen applies them; see
:mod:`chiplab.scenario.workloads` for the cited numbers).

- SingleStream: one sample per query, the next query issued when the previous one
  completes; metric: 90th-percentile latency.
- MultiStream: 8 samples per query, issued the same way; metric: 99th-percentile latency.
- Server: Poisson arrivals at a scheduled QPS, one sample per query, a dynamic batcher;
  VALID when the 99th-percentile latency is within the model's bound; metric: the highest
  scheduled QPS that is VALID (found by bisection).
- Offline: every sample in one query at t=0, batches of the best size that fits;
  metric: samples per second.

Not modelled: LoadGen's early-stopping estimate (v2.0+), which can make a short
SingleStream/MultiStream/Server run report a slightly higher percentile than the raw one.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from chiplab.errors import CapacityError, ChiplabError
from chiplab.scenario import sim
from chiplab.scenario import workloads as W
from chiplab.scenario.service import CachedService, SteadyState

SCENARIOS = ("single-stream", "multi-stream", "server", "offline")
QUICK_DURATION_S = 10.0     # --quick: min_duration 600 s -> 10 s (query counts unchanged)
MAX_SIM_QUERIES = 2_000_000  # a run LoadGen would make longer is simulated on its first 2M queries


@dataclass
class Rules:
    min_duration_s: float
    min_query_count: int
    quick: bool = False


@dataclass
class ScenarioResult:
    scenario: str
    metric: str
    value: float
    unit: str
    valid: bool
    latency_s: dict[str, float]
    qps: float | None = None
    bound_s: float | None = None
    checks: dict[str, bool] = field(default_factory=dict)
    n_queries: int = 0
    n_samples: int = 0
    duration_s: float = 0.0                 # virtual time of the simulated run
    required_duration_s: float = 0.0
    policy: dict[str, Any] = field(default_factory=dict)
    workload: str = ""
    chip: str = ""
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _lat(r: sim.SimResult) -> dict[str, float]:
    return {"p50": r.percentile(50), "p90": r.percentile(90), "p99": r.percentile(99),
            "mean": float(np.mean(r.latency_s)), "max": float(np.max(r.latency_s))}


def _lens(wl: W.MLPerfWorkload, n: int, seed: int, lens: np.ndarray | None, fixed_len: int | None):
    if not wl.seq_lens:
        return None
    if fixed_len is not None:
        return np.full(n, fixed_len, dtype=np.int32)
    if lens is not None:   # a user's length set: sampled with replacement, as LoadGen draws from the QSL
        return np.random.default_rng(seed).choice(np.asarray(lens, dtype=np.int32), size=n)
    return W.squad_seq_lens(n, seed)


def _cap(n: int, notes: list[str], what: str = "queries") -> int:
    if n > MAX_SIM_QUERIES:
        notes.append(f"LoadGen would issue {n:,} {what} for the min duration; simulated the first "
                     f"{MAX_SIM_QUERIES:,} (a stationary run: percentiles do not depend on its length)")
        return MAX_SIM_QUERIES
    return n


def _jf(jitter, n: int, seed: int):
    return None if jitter is None else jitter.factors(n, seed)


def closed_loop(service, wl, rules: Rules, spq: int, pct: float, min_q: int, seed=0, lens=None, fixed_len=None,
                jitter=None):
    notes: list[str] = []
    probe_l = _lens(wl, 256 * spq, seed + 1, lens, fixed_len)
    probe = sim.closed_loop(service, 256, spq, probe_l, _jf(jitter, 256, seed + 1))
    mean = probe.duration_s / 256
    n = max(min_q, math.ceil(rules.min_duration_s / mean * 1.02))
    n_run = _cap(n, notes)
    r = sim.closed_loop(service, n_run, spq, _lens(wl, n_run * spq, seed, lens, fixed_len), _jf(jitter, n_run, seed))
    dur = r.duration_s * n / n_run
    checks = {"min_duration": dur >= rules.min_duration_s, "min_queries": n >= min_q}
    name = "single-stream" if spq == 1 else "multi-stream"
    res = ScenarioResult(name, f"p{pct:g} latency", r.percentile(pct), "s", all(checks.values()), _lat(r),
                         checks=checks, n_queries=n, n_samples=n * spq, duration_s=dur,
                         required_duration_s=rules.min_duration_s, policy={"samples_per_query": spq}, notes=notes)
    return res


def single_stream(service, wl, rules: Rules, **kw) -> ScenarioResult:
    return closed_loop(service, wl, rules, 1, W.SINGLE_STREAM_PERCENTILE, rules.min_query_count, **kw)


def multi_stream(service, wl, rules: Rules, **kw) -> ScenarioResult:
    return closed_loop(service, wl, rules, W.MULTI_STREAM_SAMPLES, W.MULTI_STREAM_PERCENTILE, rules.min_query_count, **kw)


def best_offline_batch(service, seq_len: int | None, max_batch: int = 65536, gain: float = 1.01) -> tuple[int, list[str]]:
    """The batch with the highest samples/s that fits (``service.time`` is the seconds per
    batch; CapacityError = does not fit). Powers of two, stopping once doubling the batch
    gains less than 1 %; when the next power of two does not fit while throughput is
    still rising, the largest batch that fits in between (bisection) is taken."""
    best, best_tp, notes = 0, 0.0, []
    b, full = 1, None
    while b <= max_batch:
        try:
            tp = b / service.time(b, seq_len)
        except CapacityError as e:
            full = e
            break
        if tp > best_tp * gain:
            best, best_tp = b, tp
        elif best:
            return best, notes
        b *= 2
    if not best:
        raise CapacityError(f"not even batch 1 fits the device ({str(full).splitlines()[0] if full else ''})")
    if full is None:
        notes.append(f"throughput still rising at batch {best}, the largest tried")
        return best, notes
    lo, hi = best, 2 * best                     # lo fits, hi does not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        try:
            service.time(mid, seq_len)
            lo = mid
        except CapacityError as e:
            hi, full = mid, e
    if lo > best and lo / service.time(lo, seq_len) > best_tp:
        best = lo
    notes.append(f"throughput still rising at batch {best}, the largest that fits the device memory "
                 f"(batch {hi} does not fit: {str(full).splitlines()[0]})" if best == lo else
                 f"batch {2 * best} does not fit: {str(full).splitlines()[0]}")
    return best, notes


def offline(service, wl, rules: Rules, batch: int | None = None, max_batch: int = 65536, seed=0, lens=None,
            fixed_len=None, jitter=None) -> ScenarioResult:
    """Offline: batches pipelined, so the device's rate is its steady-state one (a service's
    ``period``, transfers overlapped; its latency where it has none)."""
    notes: list[str] = []
    steady = SteadyState(service)
    ref = None
    if wl.seq_lens:
        ref = fixed_len or int(np.median(_lens(wl, 4096, seed + 1, lens, None)))
    if batch is None:
        batch, fit_notes = best_offline_batch(steady, ref, max_batch)
        notes += fit_notes
    expected_qps = batch / steady.time(batch, ref)              # LoadGen's offline_expected_qps: our prediction
    n = max(wl.offline_min_samples, int(W.OFFLINE_SLACK * rules.min_duration_s * expected_qps))
    n_run = _cap(n, notes, "samples")
    nb = -(-n_run // batch)
    r = sim.offline(service, n_run, batch, _lens(wl, n_run, seed, lens, fixed_len), steady=steady,
                    jitter=None if jitter is None else jitter.factors(nb, seed))
    sps = r.n_samples / r.duration_s
    dur = n / sps
    checks = {"min_duration": dur >= rules.min_duration_s, "min_queries": n >= wl.offline_min_samples}
    return ScenarioResult("offline", "samples/s", sps, "samples/s", all(checks.values()), _lat(r), qps=sps,
                          checks=checks, n_queries=1, n_samples=n, duration_s=dur, required_duration_s=rules.min_duration_s,
                          policy={"batch": batch, "sorted_by_length": bool(wl.seq_lens), "pipelined": True}, notes=notes)


def _server_run(service, qps, n, max_batch, timeout_s, lens_fn, seed, jitter=None):
    arr = sim.poisson_arrivals(qps, n, seed)
    return sim.server(service, arr, max_batch, timeout_s, lens_fn(n), _jf(jitter, n, seed))


def server_search(service, bound_s: float, n: int, max_batch: int, timeout_s: float, lens_fn, seed: int = 0,
                  lmax: int | None = None, steps: int = 14, jitter=None) -> float:
    """The highest scheduled QPS whose p99 latency is within bound (bisection; 0 if none)."""
    probe = lens_fn(2000)
    lmin = None if probe is None else int(np.min(probe))
    try:
        t_full = service.time(max_batch, lmin)
    except CapacityError:
        return 0.0
    hi = max_batch / t_full * 1.05          # full batches of the shortest samples: no higher rate can be stable
    lo = 0.0
    if _server_run(service, hi / 1000, min(n, 2000), max_batch, timeout_s, lens_fn, seed, jitter).percentile(99) > bound_s:
        return 0.0
    for _ in range(steps):
        mid = (lo + hi) / 2
        if _server_run(service, mid, n, max_batch, timeout_s, lens_fn, seed, jitter).percentile(99) <= bound_s:
            lo = mid
        else:
            hi = mid
    return lo


def server(service, wl, rules: Rules, max_batch: int | None = None, timeout_s: float | None = None,
           bound_s: float | None = None, seed: int = 0, lens=None, fixed_len=None, search_queries: int = 20000, jitter=None,
           candidates: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)) -> ScenarioResult:
    bound = bound_s if bound_s is not None else wl.server_bound_s
    notes: list[str] = []
    lmax = (fixed_len or W.BERT_MAX_LEN) if wl.seq_lens else None
    lens_fn = (lambda k: _lens(wl, k, seed, lens, fixed_len))
    timeout = bound / 10 if timeout_s is None else timeout_s   # [A] default: a tenth of the bound
    cands = (max_batch,) if max_batch else candidates
    best_qps, best_b = 0.0, cands[0]
    for b in cands:
        try:
            if service.time(b, lmax) * 2 + timeout > bound and b > 1:
                break            # a full batch behind a full batch would already miss the bound
        except CapacityError:
            break
        q = server_search(service, bound, search_queries, b, timeout, lens_fn, seed, lmax, jitter=jitter)
        if q > best_qps:
            best_qps, best_b = q, b
    if best_qps <= 0:
        qps = 0.0
        r = _server_run(service, 1.0 / max(service.time(1, lmax), 1e-12) / 10, 2000, 1, timeout, lens_fn, seed, jitter)
        notes.append("no scheduled QPS meets the latency bound: even a lone query misses it")
    else:
        qps = best_qps
        for _ in range(20):      # the full-length run at the searched QPS; step down 1 % while it fails
            n = max(rules.min_query_count, math.ceil(qps * rules.min_duration_s))
            n_run = _cap(n, [])
            r = _server_run(service, qps, n_run, best_b, timeout, lens_fn, seed + 7, jitter)
            if r.percentile(W.SERVER_PERCENTILE) <= bound:
                break
            qps *= 0.99
        _cap(n, notes)
    p99 = r.percentile(W.SERVER_PERCENTILE)
    n = r.n_queries if best_qps <= 0 else n
    dur = n / qps if qps > 0 else r.duration_s
    checks = {"performance_constraints": bool(p99 <= bound) and qps > 0,
              "min_duration": dur >= rules.min_duration_s, "min_queries": n >= rules.min_query_count}
    wait = float(np.mean(r.wait_s)) if r.wait_s is not None else 0.0
    return ScenarioResult("server", "scheduled QPS", qps, "queries/s", all(checks.values()), _lat(r), qps=qps,
                          bound_s=bound, checks=checks, n_queries=n, n_samples=n, duration_s=dur,
                          required_duration_s=rules.min_duration_s,
                          policy={"max_batch": best_b, "timeout_s": timeout, "mean_batch": float(np.mean(r.batch_sizes)),
                                  "mean_wait_s": wait},
                          notes=notes)


def rules_for(scenario: str, wl: W.MLPerfWorkload, quick: bool) -> Rules:
    dur = QUICK_DURATION_S if quick else W.MIN_DURATION_S
    q = {"single-stream": W.DEFAULT_MIN_QUERIES, "multi-stream": W.MULTI_STREAM_MIN_QUERIES,
         "server": W.DEFAULT_MIN_QUERIES, "offline": wl.offline_min_samples}[scenario]
    return Rules(dur, q, quick)


def run(scenario: str, service, workload: str = "resnet50", *, quick: bool = False, seed: int = 0,
        lens=None, fixed_len: int | None = None, rules: Rules | None = None, jitter=None, **kw) -> ScenarioResult:
    """One scenario on one service model, under the MLPerf rules of ``workload`` (or ``rules``:
    a shorter min duration / query count, e.g. to match a short LoadGen run). ``jitter``: a
    :class:`chiplab.scenario.jitter.Jitter` (or a name, ``"cpu"``) multiplying each batch's
    service time by a measured-spread factor; None: deterministic service times."""
    if isinstance(jitter, str):
        from chiplab.scenario.jitter import Jitter

        jitter = Jitter.named(jitter)
    if scenario not in SCENARIOS:
        raise ChiplabError(f"--scenario: expected one of {', '.join(SCENARIOS)}, got {scenario!r}")
    wl = W.mlperf_workload(workload)
    if rules is not None and scenario == "offline":
        wl = W.MLPerfWorkload(wl.mlperf_name, wl.server_bound_s, rules.min_query_count, wl.dataset, wl.seq_lens, wl.note)
    rules = rules or rules_for(scenario, wl, quick)
    fn = {"single-stream": single_stream, "multi-stream": multi_stream, "server": server, "offline": offline}[scenario]
    res = fn(CachedService(service), wl, rules, seed=seed, lens=lens, fixed_len=fixed_len, jitter=jitter, **kw)
    res.workload = str(workload)
    if wl.note:
        res.notes.append(wl.note)
    if wl.seq_lens:
        res.notes.append(f"sequence lengths: {'all ' + str(fixed_len) if fixed_len else 'SQuAD v1.1 model [A], <= 384 (see docs/scenarios.md)'}; "
                         "a batch is padded to its longest sample")
    if jitter is not None:
        res.notes.append(jitter.describe())
    if quick:
        res.notes.append(f"--quick: min duration {QUICK_DURATION_S:g} s instead of MLPerf's {W.MIN_DURATION_S:g} s")
    return res
