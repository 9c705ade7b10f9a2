"""Error measures between a device tensor and its fp32 reference."""
from __future__ import annotations

import math

import torch


def sqnr_db(ref: torch.Tensor, got: torch.Tensor) -> float:
    """10*log10(sum ref^2 / sum (got-ref)^2); +inf when equal, -inf when ``got`` is not finite."""
    ref, got = ref.double(), got.double()
    if not torch.isfinite(got).all():
        return -math.inf
    noise = float((got - ref).pow(2).sum())
    if noise == 0.0:
        return math.inf
    return 10.0 * math.log10(max(float(ref.pow(2).sum()), 1e-300) / noise)


def cosine(ref: torch.Tensor, got: torch.Tensor) -> float:
    ref, got = ref.double().reshape(-1), got.double().reshape(-1)
    if not torch.isfinite(got).all():
        return math.nan
    den = float(ref.norm() * got.norm())
    return float(ref @ got) / den if den > 0 else (1.0 if torch.equal(ref, got) else 0.0)


def max_abs(ref: torch.Tensor, got: torch.Tensor) -> float:
    return float((got.double() - ref.double()).abs().max()) if ref.numel() else 0.0


def channel_sqnr_db(ref: torch.Tensor, got: torch.Tensor) -> float:
    """SQNR with every channel (dim 1) first scaled to unit RMS in the reference, so a channel
    crushed next to a large one counts as much as the large one (plain SQNR hides it).
    Channels below 1e-3 of the global RMS are scaled as if at that floor. With fewer than 16
    values per channel (e.g. logits of a batch of 1) the plain SQNR is returned."""
    if ref.dim() < 2 or ref.numel() // ref.shape[1] < 16:
        return sqnr_db(ref, got)
    r = ref.double().movedim(1, 0).reshape(ref.shape[1], -1)
    g = got.double().movedim(1, 0).reshape(ref.shape[1], -1)
    rms = r.pow(2).mean(1, keepdim=True).sqrt()
    floor = float(r.pow(2).mean().sqrt()) * 1e-3
    scale = torch.clamp(rms, min=max(floor, 1e-30))
    return sqnr_db(r / scale, g / scale)


def compare(ref: torch.Tensor, got: torch.Tensor) -> dict:
    return {"sqnr_db": _r(sqnr_db(ref, got)), "channel_sqnr_db": _r(channel_sqnr_db(ref, got)),
            "cosine": _r(cosine(ref, got), 6), "max_abs_err": _r(max_abs(ref, got), 6)}


def _r(v: float, nd: int = 2):
    if math.isinf(v) or math.isnan(v):
        return v
    return round(v, nd)
