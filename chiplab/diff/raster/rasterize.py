"""Z-buffered triangle rasterization with tile binning, in pure PyTorch.

Two steps:

1. **Visibility** (no gradient): for every pixel pick the ``K`` nearest faces that
   cover it (hard mode, ``blur_radius == 0``) or that come within ``blur_radius``
   pixels of it (soft mode). The image is cut into ``tile_size`` x ``tile_size``
   tiles; each face is binned into the tiles its (blur-expanded) bounding box
   touches, and every tile tests only its own faces. A tile holding more than
   ``max_faces_per_tile`` faces is processed in several passes whose results are
   merged, so no face is ever dropped (``Fragments.num_overflow_tiles`` counts them).
2. **Geometry** (differentiable): barycentrics, depth and signed distance to the
   triangle are recomputed for the chosen (pixel, face) pairs from the screen
   vertices, so gradients reach vertex positions (and through them pose and shape).

Faces with a vertex nearer than ``camera.znear`` are DROPPED, not clipped, and
counted in ``Fragments.num_culled_near``; zero-area and non-finite faces are
dropped and counted in ``num_degenerate``.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
from dataclasses import dataclass

import torch

from .camera import PerspectiveCamera
from .mesh import check_mesh_tensors


class RasterSettingsError(ChiplabError):
    """Invalid rasterizer settings."""


@dataclass(frozen=True)
class RasterSettings:
    """Rasterizer settings.

    image_size: (height, width) in pixels. faces_per_pixel: K faces kept per pixel,
    nearest first. blur_radius: in pixels; 0 = hard coverage, > 0 = also keep faces
    whose edge is within this distance (soft edges). tile_size: binning tile edge in
    pixels, 0 = no binning (every face tested against every pixel). max_faces_per_tile:
    faces handled per tile per pass. perspective_correct: perspective-correct
    barycentrics. cull_backfaces: drop faces seen from behind. min_area: faces with
    a smaller screen area (pixels^2) count as degenerate.
    """

    image_size: tuple[int, int] = (64, 64)
    faces_per_pixel: int = 1
    blur_radius: float = 0.0
    tile_size: int = 16
    max_faces_per_tile: int = 64
    perspective_correct: bool = True
    cull_backfaces: bool = False
    min_area: float = 1e-8

    def __post_init__(self) -> None:
        if (len(self.image_size) != 2 or not all(isinstance(s, int) and s > 0 for s in self.image_size)):
            raise RasterSettingsError(f"RasterSettings.image_size must be two positive ints (H, W), got {self.image_size!r}")
        if not isinstance(self.faces_per_pixel, int) or self.faces_per_pixel < 1:
            raise RasterSettingsError(f"RasterSettings.faces_per_pixel must be an int >= 1, got {self.faces_per_pixel!r}")
        if not (self.blur_radius >= 0 and math.isfinite(self.blur_radius)):
            raise RasterSettingsError(f"RasterSettings.blur_radius must be finite and >= 0, got {self.blur_radius!r}")
        if not isinstance(self.tile_size, int) or self.tile_size < 0:
            raise RasterSettingsError(f"RasterSettings.tile_size must be an int >= 0 (0 = unbinned), got {self.tile_size!r}")
        if not isinstance(self.max_faces_per_tile, int) or self.max_faces_per_tile < 1:
            raise RasterSettingsError(f"RasterSettings.max_faces_per_tile must be an int >= 1, got {self.max_faces_per_tile!r}")
        if not self.min_area >= 0:
            raise RasterSettingsError(f"RasterSettings.min_area must be >= 0, got {self.min_area!r}")


@dataclass
class Fragments:
    """Per-pixel result, K slots per pixel, nearest first.

    pix_to_face (B, H, W, K) int64, -1 where empty; zbuf (B, H, W, K) view depth,
    -1 where empty; bary (B, H, W, K, 3) barycentrics (clamped to the triangle for
    pixels outside it, perspective-corrected if asked), 0 where empty; sdf
    (B, H, W, K) signed distance in pixels to the triangle's boundary, > 0 inside,
    -inf where empty. bary, zbuf and sdf carry gradients to the screen vertices.
    """

    pix_to_face: torch.Tensor
    zbuf: torch.Tensor
    bary: torch.Tensor
    sdf: torch.Tensor
    num_culled_near: int = 0
    num_degenerate: int = 0
    num_backfaces: int = 0
    num_overflow_tiles: int = 0
    num_passes: int = 0
    pairs_tested: int = 0


# ----------------------------------------------------------------------------- geometry

def pair_geometry(px: torch.Tensor, py: torch.Tensor, v0, v1, v2, perspective_correct: bool, need_sdf: bool):
    """Geometry of point(s) (px, py) against triangle(s) with screen vertices v0, v1,
    v2 (each a tuple (x, y, z) of tensors broadcastable with px).

    Returns (bary, z, inside, sdf): clamped (and optionally perspective-corrected)
    barycentrics as a tuple of 3 tensors, interpolated depth, the inside mask
    (all raw barycentrics >= 0) and the signed distance (None unless ``need_sdf``).
    Faces must be non-degenerate and in front of the camera (z > 0).
    """
    x0, y0, z0 = v0
    x1, y1, z1 = v1
    x2, y2, z2 = v2
    w0 = (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)
    w1 = (x0 - x2) * (py - y2) - (y0 - y2) * (px - x2)
    w2 = (x1 - x0) * (py - y0) - (y1 - y0) * (px - x0)
    area = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)
    b0, b1, b2 = w0 / area, w1 / area, w2 / area
    inside = (b0 >= 0) & (b1 >= 0) & (b2 >= 0)
    c0, c1, c2 = b0.clamp(min=0), b1.clamp(min=0), b2.clamp(min=0)
    cs = c0 + c1 + c2
    c0, c1, c2 = c0 / cs, c1 / cs, c2 / cs
    if perspective_correct:
        q0, q1, q2 = c0 / z0, c1 / z1, c2 / z2
        qs = q0 + q1 + q2
        bary, z = (q0 / qs, q1 / qs, q2 / qs), 1.0 / qs
    else:
        bary, z = (c0, c1, c2), c0 * z0 + c1 * z1 + c2 * z2
    sdf = None
    if need_sdf:
        sgn = torch.sign(area)
        d_in = []
        d2_out = []
        for (ax, ay), (bx, by), w in (((x1, y1), (x2, y2), w0), ((x2, y2), (x0, y0), w1), ((x0, y0), (x1, y1), w2)):
            ex, ey = bx - ax, by - ay
            el2 = ex * ex + ey * ey
            d_in.append(w * sgn / el2.sqrt())
            t = (((px - ax) * ex + (py - ay) * ey) / el2).clamp(0.0, 1.0)
            dx, dy = px - ax - t * ex, py - ay - t * ey
            d2_out.append(dx * dx + dy * dy)
        inner = torch.minimum(torch.minimum(d_in[0], d_in[1]), d_in[2])
        outer = torch.minimum(torch.minimum(d2_out[0], d2_out[1]), d2_out[2]).clamp_min(1e-20).sqrt()
        sdf = torch.where(inside, inner, -outer)
    return bary, z, inside, sdf


def face_validity(fv: torch.Tensor, camera: PerspectiveCamera, settings: RasterSettings):
    """fv (B, F, 3, 3) screen vertices -> (valid (B, F) bool, n_near, n_degenerate, n_back)."""
    finite = torch.isfinite(fv).all(-1).all(-1)
    near = (fv[..., 2] < camera.znear).any(-1) & finite
    far = (fv[..., 2] > camera.zfar).all(-1)
    e1 = fv[..., 1, :2] - fv[..., 0, :2]
    e2 = fv[..., 2, :2] - fv[..., 0, :2]
    area = e1[..., 0] * e2[..., 1] - e1[..., 1] * e2[..., 0]
    degenerate = (~finite) | ((area.abs() < settings.min_area) & ~near)
    # with y pointing down on screen, a face whose view-space normal points at the camera has area < 0
    back = (area > 0) & ~near & ~degenerate if settings.cull_backfaces else torch.zeros_like(near)
    valid = ~(near | far | degenerate | back)
    return valid, int(near.sum()), int(degenerate.sum()), int(back.sum())


def _check_inputs(screen_verts: torch.Tensor, faces: torch.Tensor) -> torch.Tensor:
    check_mesh_tensors(screen_verts, faces)
    return screen_verts if screen_verts.dim() == 3 else screen_verts[None]


# ----------------------------------------------------------------------------- fast path

def _bin_faces(fv: torch.Tensor, valid: torch.Tensor, settings: RasterSettings, tile: int, n_ty: int, n_tx: int):
    """Assign faces to tiles. Returns (tile_key, face, pos_in_tile, counts) sorted by tile key,
    faces ascending within a tile."""
    b_sz, n_f = valid.shape
    h, w = settings.image_size
    r = settings.blur_radius
    if settings.tile_size == 0:  # unbinned: every valid face in the single tile
        bb, ff = valid.nonzero(as_tuple=True)
        key = bb
    else:
        xs, ys = fv[..., 0], fv[..., 1]
        # pixel column j is touched when xmin - r <= j + 0.5 <= xmax + r
        j0r, j1r = torch.ceil(xs.min(-1).values - r - 0.5), torch.floor(xs.max(-1).values + r - 0.5)
        i0r, i1r = torch.ceil(ys.min(-1).values - r - 0.5), torch.floor(ys.max(-1).values + r - 0.5)
        hit = valid & (j1r >= j0r) & (i1r >= i0r) & (j0r <= w - 1) & (j1r >= 0) & (i0r <= h - 1) & (i1r >= 0)
        j0, j1 = j0r.clamp(0, w - 1), j1r.clamp(0, w - 1)
        i0, i1 = i0r.clamp(0, h - 1), i1r.clamp(0, h - 1)
        tx0, tx1 = (j0 // tile).long(), (j1 // tile).long()
        ty0, ty1 = (i0 // tile).long(), (i1 // tile).long()
        tyr = torch.arange(n_ty, device=fv.device)
        txr = torch.arange(n_tx, device=fv.device)
        m = (hit[..., None, None]
             & (tyr[None, None, :, None] >= ty0[..., None, None]) & (tyr[None, None, :, None] <= ty1[..., None, None])
             & (txr[None, None, None, :] >= tx0[..., None, None]) & (txr[None, None, None, :] <= tx1[..., None, None]))
        bb, ff, ty, tx = m.nonzero(as_tuple=True)
        key = (bb * n_ty + ty) * n_tx + tx
    order = torch.sort(key, stable=True).indices
    key, ff = key[order], ff[order]
    counts = torch.bincount(key, minlength=b_sz * n_ty * n_tx)
    start = torch.cumsum(counts, 0) - counts
    pos = torch.arange(key.numel(), device=fv.device) - start[key]
    return key, ff, pos, counts


@torch.no_grad()
def _visibility(sv: torch.Tensor, faces: torch.Tensor, settings: RasterSettings, camera: PerspectiveCamera):
    b_sz = sv.shape[0]
    h, w = settings.image_size
    k = settings.faces_per_pixel
    cap = settings.max_faces_per_tile
    fv = sv[:, faces]  # B, F, 3, 3
    valid, n_near, n_deg, n_back = face_validity(fv, camera, settings)
    tile = settings.tile_size if settings.tile_size > 0 else max(h, w)
    n_ty, n_tx = -(-h // tile), -(-w // tile)
    n_tiles = b_sz * n_ty * n_tx
    key, ff, pos, counts = _bin_faces(fv, valid, settings, tile, n_ty, n_tx)
    best_z = torch.full((n_tiles, tile * tile, k), math.inf, dtype=sv.dtype, device=sv.device)
    best_f = torch.full((n_tiles, tile * tile, k), -1, dtype=torch.long, device=sv.device)
    n_pass = int(-(-int(counts.max()) // cap)) if counts.numel() and int(counts.max()) > 0 else 0
    local = torch.arange(tile * tile, device=sv.device)
    off_y, off_x = (local // tile).to(sv.dtype), (local % tile).to(sv.dtype)
    soft = settings.blur_radius > 0
    pairs = 0
    chunk_tiles = max(1, (1 << 20) // (tile * tile * cap))
    for p in range(n_pass):
        sel = (pos >= p * cap) & (pos < (p + 1) * cap)
        active = (counts > p * cap).nonzero(as_tuple=True)[0]
        row_of = torch.full((n_tiles,), -1, dtype=torch.long, device=sv.device)
        row_of[active] = torch.arange(active.numel(), device=sv.device)
        tf = torch.full((active.numel(), cap), -1, dtype=torch.long, device=sv.device)
        tf[row_of[key[sel]], pos[sel] - p * cap] = ff[sel]
        for c0 in range(0, active.numel(), chunk_tiles):
            act = active[c0:c0 + chunk_tiles]
            tfc = tf[c0:c0 + chunk_tiles]
            b_idx = act // (n_ty * n_tx)
            ty, tx = (act // n_tx) % n_ty, act % n_tx
            py = (ty * tile).to(sv.dtype)[:, None] + off_y[None] + 0.5  # A, T*T
            px = (tx * tile).to(sv.dtype)[:, None] + off_x[None] + 0.5
            slot = tfc >= 0
            g = fv[b_idx[:, None], tfc.clamp(min=0)]  # A, cap, 3, 3
            verts = [tuple(g[:, None, :, i, c] for c in range(3)) for i in range(3)]
            _, z, inside, sdf = pair_geometry(px[..., None], py[..., None], *verts,
                                              settings.perspective_correct, need_sdf=soft)
            pairs += int(slot.sum()) * tile * tile
            cand = (sdf > -settings.blur_radius) if soft else inside
            cand = cand & slot[:, None, :] & (z <= camera.zfar)
            zkey = torch.where(cand, z, torch.full_like(z, math.inf))
            fid = torch.where(cand, tfc[:, None, :].expand_as(zkey), torch.full_like(tfc[:, None, :], -1).expand_as(zkey))
            allz = torch.cat([best_z[act], zkey], -1)
            allf = torch.cat([best_f[act], fid], -1)
            srt = torch.sort(allz, dim=-1, stable=True)
            best_z[act] = srt.values[..., :k]
            best_f[act] = torch.gather(allf, -1, srt.indices[..., :k])
    img = best_f.reshape(b_sz, n_ty, n_tx, tile, tile, k).permute(0, 1, 3, 2, 4, 5)
    p2f = img.reshape(b_sz, n_ty * tile, n_tx * tile, k)[:, :h, :w].contiguous()
    stats = dict(num_culled_near=n_near, num_degenerate=n_deg, num_backfaces=n_back,
                 num_overflow_tiles=int((counts > cap).sum()), num_passes=n_pass, pairs_tested=pairs)
    return p2f, stats


def fragments_from_faces(screen_verts: torch.Tensor, faces: torch.Tensor, pix_to_face: torch.Tensor,
                         settings: RasterSettings) -> Fragments:
    """Differentiable geometry for given pix_to_face (B, H, W, K): barycentrics,
    depth and signed distance as functions of ``screen_verts``."""
    sv = _check_inputs(screen_verts, faces)
    b_sz, h, w, k = pix_to_face.shape
    empty = pix_to_face < 0
    if faces.shape[0] == 0 or sv.shape[1] == 0:  # empty scene: constant fragments, still attached to the graph
        zero = sv.sum() * 0
        return Fragments(pix_to_face, torch.full(pix_to_face.shape, -1.0, dtype=sv.dtype, device=sv.device) + zero,
                         torch.zeros(*pix_to_face.shape, 3, dtype=sv.dtype, device=sv.device) + zero,
                         torch.full(pix_to_face.shape, -math.inf, dtype=sv.dtype, device=sv.device))
    fidx = faces[pix_to_face.clamp(min=0)]  # B,H,W,K,3
    bidx = torch.arange(b_sz, device=sv.device).view(b_sz, 1, 1, 1, 1)
    g = sv[bidx, fidx]  # B,H,W,K,3(vert),3(xyz)
    dummy = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 1.0], [0.0, 1.0, 1.0]], dtype=sv.dtype, device=sv.device)
    g = torch.where(empty[..., None, None], dummy, g)
    ys = torch.arange(h, dtype=sv.dtype, device=sv.device) + 0.5
    xs = torch.arange(w, dtype=sv.dtype, device=sv.device) + 0.5
    py, px = ys.view(1, h, 1, 1), xs.view(1, 1, w, 1)
    verts = [tuple(g[..., i, c] for c in range(3)) for i in range(3)]
    bary, z, _, sdf = pair_geometry(px, py, *verts, settings.perspective_correct, need_sdf=True)
    bary = torch.stack(bary, -1)
    bary = torch.where(empty[..., None], torch.zeros_like(bary), bary)
    z = torch.where(empty, torch.full_like(z, -1.0), z)
    sdf = torch.where(empty, torch.full_like(sdf, -math.inf), sdf)
    return Fragments(pix_to_face, z, bary, sdf)


def rasterize(screen_verts: torch.Tensor, faces: torch.Tensor, settings: RasterSettings,
              camera: PerspectiveCamera) -> Fragments:
    """Fast tiled rasterizer. ``screen_verts`` (B, V, 3) or (V, 3) from
    :func:`camera.project`; ``faces`` (F, 3) shared by the batch."""
    sv = _check_inputs(screen_verts, faces)
    p2f, stats = _visibility(sv.detach(), faces, settings, camera)
    frags = fragments_from_faces(sv, faces, p2f, settings)
    for name, v in stats.items():
        setattr(frags, name, v)
    return frags


# ----------------------------------------------------------------------------- reference

@torch.no_grad()
def rasterize_reference_visibility(screen_verts: torch.Tensor, faces: torch.Tensor, settings: RasterSettings,
                                   camera: PerspectiveCamera) -> torch.Tensor:
    """Slow, obviously correct visibility: loop over every pixel and every face with
    Python floats. Returns pix_to_face (B, H, W, K). For tests only."""
    sv = _check_inputs(screen_verts, faces).double()
    h, w = settings.image_size
    k = settings.faces_per_pixel
    r = settings.blur_radius
    out = torch.full((sv.shape[0], h, w, k), -1, dtype=torch.long)
    valid, *_ = face_validity(sv[:, faces], camera, settings)
    for b in range(sv.shape[0]):
        tris = [(f, [[float(c) for c in sv[b, int(vi)]] for vi in faces[f]]) for f in range(faces.shape[0])
                if bool(valid[b, f])]
        for i in range(h):
            for j in range(w):
                px, py = j + 0.5, i + 0.5
                hits = []
                for f, (a, bb, c) in tris:
                    area = (bb[0] - a[0]) * (c[1] - a[1]) - (bb[1] - a[1]) * (c[0] - a[0])
                    ws = []
                    for (p, q) in ((bb, c), (c, a), (a, bb)):  # edge opposite each vertex
                        ws.append((q[0] - p[0]) * (py - p[1]) - (q[1] - p[1]) * (px - p[0]))
                    bs = [wi / area for wi in ws]
                    inside = all(x >= 0 for x in bs)
                    if r > 0 and not inside:
                        d2 = []
                        for (p, q) in ((bb, c), (c, a), (a, bb)):
                            ex, ey = q[0] - p[0], q[1] - p[1]
                            t = min(max(((px - p[0]) * ex + (py - p[1]) * ey) / (ex * ex + ey * ey), 0.0), 1.0)
                            d2.append((px - p[0] - t * ex) ** 2 + (py - p[1] - t * ey) ** 2)
                        if not math.sqrt(max(min(d2), 1e-20)) < r:
                            continue
                    elif not inside:
                        continue
                    cl = [max(x, 0.0) for x in bs]
                    cl = [x / sum(cl) for x in cl]
                    zs = (a[2], bb[2], c[2])
                    if settings.perspective_correct:
                        z = 1.0 / sum(cl[m] / zs[m] for m in range(3))
                    else:
                        z = sum(cl[m] * zs[m] for m in range(3))
                    if z <= camera.zfar:
                        hits.append((z, f))
                hits.sort()
                for s, (_, f) in enumerate(hits[:k]):
                    out[b, i, j, s] = f
    return out


def rasterize_reference(screen_verts: torch.Tensor, faces: torch.Tensor, settings: RasterSettings,
                        camera: PerspectiveCamera) -> Fragments:
    """Reference rasterizer: loop visibility plus the same differentiable geometry."""
    sv = _check_inputs(screen_verts, faces)
    p2f = rasterize_reference_visibility(sv, faces, settings, camera).to(sv.device)
    return fragments_from_faces(sv, faces, p2f, settings)
