"""Hardware co-design on examples/space_edge.yaml with one objective, EDP (J*s, ResNet-50 +
MobileNetV2, under its 5 W / 20 mm2 budgets): best feasible EDP found by gradient co-design
(chiplab/explore/relax.py: Adam on a torch relaxation of the systolic model, snapped to legal
designs and verified by the exact model), TPE and random search at an equal budget of EXACT
evaluations, per seed and median over 3 seeds. The relaxation's own evaluations are free but
counted and timed. Only hardware parameters are co-optimised (no model-side parameter: the
workloads are fixed networks with no accuracy model). Ends with one JSON line.

    python bench/codesign.py [--trials 64] [--seeds 0 1 2]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from chiplab.explore.evaluate import Evaluator  # noqa: E402
from chiplab.explore.relax import Relaxation, gradient_search  # noqa: E402
from chiplab.explore.search import run  # noqa: E402
from chiplab.explore.space import load_space  # noqa: E402

SPACE = Path(__file__).resolve().parents[1] / "examples" / "space_edge.yaml"


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=64, help="exact evaluations per method and seed")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--space", default=str(SPACE))
    ap.add_argument("--starts", type=int, default=8, help="gradient: random starts per dataflow")
    ap.add_argument("--steps", type=int, default=150, help="gradient: Adam steps per start")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    space = load_space(a.space)
    space.spec = space.spec.model_copy(update={"objectives": ["edp"]})
    graphs = Evaluator(space).graphs   # captured once for every method
    rel = Relaxation(space, graphs)
    best: dict[str, list[float]] = {"gradient": [], "tpe": [], "random": []}
    wall: dict[str, list[float]] = {k: [] for k in best}
    extra: list[str] = []
    for seed in a.seeds:
        # a fresh evaluator per method and seed: no method profits from another's memo
        t0 = time.perf_counter()
        ev = Evaluator(space, graphs=graphs)
        res = gradient_search(space, ev, budget=a.trials, seed=seed, starts=a.starts, steps=a.steps, relax=rel)
        wall["gradient"].append(time.perf_counter() - t0)
        feas = res.feasible(ev)
        best["gradient"].append(min((m["edp"] for _, m in feas), default=float("inf")))
        extra.append(f"seed {seed}: gradient: {res.surrogate_evals} relaxed evaluations in {res.surrogate_s:.1f} s, "
                     f"{res.candidates} snapped candidates, {len(res.evaluated)} exact ({res.exact_s:.1f} s), "
                     f"{len(feas)} feasible")
        for sampler in ("tpe", "random"):
            t0 = time.perf_counter()
            r = run(space, trials=a.trials, sampler=sampler, seed=seed, batch=8, evaluator=Evaluator(space, graphs=graphs))
            wall[sampler].append(time.perf_counter() - t0)
            f = r.feasible()
            best[sampler].append(min((t.values[0] for t in f), default=float("inf")))
    print(f"best feasible EDP (J*s) at {a.trials} exact evaluations, {space.name}")
    print(f"{'seed':>6s} " + " ".join(f"{k:>12s}" for k in best))
    for i, seed in enumerate(a.seeds):
        print(f"{seed:>6d} " + " ".join(f"{best[k][i]:12.4g}" for k in best))
    med = {k: statistics.median(v) for k, v in best.items()}
    print(f"{'median':>6s} " + " ".join(f"{med[k]:12.4g}" for k in best))
    print(f"{'wall s':>6s} " + " ".join(f"{statistics.median(wall[k]):12.1f}" for k in best) + "   (median per seed)")
    for line in extra:
        print(line)
    print(f"gradient vs tpe: {med['tpe'] / med['gradient']:.2f}x lower EDP; vs random: {med['random'] / med['gradient']:.2f}x")
    out = {"gradient": med["gradient"], "tpe": med["tpe"], "random": med["random"], "trials": a.trials,
           "seeds": a.seeds, "wall_s": {k: statistics.median(v) for k, v in wall.items()}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
