"""The ISP's hardware parameters (gains, CCM, gamma, gates, tone slopes ...): float64 gradcheck
with respect to every parameter of every stage, numpy references written from each docstring's
formula for the simple stages (module == function == numpy), and a tone curve worked by hand.
(test_isp_stages.py gradchecks the image input only.)"""
import math

import numpy as np
import pytest
import torch
from torch.func import functional_call

from chiplab.diff.isp import Isp, unprocess
from chiplab.diff.isp import functional as Fi
from chiplab.diff.isp import modules as M

D = torch.float64


def _t(v):
    return torch.tensor(v, dtype=D, requires_grad=True)


def raw64(h=6, w=6, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, h, w, generator=g, dtype=D) * 0.8 + 0.1


def rgb64(h=6, w=6, b=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g, dtype=D) * 0.8 + 0.1


def _gc(fn, *params):
    assert torch.autograd.gradcheck(fn, params, eps=1e-6, atol=1e-6, rtol=1e-4)


# --- 1. gradcheck of each functional stage w.r.t. its parameters (the image held fixed)
def test_black_level_grad_wrt_black_and_white():
    x = raw64()
    _gc(lambda b, w: Fi.black_level(x, b, w), _t(0.05), _t(0.95))


def test_lens_shading_grad_wrt_strength():
    x = raw64()
    _gc(lambda s: Fi.lens_shading(x, s), _t(0.3))


@pytest.mark.parametrize("gains", [[2.0, 1.0, 1.5], [[2.0, 1.0, 1.5], [1.2, 0.9, 1.8]]], ids=["(3,)", "(B,3)"])
def test_white_balance_grad_wrt_gains_and_digital_gain(gains):
    x = raw64()
    _gc(lambda g, d: Fi.white_balance(x, g, "GRBG", d), _t(gains), _t(1.25))


def test_demosaic_has_no_parameters():
    assert not list(M.Demosaic("RGGB", "malvar").parameters())
    assert not list(M.Demosaic("RGGB", "bilinear").parameters())


def test_denoise_grad_wrt_strength_and_sigma():
    x = rgb64()
    _gc(lambda s, sig: Fi.denoise(x, s, sig, 2), _t(0.4), _t(1.1))


def test_ccm_grad_wrt_matrix():
    x = rgb64()
    _gc(lambda c: Fi.color_correction(x, c), _t([[1.5, -0.3, -0.2], [-0.1, 1.2, -0.1], [0.0, -0.4, 1.4]]))


def test_gamma_grad_wrt_exponent():
    x = rgb64()
    _gc(lambda g: Fi.gamma(x, g), _t(2.2))


def test_tone_curve_grad_wrt_slopes():
    x = rgb64()
    _gc(lambda s: Fi.tone_curve(x, s), _t([0.3, -0.5, 1.0, 0.0, 0.7, -1.2, 0.2, 0.4]))


def test_sharpen_grad_wrt_amount():
    x = rgb64()
    _gc(lambda a: Fi.sharpen(x, a), _t(0.7))


# --- 2. gradcheck of each module w.r.t. each of its nn.Parameters (their log / logit parametrisations)
MODULES = [
    ("lens_shading", lambda: M.LensShading(0.3), raw64),
    ("white_balance", lambda: M.WhiteBalance("BGGR", (2.0, 1.0, 1.5), 1.25), raw64),
    ("denoise", lambda: M.Denoise(0.4, 1.1), rgb64),
    ("ccm", lambda: M.ColorCorrection([[1.5, -0.3, -0.2], [-0.1, 1.2, -0.1], [0.0, -0.4, 1.4]]), rgb64),
    ("gamma", lambda: M.Gamma(2.2), rgb64),
    ("tone", lambda: M.ToneCurve(8), rgb64),
    ("sharpen", lambda: M.Sharpen(0.7), rgb64),
]
MODULE_PARAMS = [(n, mk, x, p) for n, mk, x in MODULES for p, _ in mk().named_parameters()]


@pytest.mark.parametrize("name,make,inp,param", MODULE_PARAMS, ids=[f"{n}.{p}" for n, _, _, p in MODULE_PARAMS])
def test_module_parameter_gradcheck(name, make, inp, param):
    m = make().double()
    x = inp()
    p0 = dict(m.named_parameters())[param].detach().clone()
    if name == "tone":                          # identity start is a valid point, but test a bent curve too
        p0 = torch.linspace(-1, 1, p0.numel(), dtype=D)
    _gc(lambda p: functional_call(m, {param: p}, (x,)), p0.requires_grad_())


