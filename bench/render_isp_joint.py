"""Graphics loop joined to the ISP loop: scene -> rasterizer -> unprocess to RAW ->
sensor noise -> differentiable ISP -> network, trained for one task: estimate the
yaw of a coloured cube from a noisy, dim RAW capture.

    python bench/render_isp_joint.py --quick

Three runs with identical data, seeds and step counts:
  net           only the network is trained (scene light and ISP fixed);
  net+scene     also the scene's light direction and light intensity;
  net+scene+isp also the ISP's parameters.
Prints a table and, last, one JSON object with the test yaw errors (degrees).
Needs chiplab.diff.isp (unprocess, NoiseModel, Isp); if it is missing the script prints
"NOT RUN: <reason>" and a JSON line with status "not_run".
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from torch import nn  # noqa: E402

from chiplab.diff.raster import RenderSettings, cube, euler_to_matrix, render  # noqa: E402
from chiplab.diff.raster.selfsup import SIDE_COLORS, light_from_angles  # noqa: E402


class IspUnavailable(RuntimeError):
    pass


def isp_stage():
    """Return (to_raw_noisy(img (B,3,H,W), gen) -> raw, isp_factory() -> nn.Module) built from
    chiplab.diff.isp, or raise IspUnavailable naming what is missing.

    Uses ``unprocess`` (sRGB -> clean RAW mosaic), ``NoiseModel.add`` (shot + read
    noise) and ``Isp`` (RAW -> sRGB, its nn.Parameters are the tunable ISP settings)."""
    try:
        import chiplab.diff.isp as isp
    except Exception as e:  # noqa: BLE001
        raise IspUnavailable(f"chiplab.diff.isp not importable ({type(e).__name__}: {e})") from e
    missing = [n for n in ("unprocess", "NoiseModel", "Isp") if not hasattr(isp, n)]
    if missing:
        raise IspUnavailable(f"chiplab.diff.isp lacks {missing}; it exports {sorted(n for n in dir(isp) if not n.startswith('_'))}")
    # fixed sensor noise level: shot variance 1e-2 (top of Brooks et al.'s range) and the read variance
    # from their log-linear fit without the random term, log(read) = 2.18 log(shot) + 1.20
    shot = 1e-2
    read = math.exp(2.18 * math.log(shot) + 1.20)

    def to_raw(img, gen):
        raw = isp.unprocess(img.clamp(1e-3, 1 - 1e-3))
        return isp.NoiseModel.add(raw, shot, read, generator=gen)

    def isp_factory():
        return isp.Isp()

    out = isp_factory()(to_raw(torch.rand(1, 3, 8, 8), None))
    if out.dim() != 4 or out.shape[1] != 3:
        raise IspUnavailable(f"Isp output has shape {tuple(out.shape)}, expected (B, 3, H, W)")
    return to_raw, isp_factory


class YawNet(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(), nn.Conv2d(width, 2 * width, 3, 2, 1), nn.ReLU(),
                               nn.Conv2d(2 * width, 2 * width, 3, 2, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(2),
                               nn.Flatten(), nn.Linear(8 * width, 32), nn.ReLU(), nn.Linear(32, 1))

    def forward(self, x):
        return self.f(x)[:, 0]


class Scene(nn.Module):
    """Coloured cube at a base pose; learnable light direction (az, el) and intensity."""

    def __init__(self, size: int, learnable: bool) -> None:
        super().__init__()
        self.mesh = cube()
        self.colors = SIDE_COLORS.repeat_interleave(4, 0)
        self.rs = RenderSettings(image_size=(size, size), soft=True, sigma=0.5, gamma=1e-4, faces_per_pixel=3,
                                 ambient=0.2, diffuse=0.8, background=(0.1, 0.1, 0.1))
        self.base = euler_to_matrix(torch.tensor(math.radians(45.0)), torch.tensor(math.radians(30.0)))
        self.light = nn.Parameter(torch.tensor([0.0, 0.0]), requires_grad=learnable)  # az, el (rad)
        self.log_intensity = nn.Parameter(torch.tensor(math.log(0.25)), requires_grad=learnable)  # a dim scene

    def forward(self, yaw):
        b = yaw.shape[0]
        rot = euler_to_matrix(yaw, torch.zeros_like(yaw)) @ self.base
        out = render(self.mesh.verts, self.mesh.faces, rot, torch.tensor([0.0, 0.0, 3.5]).expand(b, 3), self.rs,
                     light_dir=light_from_angles(self.light[0], self.light[1]).expand(b, 3), colors=self.colors)
        return (out.image * self.log_intensity.exp().clamp(max=1.0)).permute(0, 3, 1, 2)


def _rgb(x):
    return x[0] if isinstance(x, tuple) else x


def run(mode: str, steps: int, size: int, batch: int, seed: int, to_raw, isp_factory) -> dict:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    scene = Scene(size, learnable=mode != "net")
    isp = isp_factory()
    for p in isp.parameters():
        p.requires_grad_(mode == "net+scene+isp")
    net = YawNet()
    params = list(net.parameters()) + [p for p in list(scene.parameters()) + list(isp.parameters()) if p.requires_grad]
    opt = torch.optim.Adam(params, lr=2e-3)
    yr = math.radians(40.0)
    t0 = time.perf_counter()
    for step in range(steps):
        yaw = (torch.rand(batch, generator=g) * 2 - 1) * yr
        pred = net(_rgb(isp(to_raw(scene(yaw), g))))
        loss = ((pred - yaw / yr) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    ge = torch.Generator().manual_seed(seed + 99)
    yaw = (torch.rand(128, generator=ge) * 2 - 1) * yr
    with torch.no_grad():
        pred = net(_rgb(isp(to_raw(scene(yaw), ge)))) * yr
    return {"mode": mode, "yaw_mae_deg": float(torch.rad2deg((pred - yaw).abs()).mean()),
            "light_az_el_deg": [round(float(x), 1) for x in torch.rad2deg(scene.light.detach())],
            "intensity": float(scene.log_intensity.detach().exp().clamp(max=1.0)), "seconds": time.perf_counter() - t0}


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    try:
        to_raw, isp_factory = isp_stage()
    except IspUnavailable as e:
        print(f"render_isp_joint: NOT RUN: {e}")
        print(json.dumps({"status": "not_run", "reason": str(e)}))
        return {"status": "not_run"}
    steps, size, batch = (150, 32, 16) if a.quick else (400, 32, 32)
    rows = [run(m, steps, size, batch, a.seed, to_raw, isp_factory) for m in ("net", "net+scene", "net+scene+isp")]
    print(f"{'mode':>14} {'yaw_MAE_deg':>11} {'light_az_el':>14} {'intensity':>9} {'sec':>6}")
    for r in rows:
        print(f"{r['mode']:>14} {r['yaw_mae_deg']:>11.2f} {str(r['light_az_el_deg']):>14} {r['intensity']:>9.3f} "
              f"{r['seconds']:>6.1f}")
    res = {"status": "ok", "rows": rows, "steps": steps, "size": size, "batch": batch}
    print(json.dumps(res))
    return res


if __name__ == "__main__":
    main()
