"""Joint hardware/model co-design against sequential design (issue #15 item 6), on a small CNN for
scikit-learn's digits (8x8 images, bundled with scikit-learn; nothing downloaded) and the systolic
space ``chiplab.explore.joint.SPACE`` (rows, cols, dataflow, three SRAMs, clock, DRAM bandwidth,
under its area/power limits), batch-1 inference:

* ``hardware_only``: the full-width network (16/32/32 channels) trained ``epochs + finetune`` epochs,
  then hardware-only gradient co-design (``relax.gradient_search``) on its captured graph.
* ``half_width`` (and ``uniform_0.25``, ``uniform_0.75``): the same, sequential, with a uniform
  width multiplier (0.5: 8/16/16 channels): shrinking the network without any hardware feedback.
* ``joint`` (and ``joint_lam_*``, the ``--lam-sweep``): network weights, FBNetV2 width logits and
  hardware log-parameters trained together on cross-entropy + lam * penalised log EDP
  (``chiplab.explore.joint``; straight-through one-hot masks for the last ``--hard-last`` epochs),
  widths snapped, the pruned network fine-tuned ``finetune`` epochs, hardware snapped and verified
  by the exact model.

All: test accuracy on a held-out 25 % split (fixed per seed), and the best feasible design's EXACT
EDP (J*s per image), area and power, among the same number of exact evaluations (``--budget``); the
joint design is re-priced by ``chiplab.estimate`` on the pruned nn.Module (checked equal). Per seed,
median over seeds. Ends with one JSON line.

    python bench/codesign_joint.py [--seeds 0 1 2] [--lam 0.3] [--lam-sweep 0.1 1] [--multipliers 0.25 0.5 0.75]
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from chiplab.explore import joint as J
from chiplab.explore.evaluate import Evaluator
from chiplab.explore.relax import gradient_search


def _row(net, acc, best, space, wall, extra) -> dict:
    if best is None:
        return {"widths": list(net.widths), "accuracy": acc, "edp": math.inf, "area_mm2": math.nan,
                "power_w": math.nan, "design": None, "wall_s": wall, **extra}
    params, m = best
    again = J.price(space, net, params)             # chiplab.estimate on the nn.Module itself
    if not math.isclose(again["edp"], m["edp"], rel_tol=1e-9):
        raise AssertionError(f"estimate on the module {again['edp']} != evaluator {m['edp']}")
    return {"widths": list(net.widths), "accuracy": acc, "edp": m["edp"], "area_mm2": m["area_mm2"],
            "power_w": m["power_w"], "design": params, "wall_s": wall, **extra}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--lam", type=float, default=0.3, help="weight of penalised log EDP against cross-entropy")
    ap.add_argument("--epochs", type=int, default=20, help="joint training epochs")
    ap.add_argument("--warmup", type=int, default=5, help="epochs before the width logits move")
    ap.add_argument("--finetune", type=int, default=5, help="fine-tuning epochs of the pruned network")
    ap.add_argument("--budget", type=int, default=16, help="exact evaluations per method and seed")
    ap.add_argument("--starts", type=int, default=2, help="hardware starts per dataflow (both methods)")
    ap.add_argument("--steps", type=int, default=150, help="hardware-only: Adam steps per start")
    ap.add_argument("--hard-last", type=int, default=6, help="joint: last epochs with straight-through one-hot masks")
    ap.add_argument("--lr", type=float, default=1e-2)
    ap.add_argument("--lam-sweep", type=float, nargs="*", default=[0.1, 1.0], help="joint: further lam values")
    ap.add_argument("--multipliers", type=float, nargs="*", default=[0.25, 0.5, 0.75],
                    help="sequential: uniform width multipliers besides 1 (0.5 is reported as half_width)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    space = J.digits_space()
    t0 = time.perf_counter()
    problem = J.JointProblem(space)
    setup_s = time.perf_counter() - t0
    seq = {"hardware_only": 1.0, **{("half_width" if m == 0.5 else f"uniform_{m:g}"): m for m in a.multipliers}}
    lams = {"joint": a.lam, **{f"joint_lam_{lam:g}": lam for lam in a.lam_sweep}}
    rows: dict[str, list[dict]] = {k: [] for k in (*seq, *lams)}
    for seed in a.seeds:
        data = J.digits_split(seed)
        # (a) sequential: a fixed network (full width, or a uniform width multiplier), then hardware-only
        # gradient co-design on its captured graph
        for key, mult in seq.items():
            t0 = time.perf_counter()
            torch.manual_seed(seed)
            net = J.CNN(tuple(max(1, round(w * mult)) for w in J.MAX_WIDTHS))
            J.train(net, data, a.epochs + a.finetune, seed, lr=a.lr)
            acc = J.accuracy(net, data)
            ev = Evaluator(space, graphs={J.WORKLOAD: J.capture_graph(net)}, fast=False)
            res = gradient_search(space, ev, budget=a.budget, seed=seed, starts=a.starts, steps=a.steps)
            best = min(res.feasible(ev), key=lambda pm: pm[1]["edp"], default=None)
            rows[key].append(_row(net, acc, best, space, time.perf_counter() - t0, {"feasible": len(res.feasible(ev))}))
        # (b) joint, at the main lam and the sweep's
        for key, lam in lams.items():
            t0 = time.perf_counter()
            r = J.joint_train(problem, data, seed=seed, lam=lam, epochs=a.epochs, warmup=a.warmup,
                              finetune=a.finetune, starts=a.starts, lr=a.lr, hard_last=a.hard_last)
            acc = J.accuracy(r.net, data)
            best, res = J.best_hardware(space, J.capture_graph(r.net), r.rows, a.budget)
            ev = Evaluator(space, graphs={J.WORKLOAD: None})
            extra = {"feasible": len(res.feasible(ev)), "relaxed_over_exact": None}
            if best is not None:     # the training-time relaxation (full-width residency) at the snapped point
                rel = problem.rel
                with torch.no_grad():
                    m = rel.metrics(rel.encode(best[0]), best[0]["arch.dataflow"],
                                    shapes=problem.shapes(torch.tensor(r.widths, dtype=torch.float64)))
                extra["relaxed_over_exact"] = float(m["edp"][0]) / best[1]["edp"]
            rows[key].append(_row(r.net, acc, best, space, time.perf_counter() - t0, extra))
    print(f"digits CNN on {space.name} (batch 1): lam {a.lam}, {a.budget} exact evaluations per method and seed, "
          f"setup {setup_s:.1f} s")
    print(f"{'seed':>4s} {'method':>15s} {'widths':>12s} {'acc':>6s} {'EDP J*s':>10s} {'mm2':>6s} {'W':>6s} "
          f"{'wall s':>6s}  design")
    for i, seed in enumerate(a.seeds):
        for k, rs in rows.items():
            r = rs[i]
            d = r["design"]
            desc = "none feasible" if d is None else (
                f"{d['arch.rows']}x{d['arch.cols']} {d['arch.dataflow']} {d['arch.ifmap_sram']}/{d['arch.filter_sram']}/"
                f"{d['arch.ofmap_sram']} {d['arch.clock']} {d['memory.dram_bandwidth'] / 1e9:.1f} GB/s")
            print(f"{seed:>4d} {k:>15s} {'/'.join(map(str, r['widths'])):>12s} {r['accuracy']:6.3f} {r['edp']:10.4g} "
                  f"{r['area_mm2']:6.2f} {r['power_w']:6.3f} {r['wall_s']:6.1f}  {desc}")
    med = {k: {m: statistics.median(r[m] for r in rs) for m in ("edp", "accuracy", "area_mm2", "power_w", "wall_s")}
           for k, rs in rows.items()}
    for k, m in med.items():
        print(f"median {k:>15s}: accuracy {m['accuracy']:.3f}, EDP {m['edp']:.4g} J*s, area {m['area_mm2']:.2f} mm2, "
              f"power {m['power_w']:.3f} W, wall {m['wall_s']:.1f} s")
    ratio = med["hardware_only"]["edp"] / med["joint"]["edp"]
    for k in (k for k in rows if k != "joint"):
        print(f"joint vs {k}: {med[k]['edp'] / med['joint']['edp']:.2f}x lower median EDP, accuracy "
              f"{med['joint']['accuracy'] - med[k]['accuracy']:+.3f}")
    rx = [r["relaxed_over_exact"] for k in lams for r in rows[k] if r["relaxed_over_exact"] is not None]
    if rx:
        print(f"training-time relaxation / exact EDP at the joint designs: median {statistics.median(rx):.3f}, "
              f"range {min(rx):.3f}-{max(rx):.3f} ({len(rx)} designs)")
    out = {k: {**m, "per_seed": [{kk: r[kk] for kk in ("widths", "accuracy", "edp", "area_mm2", "power_w", "design")}
                                 for r in rows[k]]} for k, m in med.items()}
    out.update({"edp_ratio": ratio, "lam": a.lam, "seeds": a.seeds, "budget": a.budget})
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
