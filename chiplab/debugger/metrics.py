"""Error measures between a device tensor (or pytree of tensors) and its fp32 reference.

A *degenerate* reference (NaN/inf, all values within ``NEAR_ZERO`` of 0, or one constant value)
makes SQNR and cosine meaningless (a 1e-9 reference rounded to 0 reads as "SQNR 0 dB"): then
:func:`compare` returns NaN for them and says why in ``degenerate_reference``.
"""
from __future__ import annotations

import math
from typing import Any

import torch

# Our choice, not an outside constant: fp32 models' activations and logits are O(1e-3..1e3);
# an output whose largest value is below 1e-6 carries no signal the chip could be judged on.
NEAR_ZERO = 1e-6


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


def flat(out: Any) -> torch.Tensor:
    """All floating tensor leaves of a pytree (tuple, dict, ModelOutput) in one 1-D tensor."""
    if isinstance(out, torch.Tensor):
        return out
    from chiplab.emu.emulator import leaves

    ls = [v.detach().float().reshape(-1) for _, v in leaves(out)]
    if not ls:
        from chiplab.errors import ChiplabError
        raise ChiplabError(f"model output: no floating-point tensor in a {type(out).__name__}")
    return torch.cat(ls)


def degenerate(ref: torch.Tensor) -> str | None:
    """Why ``ref`` cannot serve as a reference for SQNR/cosine, or None."""
    if ref.numel() == 0:
        return "empty"
    fin = torch.isfinite(ref)
    if not bool(fin.all()):
        return f"non-finite ({int((~fin).sum())} of {ref.numel()} fp32 reference values are NaN or inf)"
    amax = float(ref.abs().max())
    if amax < NEAR_ZERO:
        return f"near-zero (max |fp32 reference| = {amax:.3g} < {NEAR_ZERO:g})"
    if ref.numel() > 1 and float(ref.max()) == float(ref.min()):
        return f"constant (every fp32 reference value is {float(ref.max()):.6g})"
    return None


def compare(ref: Any, got: Any) -> dict:
    """SQNR, channel SQNR, cosine, max |err| of ``got`` against ``ref`` (tensors or pytrees, flattened);
    with a degenerate reference SQNR/cosine are NaN and ``degenerate_reference`` says why."""
    if not isinstance(ref, torch.Tensor) or not isinstance(got, torch.Tensor):
        ref, got = flat(ref), flat(got)
    why = degenerate(ref)
    if why is not None:
        err = max_abs(ref, got) if ref.numel() and bool(torch.isfinite(ref).all()) else math.nan
        return {"sqnr_db": math.nan, "channel_sqnr_db": math.nan, "cosine": math.nan, "max_abs_err": _r(err, 6),
                "degenerate_reference": why}
    return {"sqnr_db": _r(sqnr_db(ref, got)), "channel_sqnr_db": _r(channel_sqnr_db(ref, got)),
            "cosine": _r(cosine(ref, got), 6), "max_abs_err": _r(max_abs(ref, got), 6)}


def _r(v: float, nd: int = 2):
    if math.isinf(v) or math.isnan(v):
        return v
    return round(v, nd)


def compare_tree(ref: Any, got: Any) -> dict:
    """``compare`` overall, plus per leaf (``leaves``: {key path: compare}) for pytree outputs."""
    d = compare(ref, got)
    if not isinstance(ref, torch.Tensor):
        from chiplab.emu.emulator import leaves

        g = dict(leaves(got))
        d["leaves"] = {k: compare(v, g[k]) for k, v in leaves(ref) if k in g}
    return d


def agreement(ref: torch.Tensor, got: torch.Tensor) -> float | None:
    """Fraction of rows whose argmax (last dim) agrees; None when either side holds NaN/inf."""
    if not (bool(torch.isfinite(ref).all()) and bool(torch.isfinite(got).all())):
        return None
    return float((got.argmax(-1) == ref.argmax(-1)).float().mean())
