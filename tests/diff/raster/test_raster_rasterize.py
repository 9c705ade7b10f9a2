"""Fast tiled rasterizer vs the slow reference, overflow passes, degenerate input."""
import math

import pytest
import torch

from chiplab.diff.raster import (PerspectiveCamera, RasterSettings, RasterSettingsError, RenderSettings, cube,
                                 euler_to_matrix, rasterize, rasterize_reference_visibility, render)

CAM = PerspectiveCamera(znear=0.5, zfar=50.0)


def random_scene(seed, b=2, f=10, h=16, w=20, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(b, 3 * f, 2, generator=g, dtype=dtype) * torch.tensor([w + 8.0, h + 8.0], dtype=dtype) - 4
    z = torch.rand(b, 3 * f, 1, generator=g, dtype=dtype) * 4 + 1
    return torch.cat([xy, z], -1), torch.arange(3 * f).reshape(f, 3)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tile,cap,k", [(4, 64, 1), (4, 2, 3), (0, 3, 2), (8, 1, 1)])
def test_hard_equals_reference(seed, tile, cap, k):
    sv, faces = random_scene(seed)
    s = RasterSettings(image_size=(16, 20), faces_per_pixel=k, tile_size=tile, max_faces_per_tile=cap)
    fr = rasterize(sv, faces, s, CAM)
    ref = rasterize_reference_visibility(sv, faces, s, CAM)
    assert torch.equal(fr.pix_to_face, ref)
    assert (fr.pix_to_face[..., 0] >= 0).any()
    if cap < 10:
        assert fr.num_overflow_tiles > 0 and fr.num_passes > 1  # overflow handled by passes, reported


@pytest.mark.parametrize("seed", range(3))
def test_soft_candidates_equal_reference(seed):
    sv, faces = random_scene(seed, dtype=torch.float64)
    s = RasterSettings(image_size=(16, 20), faces_per_pixel=4, blur_radius=2.5, tile_size=8, max_faces_per_tile=4)
    fr = rasterize(sv, faces, s, CAM)
    assert torch.equal(fr.pix_to_face, rasterize_reference_visibility(sv, faces, s, CAM))
    valid = fr.pix_to_face >= 0
    assert (fr.sdf[valid] > -2.5).all()
    assert torch.allclose(fr.bary[valid].sum(-1), torch.ones(()).double())


def test_float32_matches_float64_away_from_edges():
    sv, faces = random_scene(7)
    s = RasterSettings(image_size=(16, 20), faces_per_pixel=1, tile_size=8)
    a = rasterize(sv, faces, s, CAM).pix_to_face
    b = rasterize(sv.float(), faces, s, CAM).pix_to_face
    assert (a != b).float().mean() < 0.01


def test_zbuffer_nearest_wins_and_bary_interpolates_position():
    # two overlapping screen triangles; the nearer one (z=2) must win everywhere it covers
    sv = torch.tensor([[[0., 0, 5], [16, 0, 5], [0, 16, 5], [0., 0, 2], [12, 0, 2], [0, 12, 2]]], dtype=torch.float64)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    fr = rasterize(sv, faces, RasterSettings(image_size=(16, 16), tile_size=4, perspective_correct=False), CAM)
    assert fr.pix_to_face[0, 2, 2, 0] == 1 and fr.pix_to_face[0, 1, 13, 0] == 0
    ys, xs = torch.meshgrid(torch.arange(16.) + 0.5, torch.arange(16.) + 0.5, indexing="ij")
    got = (fr.bary[0, ..., 0, :, None] * sv[0][faces][fr.pix_to_face[0, ..., 0].clamp(min=0)][..., :2]).sum(-2)
    hit = fr.pix_to_face[0, ..., 0] >= 0
    assert torch.allclose(got[hit], torch.stack([xs, ys], -1).double()[hit])
    assert torch.allclose(fr.zbuf[0, 2, 2, 0], torch.tensor(2.0).double())


def test_perspective_correct_depth_is_plane_depth():
    # a tilted plane: view-space z at the pixel ray must match the perspective-correct zbuf
    cam = PerspectiveCamera(fov_deg=60)
    rs = RenderSettings(image_size=(24, 24), soft=False, camera=cam, shading="none")
    verts = torch.tensor([[-2., -2, 3], [2, -2, 5], [0, 2, 4]], dtype=torch.float64)
    out = render(verts, torch.tensor([[0, 1, 2]]), torch.eye(3, dtype=torch.float64), torch.zeros(3).double(), rs)
    n = torch.cross(verts[1] - verts[0], verts[2] - verts[0], dim=0)
    f = cam.focal_px(24)
    i, j = 12, 12
    ray = torch.tensor([(j + 0.5 - 12) / f, -(i + 0.5 - 12) / f, 1.0], dtype=torch.float64)
    z = (n @ verts[0]) / (n @ ray)
    assert out.fragments.pix_to_face[0, i, j, 0] == 0
    assert torch.allclose(out.fragments.zbuf[0, i, j, 0], z)


def test_degenerate_empty_and_behind_camera_no_nan():
    sv = torch.tensor([[[2., 2, 3], [8, 8, 3], [14, 14, 3],      # collinear: zero area
                        [1., 1, -2], [15, 1, 3], [1, 15, 3],     # vertex behind camera
                        [3., 3, 0.1], [12, 3, 3], [3, 12, 3],    # vertex in front of znear
                        [0., 0, float("nan")], [5, 0, 2], [0, 5, 2]]], dtype=torch.float64, requires_grad=True)
    faces = torch.arange(12).reshape(4, 3)
    for blur in (0.0, 2.0):
        fr = rasterize(sv, faces, RasterSettings(image_size=(16, 16), blur_radius=blur, faces_per_pixel=2), CAM)
        assert (fr.pix_to_face == -1).all()
        assert fr.num_degenerate == 2 and fr.num_culled_near == 2
        (fr.bary.sum() + fr.zbuf.sum()).backward()
        assert torch.isfinite(sv.grad[:, :9]).all()
    empty = rasterize(torch.zeros(1, 0, 3), torch.zeros(0, 3, dtype=torch.long), RasterSettings(), CAM)
    assert (empty.pix_to_face == -1).all()
    # a whole scene behind the camera renders as background, with finite gradients
    m = cube()
    rot = torch.eye(3, requires_grad=True)
    for soft in (False, True):
        out = render(m.verts, m.faces, rot, torch.tensor([0., 0., -4.]), RenderSettings(image_size=(16, 16), soft=soft))
        assert out.alpha.sum() == 0 and torch.isfinite(out.image).all()
        out.image.sum().backward()
        assert torch.isfinite(rot.grad).all()


def test_mesh_render_binned_equals_unbinned_and_reference():
    m = cube()
    rot = euler_to_matrix(torch.tensor(0.6), torch.tensor(-0.3)).double()
    base = RenderSettings(image_size=(24, 24), soft=True, sigma=0.5, faces_per_pixel=3, tile_size=8, max_faces_per_tile=3)
    out = render(m.verts.double(), m.faces, rot, torch.tensor([0., 0., 4.]).double(), base)
    from dataclasses import replace
    out0 = render(m.verts.double(), m.faces, rot, torch.tensor([0., 0., 4.]).double(), replace(base, tile_size=0))
    outr = render(m.verts.double(), m.faces, rot, torch.tensor([0., 0., 4.]).double(), replace(base, use_reference=True))
    assert torch.equal(out.fragments.pix_to_face, out0.fragments.pix_to_face)
    assert torch.equal(out.fragments.pix_to_face, outr.fragments.pix_to_face)
    assert torch.allclose(out.image, outr.image)
    assert out.fragments.pairs_tested < out0.fragments.pairs_tested


def test_settings_errors():
    with pytest.raises(RasterSettingsError, match="image_size"):
        RasterSettings(image_size=(0, 4))
    with pytest.raises(RasterSettingsError, match="faces_per_pixel"):
        RasterSettings(faces_per_pixel=0)
    with pytest.raises(RasterSettingsError, match="blur_radius"):
        RasterSettings(blur_radius=math.inf)
    with pytest.raises(ValueError, match="shading"):
        RenderSettings(shading="toon")


def test_batched_render_equals_per_item_renders():
    from chiplab.diff.raster import MeshRenderer, torus
    m = torus(n_major=10, n_minor=6)
    r = MeshRenderer(RenderSettings(image_size=(20, 24), soft=True, sigma=0.7, faces_per_pixel=3, tile_size=8,
                                    max_faces_per_tile=8, shading="phong"))
    rots = euler_to_matrix(torch.tensor([0.3, -0.8, 1.2]), torch.tensor([0.5, 0.1, -0.4]))
    ts = torch.tensor([[0.0, 0.0, 4.0], [0.3, -0.2, 5.0], [-0.2, 0.1, 3.5]])
    tex = torch.rand(3, 3, 8, 8)
    lights = torch.tensor([[0.3, 0.4, -1.0], [-0.5, 0.2, -1.0], [0.0, -0.6, -1.0]])
    out = r(m.verts, m.faces, rots, ts, light_dir=lights, texture=tex, uvs=m.uvs)
    assert out.image.shape == (3, 20, 24, 3) and out.fragments.num_overflow_tiles > 0
    for i in range(3):
        one = r(m.verts, m.faces, rots[i:i + 1], ts[i:i + 1], light_dir=lights[i:i + 1], texture=tex[i:i + 1], uvs=m.uvs)
        assert torch.allclose(out.image[i], one.image[0], atol=1e-6)
        assert torch.equal(out.fragments.pix_to_face[i], one.fragments.pix_to_face[0])
