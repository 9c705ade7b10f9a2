"""ISP stages as pure, differentiable functions on (B, C, H, W) tensors.

RAW mosaics are (B, 1, H, W) in [0, 1] after black-level correction; RGB images are
(B, 3, H, W), linear until ``gamma``. Each function checks its shapes and raises a
one-line error naming the argument.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from chiplab.diff.isp.bayer import BayerPattern, bayer_masks, check_raw, check_rgb


def pad_symmetric(x: torch.Tensor, p: int) -> torch.Tensor:
    """Pad H and W by ``p`` mirroring about the edge, the edge sample repeated
    (``d c b a | a b c d | d c b a``; scipy.ndimage's default ``reflect`` mode)."""
    if p == 0:
        return x
    if p > x.shape[-1] or p > x.shape[-2]:
        raise ValueError(f"pad_symmetric: padding {p} exceeds the image size {tuple(x.shape[-2:])}")
    x = torch.cat([x[..., :p].flip(-1), x, x[..., -p:].flip(-1)], dim=-1)
    return torch.cat([x[..., :p, :].flip(-2), x, x[..., -p:, :].flip(-2)], dim=-2)


def conv_same(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Per-channel 2-D convolution with a square odd kernel, symmetric borders."""
    k = kernel.shape[-1]
    w = kernel.to(x).expand(x.shape[1], 1, k, k)
    return F.conv2d(pad_symmetric(x, k // 2), w, groups=x.shape[1])


# --- stages on the mosaic
def black_level(raw: torch.Tensor, black: torch.Tensor | float, white: torch.Tensor | float) -> torch.Tensor:
    """(raw - black) / (white - black): sensor codes to [0, 1]."""
    check_raw(raw)
    span = torch.as_tensor(white, dtype=raw.dtype) - torch.as_tensor(black, dtype=raw.dtype)
    if torch.any(span <= 0):
        raise ValueError(f"black_level: white level must exceed black level (black={black}, white={white})")
    return (raw - black) / span


def vignetting_gain(height: int, width: int, strength: torch.Tensor | float, *, dtype=torch.float32,
                    device=None) -> torch.Tensor:
    """(1, 1, H, W) radial fall-off 1 / (1 + strength r^2), r = 1 at the image corners."""
    ys = torch.linspace(-1, 1, height, dtype=dtype, device=device).view(-1, 1)
    xs = torch.linspace(-1, 1, width, dtype=dtype, device=device).view(1, -1)
    r2 = (ys ** 2 + xs ** 2) / 2
    return (1 / (1 + torch.as_tensor(strength, dtype=dtype) * r2)).view(1, 1, height, width)


def lens_shading(raw: torch.Tensor, strength: torch.Tensor | float) -> torch.Tensor:
    """Undo vignetting: multiply by 1 + strength r^2."""
    check_raw(raw)
    return raw / vignetting_gain(raw.shape[-2], raw.shape[-1], strength, dtype=raw.dtype, device=raw.device)


def white_balance(raw: torch.Tensor, gains: torch.Tensor, pattern: BayerPattern | str,
                  digital_gain: torch.Tensor | float = 1.0) -> torch.Tensor:
    """Multiply each site by its channel's gain (``gains``: (3,) or (B, 3)) and a digital gain."""
    check_raw(raw)
    gains = torch.as_tensor(gains, dtype=raw.dtype, device=raw.device)
    if gains.shape[-1] != 3 or gains.dim() > 2:
        raise ValueError(f"white_balance: gains must have shape (3,) or (B, 3), got {tuple(gains.shape)}")
    m = bayer_masks(pattern, raw.shape[-2], raw.shape[-1], dtype=raw.dtype, device=raw.device)
    g = torch.einsum("...c,chw->...hw", gains, m)
    g = g.unsqueeze(0) if g.dim() == 2 else g
    return raw * g.unsqueeze(1) * torch.as_tensor(digital_gain, dtype=raw.dtype)


def mosaic(rgb: torch.Tensor, pattern: BayerPattern | str) -> torch.Tensor:
    """Sample an RGB image through a Bayer filter: (B, 3, H, W) -> (B, 1, H, W)."""
    check_rgb(rgb)
    m = bayer_masks(pattern, rgb.shape[-2], rgb.shape[-1], dtype=rgb.dtype, device=rgb.device)
    return (rgb * m).sum(1, keepdim=True)


_G_BILINEAR = torch.tensor([[0, 1, 0], [1, 4, 1], [0, 1, 0]], dtype=torch.float64) / 4
_RB_BILINEAR = torch.tensor([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype=torch.float64) / 4


def demosaic_bilinear(raw: torch.Tensor, pattern: BayerPattern | str) -> torch.Tensor:
    """Bilinear interpolation of the three colour planes."""
    check_raw(raw)
    m = bayer_masks(pattern, raw.shape[-2], raw.shape[-1], dtype=raw.dtype, device=raw.device)
    planes = raw * m                                       # (B, 3, H, W) sparse planes
    r = conv_same(planes[:, 0:1], _RB_BILINEAR)
    g = conv_same(planes[:, 1:2], _G_BILINEAR)
    b = conv_same(planes[:, 2:3], _RB_BILINEAR)
    return torch.cat([r, g, b], 1)


# Malvar, He, Cutler, "High-quality linear interpolation for demosaicing of Bayer-patterned
# color images", ICASSP 2004, Fig. 2 (coefficients / 8).
_M_G_AT_RB = torch.tensor([[0, 0, -1, 0, 0], [0, 0, 2, 0, 0], [-1, 2, 4, 2, -1], [0, 0, 2, 0, 0],
                           [0, 0, -1, 0, 0]], dtype=torch.float64) / 8
_M_RB_AT_G_ROW = torch.tensor([[0, 0, 0.5, 0, 0], [0, -1, 0, -1, 0], [-1, 4, 5, 4, -1], [0, -1, 0, -1, 0],
                               [0, 0, 0.5, 0, 0]], dtype=torch.float64) / 8
_M_RB_AT_G_COL = _M_RB_AT_G_ROW.t().contiguous()
_M_RB_AT_BR = torch.tensor([[0, 0, -1.5, 0, 0], [0, 2, 0, 2, 0], [-1.5, 0, 6, 0, -1.5], [0, 2, 0, 2, 0],
                            [0, 0, -1.5, 0, 0]], dtype=torch.float64) / 8


def demosaic_malvar(raw: torch.Tensor, pattern: BayerPattern | str) -> torch.Tensor:
    """Malvar-He-Cutler (2004) gradient-corrected linear demosaicing."""
    check_raw(raw)
    H, W = raw.shape[-2:]
    m = bayer_masks(pattern, H, W, dtype=raw.dtype, device=raw.device)
    rm, gm, bm = m[0], m[1], m[2]
    g_rb = conv_same(raw, _M_G_AT_RB)[:, 0]
    k_row = conv_same(raw, _M_RB_AT_G_ROW)[:, 0]      # colour whose sites share the row
    k_col = conv_same(raw, _M_RB_AT_G_COL)[:, 0]      # colour whose sites share the column
    k_diag = conv_same(raw, _M_RB_AT_BR)[:, 0]
    x = raw[:, 0]
    red_rows = rm.amax(1, keepdim=True).expand(H, W)
    red_cols = rm.amax(0, keepdim=True).expand(H, W)
    blue_rows = bm.amax(1, keepdim=True).expand(H, W)
    blue_cols = bm.amax(0, keepdim=True).expand(H, W)
    g = gm * x + (1 - gm) * g_rb
    r_at_g1 = red_rows * blue_cols * gm               # green sites on red rows: red neighbours left/right
    r_at_g2 = blue_rows * red_cols * gm               # green sites on blue rows: red neighbours above/below
    r = rm * x + r_at_g1 * k_row + r_at_g2 * k_col + bm * k_diag
    b_at_g1 = blue_rows * red_cols * gm
    b_at_g2 = red_rows * blue_cols * gm
    b = bm * x + b_at_g1 * k_row + b_at_g2 * k_col + rm * k_diag
    return torch.stack([r, g, b], 1)


# --- stages on the RGB image
def gaussian_kernel(sigma: torch.Tensor | float, radius: int, dtype=torch.float32) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=dtype).clamp_min(1e-3)
    t = torch.arange(-radius, radius + 1, dtype=dtype)
    g = torch.exp(-(t ** 2) / (2 * sigma ** 2))
    g = g / g.sum()
    return g[:, None] * g[None, :]


def denoise(rgb: torch.Tensor, strength: torch.Tensor | float, sigma: torch.Tensor | float = 1.0,
            radius: int = 2) -> torch.Tensor:
    """Blend towards a Gaussian-filtered image: (1 - s) x + s G_sigma * x, s in [0, 1]."""
    check_rgb(rgb)
    s = torch.as_tensor(strength, dtype=rgb.dtype).clamp(0, 1)
    return (1 - s) * rgb + s * conv_same(rgb, gaussian_kernel(sigma, radius, rgb.dtype))


def color_correction(rgb: torch.Tensor, ccm: torch.Tensor) -> torch.Tensor:
    """Apply a 3x3 colour-correction matrix (rows: output channels) to camera RGB."""
    check_rgb(rgb)
    ccm = torch.as_tensor(ccm, dtype=rgb.dtype, device=rgb.device)
    if ccm.shape != (3, 3):
        raise ValueError(f"color_correction: ccm must be 3x3, got {tuple(ccm.shape)}")
    return torch.einsum("ij,bjhw->bihw", ccm, rgb)


def gamma(rgb: torch.Tensor, g: torch.Tensor | float = 2.2, eps: float = 1e-8) -> torch.Tensor:
    """x^(1/g) on clamped linear values (the simple power-law encoding of Brooks et al. 2019)."""
    check_rgb(rgb)
    g = torch.as_tensor(g, dtype=rgb.dtype)
    if torch.any(g <= 0):
        raise ValueError(f"gamma: exponent must be > 0, got {g}")
    return rgb.clamp_min(eps) ** (1 / g)


def smoothstep(x: torch.Tensor) -> torch.Tensor:
    """The global tone curve 3x^2 - 2x^3 of Brooks et al. 2019."""
    x = x.clamp(0, 1)
    return 3 * x ** 2 - 2 * x ** 3


def tone_curve(rgb: torch.Tensor, slopes_logits: torch.Tensor) -> torch.Tensor:
    """A monotone piecewise-linear curve on [0, 1] with K equal segments: each segment's
    slope is softplus(logit), normalised so that the curve maps 0 -> 0 and 1 -> 1.
    All-equal logits give the identity."""
    check_rgb(rgb)
    k = slopes_logits.shape[-1]
    slopes = F.softplus(slopes_logits)
    slopes = slopes / slopes.mean()
    knots = torch.cat([slopes.new_zeros(1), torch.cumsum(slopes, 0) / k])
    x = rgb.clamp(0, 1) * k
    idx = x.floor().clamp(0, k - 1).long()
    frac = x - idx.to(x.dtype)
    return knots[idx] + frac * slopes[idx] / k


def sharpen(rgb: torch.Tensor, amount: torch.Tensor | float, sigma: float = 1.0, radius: int = 1) -> torch.Tensor:
    """Unsharp mask: x + amount (x - G_sigma * x)."""
    check_rgb(rgb)
    return rgb + torch.as_tensor(amount, dtype=rgb.dtype) * (rgb - conv_same(rgb, gaussian_kernel(sigma, radius, rgb.dtype)))


def psnr(a: torch.Tensor, b: torch.Tensor, peak: float = 1.0) -> torch.Tensor:
    mse = F.mse_loss(a, b)
    return 10 * torch.log10(peak ** 2 / mse.clamp_min(1e-20))


def identity_slopes(k: int = 16) -> torch.Tensor:
    return torch.zeros(k)


__all__ = ["BayerPattern", "black_level", "lens_shading", "vignetting_gain", "white_balance", "mosaic",
           "demosaic_bilinear", "demosaic_malvar", "denoise", "color_correction", "gamma", "smoothstep",
           "tone_curve", "sharpen", "psnr", "pad_symmetric", "conv_same", "gaussian_kernel", "math"]
