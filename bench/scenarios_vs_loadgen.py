"""chiplab's scenario simulation next to the real MLPerf LoadGen driving a real PyTorch SUT.

    OMP_NUM_THREADS=1 python bench/scenarios_vs_loadgen.py [--models resnet18,bert-base] [--duration 8]

The SUT runs chiplab's built-in ResNet-18 and BERT-base (random weights) on this CPU with
one thread, behind the same policies chiplab simulates: SingleStream/MultiStream run the
query as one batch; Server has a dynamic batcher (max batch, timeout from the oldest
arrival) on one worker; Offline sorts the query by length and runs fixed-size batches.
BERT samples carry SQuAD-like lengths (chiplab.scenario.workloads.squad_seq_lens, an
assumption) and each batch is padded to its longest sample.

chiplab's prediction is for the ``host`` chip detected with one thread, using the same
(shortened) min duration and query counts as the LoadGen run. Server: chiplab searches the
highest QPS within the bound; LoadGen then runs at that QPS and we report its p99 and
VALID/INVALID. Durations are far below MLPerf's 600 s; the machine may be shared, so
measured numbers carry that noise.
Needs ``pip install mlcommons-loadgen`` (import name ``mlperf_loadgen``).
"""
from __future__ import annotations

import argparse
import os
import queue
import re
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)

from chiplab.capture.workloads import build  # noqa: E402
from chiplab.hw.host import detect_host  # noqa: E402
from chiplab.scenario import scenarios as S  # noqa: E402
from chiplab.scenario.loadgen import run_summary  # noqa: E402
from chiplab.scenario.service import EstimateService  # noqa: E402
from chiplab.scenario.workloads import squad_seq_lens  # noqa: E402

SEQ_GRID = (64, 128, 256, 384)


class Sut:
    """One worker thread runs the model; issue_queries only enqueues."""

    def __init__(self, lg, model, samples, lens, scenario, max_batch, timeout_s):
        self.lg, self.model, self.samples, self.lens = lg, model, samples, lens
        self.scenario, self.max_batch, self.timeout_s = scenario, max_batch, timeout_s
        self.q: queue.Queue = queue.Queue()
        self.stop = False
        self.worker = threading.Thread(target=self._loop, daemon=True)
        self.worker.start()

    def _infer(self, items):
        idx = [it[1] for it in items]
        with torch.inference_mode():
            if self.lens is None:
                x = torch.stack([self.samples[i] for i in idx])
            else:
                L = max(int(self.lens[i]) for i in idx)
                x = torch.stack([self.samples[i][:L] for i in idx])
            self.model(x)
        self.lg.QuerySamplesComplete([self.lg.QuerySampleResponse(it[0], 0, 0) for it in items])

    def _loop(self):
        while not self.stop:
            try:
                first = self.q.get(timeout=0.05)
            except queue.Empty:
                continue
            if first[2] == "group":                       # a whole query (Single/MultiStream, Offline)
                items = first[3]
                if self.scenario == "offline":
                    if self.lens is not None:
                        items = sorted(items, key=lambda it: -int(self.lens[it[1]]))
                    for k in range(0, len(items), self.max_batch):
                        self._infer(items[k:k + self.max_batch])
                else:
                    self._infer(items)
                continue
            batch = [first]                               # Server: dynamic batcher
            close = first[2] + self.timeout_s
            while len(batch) < self.max_batch:
                left = close - time.perf_counter()
                try:
                    batch.append(self.q.get(timeout=left) if left > 0 else self.q.get_nowait())
                except queue.Empty:
                    break
            self._infer(batch)

    def issue(self, qs):
        items = [(s.id, s.index) for s in qs]
        if self.scenario == "server":
            now = time.perf_counter()
            for it in items:
                self.q.put((it[0], it[1], now))
        else:
            self.q.put((None, None, "group", items))

    def flush(self):
        pass


