"""Inverse graphics by gradient descent: recover pose (rotation, translation), vertex
colours or texture, and light direction of a mesh from target images.

The rotation is parametrised as ``R = exp([w]) @ R_init`` with ``w`` a rotation
vector starting at zero; the soft-edge width ``sigma`` is annealed geometrically
from ``sigma_start`` to ``sigma_end`` (wide edges first for a wide basin, sharp
edges last for accuracy), and optionally the depth-blend ``gamma`` likewise.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
import time
from dataclasses import dataclass, field, replace
from typing import Callable

import torch

from .camera import axis_angle_to_matrix
from .mesh import Mesh
from .renderer import RenderSettings, render

FITTABLE = ("pose", "colors", "texture", "light")


class FitError(ChiplabError):
    """Bad arguments to :func:`fit_scene`."""


@dataclass(frozen=True)
class FitSettings:
    """Optimiser settings: Adam steps and learning rates per parameter group, the
    sigma schedule, and the weight of the silhouette (alpha) term in the loss."""

    steps: int = 200
    lr_rotation: float = 0.03
    lr_translation: float = 0.02
    lr_colors: float = 0.05
    lr_light: float = 0.05
    sigma_start: float = 4.0
    sigma_end: float = 0.5
    gamma_start: float | None = None
    gamma_end: float | None = None
    alpha_weight: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.steps, int) or self.steps < 1:
            raise FitError(f"FitSettings.steps must be an int >= 1, got {self.steps!r}")
        if not (self.sigma_start > 0 and self.sigma_end > 0):
            raise FitError(f"FitSettings: sigma_start and sigma_end must be > 0, got {self.sigma_start}, {self.sigma_end}")


@dataclass
class SceneParams:
    """Scene state: rotation (3, 3), translation (3,), light_dir (3,), optional vertex
    colours (V, 3) and texture (3, Ht, Wt)."""

    rotation: torch.Tensor
    translation: torch.Tensor
    light_dir: torch.Tensor
    colors: torch.Tensor | None = None
    texture: torch.Tensor | None = None

    def detached(self) -> "SceneParams":
        d = lambda t: None if t is None else t.detach().clone()  # noqa: E731
        return SceneParams(d(self.rotation), d(self.translation), d(self.light_dir), d(self.colors), d(self.texture))


@dataclass
class FitResult:
    params: SceneParams
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def render_scene(mesh: Mesh, p: SceneParams, settings: RenderSettings):
    """Render ``mesh`` with scene parameters ``p``; returns the RenderOutput."""
    return render(mesh.verts, mesh.faces, p.rotation, p.translation, settings, light_dir=p.light_dir,
                  colors=p.colors, texture=p.texture, uvs=mesh.uvs if p.texture is not None else None)


def image_loss(out, target_image: torch.Tensor, target_alpha: torch.Tensor | None, alpha_weight: float) -> torch.Tensor:
    loss = ((out.image - target_image) ** 2).mean()
    if target_alpha is not None and alpha_weight > 0:
        loss = loss + alpha_weight * ((out.alpha - target_alpha) ** 2).mean()
    return loss


def fit_scene(mesh: Mesh, target_image: torch.Tensor, init: SceneParams, settings: RenderSettings,
              fit: tuple[str, ...] = ("pose",), fit_settings: FitSettings = FitSettings(),
              target_alpha: torch.Tensor | None = None,
              callback: Callable[[int, float, SceneParams, torch.Tensor], None] | None = None) -> FitResult:
    """Gradient-descent fit of the parameter groups named in ``fit`` (subset of
    "pose", "colors", "texture", "light") so the soft render matches ``target_image``
    (B=1, H, W, 3) (and ``target_alpha`` (1, H, W) if given). With ``settings.soft``
    False the fit runs but silhouettes pass no gradient (the ablation). ``callback(step, loss,
    params, image)`` is called every step (e.g. to save PNGs)."""
    bad = [f for f in fit if f not in FITTABLE]
    if bad or not fit:
        raise FitError(f"fit_scene: fit must be a non-empty subset of {FITTABLE}, got {fit!r}")
    if target_image.shape != (1, *settings.image_size, 3):
        raise FitError(f"fit_scene: target_image must have shape (1, {settings.image_size[0]}, "
                       f"{settings.image_size[1]}, 3), got {tuple(target_image.shape)}")
    if "colors" in fit and init.colors is None:
        raise FitError("fit_scene: fitting 'colors' needs init.colors")
    if "texture" in fit and (init.texture is None or mesh.uvs is None):
        raise FitError("fit_scene: fitting 'texture' needs init.texture and mesh.uvs")
    dt = target_image.dtype
    w = torch.zeros(3, dtype=dt, requires_grad="pose" in fit)
    t = init.translation.detach().clone().to(dt).requires_grad_("pose" in fit)
    light = init.light_dir.detach().clone().to(dt).requires_grad_("light" in fit)
    # colours/texture are optimised as logits so they stay in (0, 1)
    logit = lambda x: torch.logit(x.clamp(1e-3, 1 - 1e-3))  # noqa: E731
    col = None if init.colors is None else logit(init.colors.detach().to(dt)).requires_grad_("colors" in fit)
    tex = None if init.texture is None else logit(init.texture.detach().to(dt)).requires_grad_("texture" in fit)
    groups = []
    if "pose" in fit:
        groups += [{"params": [w], "lr": fit_settings.lr_rotation}, {"params": [t], "lr": fit_settings.lr_translation}]
    if "light" in fit:
        groups.append({"params": [light], "lr": fit_settings.lr_light})
    if "colors" in fit:
        groups.append({"params": [col], "lr": fit_settings.lr_colors})
    if "texture" in fit:
        groups.append({"params": [tex], "lr": fit_settings.lr_colors})
    opt = torch.optim.Adam(groups)
    r0 = init.rotation.detach().to(dt)
    res = FitResult(init.detached())
    t_start = time.perf_counter()
    n = fit_settings.steps
    for step in range(n):
        frac = step / max(n - 1, 1)
        sigma = fit_settings.sigma_start * (fit_settings.sigma_end / fit_settings.sigma_start) ** frac
        g0 = fit_settings.gamma_start or settings.gamma
        g1 = fit_settings.gamma_end or settings.gamma
        s = replace(settings, sigma=sigma, gamma=g0 * (g1 / g0) ** frac)
        p = SceneParams(axis_angle_to_matrix(w) @ r0, t, light, None if col is None else torch.sigmoid(col),
                        None if tex is None else torch.sigmoid(tex))
        out = render_scene(mesh, p, s)
        loss = image_loss(out, target_image, target_alpha, fit_settings.alpha_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        res.losses.append(loss.item())
        if callback is not None:
            callback(step, res.losses[-1], p.detached(), out.image.detach())
    with torch.no_grad():
        res.params = SceneParams(axis_angle_to_matrix(w) @ r0, t, light, None if col is None else torch.sigmoid(col),
                                 None if tex is None else torch.sigmoid(tex)).detached()
    res.seconds = time.perf_counter() - t_start
    return res


def checker_texture(size: int = 64, cells: int = 4, seed: int = 0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (3, size, size) texture of ``cells`` x ``cells`` random-coloured squares with a
    bright border: asymmetric, so pose is identifiable from texture."""
    if size % cells:
        raise FitError(f"checker_texture: size {size} must be a multiple of cells {cells}")
    g = torch.Generator().manual_seed(seed)
    c = torch.rand(3, cells, cells, generator=g, dtype=dtype) * 0.8 + 0.1
    tex = c.repeat_interleave(size // cells, 1).repeat_interleave(size // cells, 2)
    b = max(1, size // 32)
    tex[:, :b], tex[:, -b:], tex[:, :, :b], tex[:, :, -b:] = 0.95, 0.95, 0.95, 0.95
    return tex


def random_rotation_perturbation(max_deg: float, min_deg: float = 0.0, generator: torch.Generator | None = None,
                                 dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rotation matrix about a uniformly random axis by an angle uniform in [min_deg, max_deg]."""
    axis = torch.randn(3, generator=generator, dtype=dtype)
    axis = axis / axis.norm()
    ang = math.radians(min_deg) + torch.rand((), generator=generator, dtype=dtype) * math.radians(max_deg - min_deg)
    return axis_angle_to_matrix(axis * ang)
