"""chiplab and ZigZag side by side: ResNet-18 on ZigZag's shipped tpu_like accelerator.

Both tools read the same ONNX file (the one ZigZag ships) and the same accelerator
(chiplab/hw/presets/zigzag-tpu-like.yaml describes ZigZag's tpu_like.yaml, figure by
figure). ZigZag runs in its own virtual environment (.peers-zigzag, see
../shared/peers/README.md) through bench/_zigzag_peer.py; chiplab runs here. Prints
per-layer cycles and energy of both, the totals, their agreement, and the speed ratio.
Only conv/gemm layers are compared (ZigZag costs no other op).

    python3 -m venv .peers-zigzag && .peers-zigzag/bin/pip install zigzag-dse==3.9.1 "numpy<2.4" six onnx
    OMP_NUM_THREADS=1 python bench/vs_zigzag.py [--reuse]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
PEER = ROOT / ".peers-zigzag" / "bin" / "python"
CACHE = ROOT / "out" / "zigzag_resnet18.json"


def run_zigzag(reuse: bool) -> tuple[dict, bool]:
    if reuse and CACHE.exists():
        return json.loads(CACHE.read_text()), False
    if not PEER.exists():
        sys.exit(f"ZigZag is not installed: {__doc__.splitlines()[-3].strip()}")
    r = subprocess.run([str(PEER), str(ROOT / "bench" / "_zigzag_peer.py")], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode != 0:
        sys.exit(f"ZigZag failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode}")
    CACHE.parent.mkdir(parents=True, exist_ok=True)
    CACHE.write_text(r.stdout)
    return json.loads(r.stdout), True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", action="store_true", help="reuse ZigZag's last result from out/ instead of rerunning it")
    args = ap.parse_args()
    zz, rerun = run_zigzag(args.reuse)

    import torch

    torch.set_num_threads(1)
    import chiplab
    from chiplab.capture import import_onnx

    t0 = time.perf_counter()
    graph = import_onnx(zz["workload"], batch=1)
    t_import = time.perf_counter() - t0
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        est = chiplab.estimate(graph, "zigzag-tpu-like", host_transfers=False)
        times.append(time.perf_counter() - t0)
    times.sort()
    t_est = times[len(times) // 2]
    ours = {r.name: r for r in est.layers if r.op in ("conv", "gemm")}
    print(f"ResNet-18 on ZigZag's tpu_like (32x32 WS): {len(zz['layers'])} ZigZag layers, {len(ours)} chiplab matrix layers")
    print(f"{'layer':34s} {'ZZ cycles':>11s} {'chiplab':>11s} {'ratio':>6s} {'ZZ pJ':>11s} {'chiplab pJ':>11s} {'ratio':>6s}  bound")
    zc = ze = cc = ce = 0.0
    rows = []
    for L in zz["layers"]:
        r = ours.get(L["name"])
        if r is None:
            continue
        c_pj = r.energy_j * 1e12
        zc, ze, cc, ce = zc + L["cycles"], ze + L["energy_pj"], cc + r.cycles, ce + c_pj
        rows.append((L["cycles"], r.cycles, L["energy_pj"], c_pj))
        print(f"{L['name'][:34]:34s} {L['cycles']:11,.0f} {r.cycles:11,.0f} {r.cycles / L['cycles']:6.2f} "
              f"{L['energy_pj']:11.3e} {c_pj:11.3e} {c_pj / L['energy_pj']:6.2f}  {r.bound.value}")
    lat_err, en_err = cc / zc - 1, ce / ze - 1
    print(f"{'TOTAL':34s} {zc:11,.0f} {cc:11,.0f} {cc / zc:6.2f} {ze:11.3e} {ce:11.3e} {ce / ze:6.2f}")
    print(f"agreement: latency {lat_err:+.1%}, energy {en_err:+.1%} (target within 15%)")
    print(f"ZigZag {'ran now' if rerun else 'result reused from ' + str(CACHE)}: {zz['wall_s']:.1f} s wall, "
          f"{zz['cpu_s']:.1f} CPU-s; chiplab: ONNX import {t_import * 1e3:.1f} ms + estimate {t_est * 1e3:.2f} ms (median of 20)")
    ratio = zz["cpu_s"] / (t_import + t_est)
    print(f"speed ratio (ZigZag CPU-s / chiplab s, import included): {ratio:,.0f}x")
    print(json.dumps({"latency_agreement": lat_err, "energy_agreement": en_err, "speed_ratio": ratio,
                      "zigzag_cycles": zc, "chiplab_cycles": cc, "zigzag_energy_pj": ze, "chiplab_energy_pj": ce,
                      "zigzag_rerun": rerun}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
