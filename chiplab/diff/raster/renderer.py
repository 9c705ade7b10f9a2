"""``MeshRenderer``: pose -> project -> rasterize -> interpolate -> shade -> blend, as a
thin ``nn.Module`` that is also a chiplab hardware block (``hw_cost``)."""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
from dataclasses import dataclass, field
from typing import Sequence

import torch
from torch import nn

from chiplab.hwblock import HwCost

from .camera import PerspectiveCamera, project, transform
from .hwcost import RasterHwError, RasterHwModel
from .mesh import face_normals, vertex_normals
from .rasterize import Fragments, RasterSettings, rasterize, rasterize_reference
from .shading import ShadingError, hard_blend, interpolate, lambert, phong, sample_texture, soft_blend


class RenderSettingsError(ChiplabError):
    """Invalid renderer settings."""


@dataclass(frozen=True)
class RenderSettings:
    """Renderer settings.

    soft: SoftRas-style soft edges (gradients at silhouettes) instead of a hard
    z-buffer. sigma: edge sharpness in pixels^2 (coverage = sigmoid(s|s|/sigma));
    gamma: depth-blend temperature; soft_eps: coverage below which a face is ignored
    (sets the blur radius). shading: "lambert", "phong" or "none" (unlit albedo).
    smooth_normals: vertex normals (else flat face normals).
    """

    image_size: tuple[int, int] = (64, 64)
    camera: PerspectiveCamera = field(default_factory=PerspectiveCamera)
    soft: bool = True
    sigma: float = 1.0
    gamma: float = 1e-4
    soft_eps: float = 1e-4
    faces_per_pixel: int = 4
    tile_size: int = 16
    max_faces_per_tile: int = 64
    perspective_correct: bool = True
    cull_backfaces: bool = False
    shading: str = "lambert"
    smooth_normals: bool = True
    ambient: float = 0.35
    diffuse: float = 0.65
    specular: float = 0.25
    shininess: float = 16.0
    background: tuple[float, float, float] = (0.0, 0.0, 0.0)
    use_reference: bool = False

    def __post_init__(self) -> None:
        if self.shading not in ("lambert", "phong", "none"):
            raise RenderSettingsError(f"RenderSettings.shading must be 'lambert', 'phong' or 'none', got {self.shading!r}")
        if self.soft and not (self.sigma > 0 and self.gamma > 0 and 0 < self.soft_eps < 0.5):
            raise RenderSettingsError(f"RenderSettings: soft mode needs sigma > 0, gamma > 0, 0 < soft_eps < 0.5; "
                                      f"got {self.sigma}, {self.gamma}, {self.soft_eps}")
        if len(self.background) != 3:
            raise RenderSettingsError(f"RenderSettings.background must have 3 channels, got {self.background!r}")
        self.raster  # validates the derived raster settings

    @property
    def blur_radius(self) -> float:
        """Distance (px) at which coverage sigmoid(-d^2/sigma) falls to soft_eps."""
        return math.sqrt(self.sigma * math.log(1 / self.soft_eps - 1)) if self.soft else 0.0

    @property
    def raster(self) -> RasterSettings:
        return RasterSettings(image_size=tuple(self.image_size), faces_per_pixel=self.faces_per_pixel if self.soft else 1,
                              blur_radius=self.blur_radius, tile_size=self.tile_size,
                              max_faces_per_tile=self.max_faces_per_tile, perspective_correct=self.perspective_correct,
                              cull_backfaces=self.cull_backfaces)


@dataclass
class RenderOutput:
    """image (B, H, W, 3), alpha (B, H, W), the fragments, and the screen vertices."""

    image: torch.Tensor
    alpha: torch.Tensor
    fragments: Fragments
    screen_verts: torch.Tensor


