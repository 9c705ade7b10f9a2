"""MACs chiplab captures for torchvision's classification zoo vs. FlopCounterMode.

For every ``torchvision.models.list_models(module=torchvision.models)`` entry
(weights=None, batch 1, the model's default input size) this builds the model the
way chiplab does (meta device, CPU fallback), captures it with chiplab, and counts
the same model under ``torch.utils.flop_counter.FlopCounterMode`` (FLOPs / 2 = MACs).
It prints a Markdown table (model, our MACs, FlopCounter MACs, ratio) and exits 1
if any model fails or is off by more than 1%.

    python tools/zoo_macs.py [--out docs/zoo_macs.md] [model ...]
"""
from __future__ import annotations

import argparse
import sys
import time

import os
import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))   # this checkout's chiplab
from chiplab.capture.workloads import build_torchvision  # noqa: E402
from chiplab.capture.torch_export import capture  # noqa: E402


def reference_macs(model, inputs) -> int:
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as fc, torch.no_grad():
        model(*inputs)
    return fc.get_total_flops() // 2


def measure(name: str) -> tuple[int, int, float]:
    model, inputs = build_torchvision(name, batch=1)
    t0 = time.perf_counter()
    g = capture(model, inputs, name=name)
    ref = reference_macs(model, inputs)
    return g.macs, ref, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="*")
    ap.add_argument("--out", help="also write the table to this file")
    a = ap.parse_args(argv)
    names = a.models or torchvision.models.list_models(module=torchvision.models)
    lines = [f"torch {torch.__version__}, torchvision {torchvision.__version__}, batch 1, weights=None", "",
             "| model | chiplab MACs | FlopCounter MACs | ratio |", "| --- | ---: | ---: | ---: |"]
    bad = 0
    for name in names:
        try:
            ours, ref, dt = measure(name)
        except Exception as e:  # report every model, do not stop at the first failure
            bad += 1
            msg = str(e).strip().splitlines()[0][:120] if str(e).strip() else type(e).__name__
            lines.append(f"| {name} | FAILED: {type(e).__name__}: {msg} | | |")
            print(lines[-1], file=sys.stderr, flush=True)
            continue
        ratio = ours / ref if ref else float("nan")
        if not (ref and abs(ratio - 1) <= 0.01):
            bad += 1
        lines.append(f"| {name} | {ours:,} | {ref:,} | {ratio:.4f} |")
        print(lines[-1], f"({dt:.0f} s)", file=sys.stderr, flush=True)
    lines += ["", f"{len(names) - bad} of {len(names)} within 1%"]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
