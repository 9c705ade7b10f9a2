"""Pinhole perspective camera and rigid poses.

Conventions: the camera sits at the origin of view space looking down +z; +x is
right and +y is up in view space. Screen space is in pixels with the origin at the
top-left image corner, x to the right, y downwards, and pixel (i, j) centred at
(j + 0.5, i + 0.5). The third screen coordinate is the view-space depth z.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
from dataclasses import dataclass

import torch


class CameraError(ChiplabError):
    """Bad camera settings or pose tensors."""


@dataclass(frozen=True)
class PerspectiveCamera:
    """Pinhole camera: vertical field of view in degrees and near/far depths.

    Faces with a vertex closer than ``znear`` are dropped by the rasterizer (and
    counted in ``Fragments.num_culled_near``); they are not clipped.
    """

    fov_deg: float = 40.0
    znear: float = 0.1
    zfar: float = 100.0

    def __post_init__(self) -> None:
        if not 0.0 < self.fov_deg < 180.0:
            raise CameraError(f"PerspectiveCamera.fov_deg must be in (0, 180), got {self.fov_deg}")
        if not 0.0 < self.znear < self.zfar:
            raise CameraError(f"PerspectiveCamera: need 0 < znear < zfar, got znear={self.znear}, zfar={self.zfar}")

    def focal_px(self, height: int) -> float:
        """Focal length in pixels for an image ``height`` pixels tall."""
        return 0.5 * height / math.tan(math.radians(self.fov_deg) / 2)


def axis_angle_to_matrix(rotvec: torch.Tensor) -> torch.Tensor:
    """Rodrigues' formula: rotation vectors (..., 3) (axis * angle in radians) to
    rotation matrices (..., 3, 3). Differentiable, finite at zero angle."""
    if rotvec.shape[-1] != 3:
        raise CameraError(f"rotvec: expected shape (..., 3), got {tuple(rotvec.shape)}")
    theta2 = (rotvec * rotvec).sum(-1, keepdim=True)[..., None]  # (..., 1, 1)
    small = theta2 < 1e-8
    safe2 = torch.where(small, torch.ones_like(theta2), theta2)
    theta = safe2.sqrt()
    a = torch.where(small, 1 - theta2 / 6, torch.sin(theta) / theta)           # sin(t)/t
    b = torch.where(small, 0.5 - theta2 / 24, (1 - torch.cos(theta)) / safe2)   # (1-cos t)/t^2
    x, y, z = rotvec.unbind(-1)
    zero = torch.zeros_like(x)
    k = torch.stack([zero, -z, y, z, zero, -x, -y, x, zero], -1).reshape(*rotvec.shape[:-1], 3, 3)
    eye = torch.eye(3, dtype=rotvec.dtype, device=rotvec.device).expand_as(k)
    return eye + a * k + b * (k @ k)


def euler_to_matrix(yaw: torch.Tensor, pitch: torch.Tensor, roll: torch.Tensor | None = None) -> torch.Tensor:
    """R = Rz(roll) @ Rx(pitch) @ Ry(yaw), angles in radians, any broadcastable shape."""
    yaw = torch.as_tensor(yaw)
    pitch = torch.as_tensor(pitch, dtype=yaw.dtype)
    roll = torch.zeros_like(yaw) if roll is None else torch.as_tensor(roll, dtype=yaw.dtype)
    yaw, pitch, roll = torch.broadcast_tensors(yaw, pitch, roll)
    o, z = torch.ones_like(yaw), torch.zeros_like(yaw)
    cy, sy, cp, sp, cr, sr = yaw.cos(), yaw.sin(), pitch.cos(), pitch.sin(), roll.cos(), roll.sin()
    ry = torch.stack([cy, z, sy, z, o, z, -sy, z, cy], -1).reshape(*yaw.shape, 3, 3)
    rx = torch.stack([o, z, z, z, cp, -sp, z, sp, cp], -1).reshape(*yaw.shape, 3, 3)
    rz = torch.stack([cr, -sr, z, sr, cr, z, z, z, o], -1).reshape(*yaw.shape, 3, 3)
    return rz @ rx @ ry


def rotation_angle_deg(r1: torch.Tensor, r2: torch.Tensor) -> torch.Tensor:
    """Geodesic angle between rotation matrices, in degrees (computed in float64 as
    atan2(sin, cos) of the relative rotation, accurate for small angles too)."""
    m = r1.double().transpose(-1, -2) @ r2.double()
    cos = (m.diagonal(dim1=-2, dim2=-1).sum(-1) - 1) / 2
    skew = torch.stack([m[..., 2, 1] - m[..., 1, 2], m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], -1)
    return torch.rad2deg(torch.atan2(skew.norm(dim=-1) / 2, cos))


def transform(verts: torch.Tensor, rotation: torch.Tensor, translation: torch.Tensor) -> torch.Tensor:
    """Object -> view space: ``verts @ R^T + t``. verts (V,3) or (B,V,3); R (3,3) or
    (B,3,3); t (3,) or (B,3). Returns (B, V, 3)."""
    if rotation.shape[-2:] != (3, 3):
        raise CameraError(f"rotation: expected shape (..., 3, 3), got {tuple(rotation.shape)}")
    if translation.shape[-1] != 3:
        raise CameraError(f"translation: expected shape (..., 3), got {tuple(translation.shape)}")
    v = verts if verts.dim() == 3 else verts[None]
    r = rotation if rotation.dim() == 3 else rotation[None]
    t = translation if translation.dim() == 2 else translation[None]
    return v @ r.transpose(-1, -2) + t[:, None, :]


def project(view_verts: torch.Tensor, camera: PerspectiveCamera, image_size: tuple[int, int]) -> torch.Tensor:
    """View space (B, V, 3) -> screen space (B, V, 3): pixel x, pixel y, depth z.

    Vertices at or behind z = 0 get a finite placeholder position (the rasterizer
    drops every face with a vertex nearer than ``camera.znear``), so no inf/NaN
    enters the graph."""
    h, w = image_size
    f = camera.focal_px(h)
    z = view_verts[..., 2]
    zs = torch.where(z > camera.znear * 0.5, z, torch.full_like(z, camera.znear))
    x = w / 2 + f * view_verts[..., 0] / zs
    y = h / 2 - f * view_verts[..., 1] / zs
    return torch.stack([x, y, z], -1)
