"""Hardware co-design on examples/space_edge.yaml with one objective, EDP (J*s, ResNet-50 +
MobileNetV2, under its 5 W / 20 mm2 budgets): best feasible EDP found by TPE vs random at an
equal trial budget, median over 3 seeds. Gradient co-design is NOT done: the systolic model is
piecewise (folds, max over bounds) and the space is categorical, so there is no honest
differentiable surrogate here yet; its entry is null. Ends with one JSON line.

    python bench/codesign.py [--trials 64]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chiplab.explore.evaluate import Evaluator  # noqa: E402
from chiplab.explore.search import run  # noqa: E402
from chiplab.explore.space import load_space  # noqa: E402

SPACE = Path(__file__).resolve().parents[1] / "examples" / "space_edge.yaml"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=64)
    a = ap.parse_args()
    space = load_space(SPACE)
    space.spec = space.spec.model_copy(update={"objectives": ["edp"]})
    ev = Evaluator(space)   # shared: the graphs are captured once; the memo does not change what is found
    out = {}
    for sampler in ("tpe", "random"):
        best = []
        for seed in (0, 1, 2):
            res = run(space, trials=a.trials, sampler=sampler, seed=seed, batch=8, evaluator=ev)
            feas = res.feasible()
            best.append(min(t.values[0] for t in feas) if feas else float("inf"))
        out[sampler] = statistics.median(best)
        print(f"{sampler:7s} best EDP per seed: {', '.join(f'{b:.4g}' for b in best)} J*s (median {out[sampler]:.4g})")
    print(json.dumps({"gradient": None, "tpe": out["tpe"], "random": out["random"], "trials": a.trials}))


if __name__ == "__main__":
    main()
