"""Self-supervised inverse graphics: a small reconstruction network predicts scene
parameters (object yaw and pitch, light azimuth and elevation) from an image, the
rasterizer renders the prediction, and the loss compares rendered and input images
only -- pixel error plus a feature error measured by the SAME network's
convolutional trunk (shared weights, used as a frozen comparator in that term).
No 3D ground truth enters the loss; the true parameters are used only to make the
training images and to report errors.

The object is a cube with a different colour on each side, so pose is identifiable
within the sampled range (yaw +-40 deg by default, applied on top of a base pose
that shows three sides).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from .camera import euler_to_matrix
from .mesh import cube
from .renderer import RenderSettings, render

SIDE_COLORS = torch.tensor([[0.9, 0.2, 0.2], [0.2, 0.8, 0.3], [0.2, 0.3, 0.9],
                            [0.9, 0.8, 0.2], [0.8, 0.3, 0.8], [0.2, 0.8, 0.8]])


@dataclass(frozen=True)
class SelfSupSettings:
    """Training settings. Ranges are half-widths in degrees of the uniform priors; a
    zero range fixes that parameter at 0. Defaults: yaw only. In our runs (150-300
    steps, one core) adding pitch (+-25 deg) or the light direction made training fail
    (yaw learned with the wrong sign or not at all); wide soft edges (sigma = 3 px)
    were needed for the loss to fall at all.
    """

    image_size: int = 32
    batch: int = 16
    steps: int = 300
    lr: float = 3e-4
    yaw_range: float = 40.0
    pitch_range: float = 0.0
    light_az_range: float = 0.0
    light_el_range: float = 0.0
    feature_weight: float = 0.5
    grad_clip: float = 10.0
    pyramid_levels: int = 1
    sigma: float = 3.0
    eval_size: int = 64
    curriculum: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.batch < 1 or self.steps < 1:
            raise ValueError(f"SelfSupSettings: image_size >= 8, batch >= 1, steps >= 1 required, got "
                             f"{self.image_size}, {self.batch}, {self.steps}")

    @property
    def ranges_rad(self) -> torch.Tensor:
        return torch.deg2rad(torch.tensor([self.yaw_range, self.pitch_range, self.light_az_range, self.light_el_range]))


class ReconNet(nn.Module):
    """Image (B, 3, H, W) -> 4 scene parameters in radians, in units of ``ranges``."""

    def __init__(self, ranges: torch.Tensor, width: int = 16) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(2 * width, 2 * width, 3, stride=2, padding=1), nn.ReLU())
        self.head = nn.Sequential(nn.Flatten(), nn.LazyLinear(64), nn.ReLU(), nn.Linear(64, 4))
        self.register_buffer("ranges", ranges.clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # linear output scaled by the prior ranges: a tanh bound saturated early in training
        # (silhouette gradients are spiky) and got stuck at the range limits
        return self.head(self.trunk(2 * x - 1)) * self.ranges


def light_from_angles(az: torch.Tensor, el: torch.Tensor) -> torch.Tensor:
    """Unit light directions (B, 3) in view space; az = el = 0 points at the camera."""
    return torch.stack([torch.sin(az) * torch.cos(el), torch.sin(el), -torch.cos(az) * torch.cos(el)], -1)


class SceneRenderer:
    """Renders the coloured cube for a batch of parameter vectors (B, 4)."""

    def __init__(self, s: SelfSupSettings) -> None:
        self.mesh = cube()
        self.colors = SIDE_COLORS.repeat_interleave(4, 0)
        self.rs = RenderSettings(image_size=(s.image_size, s.image_size), soft=True, sigma=s.sigma, gamma=1e-4,
                                 faces_per_pixel=3, tile_size=16, background=(0.1, 0.1, 0.1))
        self.translation = torch.tensor([0.0, 0.0, 3.5])
        # a base pose showing three sides, so small yaw/pitch changes move visible edges
        self.base_rotation = euler_to_matrix(torch.tensor(math.radians(45.0)), torch.tensor(math.radians(30.0)))

    def __call__(self, params: torch.Tensor) -> torch.Tensor:
        b = params.shape[0]
        rot = euler_to_matrix(params[:, 0], params[:, 1]) @ self.base_rotation
        out = render(self.mesh.verts, self.mesh.faces, rot, self.translation.expand(b, 3), self.rs,
                     light_dir=light_from_angles(params[:, 2], params[:, 3]), colors=self.colors)
        return out.image.permute(0, 3, 1, 2)  # B, 3, H, W


def sample_params(n: int, ranges: torch.Tensor, g: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, 4, generator=g) * 2 - 1) * ranges


def train_self_supervised(s: SelfSupSettings = SelfSupSettings(), log_every: int = 25, log=print) -> dict:
    """Train the reconstruction network; returns errors (degrees, on held-out images)
    of the trained net and of a predict-the-prior-mean baseline, and the loss history."""
    g = torch.Generator().manual_seed(s.seed)
    torch.manual_seed(s.seed)
    scene = SceneRenderer(s)
    net = ReconNet(s.ranges_rad)
    with torch.no_grad():
        net(torch.zeros(1, 3, s.image_size, s.image_size))  # materialise the lazy layer
    opt = torch.optim.Adam(net.parameters(), lr=s.lr)
    history = []
    t0 = time.perf_counter()
    for step in range(s.steps):
        with torch.no_grad():
            # curriculum: the sampled ranges grow from 25 % to 100 % over the first `curriculum` fraction of steps
            grow = 1.0 if s.curriculum <= 0 else min(1.0, 0.25 + 0.75 * step / (s.curriculum * s.steps))
            target = scene(sample_params(s.batch, net.ranges * grow, g))  # "real" images; parameters unused
        pred = net(target)
        rendered = scene(pred)
        frozen = {k: v.detach() for k, v in net.trunk.named_parameters()}
        feat = lambda x: functional_call(net.trunk, frozen, (x,))  # noqa: E731  shared trunk as comparator
        loss = s.feature_weight * ((feat(rendered) - feat(target)) ** 2).mean()
        for lvl in range(s.pyramid_levels):  # pixel error at several scales: coarse levels widen the basin
            k = 2 ** lvl
            loss = loss + ((F.avg_pool2d(rendered, k) - F.avg_pool2d(target, k)) ** 2).mean()
        opt.zero_grad()
        loss.backward()
        # silhouette gradients can be large; clipping keeps the tanh outputs from saturating
        nn.utils.clip_grad_norm_(net.parameters(), s.grad_clip)
        opt.step()
        history.append(loss.item())
        if log and (step % log_every == 0 or step == s.steps - 1):
            log(f"step {step:4d}  loss {loss.item():.5f}")
    train_s = time.perf_counter() - t0
    ge = torch.Generator().manual_seed(s.seed + 1000)
    truth = sample_params(s.eval_size, net.ranges, ge)
    with torch.no_grad():
        pred = net(scene(truth))
    err = torch.rad2deg((pred - truth).abs()).mean(0)
    base = torch.rad2deg(truth.abs()).mean(0)  # predicting the prior mean (0)
    names = [n for n, r in zip(("yaw", "pitch", "light_az", "light_el"), net.ranges.tolist()) if r > 0]
    keep = net.ranges > 0
    corr = [float(torch.corrcoef(torch.stack([pred[:, j], truth[:, j]]))[0, 1]) for j in range(4) if keep[j]]
    return {"error_deg": dict(zip(names, err[keep].tolist())), "baseline_error_deg": dict(zip(names, base[keep].tolist())),
            "correlation": dict(zip(names, corr)),
            "loss_first": history[0], "loss_last": sum(history[-10:]) / len(history[-10:]),
            "train_seconds": train_s, "history": history}


if __name__ == "__main__":  # python -m chiplab.diff.raster.selfsup [steps] [pitch_range]
    import json
    import sys

    torch.set_num_threads(1)
    kw = {}
    if len(sys.argv) > 1:
        kw["steps"] = int(sys.argv[1])
    if len(sys.argv) > 2:
        kw["pitch_range"] = float(sys.argv[2])
    res = train_self_supervised(SelfSupSettings(**kw))
    print(json.dumps({k: v for k, v in res.items() if k != "history"}))