def test_isp_gates_gradcheck():
    """The four stage gates g = sigmoid(logit), output g*stage(x) + (1-g)*x, through the whole pipeline."""
    torch.manual_seed(0)
    img = torch.nn.functional.avg_pool2d(torch.rand(1, 3, 12, 12, dtype=D), 3, 1, 1) * 0.6 + 0.2
    raw = unprocess(img).detach()
    isp = Isp(denoise=0.3, sharpen=0.2, gates=dict(lens_shading=0.6, denoise=0.4, tone=0.7, sharpen=0.5)).double()
    names = [f"gate_logits.{k}" for k in Isp.GATED]
    p0 = tuple(dict(isp.named_parameters())[n].detach().clone().requires_grad_() for n in names)
    y = isp(raw)
    assert ((y > 1e-3) & (y < 1 - 1e-3)).float().mean() > 0.9     # few outputs sit on the final clamp
    _gc(lambda *ps: functional_call(isp, dict(zip(names, ps)), (raw,)), *p0)


def test_isp_gate_is_the_stated_blend():
    isp = Isp(sharpen=0.5, gates=dict(sharpen=0.25)).double()
    x = rgb64()
    assert float(isp.gate("sharpen").detach()) == pytest.approx(0.25)
    torch.testing.assert_close(isp._gated("sharpen", isp.sharpen, x), 0.25 * Fi.sharpen(x, 0.5) + 0.75 * x)


# --- 3. numpy references, written from each docstring's formula: module == function == numpy
def _np_lens_shading(a, s):
    """multiply by 1 + s r^2; r^2 = (y^2 + x^2) / 2 with y, x on linspace(-1, 1): r = 1 at the corners."""
    h, w = a.shape[-2:]
    y, x = np.linspace(-1, 1, h)[:, None], np.linspace(-1, 1, w)[None, :]
    return a * (1 + s * (y ** 2 + x ** 2) / 2)


def _np_white_balance(a, gains, pattern, dg):
    """each site times its channel's gain (the 2x2 pattern read row by row) times the digital gain."""
    out = np.empty_like(a)
    for i in range(a.shape[-2]):
        for j in range(a.shape[-1]):
            ch = "RGB".index(pattern[2 * (i % 2) + (j % 2)])
            out[..., i, j] = a[..., i, j] * gains[ch] * dg
    return out


def _np_gauss_blur(a, sigma, radius):
    """G_sigma * x: normalised (2r+1)^2 Gaussian, borders mirrored with the edge repeated (np 'symmetric')."""
    t = np.arange(-radius, radius + 1)
    g = np.exp(-t ** 2 / (2 * sigma ** 2))
    k = np.outer(g, g) / g.sum() ** 2
    p = np.pad(a, [(0, 0)] * (a.ndim - 2) + [(radius, radius)] * 2, mode="symmetric")
    out = np.zeros_like(a)
    h, w = a.shape[-2:]
    for di in range(2 * radius + 1):
        for dj in range(2 * radius + 1):
            out += k[di, dj] * p[..., di:di + h, dj:dj + w]
    return out


def _np_denoise(a, s, sigma, radius):
    """(1 - s) x + s G_sigma * x."""
    return (1 - s) * a + s * _np_gauss_blur(a, sigma, radius)


def _np_sharpen(a, amount, sigma=1.0, radius=1):
    """x + amount (x - G_sigma * x)."""
    return a + amount * (a - _np_gauss_blur(a, sigma, radius))


SIMPLE = [
    ("lens_shading", raw64, lambda x: Fi.lens_shading(x, 0.3), lambda: M.LensShading(0.3),
     lambda a: _np_lens_shading(a, 0.3)),
    ("white_balance", raw64, lambda x: Fi.white_balance(x, torch.tensor([2.0, 1.0, 1.5], dtype=D), "GBRG", 1.25),
     lambda: M.WhiteBalance("GBRG", (2.0, 1.0, 1.5), 1.25), lambda a: _np_white_balance(a, (2.0, 1.0, 1.5), "GBRG", 1.25)),
    ("denoise", rgb64, lambda x: Fi.denoise(x, 0.4, 1.3, 2), lambda: M.Denoise(0.4, 1.3, 2),
     lambda a: _np_denoise(a, 0.4, 1.3, 2)),
    ("sharpen", rgb64, lambda x: Fi.sharpen(x, 0.7), lambda: M.Sharpen(0.7), lambda a: _np_sharpen(a, 0.7)),
]


