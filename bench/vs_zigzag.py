"""chiplab and ZigZag side by side: ResNet-18 on ZigZag's shipped tpu_like accelerator.

Both tools read the same ONNX file (the one ZigZag ships) and the same accelerator
(chiplab/hw/presets/zigzag-tpu-like.yaml describes ZigZag's tpu_like.yaml, figure by
figure). ZigZag runs in its own virtual environment (.peers-zigzag, see
../shared/peers/README.md) through bench/_zigzag_peer.py; chiplab runs here. Prints
per-layer cycles and energy of both, the totals, their agreement, and the speed ratio.
Only conv/gemm layers are compared (ZigZag costs no other op).

Ends with one verdict line and exits 1 when any ZigZag layer has no chiplab layer of the
same name and MAC count, or when total latency or energy disagree by more than the
tolerance (15%, --tolerance); exits 0 on PASS.

    python3 -m venv .peers-zigzag && .peers-zigzag/bin/pip install zigzag-dse==3.9.1 "numpy<2.4" six onnx
    OMP_NUM_THREADS=1 python bench/vs_zigzag.py [--reuse]
    # without ZigZag installed: its committed result, and ResNet-18 exported from torchvision
    OMP_NUM_THREADS=1 python bench/vs_zigzag.py --zigzag-json data/peers/zigzag_resnet18_tpu_like.json
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
COMMITTED = ROOT / "data" / "peers" / "zigzag_resnet18_tpu_like.json"
TOLERANCE = 0.15          # the target this benchmark has always printed ("target within 15%")


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


def export_resnet18(path: Path) -> Path:
    """torchvision's ResNet-18 (random weights: only shapes matter) as ONNX, exported the way
    ZigZag's shipped resnet18.onnx was (TorchScript exporter: node names like /layer1/layer1.0/conv1/Conv)."""
    import torch
    import torchvision

    m = torchvision.models.resnet18().eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(m, (torch.randn(1, 3, 224, 224),), str(path), dynamo=False, opset_version=13)
    return path


def compare(zz: dict, est, tolerance: float = TOLERANCE) -> dict:
    """Match every ZigZag layer to the chiplab matrix layer of the same name and MAC count;
    totals over the matched layers; the verdict (PASS needs every layer matched and both
    totals within ``tolerance``)."""
    ours = {r.name: r for r in est.layers if r.op in ("conv", "gemm")}
    rows, unmatched = [], []
    for L in zz["layers"]:
        r = ours.get(L["name"])
        if r is None or ("macs" in L and int(L["macs"]) != int(r.macs)):
            unmatched.append(L["name"] if r is None else f"{L['name']} (MACs {L['macs']:,.0f} vs {r.macs:,})")
            continue
        rows.append(dict(name=L["name"], zz_cycles=L["cycles"], cycles=r.cycles, zz_pj=L["energy_pj"],
                         pj=r.energy_j * 1e12, bound=r.bound.value))
    zc, cc = sum(r["zz_cycles"] for r in rows), sum(r["cycles"] for r in rows)
    ze, ce = sum(r["zz_pj"] for r in rows), sum(r["pj"] for r in rows)
    lat_err = cc / zc - 1 if zc else float("nan")
    en_err = ce / ze - 1 if ze else float("nan")
    reasons = []
    if unmatched:
        reasons.append(f"{len(unmatched)} of {len(zz['layers'])} ZigZag layers unmatched: {', '.join(unmatched[:5])}")
    if not rows:
        reasons.append("no layer matched")
    else:
        if not abs(lat_err) <= tolerance:
            reasons.append(f"latency {lat_err:+.1%} beyond ±{tolerance:.0%}")
        if not abs(en_err) <= tolerance:
            reasons.append(f"energy {en_err:+.1%} beyond ±{tolerance:.0%}")
    return dict(rows=rows, unmatched=unmatched, zigzag_cycles=zc, chiplab_cycles=cc, zigzag_energy_pj=ze,
                chiplab_energy_pj=ce, latency_agreement=lat_err, energy_agreement=en_err, tolerance=tolerance,
                ok=not reasons, reasons=reasons)


