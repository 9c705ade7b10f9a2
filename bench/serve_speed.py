"""How many simulated requests per second of CPU time does the serving simulator sustain?

    OMP_NUM_THREADS=1 python bench/serve_speed.py [--requests 864000] [--qps 30]

Llama-2-70B on dgx-h100 (tp=8, bf16), Poisson arrivals at --qps, the default MLPerf-like lengths.
Issue 12's goal: 864,000 requests in under a minute on one core (14,400 requests per CPU second).
Prints requests per CPU second (process time, one thread) and the simulated steps.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chiplab.serve.cost import LlmCost  # noqa: E402
from chiplab.serve.models import MODELS  # noqa: E402
from chiplab.serve.sim import poisson_workload, simulate  # noqa: E402
from chiplab.system import load_system  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=864_000)
    ap.add_argument("--qps", type=float, default=30.0)
    a = ap.parse_args()
    cost = LlmCost(MODELS["llama-2-70b"], load_system("dgx-h100"), tp=8)
    wl = poisson_workload(a.qps, a.requests, seed=0)
    t0 = time.process_time()
    r = simulate(cost, wl)
    cpu = time.process_time() - t0
    print(f"{a.requests:,} requests, {r.steps:,} steps in {cpu:.1f} s CPU: {a.requests / cpu:,.0f} requests per CPU second "
          f"(goal 14,400: 864,000 in a minute)")


if __name__ == "__main__":
    main()
