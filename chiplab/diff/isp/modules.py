"""Thin ``nn.Module`` wrappers holding each stage's hardware parameters, and the
:class:`Isp` pipeline: a fixed-function block that is also a chiplab HardwareBlock."""
from __future__ import annotations

import torch
from torch import nn

from chiplab.diff.isp import functional as Fi
from chiplab.diff.isp.bayer import BayerPattern
from chiplab.diff.isp.hwcost import IspHardware, isp_hw_cost
from chiplab.diff.isp.unprocess import IspParams


class BlackLevel(nn.Module):
    def __init__(self, black: float = 0.0, white: float = 1.0):
        super().__init__()
        self.register_buffer("black", torch.tensor(float(black)))
        self.register_buffer("white", torch.tensor(float(white)))

    def forward(self, raw):
        return Fi.black_level(raw, self.black, self.white)


class LensShading(nn.Module):
    def __init__(self, strength: float = 0.0):
        super().__init__()
        self.strength = nn.Parameter(torch.tensor(float(strength)))

    def forward(self, raw):
        return Fi.lens_shading(raw, self.strength)


class WhiteBalance(nn.Module):
    """Per-channel gains and a digital gain, kept positive through their logarithms."""

    def __init__(self, pattern: BayerPattern | str, gains=(1.0, 1.0, 1.0), digital_gain: float = 1.0):
        super().__init__()
        self.pattern = BayerPattern.parse(pattern)
        self.log_gains = nn.Parameter(torch.tensor(gains, dtype=torch.float32).log())
        self.log_digital_gain = nn.Parameter(torch.tensor(float(digital_gain)).log())

    def forward(self, raw):
        return Fi.white_balance(raw, self.log_gains.exp(), self.pattern, self.log_digital_gain.exp())


class Demosaic(nn.Module):
    def __init__(self, pattern: BayerPattern | str, method: str = "malvar"):
        super().__init__()
        if method not in ("bilinear", "malvar"):
            raise ValueError(f"Demosaic: method must be 'bilinear' or 'malvar', got {method!r}")
        self.pattern, self.method = BayerPattern.parse(pattern), method

    def forward(self, raw):
        fn = Fi.demosaic_malvar if self.method == "malvar" else Fi.demosaic_bilinear
        return fn(raw, self.pattern)


class Denoise(nn.Module):
    def __init__(self, strength: float = 0.0, sigma: float = 1.0, radius: int = 2):
        super().__init__()
        self.strength_logit = nn.Parameter(torch.logit(torch.tensor(min(max(strength, 1e-4), 1 - 1e-4))))
        self.log_sigma = nn.Parameter(torch.tensor(float(sigma)).log())
        self.radius = radius

    def forward(self, rgb):
        return Fi.denoise(rgb, torch.sigmoid(self.strength_logit), self.log_sigma.exp(), self.radius)


class ColorCorrection(nn.Module):
    def __init__(self, ccm=None):
        super().__init__()
        self.ccm = nn.Parameter(torch.eye(3) if ccm is None else torch.as_tensor(ccm, dtype=torch.float32).clone())

    def forward(self, rgb):
        return Fi.color_correction(rgb, self.ccm)


class Gamma(nn.Module):
    def __init__(self, g: float = 2.2):
        super().__init__()
        self.log_g = nn.Parameter(torch.tensor(float(g)).log())

    def forward(self, rgb):
        return Fi.gamma(rgb, self.log_g.exp())


class ToneCurve(nn.Module):
    """The smoothstep global tone curve followed by a learnable monotone curve (identity at start)."""

    def __init__(self, knots: int = 16):
        super().__init__()
        self.slopes = nn.Parameter(torch.zeros(knots))

    def forward(self, rgb):
        return Fi.tone_curve(Fi.smoothstep(rgb), self.slopes)


class Sharpen(nn.Module):
    def __init__(self, amount: float = 0.0):
        super().__init__()
        self.amount = nn.Parameter(torch.tensor(float(amount)))

    def forward(self, rgb):
        return Fi.sharpen(rgb, self.amount)


class Isp(nn.Module):
    """RAW mosaic (B, 1, H, W) -> sRGB (B, 3, H, W).

    Stages: black level -> lens shading -> white balance + digital gain -> demosaic ->
    denoise -> colour correction -> gamma -> tone curve -> sharpen. Each optional stage has
    a gate in [0, 1] (sigmoid of a logit; ``gates`` sets the starting values): its output is
    ``g * stage(x) + (1 - g) * x``, so a stage can be switched on and off differentiably.
    Implements :class:`chiplab.hwblock.HardwareBlock`: captured as one graph node, priced
    by :func:`~chiplab.diff.isp.hwcost.isp_hw_cost`.
    """

    hw_block_name = "isp"
    GATED = ("lens_shading", "denoise", "tone", "sharpen")

    def __init__(self, params: IspParams = IspParams(), *, demosaic: str = "malvar", denoise: float = 0.0,
                 sharpen: float = 0.0, gates: dict[str, float] | None = None, hardware: IspHardware = IspHardware()):
        super().__init__()
        self.black_level = BlackLevel()
        self.lens_shading = LensShading(params.vignetting)
        self.white_balance = WhiteBalance(params.pattern, params.wb_gains, params.digital_gain)
        self.demosaic = Demosaic(params.pattern, demosaic)
        self.denoise = Denoise(denoise)
        self.ccm = ColorCorrection(params.ccm_tensor())
        self.gamma = Gamma(params.gamma)
        self.tone = ToneCurve()
        self.sharpen = Sharpen(sharpen)
        g = {name: 1.0 for name in self.GATED}
        for k, v in (gates or {}).items():
            if k not in g:
                raise ValueError(f"Isp: unknown gated stage {k!r} (gated: {', '.join(self.GATED)})")
            g[k] = v
        self.gate_logits = nn.ParameterDict({k: nn.Parameter(torch.logit(torch.tensor(min(max(v, 1e-4), 1 - 1e-4))))
                                             for k, v in g.items()})
        self.hardware = hardware

    def gate(self, name: str) -> torch.Tensor:
        return torch.sigmoid(self.gate_logits[name])

    def _gated(self, name: str, stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
        g = self.gate(name)
        return g * stage(x) + (1 - g) * x

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        x = self.black_level(raw)
        x = self._gated("lens_shading", self.lens_shading, x)
        x = self.white_balance(x)
        x = self.demosaic(x)
        x = self._gated("denoise", self.denoise, x)
        x = self.ccm(x)
        x = self.gamma(x.clamp(0, 1))
        x = self._gated("tone", self.tone, x)
        x = self._gated("sharpen", self.sharpen, x)
        return x.clamp(0, 1)

    def hw_cost(self, input_shapes):
        return isp_hw_cost(input_shapes, self.demosaic.method, self.denoise.radius, self.hardware)
