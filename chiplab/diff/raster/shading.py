"""Attribute interpolation, texture sampling, Lambert/Phong shading and blending of
the K fragments of a pixel (hard z-buffer or soft SoftRas-style aggregation).

Shading happens in view space (camera at the origin looking down +z); light
directions point from the surface towards the light and are given in view space.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math

import torch
import torch.nn.functional as F

from .rasterize import Fragments


class ShadingError(ChiplabError):
    """Bad shapes or values passed to a shading function."""


def vertex_to_face_attrs(attrs: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Per-vertex (V, C) or (B, V, C) -> per-face-corner (F, 3, C) or (B, F, 3, C)."""
    if attrs.dim() not in (2, 3):
        raise ShadingError(f"attrs: expected (V, C) or (B, V, C), got {tuple(attrs.shape)}")
    return attrs[..., faces, :]


def interpolate(fragments: Fragments, face_attrs: torch.Tensor) -> torch.Tensor:
    """Barycentric interpolation: face_attrs (F, 3, C) or (B, F, 3, C) -> (B, H, W, K, C);
    empty slots get 0."""
    p2f, bary = fragments.pix_to_face, fragments.bary
    b_sz = p2f.shape[0]
    if face_attrs.dim() == 3:
        face_attrs = face_attrs[None].expand(b_sz, *face_attrs.shape)
    if face_attrs.dim() != 4 or face_attrs.shape[2] != 3 or face_attrs.shape[0] not in (1, b_sz):
        raise ShadingError(f"face_attrs: expected (F, 3, C) or ({b_sz}, F, 3, C), got {tuple(face_attrs.shape)}")
    face_attrs = face_attrs.expand(b_sz, *face_attrs.shape[1:])
    bidx = torch.arange(b_sz, device=p2f.device).view(b_sz, 1, 1, 1)
    corner = face_attrs[bidx, p2f.clamp(min=0)]  # B,H,W,K,3,C
    out = (bary[..., None] * corner).sum(-2)
    return torch.where((p2f < 0)[..., None], torch.zeros_like(out), out)


def sample_texture(texture: torch.Tensor, uv: torch.Tensor) -> torch.Tensor:
    """Bilinear texture lookup. texture (C, Ht, Wt) or (B, C, Ht, Wt); uv (B, H, W, K, 2)
    with u to the right and v downwards in [0, 1] (clamped at the border). Returns (B, H, W, K, C)."""
    if texture.dim() == 3:
        texture = texture[None]
    if texture.dim() != 4:
        raise ShadingError(f"texture: expected (C, Ht, Wt) or (B, C, Ht, Wt), got {tuple(texture.shape)}")
    if uv.shape[-1] != 2 or uv.dim() != 5:
        raise ShadingError(f"uv: expected (B, H, W, K, 2), got {tuple(uv.shape)}")
    b_sz, h, w, k, _ = uv.shape
    texture = texture.expand(b_sz, *texture.shape[1:])
    grid = (uv * 2 - 1).reshape(b_sz, h, w * k, 2)
    s = F.grid_sample(texture, grid, mode="bilinear", padding_mode="border", align_corners=False)
    return s.reshape(b_sz, -1, h, w, k).permute(0, 2, 3, 4, 1)


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def lambert(normals: torch.Tensor, albedo: torch.Tensor, light_dir: torch.Tensor,
            ambient: float = 0.3, diffuse: float = 0.7) -> torch.Tensor:
    """albedo * (ambient + diffuse * max(0, n . l)). normals, albedo (B, H, W, K, 3);
    light_dir (B, 3) or (3,), need not be unit length."""
    ln = _unit(light_dir.reshape(-1, 1, 1, 1, 3))
    cos = (_unit(normals) * ln).sum(-1, keepdim=True).clamp_min(0)
    return albedo * (ambient + diffuse * cos)


def phong(normals: torch.Tensor, positions: torch.Tensor, albedo: torch.Tensor, light_dir: torch.Tensor,
          ambient: float = 0.3, diffuse: float = 0.6, specular: float = 0.3, shininess: float = 16.0) -> torch.Tensor:
    """Lambert plus a Phong specular lobe ``specular * max(0, r . v)^shininess`` with the
    viewer at the view-space origin; positions (B, H, W, K, 3) in view space."""
    if shininess <= 0:
        raise ShadingError(f"phong: shininess must be > 0, got {shininess}")
    n = _unit(normals)
    ln = _unit(light_dir.reshape(-1, 1, 1, 1, 3)).expand_as(n)
    ndl = (n * ln).sum(-1, keepdim=True)
    refl = 2 * ndl * n - ln
    view = _unit(-positions)
    rdv = (refl * view).sum(-1, keepdim=True).clamp(1e-6, 1.0)
    spec = torch.where(ndl > 0, rdv ** shininess, torch.zeros_like(rdv))
    return albedo * (ambient + diffuse * ndl.clamp_min(0)) + specular * spec


def hard_blend(colors: torch.Tensor, fragments: Fragments, background: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest fragment wins: (B, H, W, C) image and (B, H, W) 0/1 alpha."""
    hit = fragments.pix_to_face[..., 0] >= 0
    bg = background.to(colors).expand_as(colors[..., 0, :])
    img = torch.where(hit[..., None], colors[..., 0, :], bg)
    return img, hit.to(colors.dtype)


def soft_blend(colors: torch.Tensor, fragments: Fragments, background: torch.Tensor, sigma: float,
               gamma: float, znear: float, zfar: float, eps: float = 1e-10) -> tuple[torch.Tensor, torch.Tensor]:
    """SoftRas-style aggregation (Liu et al., ICCV 2019, "Soft Rasterizer").

    Coverage of face j at a pixel: D_j = sigmoid(s_j |s_j| / sigma) with s_j the signed
    pixel distance (> 0 inside), so it is smooth across edges and silhouettes pass
    gradients to positions. Colors are mixed with weights D_j exp(zi_j / gamma),
    zi = (zfar - z) / (zfar - znear), plus a background weight exp(eps / gamma);
    alpha = 1 - prod_j (1 - D_j).
    """
    if sigma <= 0 or gamma <= 0:
        raise ShadingError(f"soft_blend: sigma and gamma must be > 0, got sigma={sigma}, gamma={gamma}")
    valid = fragments.pix_to_face >= 0
    sdf = torch.where(valid, fragments.sdf, torch.zeros_like(fragments.sdf))
    d = torch.sigmoid(sdf * sdf.abs() / sigma)
    d = torch.where(valid, d, torch.zeros_like(d))
    alpha = 1 - torch.prod(1 - d, dim=-1)
    zi = (zfar - fragments.zbuf) / (zfar - znear)
    zi = torch.where(valid, zi, torch.full_like(zi, -math.inf))
    zmax = torch.maximum(zi.max(-1, keepdim=True).values, torch.full_like(zi[..., :1], eps)).detach()
    w = d * torch.exp(torch.where(valid, zi - zmax, torch.zeros_like(zi)) / gamma)
    w_bg = torch.exp((eps - zmax) / gamma)
    bg = background.to(colors).expand_as(colors[..., 0, :])
    img = ((w[..., None] * colors).sum(-2) + w_bg * bg) / (w.sum(-1, keepdim=True) + w_bg)
    return img, alpha
