"""Triangle meshes made in code (cube, icosphere, torus) and, optionally, loaded
from OBJ files through ``trimesh``.

A :class:`Mesh` is plain data: vertex positions ``verts`` (V, 3), triangle indices
``faces`` (F, 3) and optional per-vertex ``uvs`` (V, 2) in [0, 1] and per-vertex
``colors`` (V, 3). Meshes that need sharp texture seams (the cube) duplicate
vertices, so one UV per vertex suffices.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
from dataclasses import dataclass, replace

import torch


class MeshError(ChiplabError):
    """A mesh with wrong shapes, dtypes or out-of-range indices."""


@dataclass(frozen=True)
class Mesh:
    """Triangle mesh. ``verts`` may require grad (shape optimisation)."""

    verts: torch.Tensor
    faces: torch.Tensor
    uvs: torch.Tensor | None = None
    colors: torch.Tensor | None = None

    def __post_init__(self) -> None:
        check_mesh_tensors(self.verts, self.faces)
        v = self.verts.shape[-2]
        for name in ("uvs", "colors"):
            t = getattr(self, name)
            want = 2 if name == "uvs" else 3
            if t is not None and (t.dim() < 2 or t.shape[-2] != v or t.shape[-1] != want):
                raise MeshError(f"Mesh.{name}: expected shape (..., {v}, {want}), got {tuple(t.shape)}")

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    def to(self, *args, **kwargs) -> "Mesh":
        f = self.faces.to(device=kwargs.get("device", self.faces.device))
        conv = lambda t: None if t is None else t.to(*args, **kwargs)  # noqa: E731
        return replace(self, verts=conv(self.verts), faces=f, uvs=conv(self.uvs), colors=conv(self.colors))


def check_mesh_tensors(verts: torch.Tensor, faces: torch.Tensor) -> None:
    """Raise :class:`MeshError` unless verts is float (..., V, 3) and faces int (F, 3) in range."""
    if not isinstance(verts, torch.Tensor) or not verts.is_floating_point():
        raise MeshError(f"verts: expected a floating-point tensor, got {type(verts).__name__} "
                        f"{getattr(verts, 'dtype', '')}")
    if verts.dim() not in (2, 3) or verts.shape[-1] != 3:
        raise MeshError(f"verts: expected shape (V, 3) or (B, V, 3), got {tuple(verts.shape)}")
    if not isinstance(faces, torch.Tensor) or faces.dtype not in (torch.int32, torch.int64):
        raise MeshError(f"faces: expected an int32/int64 tensor, got {getattr(faces, 'dtype', type(faces).__name__)}")
    if faces.dim() != 2 or faces.shape[1] != 3:
        raise MeshError(f"faces: expected shape (F, 3), got {tuple(faces.shape)}")
    if faces.numel() and (int(faces.min()) < 0 or int(faces.max()) >= verts.shape[-2]):
        raise MeshError(f"faces: indices must lie in [0, {verts.shape[-2]}), got [{int(faces.min())}, {int(faces.max())}]")


def cube(size: float = 1.0, dtype: torch.dtype = torch.float32) -> Mesh:
    """Axis-aligned cube centred at the origin, 24 vertices (4 per side, so texture
    seams and flat normals are sharp), 12 faces, UVs laid out as a 3x2 atlas."""
    h = size / 2
    # (normal axis, sign) per side; each side gets one cell of a 3 (u) x 2 (v) atlas
    sides = [(0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1)]
    verts, uvs, faces = [], [], []
    for s, (axis, sign) in enumerate(sides):
        a, b = [i for i in range(3) if i != axis]
        cu, cv = (s % 3) / 3.0, (s // 3) / 2.0
        orient = -1.0 if axis == 1 else 1.0  # e_a x e_b = -e_y for axis 1: flip to keep normals outward
        base = len(verts)
        for (p, q) in [(-1, -1), (1, -1), (1, 1), (-1, 1)]:
            v = [0.0, 0.0, 0.0]
            v[axis], v[a], v[b] = sign * h, p * h * sign * orient, q * h
            verts.append(v)
            uvs.append([cu + (p + 1) / 2 / 3.0, cv + (q + 1) / 2 / 2.0])
        faces += [[base, base + 1, base + 2], [base, base + 2, base + 3]]
    return Mesh(torch.tensor(verts, dtype=dtype), torch.tensor(faces, dtype=torch.int64),
                uvs=torch.tensor(uvs, dtype=dtype))


def icosphere(subdivisions: int = 2, radius: float = 1.0, dtype: torch.dtype = torch.float32) -> Mesh:
    """Icosahedron subdivided ``subdivisions`` times and projected to a sphere
    (20 * 4**subdivisions faces). UVs are spherical (longitude, latitude)."""
    if not isinstance(subdivisions, int) or not 0 <= subdivisions <= 6:
        raise MeshError(f"icosphere: subdivisions must be an int in [0, 6], got {subdivisions!r}")
    t = (1.0 + math.sqrt(5.0)) / 2.0
    vs = [[-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0], [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
          [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1]]
    fs = [[0, 11, 5], [0, 5, 1], [0, 1, 7], [0, 7, 10], [0, 10, 11], [1, 5, 9], [5, 11, 4], [11, 10, 2],
          [10, 7, 6], [7, 1, 8], [3, 9, 4], [3, 4, 2], [3, 2, 6], [3, 6, 8], [3, 8, 9], [4, 9, 5], [2, 4, 11],
          [6, 2, 10], [8, 6, 7], [9, 8, 1]]
    verts = [list(map(float, v)) for v in vs]
    for _ in range(subdivisions):
        cache: dict[tuple[int, int], int] = {}

        def mid(i: int, j: int) -> int:
            key = (min(i, j), max(i, j))
            if key not in cache:
                cache[key] = len(verts)
                verts.append([(verts[i][k] + verts[j][k]) / 2 for k in range(3)])
            return cache[key]

        new = []
        for a, b, c in fs:
            ab, bc, ca = mid(a, b), mid(b, c), mid(c, a)
            new += [[a, ab, ca], [b, bc, ab], [c, ca, bc], [ab, bc, ca]]
        fs = new
    v = torch.tensor(verts, dtype=torch.float64)
    v = v / v.norm(dim=1, keepdim=True)
    uvs = torch.stack([torch.atan2(v[:, 0], v[:, 2]) / (2 * math.pi) + 0.5,
                       torch.acos(v[:, 1].clamp(-1, 1)) / math.pi], dim=1)
    return Mesh((v * radius).to(dtype), torch.tensor(fs, dtype=torch.int64), uvs=uvs.to(dtype))


def torus(major_radius: float = 1.0, minor_radius: float = 0.35, n_major: int = 24, n_minor: int = 12,
          dtype: torch.dtype = torch.float32) -> Mesh:
    """Torus around the y axis with ``2 * n_major * n_minor`` faces; UVs follow the two angles."""
    if n_major < 3 or n_minor < 3:
        raise MeshError(f"torus: n_major and n_minor must be >= 3, got {n_major}, {n_minor}")
    if not 0 < minor_radius < major_radius:
        raise MeshError(f"torus: need 0 < minor_radius < major_radius, got {minor_radius}, {major_radius}")
    i = torch.arange(n_major, dtype=torch.float64)
    j = torch.arange(n_minor, dtype=torch.float64)
    u, w = torch.meshgrid(i * 2 * math.pi / n_major, j * 2 * math.pi / n_minor, indexing="ij")
    r = major_radius + minor_radius * torch.cos(w)
    verts = torch.stack([r * torch.cos(u), minor_radius * torch.sin(w), r * torch.sin(u)], -1).reshape(-1, 3)
    uvs = torch.stack([u / (2 * math.pi), w / (2 * math.pi)], -1).reshape(-1, 2)
    ii, jj = torch.meshgrid(torch.arange(n_major), torch.arange(n_minor), indexing="ij")
    a = ii * n_minor + jj
    b = ((ii + 1) % n_major) * n_minor + jj
    c = ((ii + 1) % n_major) * n_minor + (jj + 1) % n_minor
    d = ii * n_minor + (jj + 1) % n_minor
    faces = torch.cat([torch.stack([a, b, c], -1).reshape(-1, 3), torch.stack([a, c, d], -1).reshape(-1, 3)])
    return Mesh(verts.to(dtype), faces.to(torch.int64), uvs=uvs.to(dtype))


def load_obj(path: str, dtype: torch.dtype = torch.float32) -> Mesh:
    """Load a triangle mesh from an OBJ (or any format trimesh reads). Needs ``trimesh``."""
    try:
        import trimesh
    except ImportError as e:  # pragma: no cover - trimesh is a test extra
        raise ImportError("load_obj needs the optional package 'trimesh' (pip install trimesh)") from e
    m = trimesh.load(path, force="mesh", process=False)
    verts = torch.as_tensor(m.vertices, dtype=dtype)
    faces = torch.as_tensor(m.faces, dtype=torch.int64)
    uvs = None
    uv = getattr(getattr(m, "visual", None), "uv", None)
    if uv is not None and len(uv) == len(verts):
        uvs = torch.as_tensor(uv, dtype=dtype)
    return Mesh(verts, faces, uvs=uvs)


def vertex_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Area-weighted vertex normals (differentiable), shape like ``verts``."""
    v = verts if verts.dim() == 3 else verts[None]
    fv = v[:, faces]  # B, F, 3, 3
    fn = torch.cross(fv[:, :, 1] - fv[:, :, 0], fv[:, :, 2] - fv[:, :, 0], dim=-1)
    n = torch.zeros_like(v)
    idx = faces.reshape(-1)[None, :, None].expand(v.shape[0], -1, 3)
    n = n.scatter_add(1, idx, fn.repeat_interleave(3, dim=1))
    n = n / n.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    return n if verts.dim() == 3 else n[0]


def face_normals(verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    """Unit face normals (..., F, 3); zero-area faces give a zero vector, not NaN."""
    fv = verts[..., faces, :]
    fn = torch.cross(fv[..., 1, :] - fv[..., 0, :], fv[..., 2, :] - fv[..., 0, :], dim=-1)
    return fn / fn.norm(dim=-1, keepdim=True).clamp_min(1e-12)
