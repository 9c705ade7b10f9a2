"""One template per ISP stage: shapes, bad input, numbers vs a reference, gradcheck in
float64, module equals function."""
import numpy as np
import pytest
import torch

from chiplab.diff.isp import functional as Fi
from chiplab.diff.isp import modules as M
from chiplab.diff.isp.bayer import BayerPattern, bayer_masks

PATTERNS = ["RGGB", "BGGR", "GRBG", "GBRG"]


def raw64(h=8, w=10, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 1, h, w, generator=g, dtype=torch.float64)


def rgb64(h=8, w=10, b=2, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(b, 3, h, w, generator=g, dtype=torch.float64) * 0.8 + 0.1


# (name, function of a float64 input, input maker, reference in numpy or None, module or None)
STAGES = [
    ("black_level", lambda x: Fi.black_level(x, 0.0625, 0.9), raw64, lambda a: (a - 0.0625) / (0.9 - 0.0625),
     lambda: M.BlackLevel(0.0625, 0.9)),
    ("lens_shading", lambda x: Fi.lens_shading(x, 0.3), raw64, None, lambda: M.LensShading(0.3)),
    ("white_balance", lambda x: Fi.white_balance(x, torch.tensor([2.0, 1.0, 1.5], dtype=x.dtype), "RGGB", 1.25), raw64,
     None, lambda: M.WhiteBalance("RGGB", (2.0, 1.0, 1.5), 1.25)),
    ("demosaic_bilinear", lambda x: Fi.demosaic_bilinear(x, "RGGB"), raw64, "colour_bilinear",
     lambda: M.Demosaic("RGGB", "bilinear")),
    ("demosaic_malvar", lambda x: Fi.demosaic_malvar(x, "RGGB"), raw64, "colour_malvar",
     lambda: M.Demosaic("RGGB", "malvar")),
    ("denoise", lambda x: Fi.denoise(x, 0.4, 1.0), rgb64, None, lambda: M.Denoise(0.4, 1.0)),
    ("color_correction", lambda x: Fi.color_correction(x, torch.tensor([[1.5, -0.3, -0.2], [-0.1, 1.2, -0.1], [0.0, -0.4, 1.4]], dtype=x.dtype)),
     rgb64, lambda a: np.einsum("ij,bjhw->bihw", np.array([[1.5, -0.3, -0.2], [-0.1, 1.2, -0.1], [0.0, -0.4, 1.4]]), a),
     lambda: M.ColorCorrection([[1.5, -0.3, -0.2], [-0.1, 1.2, -0.1], [0.0, -0.4, 1.4]])),
    ("gamma", lambda x: Fi.gamma(x, 2.2), rgb64, lambda a: a ** (1 / 2.2), lambda: M.Gamma(2.2)),
    ("tone_curve", lambda x: Fi.tone_curve(x, torch.zeros(16, dtype=x.dtype)), rgb64, lambda a: a, None),
    ("sharpen", lambda x: Fi.sharpen(x, 0.7), rgb64, None, lambda: M.Sharpen(0.7)),
]


def _ref(kind, a):
    from colour_demosaicing import demosaicing_CFA_Bayer_bilinear, demosaicing_CFA_Bayer_Malvar2004

    fn = demosaicing_CFA_Bayer_bilinear if kind == "colour_bilinear" else demosaicing_CFA_Bayer_Malvar2004
    return np.stack([fn(a[i, 0], "RGGB").transpose(2, 0, 1) for i in range(a.shape[0])])


@pytest.mark.parametrize("name,fn,make,ref,mod", STAGES, ids=[s[0] for s in STAGES])
def test_stage_shape_reference_module(name, fn, make, ref, mod):
    x = make()
    y = fn(x)
    assert y.shape[0] == x.shape[0] and y.shape[-2:] == x.shape[-2:] and torch.isfinite(y).all()
    if ref is not None:
        expect = _ref(ref, x.numpy()) if isinstance(ref, str) else ref(x.numpy())
        np.testing.assert_allclose(y.numpy(), expect, rtol=1e-12, atol=1e-12)
    if mod is not None:
        m = mod().double()
        torch.testing.assert_close(m(x), y)


@pytest.mark.parametrize("name,fn,make,ref,mod", STAGES, ids=[s[0] for s in STAGES])
def test_stage_gradcheck(name, fn, make, ref, mod):
    x = make(h=6, w=6, b=1).requires_grad_()
    assert torch.autograd.gradcheck(fn, (x,), eps=1e-6, atol=1e-5)


def test_parameter_gradients_flow():
    """Gradients reach every hardware parameter of every stage module."""
    from chiplab.diff.isp import Isp

    isp = Isp(denoise=0.3, sharpen=0.2)
    raw = torch.rand(1, 1, 16, 16)
    isp(raw).mean().backward()
    missing = [n for n, p in isp.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, missing


@pytest.mark.parametrize("pattern", PATTERNS)
def test_demosaic_equals_colour_demosaicing_every_pattern(pattern):
    from colour_demosaicing import demosaicing_CFA_Bayer_bilinear, demosaicing_CFA_Bayer_Malvar2004

    cfa = np.random.default_rng(3).random((14, 12))
    t = torch.from_numpy(cfa)[None, None]
    for ours, ref in ((Fi.demosaic_bilinear, demosaicing_CFA_Bayer_bilinear),
                      (Fi.demosaic_malvar, demosaicing_CFA_Bayer_Malvar2004)):
        np.testing.assert_allclose(ours(t, pattern)[0].permute(1, 2, 0).numpy(), ref(cfa, pattern), atol=1e-12)


def test_masks_follow_the_named_pattern():
    m = bayer_masks("GRBG", 2, 2)
    assert m[1, 0, 0] == 1 and m[0, 0, 1] == 1 and m[2, 1, 0] == 1 and m[1, 1, 1] == 1
    assert bayer_masks(BayerPattern.BGGR, 4, 4).sum() == 16


@pytest.mark.parametrize("call,msg", [
    (lambda: Fi.demosaic_malvar(torch.rand(1, 3, 8, 8), "RGGB"), r"raw: expected a mosaic of shape \(B, 1, H, W\)"),
    (lambda: Fi.demosaic_bilinear(torch.rand(1, 1, 8, 8), "RGBG"), "unknown Bayer pattern 'RGBG'"),
    (lambda: Fi.black_level(torch.rand(1, 1, 4, 4), 0.5, 0.2), "white level must exceed black level"),
    (lambda: Fi.color_correction(torch.rand(1, 3, 4, 4), torch.eye(4)), "ccm must be 3x3"),
    (lambda: Fi.gamma(torch.rand(1, 4, 4, 4)), r"rgb: expected an image of shape \(B, 3, H, W\)"),
    (lambda: Fi.white_balance(torch.rand(1, 1, 4, 4), torch.ones(4), "RGGB"), "gains must have shape"),
    (lambda: M.Demosaic("RGGB", "nearest"), "method must be 'bilinear' or 'malvar'"),
    (lambda: Fi.gamma(torch.rand(1, 3, 4, 4), -1.0), "exponent must be > 0"),
])
def test_bad_input_one_line_errors(call, msg):
    with pytest.raises((ValueError, TypeError), match=msg):
        call()


def test_tone_curve_is_monotone_and_pins_ends():
    x = torch.linspace(0, 1, 101).view(1, 1, 1, -1).expand(1, 3, 1, 101)
    y = Fi.tone_curve(x, torch.randn(16))
    assert torch.all(y[..., 1:] >= y[..., :-1]) and y[..., 0].abs().max() < 1e-6 and (y[..., -1] - 1).abs().max() < 1e-5
