"""Calibration observers: activation ranges from calibration data.

* ``minmax``: the running min and max.
* ``percentile``: the ``p``-th / ``(100-p)``-th percentiles of a sample of the values.
* ``mse``: the clipping of the min/max range (40 candidate ratios, 0.3..1) that minimizes the
  mean squared quantization error on a sample of the values.
"""
from __future__ import annotations

import torch

from chiplab.emu.spec import TensorNumerics
from chiplab.errors import ChiplabError
from chiplab.formats import FLOAT_FORMATS, INT_FORMATS, fake_quant_float, fake_quant_int, int_qparams

_SAMPLE = 200_000   # values kept per observer (torch.quantile's input limit is 16M)


class Observer:
    """Collects statistics of one activation tensor across calibration batches."""

    def __init__(self, t: TensorNumerics, seed: int = 0):
        self.t = t
        self.lo = torch.tensor(float("inf"))
        self.hi = torch.tensor(float("-inf"))
        self.samples: list[torch.Tensor] = []
        self.gen = torch.Generator().manual_seed(seed)
        self.batches = 0

    def update(self, x: torch.Tensor) -> None:
        """Take a batch; NaN and inf values are left out of the range (the emulator warns about them)."""
        x = x.detach().float()
        self.batches += 1
        if not bool(torch.isfinite(x).all()):
            x = x[torch.isfinite(x)]
        if x.numel() == 0:
            return
        self.lo = torch.minimum(self.lo, x.min())
        self.hi = torch.maximum(self.hi, x.max())
        if self.t.observer != "minmax":
            flat = x.reshape(-1)
            if flat.numel() > _SAMPLE:
                flat = flat[torch.randint(flat.numel(), (_SAMPLE,), generator=self.gen)]
            self.samples.append(flat)

    def range(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.batches == 0:
            raise ChiplabError("observer: no calibration data reached this layer")
        if not torch.isfinite(self.lo):          # only NaN/inf reached it: any range gives NaN out
            return torch.tensor(0.0), torch.tensor(0.0)
        if self.t.observer == "minmax":
            return self.lo, self.hi
        s = torch.cat(self.samples)
        if s.numel() > _SAMPLE:
            s = s[torch.randint(s.numel(), (_SAMPLE,), generator=self.gen)]
        if self.t.observer == "percentile":
            p = self.t.percentile / 100.0
            return torch.quantile(s, 1 - p), torch.quantile(s, p)
        return self._mse(s)

    def _mse(self, s: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        best, best_err = (self.lo, self.hi), float("inf")
        for r in torch.linspace(0.3, 1.0, 40):
            lo, hi = self.lo * r, self.hi * r
            err = float(((_fake(s, self.t, lo, hi) - s) ** 2).mean())
            if err < best_err:
                best, best_err = (lo, hi), err
        return best

    def qparams(self):
        """Integer formats: (scale, zero_point); float formats with ``scale: amax``: the scale."""
        lo, hi = self.range()
        return qparams_for(self.t, lo, hi)


def qparams_for(t: TensorNumerics, lo: torch.Tensor, hi: torch.Tensor):
    if t.format in INT_FORMATS:
        return int_qparams(lo, hi, t.format, t.symmetric, t.scale)
    if t.format in FLOAT_FORMATS and t.scale == "amax":
        return torch.clamp(torch.maximum(lo.abs(), hi.abs()), min=1e-30) / FLOAT_FORMATS[t.format].max
    return None


def _fake(s: torch.Tensor, t: TensorNumerics, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    qp = qparams_for(t, lo, hi)
    if t.format in INT_FORMATS:
        return fake_quant_int(s, qp[0], qp[1], t.format)
    if qp is not None:
        return fake_quant_float(s, t.format, qp, None, "saturate")
    return s
