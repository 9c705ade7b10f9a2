"""Peer for bench/raster_speed.py: the inverse-rendering task of bench/inverse_rendering.py
(recover the pose of a textured cube, 64x64, starts 15-35 deg off) solved with Mitsuba 3
(CPU, llvm_ad_rgb, direct_projective integrator for visibility gradients).

Runs ONLY inside the separate venv /work/main/.peers-mitsuba (no torch there); needs
DRJIT_LIBLLVM_PATH pointing at libLLVM.so.19. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np


def rot_from_euler_deg(ax, ay, az):
    ax, ay, az = map(math.radians, (ax, ay, az))
    rx = np.array([[1, 0, 0], [0, math.cos(ax), -math.sin(ax)], [0, math.sin(ax), math.cos(ax)]])
    ry = np.array([[math.cos(ay), 0, math.sin(ay)], [0, 1, 0], [-math.sin(ay), 0, math.cos(ay)]])
    rz = np.array([[math.cos(az), -math.sin(az), 0], [math.sin(az), math.cos(az), 0], [0, 0, 1]])
    return rx @ ry @ rz


def angle_deg(r1, r2):
    m = r1.T @ r2
    c = (np.trace(m) - 1) / 2
    s = np.linalg.norm([m[2, 1] - m[1, 2], m[0, 2] - m[2, 0], m[1, 0] - m[0, 1]]) / 2
    return math.degrees(math.atan2(s, c))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--starts", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--lr", type=float, default=0.005)
    ap.add_argument("--min-deg", type=float, default=15.0)
    ap.add_argument("--max-deg", type=float, default=35.0)
    ap.add_argument("--trans-scale", type=float, default=1.0)
    a = ap.parse_args()
    if "DRJIT_LIBLLVM_PATH" not in os.environ:
        for p in ("/usr/lib/x86_64-linux-gnu/libLLVM.so.19.1", "/usr/lib/llvm-19/lib/libLLVM.so.19.1"):
            if os.path.exists(p):
                os.environ["DRJIT_LIBLLVM_PATH"] = p
    import drjit as dr
    import mitsuba as mi
    mi.set_variant("llvm_ad_rgb")
    dr.set_thread_count(1)
    starts, steps, size, spp = (3, 150, 64, 4) if a.quick else (6, 200, 64, 8)
    starts, steps = a.starts or starts, a.steps or steps
    rng = np.random.default_rng(0)
    cells = rng.random((4, 4, 3)) * 0.8 + 0.1
    tex = np.repeat(np.repeat(cells, 16, 0), 16, 1).astype(np.float32)
    tex[:2], tex[-2:], tex[:, :2], tex[:, -2:] = 0.95, 0.95, 0.95, 0.95
    scene = mi.load_dict({
        "type": "scene",
        "integrator": {"type": "direct_projective", "guiding": "none"},
        "sensor": {"type": "perspective", "fov": 40, "fov_axis": "y",
                   "to_world": mi.ScalarTransform4f().look_at(origin=[0, 0, 0], target=[0, 0, 1], up=[0, 1, 0]),
                   "film": {"type": "hdrfilm", "width": size, "height": size, "rfilter": {"type": "box"}, "sample_border": True,
                            "pixel_format": "rgb"},
                   "sampler": {"type": "independent", "sample_count": spp}},
        "light": {"type": "directional", "direction": [-0.4, -0.6, 1.0], "irradiance": {"type": "rgb", "value": 2.0}},
        "ambient": {"type": "constant", "radiance": {"type": "rgb", "value": 0.35}},
        "shape": {"type": "cube", "to_world": mi.ScalarTransform4f().scale(0.5),
                  "bsdf": {"type": "diffuse", "reflectance": {"type": "bitmap", "bitmap": mi.Bitmap(tex),
                                                              "filter_type": "bilinear"}}},
    })
    params = mi.traverse(scene)
    key = "shape.vertex_positions"
    v0 = dr.unravel(mi.Point3f, params[key])
    gt_angles, gt_t = (34.0, 26.0, 6.0), np.array([0.1, -0.05, 4.0])

    def apply(angles, trans):
        T = (mi.Transform4f().translate(trans).rotate([1, 0, 0], angles[0]).rotate([0, 1, 0], angles[1])
             .rotate([0, 0, 1], angles[2]))
        params[key] = dr.ravel(T @ v0)
        params.update()

    apply([mi.Float(x) for x in gt_angles], mi.Point3f(*map(float, gt_t)))
    target = mi.render(scene, params, spp=64, seed=1)
    rows = []
    t_all = time.perf_counter()
    for s in range(starts):
        axis = rng.normal(size=3)
        axis /= np.linalg.norm(axis)
        # perturb in Euler-angle space by a random direction with norm 15-35 deg
        d = axis * rng.uniform(a.min_deg, a.max_deg)
        init = np.array(gt_angles) + d
        t0 = gt_t + (rng.random(3) - 0.5) * np.array([0.4, 0.4, 0.8]) * a.trans_scale
        opt = mi.ad.Adam(lr=a.lr)
        opt["angles"] = mi.Point3f(*map(float, init / 30.0))  # scaled so one lr fits angles and translation
        opt["trans"] = mi.Point3f(*map(float, t0))
        ts = time.perf_counter()
        for it in range(steps):
            ang = opt["angles"] * 30.0
            apply([ang.x, ang.y, ang.z], opt["trans"])
            img = mi.render(scene, params, seed=it, spp=spp)
            loss = dr.mean(dr.square(img - target), axis=None)
            dr.backward(loss)
            if it % 30 == 0 or it == steps - 1:
                print(f"  it {it} loss {np.array(loss).ravel()[0]:.3e}", file=sys.stderr)
            opt.step()
        ang = np.array(opt["angles"]).reshape(-1) * 30.0
        tr = np.array(opt["trans"]).reshape(-1)
        r_err = angle_deg(rot_from_euler_deg(*ang), rot_from_euler_deg(*gt_angles))
        t_err = float(np.linalg.norm(tr - gt_t))
        rows.append((r_err, t_err, time.perf_counter() - ts))
        print(f"mitsuba start {s}: init {np.linalg.norm(d):.1f} deg -> rot_err {r_err:.3f} deg, trans_err {t_err:.4f}, "
              f"{rows[-1][2]:.1f} s", file=sys.stderr)
    sec = time.perf_counter() - t_all
    r = sorted(x[0] for x in rows)
    t = sorted(x[1] for x in rows)
    print(json.dumps({"peer": "mitsuba3", "version": mi.__version__, "variant": "llvm_ad_rgb", "integrator":
                      "direct_projective", "spp": spp, "size": size, "starts": starts, "steps": steps,
                      "rotation_error_deg": float(np.median(r)), "translation_error": float(np.median(t)),
                      "success_rate": sum(x[0] < 2 and x[1] < 0.05 for x in rows) / len(rows),
                      "seconds": round(sec, 2), "seconds_per_step": round(sum(x[2] for x in rows) / (starts * steps), 4),
                      "note": "Euler-angle perturbation (ours: axis-angle); target rendered at 64 spp"}))


if __name__ == "__main__":
    main()
