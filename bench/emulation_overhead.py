"""Emulation overhead: emulated int8 / fp8 inference of ResNet-50 vs eager fp32, same run.

Target (issue 4): at most 3x the eager fp32 time on the CPU with one thread. Calibration and
weight quantization happen once before timing (as on a deployed chip). Timings are medians of
interleaved repetitions. On a CUDA GPU the same is measured when one is available; otherwise
that part is skipped with a message.

    OMP_NUM_THREADS=1 python bench/emulation_overhead.py [--batch 1] [--reps 5] [--json out/overhead.json]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
import torch  # noqa: E402
import torchvision  # noqa: E402

from chiplab.emu import Emulator  # noqa: E402


def _time(fn, x, sync) -> float:
    t = time.perf_counter()
    with torch.no_grad():
        fn(x)
    sync()
    return time.perf_counter() - t


def measure(device: str, batch: int, reps: int, presets=("int8", "fp8")) -> dict:
    torch.manual_seed(0)
    model = torchvision.models.resnet50(weights=None).eval().to(device)
    x = torch.randn(batch, 3, 224, 224, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    emus = {p: Emulator(model, p, x) for p in presets}
    paths = {p: sum(l.fast for l in e.layers.values() if l.op_class in ("conv", "linear")) for p, e in emus.items()}
    exact = {p: sum(l.exact_fast for l in e.layers.values() if l.op_class in ("conv", "linear")) for p, e in emus.items()}
    nmm = sum(1 for l in emus["int8"].layers.values() if l.op_class in ("conv", "linear"))
    fns = {"fp32": model, **emus}
    for f in fns.values():                       # warm-up
        _time(f, x, sync)
    times = {k: [] for k in fns}
    for _ in range(reps):
        for k, f in fns.items():
            times[k].append(_time(f, x, sync))
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"device": device, "threads": torch.get_num_threads(), "batch": batch, "reps": reps,
            "seconds": med, "ratio": {p: med[p] / med["fp32"] for p in presets},
            "matrix_layers": nmm, "fast_path_layers": paths, "bit_exact_fast_layers": exact,
            "split_layers": {p: sum(l.split for l in e.layers.values()) for p, e in emus.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    results = [measure("cpu", a.batch, a.reps)]
    if torch.cuda.is_available():
        results.append(measure("cuda", a.batch, a.reps))
    else:
        print("no CUDA GPU: GPU measurement skipped")
    for r in results:
        print(f"[{r['device']}, {r['threads']} thread(s), batch {r['batch']}] eager fp32 {r['seconds']['fp32']*1e3:.0f} ms")
        for p, ratio in r["ratio"].items():
            ok = "PASS" if ratio <= 3.0 else "FAIL"
            note = (f"bit-exact fast path on {r['bit_exact_fast_layers'][p]}/{r['matrix_layers']} matrix layers "
                    f"({r['split_layers'][p]} split)") if p == "int8" else \
                f"fast path (fp32 accumulation) on {r['fast_path_layers'][p]}/{r['matrix_layers']} matrix layers"
            print(f"  {p}: {r['seconds'][p]*1e3:.0f} ms = {ratio:.2f}x fp32 ({ok}, target <= 3x); {note}")
    if a.json:
        os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
