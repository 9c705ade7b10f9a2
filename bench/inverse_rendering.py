"""Inverse rendering benchmark: recover the pose of a textured cube from one target
image, from several random starts, with the soft-edge rasterizer.

    python bench/inverse_rendering.py --quick

Prints a table (one row per start) and, as its last line, one JSON object with keys
rotation_error_deg, translation_error (medians over starts), success_rate and seconds.
PNGs of the optimisation (target | current | |difference|) are saved under
out/inverse_rendering/ every --png-every steps.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from chiplab.diff.raster import PerspectiveCamera, RenderSettings, cube, euler_to_matrix, rotation_angle_deg  # noqa: E402
from chiplab.diff.raster.inverse import (FitSettings, SceneParams, checker_texture, fit_scene,  # noqa: E402
                                         random_rotation_perturbation, render_scene)


def save_png(path: Path, *images: torch.Tensor) -> None:
    """Save (H, W, 3) float images side by side as an 8-bit PNG."""
    from PIL import Image
    row = torch.cat([im.clamp(0, 1) for im in images], dim=1)
    Image.fromarray((row.numpy() * 255).round().astype("uint8")).save(path)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="6 starts, 64x64, 200 steps (a few minutes on one core)")
    ap.add_argument("--starts", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--size", type=int, default=None)
    ap.add_argument("--max-deg", type=float, default=35.0, help="largest initial rotation error (degrees)")
    ap.add_argument("--min-deg", type=float, default=15.0, help="smallest initial rotation error (degrees)")
    ap.add_argument("--hard", action="store_true", help="hard edges (no silhouette gradient): the ablation")
    ap.add_argument("--png-every", type=int, default=25)
    ap.add_argument("--out", default="out/inverse_rendering")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    starts = a.starts or (6 if a.quick else 12)
    steps = a.steps or (200 if a.quick else 400)
    size = a.size or (64 if a.quick else 96)
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)

    mesh = cube()
    tex = checker_texture(64, cells=4, seed=1)
    cam = PerspectiveCamera(fov_deg=40.0)
    rs = RenderSettings(image_size=(size, size), camera=cam, soft=True, sigma=0.5, gamma=1e-4, faces_per_pixel=4,
                        tile_size=16, shading="lambert", background=(0.05, 0.05, 0.05))
    gt = SceneParams(euler_to_matrix(torch.tensor(0.6), torch.tensor(0.45), torch.tensor(0.1)),
                     torch.tensor([0.1, -0.05, 4.0]), torch.tensor([0.4, 0.6, -1.0]), texture=tex)
    with torch.no_grad():
        target = render_scene(mesh, gt, rs)
    fs = FitSettings(steps=steps, sigma_start=4.0, sigma_end=0.5, gamma_start=1e-2, gamma_end=1e-4)
    rs_fit = RenderSettings(**{**rs.__dict__, "soft": False}) if a.hard else rs
    g = torch.Generator().manual_seed(a.seed)
    rows = []
    t_all = time.perf_counter()
    print(f"inverse rendering ({'HARD edges, ablation' if a.hard else 'soft edges'}): textured cube ({mesh.num_faces} faces), {size}x{size}, {starts} starts, {steps} steps, "
          f"initial rotation error {a.min_deg:.0f}-{a.max_deg:.0f} deg")
    print(f"{'start':>5} {'init_rot_deg':>12} {'init_trans':>10} {'rot_err_deg':>11} {'trans_err':>9} {'loss':>9} "
          f"{'sec':>6} {'ok':>3}")
    for s in range(starts):
        r0 = random_rotation_perturbation(a.max_deg, a.min_deg, generator=g) @ gt.rotation
        t0 = gt.translation + (torch.rand(3, generator=g) - 0.5) * torch.tensor([0.4, 0.4, 0.8])
        init = SceneParams(r0, t0, gt.light_dir, texture=tex)
        init_rot = float(rotation_angle_deg(r0, gt.rotation))
        init_tr = float((t0 - gt.translation).norm())

        def cb(step, loss, p, img, s=s):
            if step % a.png_every == 0 or step == steps - 1:
                save_png(out_dir / f"start{s}_step{step:04d}.png", target.image[0], img[0],
                         (img[0] - target.image[0]).abs())

        res = fit_scene(mesh, target.image, init, rs_fit, fit=("pose",), fit_settings=fs, target_alpha=target.alpha,
                        callback=cb)
        rot_err = float(rotation_angle_deg(res.params.rotation, gt.rotation))
        tr_err = float((res.params.translation - gt.translation).norm())
        ok = rot_err < 2.0 and tr_err < 0.05
        rows.append((rot_err, tr_err, ok))
        print(f"{s:>5} {init_rot:>12.2f} {init_tr:>10.3f} {rot_err:>11.4f} {tr_err:>9.5f} {res.losses[-1]:>9.2e} "
              f"{res.seconds:>6.1f} {'yes' if ok else 'no':>3}")
    seconds = time.perf_counter() - t_all
    rot = sorted(r[0] for r in rows)
    tr = sorted(r[1] for r in rows)
    result = {"rotation_error_deg": rot[len(rot) // 2] if len(rot) % 2 else 0.5 * (rot[len(rot) // 2 - 1] + rot[len(rot) // 2]),
              "translation_error": tr[len(tr) // 2] if len(tr) % 2 else 0.5 * (tr[len(tr) // 2 - 1] + tr[len(tr) // 2]),
              "success_rate": sum(r[2] for r in rows) / len(rows), "seconds": round(seconds, 2)}
    print(f"medians over {starts} starts; success = rotation error < 2 deg and translation error < 0.05; "
          f"PNGs in {out_dir}/")
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
