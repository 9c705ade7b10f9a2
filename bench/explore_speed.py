"""Design points per second: `chiplab explore`'s loop vs re-estimating from scratch.

naive: per point, edit the chip and call chiplab.estimate(<workload name>, chip) for each
workload (the capture comes from the on-disk cache each time, as a user's loop would).
explore: the NSGA-II loop of chiplab.explore (graphs captured once, memo by design point,
points grouped by mapping key with one full estimate per group and the rest re-priced, batched
ask/tell, journal on disk). Both on examples/space_edge.yaml (ResNet-50 + MobileNetV2).
Ends with one JSON line ("points_per_s": NSGA-II trials per second, journal included).

    python bench/explore_speed.py [--trials 1024] [--naive 24]
"""
from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import chiplab  # noqa: E402
from chiplab.explore.search import run  # noqa: E402
from chiplab.explore.space import load_space  # noqa: E402

SPACE = Path(__file__).resolve().parents[1] / "examples" / "space_edge.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=1024)
    ap.add_argument("--naive", type=int, default=24)
    a = ap.parse_args()
    space = load_space(SPACE)
    rng = random.Random(0)
    pts = [{k: rng.choice(p.choices) for k, p in space.spec.parameters.items()} for _ in range(a.naive)]
    for w in space.spec.workloads:    # warm the capture cache so naive is not charged the first capture
        chiplab.estimate(w.name, space.base)
    t = time.perf_counter()
    for p in pts:
        chip = space.chip(p)
        for w in space.spec.workloads:
            chiplab.estimate(w.name, chip, batch=w.batch)
    naive = a.naive / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory() as d:
        t0 = time.perf_counter()
        res = run(space, trials=a.trials, storage=Path(d) / "study.log")
        wall = time.perf_counter() - t0
    ev = res.evaluator
    rate = a.trials / wall
    # the re-price path alone: what a point costs when its mapping group already has an estimate
    from chiplab.hw.edit import edit
    from chiplab.perf.estimate import estimate
    g = ev.graphs[space.spec.workloads[0].name]
    base = estimate(g, space.base)
    chips = [edit(space.base, {"energy.dram_read_per_byte": f"{100 + i} pJ"}) for i in range(5)]
    t = time.perf_counter()
    for c in chips:
        estimate(g, c)
    t_fresh = (time.perf_counter() - t) / len(chips)
    t = time.perf_counter()
    for c in chips:
        base.reprice(c).checked()
    t_rep = (time.perf_counter() - t) / len(chips)
    print(f"naive loop       : {naive:8.1f} points/s ({a.naive} random points)")
    print(f"chiplab explore  : {rate:8.1f} points/s ({a.trials} NSGA-II trials in {wall:.1f} s, "
          f"{ev.misses} distinct points estimated, {ev.hits} from the memo)")
    print(f"distinct points  : {ev.misses / wall:8.1f} /s ({ev.full} workload estimates run, "
          f"{ev.repriced} re-priced from their mapping group)")
    print(f"re-price path    : {t_rep * 1e3:8.1f} ms vs {t_fresh * 1e3:.1f} ms fresh per {g.name} estimate "
          f"({t_fresh / t_rep:.1f}x; only points sharing a mapping group take it)")
    print(json.dumps({"points_per_s": round(rate, 1), "speedup_vs_naive": round(rate / naive, 2),
                      "naive_points_per_s": round(naive, 1), "trials": a.trials, "distinct": ev.misses,
                      "memo_hits": ev.hits, "full_estimates": ev.full, "repriced": ev.repriced,
                      "reprice_ms": round(t_rep * 1e3, 2), "fresh_ms": round(t_fresh * 1e3, 2)}))


if __name__ == "__main__":
    main()
