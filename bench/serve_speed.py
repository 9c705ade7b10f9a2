"""How many simulated requests per second of CPU time does the serving simulator sustain?

    OMP_NUM_THREADS=1 python bench/serve_speed.py [--requests 864000] [--qps 30] [--features]

Llama-2-70B on dgx-h100 (tp=8, bf16), Poisson arrivals at --qps, the default MLPerf-like lengths.
Issue 12's goal: 864,000 requests in under a minute on one core (14,400 requests per CPU second).
Prints requests per CPU second (process time, one thread) and the simulated steps. ``--features``
also times the engine features: 16-token KV blocks with on-demand allocation and preemption, chunked
prefill, the same with a 30,000-token KV cache (preemptions), and a 1:1 prefill/decode disaggregation (two engines, each given the whole stream's
requests, tp=4 so that 8 chips make one unit), and ends with one JSON line of the timings.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import json  # noqa: E402

from chiplab.serve.cluster import kv_transfer_s, simulate_disaggregated  # noqa: E402
from chiplab.serve.cost import LlmCost  # noqa: E402
from chiplab.serve.models import MODELS  # noqa: E402
from chiplab.serve.sim import poisson_workload, simulate  # noqa: E402
from chiplab.system import load_system  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=864_000)
    ap.add_argument("--qps", type=float, default=30.0)
    ap.add_argument("--features", action="store_true", help="also time the engine features")
    a = ap.parse_args()
    cost = LlmCost(MODELS["llama-2-70b"], load_system("dgx-h100"), tp=8)
    wl = poisson_workload(a.qps, a.requests, seed=0)
    runs = [("legacy (reserve, exact tokens, whole prompts)", lambda: simulate(cost, wl))]
    if a.features:
        on = {"block_size": 16, "kv_policy": "on-demand", "chunked_prefill": True}
        cost4 = LlmCost(MODELS["llama-2-70b"], load_system("dgx-h100"), tp=4)
        runs += [("16-token blocks, on-demand KV + preemption, chunked prefill", lambda: simulate(cost, wl, **on)),
                 ("the same with a 30,000-token KV cache (forces preemption)",
                  lambda: simulate(cost, wl, kv_capacity=30_000, **on)),
                 ("the same, 1:1 prefill/decode disaggregation (tp=4)",
                  lambda: simulate_disaggregated(cost4, wl, 1, 1, lambda n: kv_transfer_s(cost4, n), **on))]
    out = {}
    for name, fn in runs:
        t0 = time.process_time()
        r = fn()
        cpu = time.process_time() - t0
        out[name] = {"cpu_s": round(cpu, 2), "steps": r.steps, "preemptions": r.preemptions}
        print(f"{name}: {a.requests:,} requests, {r.steps:,} steps, {r.preemptions:,} preemptions in {cpu:.1f} s CPU: "
              f"{a.requests / cpu:,.0f} requests per CPU second (goal 14,400: 864,000 in a minute)")
    print(json.dumps({"requests": a.requests, "qps": a.qps, "runs": out}))


if __name__ == "__main__":
    main()