def loadgen_run(lg, model, samples, lens, scenario, *, duration_s, min_queries, max_batch, timeout_s, qps=None,
                bound_s=None, expected_s=None):
    sut_obj = Sut(lg, model, samples, lens, scenario, max_batch, timeout_s)
    s = lg.TestSettings()
    s.scenario = {"single-stream": lg.TestScenario.SingleStream, "multi-stream": lg.TestScenario.MultiStream,
                  "server": lg.TestScenario.Server, "offline": lg.TestScenario.Offline}[scenario]
    s.mode = lg.TestMode.PerformanceOnly
    s.min_duration_ms = int(duration_s * 1000)
    s.min_query_count = min_queries
    if scenario == "single-stream":
        s.single_stream_expected_latency_ns = int(expected_s * 1e9)
    elif scenario == "multi-stream":
        s.multi_stream_samples_per_query = 8
        s.multi_stream_expected_latency_ns = int(expected_s * 1e9)
    elif scenario == "server":
        s.server_target_qps = qps
        s.server_target_latency_ns = int(bound_s * 1e9)
    else:
        s.offline_expected_qps = qps
    n = len(samples)
    sut = lg.ConstructSUT(sut_obj.issue, sut_obj.flush)
    qsl = lg.ConstructQSL(n, n, lambda idx: None, lambda idx: None)
    text = run_summary(lg, sut, qsl, s)
    sut_obj.stop = True
    sut_obj.worker.join()
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    return parse_summary(text)


def parse_summary(text: str) -> dict:
    out = {"valid": "Result is : VALID" in text,
           "unsatisfied": [ln.strip().split(":")[0] for ln in text.splitlines() if "satisfied" in ln and ": NO" in ln.upper()]}
    for key, pat in (("sps", r"Samples per second\s*:\s*([\d.e+]+)"), ("sched_qps", r"Scheduled samples per second\s*:\s*([\d.e+]+)"),
                     ("p50", r"50.00 percentile latency \(ns\)\s*:\s*(\d+)"), ("p90", r"90.00 percentile latency \(ns\)\s*:\s*(\d+)"),
                     ("p99", r"99.00 percentile latency \(ns\)\s*:\s*(\d+)"), ("qps", r"QPS w/o loadgen overhead\s*:\s*([\d.e+]+)")):
        m = re.search(pat, text)
        if m:
            out[key] = float(m.group(1)) / (1e9 if key.startswith("p") else 1)
    return out


class _Timed:
    def __init__(self, t):
        self.latency_s = t


def measured_service(model, samples, is_bert, repeats=3):
    """A ServiceModel whose points are timed on this CPU (median of ``repeats`` after one warm-up)."""
    def measure(workload, chip, batch, seq_len, precision):
        x = torch.stack([samples[i % len(samples)][:seq_len] if is_bert else samples[i % len(samples)]
                         for i in range(batch)])
        ts = []
        with torch.inference_mode():
            for k in range(repeats + 1):
                t0 = time.perf_counter()
                model(x)
                ts.append(time.perf_counter() - t0)
        return _Timed(float(np.median(ts[1:])))
    return EstimateService(None, None, seq_grid=(128, 256, 384) if is_bert else None, estimate_fn=measure)


