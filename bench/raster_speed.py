"""Rasterizer throughput: forward + backward, in pixel-face pairs per second, at
several resolutions and face counts, tile-binned vs unbinned, soft and hard.

    python bench/raster_speed.py --quick

"pairs/s" counts the nominal work B*H*W*F (every pixel against every face) per
second of forward+backward, so binned and unbinned rows are comparable; "tested"
is how many pairs the binned kernel actually evaluated. Peers: the same renders on
a CUDA GPU when one is present, and Mitsuba 3 (CPU, LLVM variant) on the inverse
rendering task if importable from /work/main/.peers-mitsuba (else skipped with a
printed reason). Last line: one JSON object with all rows.
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
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from chiplab.diff.raster import RenderSettings, euler_to_matrix, icosphere, render  # noqa: E402


def time_render(mesh, size, soft, tile, device, reps):
    rs = RenderSettings(image_size=(size, size), soft=soft, sigma=0.5, faces_per_pixel=4 if soft else 1,
                        tile_size=tile, max_faces_per_tile=64, shading="lambert")
    verts = mesh.verts.to(device).requires_grad_(True)
    rot = euler_to_matrix(torch.tensor(0.4), torch.tensor(0.3)).to(device)
    t = torch.tensor([0.0, 0.0, 3.0], device=device)
    best = float("inf")
    stats = None
    for _ in range(reps + 1):  # first call is warm-up
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = render(verts, mesh.faces.to(device), rot, t, rs)
        out.image.sum().backward()
        if device != "cpu":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
        stats = out.fragments
        verts.grad = None
    return best, stats


def mitsuba_peer(quick: bool) -> dict:
    """Run the Mitsuba 3 peer in its own venv (never imported here); returns a row or a skip reason."""
    py = ROOT / ".peers-mitsuba" / "bin" / "python"
    script = ROOT / "bench" / "_mitsuba_peer.py"
    if not py.exists():
        return {"peer": "mitsuba3", "skipped": "no venv at .peers-mitsuba (optional peer not installed)"}
    if not script.exists():
        return {"peer": "mitsuba3", "skipped": "bench/_mitsuba_peer.py not present"}
    try:
        r = subprocess.run([str(py), str(script)] + (["--quick"] if quick else []), capture_output=True, text=True,
                           timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    except subprocess.TimeoutExpired:
        return {"peer": "mitsuba3", "skipped": "timed out after 300 s"}
    if r.returncode != 0:
        tail = (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"]
        return {"peer": "mitsuba3", "skipped": f"failed: {tail[0][:200]}"}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    sizes = [64, 128] if a.quick else [64, 128, 256]
    subdivs = [1, 2, 3] if a.quick else [1, 2, 3, 4]
    reps = 3 if a.quick else 5
    rows = []
    print(f"{'dev':>4} {'mode':>4} {'HxW':>7} {'faces':>6} {'binned_s':>9} {'unbinned_s':>10} {'speedup':>7} "
          f"{'pairs/s(binned)':>15} {'tested/nominal':>14} {'overflow':>8}")
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for dev in devices:
        for soft in (False, True):
            for size in sizes:
                for sd in subdivs:
                    mesh = icosphere(sd)
                    nf = mesh.num_faces
                    nominal = size * size * nf
                    tb, fr = time_render(mesh, size, soft, 16, dev, reps)
                    skip_unbinned = dev == "cpu" and nominal > (64 * 64 * 1280 if a.quick else 128 * 128 * 5120)
                    tu = float("nan") if skip_unbinned else time_render(mesh, size, soft, 0, dev, reps)[0]
                    row = {"device": dev, "soft": soft, "size": size, "faces": nf, "binned_s": tb, "unbinned_s": tu,
                           "speedup": tu / tb, "pairs_per_s": nominal / tb, "tested_fraction": fr.pairs_tested / nominal,
                           "overflow_tiles": fr.num_overflow_tiles, "passes": fr.num_passes}
                    rows.append(row)
                    print(f"{dev:>4} {'soft' if soft else 'hard':>4} {size:>3}x{size:<3} {nf:>6} {tb:>9.4f} {tu:>10.4f} "
                          f"{tu / tb:>7.2f} {nominal / tb:>15.3e} {fr.pairs_tested / nominal:>14.4f} "
                          f"{fr.num_overflow_tiles:>8}")
    if "cuda" not in devices:
        print("cuda: skipped (torch.cuda.is_available() is False on this machine)")
    peers = []
    if not a.no_peers:
        p = mitsuba_peer(a.quick)
        peers.append(p)
        print(f"peer mitsuba3: {p.get('skipped') or p}")
    if any(r["unbinned_s"] != r["unbinned_s"] for r in rows):
        print("unbinned_s = nan: unbinned run skipped for the largest nominal workloads (too slow on one core)")
    clean = [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()} for r in rows]
    result = {"rows": clean, "peers": peers, "threads": torch.get_num_threads()}
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
