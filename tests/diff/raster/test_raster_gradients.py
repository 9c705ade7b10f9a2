"""Gradients: analytic vs central finite differences of the soft (smoothed) render, and
float64 gradcheck on small scenes."""
import torch

from chiplab.diff.raster import (PerspectiveCamera, RasterSettings, RenderSettings, axis_angle_to_matrix, cube,
                                 icosphere, rasterize, render, soft_blend)

D = torch.float64
# soft_eps tiny: a face entering/leaving a pixel's candidate list changes the image by < 1e-9
SOFT = RenderSettings(image_size=(20, 20), soft=True, sigma=1.0, gamma=0.05, soft_eps=1e-9, faces_per_pixel=12,
                      tile_size=8, shading="lambert", smooth_normals=False, background=(0.2, 0.3, 0.4))


def scene():
    m = cube()
    g = torch.Generator().manual_seed(3)
    colors = torch.rand(m.verts.shape[0], 3, generator=g, dtype=D)
    weights = torch.rand(1, 20, 20, 3, generator=g, dtype=D)
    return m, colors, weights


def loss_fn(rotvec, trans, verts, colors, light, weights, settings=SOFT):
    out = render(verts, cube().faces, axis_angle_to_matrix(rotvec), trans, settings, light_dir=light, colors=colors)
    return (out.image * weights).sum() + 0.5 * (out.alpha * weights[..., 0]).sum()


def central_fd(f, x, h=1e-6):
    g = torch.zeros_like(x)
    for i in range(x.numel()):
        xp, xm = x.clone(), x.clone()
        xp.view(-1)[i] += h
        xm.view(-1)[i] -= h
        g.view(-1)[i] = (f(xp) - f(xm)) / (2 * h)
    return g


def test_pose_vertex_color_light_gradients_match_finite_differences():
    m, colors, weights = scene()
    base = dict(rotvec=torch.tensor([0.4, 0.5, 0.1], dtype=D), trans=torch.tensor([0.1, -0.05, 3.5], dtype=D),
                verts=m.verts.double(), colors=colors, light=torch.tensor([0.3, 0.5, -1.0], dtype=D))
    params = {k: v.clone().requires_grad_(True) for k, v in base.items()}
    loss_fn(**params, weights=weights).backward()
    for name in ("rotvec", "trans", "colors", "light"):
        fd = central_fd(lambda x: float(loss_fn(**{**base, name: x}, weights=weights)), base[name])
        assert torch.allclose(params[name].grad, fd, rtol=1e-4, atol=1e-5), name
    # vertex positions: check a subset of coordinates (all 72 would be slow)
    idx = [0, 5, 13, 22, 40, 63]
    fd_v = []
    for i in idx:
        def f(x):
            v = base["verts"].clone()
            v.view(-1)[i] = x
            return float(loss_fn(**{**base, "verts": v}, weights=weights))
        x0 = float(base["verts"].view(-1)[i])
        fd_v.append((f(x0 + 1e-6) - f(x0 - 1e-6)) / 2e-6)
    assert torch.allclose(params["verts"].grad.view(-1)[idx], torch.tensor(fd_v, dtype=D), rtol=1e-4, atol=1e-5)
    # the silhouette matters: translation gradient is nonzero even with unlit, uniform colour
    t = base["trans"].clone().requires_grad_(True)
    flat = RenderSettings(**{**SOFT.__dict__, "shading": "none"})
    out = render(m.verts.double(), m.faces, axis_angle_to_matrix(base["rotvec"]), t, flat,
                 colors=torch.ones(24, 3, dtype=D))
    out.alpha.sum().backward()
    assert t.grad.abs().max() > 1.0


def test_hard_render_color_gradients_match_fd_and_pose_gets_shading_gradient():
    m, colors, weights = scene()
    hard = RenderSettings(**{**SOFT.__dict__, "soft": False})
    rot = torch.tensor([0.4, 0.5, 0.1], dtype=D)
    trans = torch.tensor([0.1, -0.05, 3.5], dtype=D)
    c = colors.clone().requires_grad_(True)
    r = rot.clone().requires_grad_(True)
    loss_fn(r, trans, m.verts.double(), c, torch.tensor([0.3, 0.5, -1.0], dtype=D), weights, hard).backward()
    fd = central_fd(lambda x: float(loss_fn(rot, trans, m.verts.double(), x, torch.tensor([0.3, 0.5, -1.0], dtype=D),
                                            weights, hard)), colors)
    assert torch.allclose(c.grad, fd, rtol=1e-6, atol=1e-8)
    assert r.grad.abs().max() > 0  # through normals and interpolation, not the silhouette


def test_gradcheck_soft_raster_screen_vertices():
    cam = PerspectiveCamera(znear=0.5)
    s = RasterSettings(image_size=(6, 7), faces_per_pixel=2, blur_radius=4.0, tile_size=4, max_faces_per_tile=1)
    faces = torch.tensor([[0, 1, 2], [3, 4, 5]])
    sv = torch.tensor([[[0.7, 0.9, 2.0], [5.6, 1.3, 2.5], [2.2, 5.1, 3.0],
                        [3.1, 0.4, 2.2], [6.3, 4.8, 2.9], [1.4, 4.2, 2.4]]], dtype=D, requires_grad=True)
    colors = torch.tensor([[0.9, 0.1, 0.2], [0.1, 0.8, 0.3]], dtype=D)

    def f(v):
        fr = rasterize(v, faces, s, cam)
        col = colors[fr.pix_to_face.clamp(min=0)] * (fr.bary.sum(-1, keepdim=True))
        img, alpha = soft_blend(col, fr, torch.zeros(3, dtype=D), sigma=2.0, gamma=0.5, znear=0.5, zfar=100.0)
        return torch.cat([img.reshape(-1), alpha.reshape(-1), fr.zbuf.clamp_min(0).reshape(-1)])

    assert torch.autograd.gradcheck(f, (sv,), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_gradcheck_render_pose_and_light_small_sphere():
    m = icosphere(0)
    s = RenderSettings(image_size=(8, 8), soft=True, sigma=1.5, gamma=0.1, soft_eps=1e-9, faces_per_pixel=20,
                       shading="phong", tile_size=4)
    col = torch.rand(12, 3, dtype=D)

    def f(rotvec, trans, light):
        return render(m.verts.double(), m.faces, axis_angle_to_matrix(rotvec), trans, s, light_dir=light,
                      colors=col).image

    args = (torch.tensor([0.2, 0.3, -0.1], dtype=D, requires_grad=True),
            torch.tensor([0.05, 0.02, 3.0], dtype=D, requires_grad=True),
            torch.tensor([0.2, 0.4, -1.0], dtype=D, requires_grad=True))
    assert torch.autograd.gradcheck(f, args, eps=1e-6, atol=1e-5, rtol=1e-4)
