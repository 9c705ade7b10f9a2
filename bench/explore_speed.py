"""Design points per second: the batch evaluator (numpy over points) vs re-estimating from scratch.

naive: per point, edit the chip and call chiplab.estimate(<workload name>, chip) for each
workload (the capture comes from the on-disk cache each time, as a user's loop would).
batch: ``Evaluator.many`` on the same random points of examples/space_edge.yaml (a fresh
evaluator each repeat: no memo, residency plans computed again; chip edit, area and price
included), which prices systolic points with :mod:`chiplab.perf.systolic_batch`. Both for
ResNet-50 alone and for the space's workloads (ResNet-50 + MobileNetV2); medians of --repeats.
Optionally (--trials > 0) the NSGA-II loop of chiplab.explore as a whole (journal on disk).
Ends with one JSON line: "points_per_s" is the batch evaluator's rate on the space's workloads
(ResNet-50 + MobileNetV2), "speedup_vs_naive" its ratio to the naive loop on the same workloads.

    python bench/explore_speed.py [--points 2000] [--naive 24] [--repeats 3] [--trials 0]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import chiplab  # noqa: E402
from chiplab.explore.evaluate import Evaluator  # noqa: E402
from chiplab.explore.space import Space, load_space  # noqa: E402

SPACE = Path(__file__).resolve().parents[1] / "examples" / "space_edge.yaml"


def only(space: Space, names: list[str]) -> Space:
    """The space with only the workloads ``names``."""
    spec = space.spec.model_copy(update={"workloads": [w for w in space.spec.workloads if w.name in names]})
    return Space(spec, space.base, space.origin, space.root)


def naive_rate(space: Space, pts: list[dict], repeats: int) -> float:
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for p in pts:
            chip = space.chip(p)
            for w in space.spec.workloads:
                chiplab.estimate(w.name, chip, batch=w.batch)
        rates.append(len(pts) / (time.perf_counter() - t))
    return statistics.median(rates)


def batch_rate(space: Space, graphs: dict, pts: list[dict], repeats: int, chunk: int) -> tuple[float, Evaluator]:
    rates = []
    for _ in range(repeats):
        ev = Evaluator(space, graphs={w.name: graphs[w.name] for w in space.spec.workloads})
        t = time.perf_counter()
        for i in range(0, len(pts), chunk):
            ev.many(pts[i:i + chunk])
        rates.append(len(pts) / (time.perf_counter() - t))
    return statistics.median(rates), ev


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--points", type=int, default=2000, help="random points for the batch evaluator")
    ap.add_argument("--naive", type=int, default=24, help="random points for the naive loop")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--chunk", type=int, default=64, help="points per Evaluator.many call (NSGA-II batch size)")
    ap.add_argument("--trials", type=int, default=0, help="also run this many NSGA-II trials of chiplab explore")
    a = ap.parse_args()
    space = load_space(SPACE)
    rng = random.Random(0)
    keys = list(space.spec.parameters)
    seen: set = set()
    pts: list[dict] = []
    while len(pts) < a.points:      # distinct points: the memo must not help
        p = {k: rng.choice(space.spec.parameters[k].choices) for k in keys}
        if tuple(p.values()) not in seen:
            seen.add(tuple(p.values()))
            pts.append(p)
    from chiplab.capture.workloads import load_graph

    graphs = {w.name: load_graph(space.workload_ref(w.name), batch=w.batch, seq_len=w.seq_len)
              for w in space.spec.workloads}
    for w in space.spec.workloads:    # warm the capture cache so naive is not charged the first capture
        chiplab.estimate(w.name, space.base)
    rows, out = [], {}
    for label, sp in (("ResNet-50", only(space, ["resnet50"])), ("ResNet-50 + MobileNetV2", space)):
        naive = naive_rate(sp, pts[:a.naive], a.repeats)
        rate, ev = batch_rate(sp, graphs, pts, a.repeats, a.chunk)
        rows.append((label, naive, rate, ev))
        out[label] = (naive, rate)
    print(f"{'workloads':<26} {'naive pts/s':>12} {'batch pts/s':>12} {'speedup':>8}")
    for label, naive, rate, ev in rows:
        print(f"{label:<26} {naive:12.1f} {rate:12.1f} {rate / naive:8.1f}x   "
              f"({ev.batch_priced} workload results batch-priced, {ev.full} scalar)")
    print(f"(batch: {a.points} distinct random points of {SPACE.name} in calls of {a.chunk}, median of {a.repeats}; "
          f"naive: {a.naive} of them, median of {a.repeats})")
    extra = {}
    if a.trials:
        from chiplab.explore.search import run

        with tempfile.TemporaryDirectory() as d:
            t0 = time.perf_counter()
            res = run(space, trials=a.trials, storage=Path(d) / "study.log")
            wall = time.perf_counter() - t0
        extra = {"explore_trials": a.trials, "explore_points_per_s": round(a.trials / wall, 1)}
        print(f"chiplab explore  : {a.trials / wall:8.1f} trials/s ({a.trials} NSGA-II trials in {wall:.1f} s, "
              f"{res.evaluator.misses} distinct, {res.evaluator.hits} from the memo; journal included)")
    n_both, r_both = out["ResNet-50 + MobileNetV2"]
    n_r50, r_r50 = out["ResNet-50"]
    print(json.dumps({"points_per_s": round(r_both, 1), "speedup_vs_naive": round(r_both / n_both, 1),
                      "naive_points_per_s": round(n_both, 2), "workloads": "resnet50+mobilenet_v2",
                      "resnet50_points_per_s": round(r_r50, 1), "resnet50_speedup_vs_naive": round(r_r50 / n_r50, 1),
                      "resnet50_naive_points_per_s": round(n_r50, 2), "points": a.points, "chunk": a.chunk,
                      "repeats": a.repeats, **extra}))


if __name__ == "__main__":
    main()
