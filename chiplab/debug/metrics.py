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


def compare(ref: torch.Tensor, got: torch.Tensor) -> dict:
    return {"sqnr_db": _r(sqnr_db(ref, got)), "cosine": _r(cosine(ref, got), 6), "max_abs_err": _r(max_abs(ref, got), 6)}


def _r(v: float, nd: int = 2):
    if math.isinf(v) or math.isnan(v):
        return v
    return round(v, nd)