def verdict_line(res: dict) -> str:
    if res["ok"]:
        return (f"verdict: PASS: all {len(res['rows'])} ZigZag layers matched; latency {res['latency_agreement']:+.1%}, "
                f"energy {res['energy_agreement']:+.1%}, within ±{res['tolerance']:.0%}")
    return "verdict: FAIL: " + "; ".join(res["reasons"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reuse", action="store_true", help="reuse ZigZag's last result from out/ instead of rerunning it")
    ap.add_argument("--zigzag-json", type=Path, default=None,
                    help=f"read ZigZag's result from this file instead of running it (committed: {COMMITTED.relative_to(ROOT)})")
    ap.add_argument("--onnx", type=Path, default=None,
                    help="the ResNet-18 ONNX chiplab imports (default: ZigZag's own file, else torchvision's, exported to out/)")
    ap.add_argument("--tolerance", type=float, default=TOLERANCE, help="largest |total disagreement| that passes (0.15)")
    args = ap.parse_args(argv)
    if args.zigzag_json is not None:
        zz, rerun, source = json.loads(args.zigzag_json.read_text()), False, str(args.zigzag_json)
    else:
        zz, rerun = run_zigzag(args.reuse)
        source = "ran now" if rerun else f"reused from {CACHE}"

    import torch

    torch.set_num_threads(1)
    import chiplab
    from chiplab.capture import import_onnx

    onnx_path = args.onnx or Path(zz["workload"])
    if not onnx_path.exists():
        onnx_path = export_resnet18(ROOT / "out" / "resnet18_torchvision.onnx")
    t0 = time.perf_counter()
    graph = import_onnx(onnx_path, batch=1)
    t_import = time.perf_counter() - t0
    times = []
    for _ in range(20):
        t0 = time.perf_counter()
        est = chiplab.estimate(graph, "zigzag-tpu-like", host_transfers=False)
        times.append(time.perf_counter() - t0)
    times.sort()
    t_est = times[len(times) // 2]
    res = compare(zz, est, args.tolerance)
    n_ours = sum(1 for r in est.layers if r.op in ("conv", "gemm"))
    print(f"ResNet-18 on ZigZag's tpu_like (32x32 WS): {len(zz['layers'])} ZigZag layers, {n_ours} chiplab matrix layers")
    print(f"{'layer':34s} {'ZZ cycles':>11s} {'chiplab':>11s} {'ratio':>6s} {'ZZ pJ':>11s} {'chiplab pJ':>11s} {'ratio':>6s}  bound")
    for r in res["rows"]:
        print(f"{r['name'][:34]:34s} {r['zz_cycles']:11,.0f} {r['cycles']:11,.0f} {r['cycles'] / r['zz_cycles']:6.2f} "
              f"{r['zz_pj']:11.3e} {r['pj']:11.3e} {r['pj'] / r['zz_pj']:6.2f}  {r['bound']}")
    for name in res["unmatched"]:
        print(f"{name[:34]:34s} UNMATCHED: no chiplab layer of this name and MAC count")
    zc, cc, ze, ce = res["zigzag_cycles"], res["chiplab_cycles"], res["zigzag_energy_pj"], res["chiplab_energy_pj"]
    if res["rows"]:
        print(f"{'TOTAL':34s} {zc:11,.0f} {cc:11,.0f} {cc / zc:6.2f} {ze:11.3e} {ce:11.3e} {ce / ze:6.2f}")
    print(f"agreement: latency {res['latency_agreement']:+.1%}, energy {res['energy_agreement']:+.1%} "
          f"(tolerance ±{res['tolerance']:.0%})")
    print(f"ZigZag {source}: {zz['wall_s']:.1f} s wall, "
          f"{zz['cpu_s']:.1f} CPU-s; chiplab: ONNX import {t_import * 1e3:.1f} ms + estimate {t_est * 1e3:.2f} ms (median of 20)")
    ratio = zz["cpu_s"] / (t_import + t_est)
    print(f"speed ratio (ZigZag CPU-s / chiplab s, import included): {ratio:,.0f}x")
    print(json.dumps({"latency_agreement": res["latency_agreement"], "energy_agreement": res["energy_agreement"],
                      "speed_ratio": ratio, "zigzag_cycles": zc, "chiplab_cycles": cc, "zigzag_energy_pj": ze,
                      "chiplab_energy_pj": ce, "unmatched": res["unmatched"], "zigzag_rerun": rerun, "ok": res["ok"]}))
    print(verdict_line(res))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
