"""Inverse graphics with chiplab's differentiable rasterizer, in under a minute on one core.

1. Recover the pose of a textured cube from one image (soft edges, 25 deg off at start).
2. Recover per-vertex colours of the cube with the pose known.
3. A few steps of the self-supervised loop (network -> scene parameters -> render ->
   compare with the input image; no 3D ground truth in the loss).
4. The rasterizer's hardware cost as a chiplab hardware block.

    python examples/inverse_graphics.py        # writes out/inverse_graphics.png
"""
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from chiplab.diff.raster import MeshRenderer, RenderSettings, cube, euler_to_matrix, rotation_angle_deg  # noqa: E402
from chiplab.diff.raster.inverse import (FitSettings, SceneParams, checker_texture, fit_scene,  # noqa: E402
                                         random_rotation_perturbation, render_scene)
from chiplab.diff.raster.selfsup import SelfSupSettings, train_self_supervised  # noqa: E402

torch.set_num_threads(1)
t_start = time.perf_counter()
mesh = cube()
rs = RenderSettings(image_size=(48, 48), soft=True, sigma=0.5, faces_per_pixel=4, background=(0.05, 0.05, 0.05))
gt = SceneParams(euler_to_matrix(torch.tensor(0.6), torch.tensor(0.45)), torch.tensor([0.1, -0.05, 4.0]),
                 torch.tensor([0.4, 0.6, -1.0]), texture=checker_texture(64, 4, seed=1))
with torch.no_grad():
    target = render_scene(mesh, gt, rs)

# 1. pose
g = torch.Generator().manual_seed(0)
init = SceneParams(random_rotation_perturbation(25, 25, generator=g) @ gt.rotation,
                   gt.translation + torch.tensor([0.15, -0.1, 0.3]), gt.light_dir, texture=gt.texture)
res = fit_scene(mesh, target.image, init, rs, fit=("pose",), target_alpha=target.alpha,
                fit_settings=FitSettings(steps=150, gamma_start=1e-2, gamma_end=1e-4))
print(f"pose: rotation error {float(rotation_angle_deg(init.rotation, gt.rotation)):.1f} -> "
      f"{float(rotation_angle_deg(res.params.rotation, gt.rotation)):.3f} deg, translation error "
      f"{float((init.translation - gt.translation).norm()):.3f} -> "
      f"{float((res.params.translation - gt.translation).norm()):.4f}  ({res.seconds:.1f} s)")

# 2. vertex colours, pose known
cols = torch.rand(24, 3, generator=g) * 0.8 + 0.1
gt_c = SceneParams(gt.rotation, gt.translation, gt.light_dir, colors=cols)
with torch.no_grad():
    target_c = render_scene(mesh, gt_c, rs)
res_c = fit_scene(mesh, target_c.image, SceneParams(gt.rotation, gt.translation, gt.light_dir,
                                                    colors=torch.full((24, 3), 0.5)),
                  rs, fit=("colors",), fit_settings=FitSettings(steps=80, sigma_start=0.5, lr_colors=0.1))
print(f"colours: image MSE {res_c.losses[0]:.2e} -> {res_c.losses[-1]:.2e}  ({res_c.seconds:.1f} s)")

# 3. self-supervised loop, short
ss = train_self_supervised(SelfSupSettings(image_size=24, batch=8, steps=40, eval_size=32), log=None)
print("self-supervised (40 steps): mean abs error deg", {k: round(v, 1) for k, v in ss["error_deg"].items()},
      "vs predict-the-mean", {k: round(v, 1) for k, v in ss["baseline_error_deg"].items()})

# 4. hardware cost
r = MeshRenderer(rs)
c = r.hw_cost([tuple(mesh.verts.shape), tuple(mesh.faces.shape), (1, 3, 3), (1, 3)])
print(f"hw cost per frame ({r.hw_block_name}): {c.cycles:.0f} cycles = {c.latency_s * 1e6:.2f} us, "
      f"{c.energy_j * 1e9:.2f} nJ {dict((k, f'{v * 1e9:.2f} nJ') for k, v in c.breakdown.items())}")

out = Path("out")
out.mkdir(exist_ok=True)
with torch.no_grad():
    final = render_scene(mesh, res.params, rs)
    start = render_scene(mesh, init, rs)
from PIL import Image  # noqa: E402
row = torch.cat([start.image[0], final.image[0], target.image[0]], 1).clamp(0, 1)
Image.fromarray((row.numpy() * 255).round().astype("uint8")).save(out / "inverse_graphics.png")
print(f"wrote out/inverse_graphics.png (start | fitted | target); total {time.perf_counter() - t_start:.1f} s")
