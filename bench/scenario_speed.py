"""How fast is the Server simulation? 100,000 Poisson queries through the dynamic batcher.

    OMP_NUM_THREADS=1 python bench/scenario_speed.py [--queries 100000] [--repeats 5]

Target (issue 11): under 5 s on one core. Cases: a FIFO queue (max batch 1, one Python
step per query: the worst case), batching up to 8 and 64, and BERT-like per-sample
sequence lengths (each batch priced at its longest sample). The service model is a
closed-form one, so only the simulator is timed; a real run adds the chiplab estimates
(memoised: a few dozen, whatever the query count).
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chiplab.scenario import sim  # noqa: E402
from chiplab.scenario.service import AffineService  # noqa: E402
from chiplab.scenario.workloads import squad_seq_lens  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--queries", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    n = args.queries
    svc = AffineService(1e-3, 2e-4, ref_len=384)
    cases = [("FIFO, max batch 1, rho 0.8", 1, 0.0, None, 0.8 / 1.2e-3),
             ("max batch 8, timeout 1 ms", 8, 1e-3, None, 0.8 * 8 / 2.6e-3),
             ("max batch 64, timeout 1 ms", 64, 1e-3, None, 0.8 * 64 / 13.8e-3),
             ("max batch 8, SQuAD-like lengths", 8, 1e-3, squad_seq_lens(n), 0.6 * 8 / 2.6e-3)]
    print(f"{'case':36s} {'median s':>9s} {'queries/s':>12s} {'mean batch':>10s} {'p99 ms':>8s}")
    for name, mb, to, lens, qps in cases:
        arr = sim.poisson_arrivals(qps, n, 0)
        ts = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            r = sim.server(svc, arr, mb, to, lens)
            ts.append(time.perf_counter() - t0)
        t = statistics.median(ts)
        print(f"{name:36s} {t:9.3f} {n / t:12,.0f} {r.batch_sizes.mean():10.2f} {r.percentile(99) * 1e3:8.3f}")
    print(f"target: {n:,} queries in < 5 s on one core")


if __name__ == "__main__":
    main()