def _metric(sc, r):
    if sc == "single-stream":
        return r.latency_s["p90"] * 1e3
    if sc == "multi-stream":
        return r.latency_s["p99"] * 1e3
    if sc == "server":
        return r.latency_s["p99"] * 1e3
    return r.value


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default="resnet18,bert-base")
    ap.add_argument("--scenarios", default=",".join(S.SCENARIOS))
    ap.add_argument("--duration", type=float, default=5.0, help="LoadGen min_duration (s) for every run")
    args = ap.parse_args()
    try:
        import mlperf_loadgen as lg
    except ImportError:
        print("mlperf_loadgen is not installed (pip install mlcommons-loadgen): nothing to compare")
        return
    chip = detect_host(threads=1)
    print(f"load average at start: {os.getloadavg()}, cores: {os.cpu_count()}", flush=True)
    rows = []
    for name in args.models.split(","):
        is_bert = name.startswith("bert")
        model, _ = build(name, batch=1, seq_len=384 if is_bert else None, device="cpu")
        model.eval()
        n = 64
        if is_bert:
            lens = squad_seq_lens(n, seed=3)
            samples = [torch.randint(0, 30000, (384,)) for _ in range(n)]
        else:
            lens, samples = None, [torch.randn(3, 224, 224) for _ in range(n)]
        est = EstimateService(name, chip, seq_grid=SEQ_GRID if is_bert else None)
        meas = measured_service(model, samples, is_bert)
        mb = 4 if is_bert else 8
        lmax = 384 if is_bert else None
        for sc in args.scenarios.split(","):
            minq = {"single-stream": 16, "multi-stream": 8, "server": 32, "offline": 2 * mb * 4}[sc]
            rules = S.Rules(args.duration, minq)
            kw, note = {}, ""
            if sc == "server":
                bound = S.W.mlperf_workload(name).server_bound_s
                if 2 * meas.time(1, lmax) > bound:     # this CPU cannot meet MLPerf's bound: loosen it, say so
                    bound, note = 3 * meas.time(mb, lmax), f" (MLPerf's {bound * 1e3:g} ms raised)"
                kw = dict(max_batch=mb, timeout_s=None, search_queries=4000, bound_s=bound)
            if sc == "offline":
                kw = dict(batch=mb)
            p_est = S.run(sc, est, name, rules=rules, lens=lens, **kw)
            p_meas = S.run(sc, meas, name, rules=rules, lens=lens, **kw)
            m = loadgen_run(lg, model, samples, lens, sc, duration_s=args.duration, min_queries=minq, max_batch=mb,
                            timeout_s=p_meas.policy.get("timeout_s", 0.0), qps=p_meas.qps, bound_s=p_meas.bound_s,
                            expected_s=p_meas.latency_s["p50"])
            key = {"single-stream": "p90", "multi-stream": "p99", "server": "p99", "offline": "sps"}[sc]
            lgv = m.get(key, float("nan")) * (1 if sc == "offline" else 1e3)
            if sc == "server":
                metric = (f"p99 ms at {p_meas.qps:.2f} QPS, bound {p_meas.bound_s * 1e3:.0f} ms{note}; "
                          f"max QPS: host est {p_est.qps:.2f}, measured-service sim {p_meas.qps:.2f}")
            else:
                metric = {"single-stream": "p90 ms", "multi-stream": "p99 ms", "offline": f"samples/s (batch {mb})"}[sc]
            e1, e2 = _metric(sc, p_est), _metric(sc, p_meas)
            err = lambda a: (a - lgv) / lgv * 100 if lgv == lgv and lgv else float("nan")  # noqa: E731
            rows.append((name, sc, metric, e1, err(e1), e2, err(e2), lgv, p_meas.valid,
                         "VALID" if m["valid"] else "INVALID (not satisfied: " + ", ".join(u.replace(" satisfied", "") for u in m["unsatisfied"]) + ")"))
            print(rows[-1], flush=True)
        print(f"{name}: measured service points (s): " +
              ", ".join(f"b{b}" + (f"/L{L}" if L else "") + f"={v:.4f}" for (b, L), v in sorted(meas._memo.items(), key=str)
                        if isinstance(v, float)), flush=True)
    print("\n| model | scenario | metric | chiplab, host estimate (err) | chiplab sim over measured service (err) "
          "| LoadGen measured | VALID sim / LoadGen |")
    print("|---|---|---|---|---|---|---|")
    for name, sc, metric, e1, r1, e2, r2, lgv, v1, v2 in rows:
        print(f"| {name} | {sc} | {metric} | {e1:.3f} ({r1:+.0f} %) | {e2:.3f} ({r2:+.0f} %) | {lgv:.3f} | {v1} / {v2} |")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