@pytest.mark.parametrize("name,inp,fn,mod,ref", SIMPLE, ids=[s[0] for s in SIMPLE])
def test_module_function_numpy_agree(name, inp, fn, mod, ref):
    x = inp(h=7, w=9)                         # odd sizes: the pattern and mirrored borders are not symmetric
    y = fn(x)
    with torch.no_grad():
        ym = mod().double()(x)
    np.testing.assert_allclose(y.numpy(), ref(x.numpy()), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ym.numpy(), y.numpy(), rtol=1e-7, atol=1e-7)   # module stores float32 params


# --- 4. a tone curve worked by hand
def _logit_for_softplus(v):
    return math.log(math.expm1(v))           # softplus(log(e^v - 1)) = log(1 + e^v - 1) = v


def test_tone_curve_two_segments_by_hand():
    # K = 2 segments. Logits chosen so softplus gives raw slopes 1 and 3.
    # Normalised by their mean (2): slopes 0.5 and 1.5.
    # Knots at x = 0, 1/2, 1: y = 0, 0.5 * 1/2 = 0.25, 0.25 + 1.5 * 1/2 = 1.
    # So y = 0.5 x            for x in [0, 0.5]
    #    y = 0.25 + 1.5 (x - 0.5) for x in [0.5, 1]
    logits = torch.tensor([_logit_for_softplus(1.0), _logit_for_softplus(3.0)], dtype=D)
    x = torch.tensor([0.0, 0.2, 0.5, 0.6, 0.8, 1.0, -0.3, 1.4], dtype=D)
    expect = [
        0.0,                      # 0.5 * 0
        0.1,                      # 0.5 * 0.2
        0.25,                     # 0.5 * 0.5 (the knot)
        0.4,                      # 0.25 + 1.5 * 0.1
        0.7,                      # 0.25 + 1.5 * 0.3
        1.0,                      # 0.25 + 1.5 * 0.5
        0.0,                      # clamped to 0 first
        1.0,                      # clamped to 1 first
    ]
    y = Fi.tone_curve(x.view(1, 1, 1, -1).expand(1, 3, 1, -1), logits)
    np.testing.assert_allclose(y[0, 0, 0].numpy(), expect, rtol=0, atol=1e-12)


def test_tone_curve_three_segments_by_hand():
    # K = 3, raw slopes 1, 2, 3 -> mean 2 -> 0.5, 1, 1.5. Segment width 1/3:
    # knots y(0) = 0, y(1/3) = 0.5/3 = 1/6, y(2/3) = 1/6 + 1/3 = 1/2, y(1) = 1/2 + 1.5/3 = 1.
    logits = torch.tensor([_logit_for_softplus(v) for v in (1.0, 2.0, 3.0)], dtype=D)
    x = torch.tensor([1 / 6, 0.5, 5 / 6], dtype=D)
    expect = [
        1 / 12,                   # 0.5 * 1/6
        1 / 3,                    # 1/6 + 1 * (0.5 - 1/3) = 1/6 + 1/6
        3 / 4,                    # 1/2 + 1.5 * (5/6 - 2/3) = 1/2 + 1/4
    ]
    y = Fi.tone_curve(x.view(1, 1, 1, -1).expand(1, 3, 1, -1), logits)
    np.testing.assert_allclose(y[0, 1, 0].numpy(), expect, rtol=0, atol=1e-12)


def test_tone_curve_module_applies_smoothstep_then_the_curve():
    # smoothstep(0.5) = 3 * 0.25 - 2 * 0.125 = 0.5; then the two-segment curve above: 0.5 -> 0.25.
    # smoothstep(0.25) = 3/16 - 2/64 = 0.15625; then 0.5 * 0.15625 = 0.078125.
    m = M.ToneCurve(2).double()
    with torch.no_grad():
        m.slopes.copy_(torch.tensor([_logit_for_softplus(1.0), _logit_for_softplus(3.0)], dtype=D))
    x = torch.tensor([0.5, 0.25], dtype=D).view(1, 1, 1, -1).expand(1, 3, 1, -1)
    np.testing.assert_allclose(m(x)[0, 2, 0].detach().numpy(), [0.25, 0.078125], rtol=0, atol=1e-12)