def render(verts: torch.Tensor, faces: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor,
           settings: RenderSettings, light_dir: torch.Tensor | None = None, colors: torch.Tensor | None = None,
           texture: torch.Tensor | None = None, uvs: torch.Tensor | None = None) -> RenderOutput:
    """Render a mesh posed by (rotation (B,3,3), translation (B,3)) in object->view space.

    Albedo comes from ``texture`` (C=3, sampled at interpolated ``uvs`` (V, 2)), or
    per-vertex ``colors`` (V, 3) / (B, V, 3), or is white. ``light_dir`` (B, 3) / (3,)
    in view space, default towards the camera."""
    if texture is not None and uvs is None:
        raise ShadingError("render: texture given without uvs")
    view = transform(verts, rotation, translation)
    sv = project(view, settings.camera, settings.image_size)
    raster_fn = rasterize_reference if settings.use_reference else rasterize
    frags = raster_fn(sv, faces, settings.raster, settings.camera)
    b_sz = view.shape[0]
    if texture is not None:
        uv = interpolate(frags, uvs[..., faces, :])
        albedo = sample_texture(texture, uv)
    elif colors is not None:
        if colors.shape[-1] != 3 or colors.shape[-2] != view.shape[1]:
            raise ShadingError(f"colors: expected (V, 3) or (B, V, 3) with V={view.shape[1]}, got {tuple(colors.shape)}")
        albedo = interpolate(frags, colors[..., faces, :])
    else:
        albedo = torch.ones(*frags.pix_to_face.shape, 3, dtype=view.dtype, device=view.device)
    if settings.shading == "none":
        shaded = albedo
    else:
        if light_dir is None:
            light_dir = torch.tensor([0.0, 0.0, -1.0], dtype=view.dtype, device=view.device)
        light_dir = light_dir.expand(b_sz, 3) if light_dir.dim() == 1 else light_dir
        if settings.smooth_normals:
            normals = interpolate(frags, vertex_normals(view, faces)[..., faces, :])
        else:
            fn = face_normals(view, faces)  # B, F, 3
            normals = interpolate(frags, fn[:, :, None, :].expand(-1, -1, 3, -1))
        if settings.shading == "lambert":
            shaded = lambert(normals, albedo, light_dir, settings.ambient, settings.diffuse)
        else:
            pos = interpolate(frags, view[:, faces])
            shaded = phong(normals, pos, albedo, light_dir, settings.ambient, settings.diffuse,
                           settings.specular, settings.shininess)
    bg = torch.tensor(settings.background, dtype=view.dtype, device=view.device)
    if settings.soft:
        img, alpha = soft_blend(shaded, frags, bg, settings.sigma, settings.gamma,
                                settings.camera.znear, settings.camera.zfar)
    else:
        img, alpha = hard_blend(shaded, frags, bg)
    return RenderOutput(img, alpha, frags, sv)


class MeshRenderer(nn.Module):
    """Differentiable mesh renderer; a chiplab ``HardwareBlock`` named "rasterizer".

    forward(verts, faces, rotation, translation, light_dir=None, colors=None,
    texture=None, uvs=None) -> RenderOutput. ``hw_cost`` prices one call from the
    input shapes with a :class:`RasterHwModel`."""

    hw_block_name = "rasterizer"

    def __init__(self, settings: RenderSettings | None = None, hw: RasterHwModel | None = None) -> None:
        super().__init__()
        self.settings = settings or RenderSettings()
        self.hw = hw or RasterHwModel()

    def forward(self, verts, faces, rotation, translation, light_dir=None, colors=None, texture=None, uvs=None):
        return render(verts, faces, rotation, translation, self.settings, light_dir=light_dir, colors=colors,
                      texture=texture, uvs=uvs)

    def hw_cost(self, input_shapes: Sequence[tuple[int, ...]]) -> HwCost:
        """input_shapes: shapes of forward's tensor inputs in order (verts, faces,
        rotation, translation, ...). Batch = the larger of the verts and rotation batch."""
        if len(input_shapes) < 2:
            raise RasterHwError(f"MeshRenderer.hw_cost: need at least the shapes of verts and faces, got {input_shapes!r}")
        vs, fs = tuple(input_shapes[0]), tuple(input_shapes[1])
        if len(vs) not in (2, 3) or vs[-1] != 3 or len(fs) != 2 or fs[1] != 3:
            raise RasterHwError(f"MeshRenderer.hw_cost: verts shape {vs} must be (B,V,3)/(V,3), faces {fs} must be (F,3)")
        batch = vs[0] if len(vs) == 3 else 1
        if len(input_shapes) > 2 and len(input_shapes[2]) == 3:
            batch = max(batch, int(input_shapes[2][0]))
        h, w = self.settings.image_size
        k = self.settings.faces_per_pixel if self.settings.soft else 1
        return self.hw.cost(int(batch), int(fs[0]), int(h), int(w), int(k))
