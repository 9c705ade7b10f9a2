"""Data without a camera: sRGB images back to noisy RAW mosaics (Brooks et al., CVPR 2019,
"Unprocessing Images for Learned Raw Denoising"), keeping the exact inverse parameters.

sRGB -> inverse tone curve -> inverse gamma -> inverse colour correction -> inverse
white balance and digital gain -> mosaic, then shot-and-read noise. The parameters that
undo each step are returned as :class:`IspParams`: the "expert" setting that turns the
RAW back into the image.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from chiplab.diff.isp.bayer import BayerPattern, check_rgb
from chiplab.diff.isp.functional import mosaic

# A camera-to-sRGB colour-correction matrix of the kind Brooks et al. sample (rows sum to 1).
# [A] one fixed, well-conditioned matrix; the paper interpolates between four measured cameras.
DEFAULT_CCM = torch.tensor([[1.62, -0.48, -0.14], [-0.22, 1.44, -0.22], [0.02, -0.50, 1.48]])


@dataclass(frozen=True)
class IspParams:
    """What the ISP needs to invert the unprocessing of one image (the expert setting)."""

    pattern: BayerPattern = BayerPattern.RGGB
    wb_gains: tuple[float, float, float] = (2.0, 1.0, 1.7)     # red, green, blue
    digital_gain: float = 1.0
    ccm: tuple[tuple[float, float, float], ...] = field(default_factory=lambda: tuple(map(tuple, DEFAULT_CCM.tolist())))
    gamma: float = 2.2
    vignetting: float = 0.0

    def ccm_tensor(self, dtype=torch.float32) -> torch.Tensor:
        return torch.tensor(self.ccm, dtype=dtype)


def inverse_smoothstep(y: torch.Tensor) -> torch.Tensor:
    """Inverse of 3x^2 - 2x^3 on [0, 1] (Brooks et al. 2019, eq. for the tone curve)."""
    y = y.clamp(0, 1)
    return 0.5 - torch.sin(torch.asin(1 - 2 * y) / 3)


def unprocess(srgb: torch.Tensor, params: IspParams = IspParams()) -> torch.Tensor:
    """sRGB (B, 3, H, W) in [0, 1] -> clean linear RAW mosaic (B, 1, H, W) in [0, 1]."""
    check_rgb(srgb, "srgb")
    x = inverse_smoothstep(srgb)
    x = x.clamp_min(1e-8) ** params.gamma
    cam = torch.linalg.inv(params.ccm_tensor(x.dtype))
    x = torch.einsum("ij,bjhw->bihw", cam, x)
    gains = torch.tensor(params.wb_gains, dtype=x.dtype).view(1, 3, 1, 1) * params.digital_gain
    x = x / gains
    raw = mosaic(x.clamp(0, 1), params.pattern)
    if params.vignetting:
        from chiplab.diff.isp.functional import vignetting_gain

        raw = raw * vignetting_gain(raw.shape[-2], raw.shape[-1], params.vignetting, dtype=raw.dtype)
    return raw


@dataclass(frozen=True)
class NoiseModel:
    """Heteroscedastic sensor noise: variance = shot * x + read.

    ``sample`` draws a shot gain log-uniformly in [shot_min, shot_max] and the read
    variance from the log-linear relation Brooks et al. fit to real sensors:
    log(read) = 2.18 log(shot) + 1.20 + N(0, 0.26).
    """

    shot_min: float = 1e-4
    shot_max: float = 1.2e-2

    def sample(self, generator: torch.Generator | None = None) -> tuple[float, float]:
        u = torch.rand((), generator=generator).item()
        log_shot = math.log(self.shot_min) + u * (math.log(self.shot_max) - math.log(self.shot_min))
        log_read = 2.18 * log_shot + 1.20 + 0.26 * torch.randn((), generator=generator).item()
        return math.exp(log_shot), math.exp(log_read)

    @staticmethod
    def add(raw: torch.Tensor, shot: float, read: float, generator: torch.Generator | None = None) -> torch.Tensor:
        if shot < 0 or read < 0:
            raise ValueError(f"NoiseModel.add: shot and read variances must be >= 0, got {shot}, {read}")
        var = shot * raw.clamp_min(0) + read
        return raw + var.sqrt() * torch.randn(raw.shape, generator=generator, dtype=raw.dtype)


def low_light(raw: torch.Tensor, exposure: float) -> torch.Tensor:
    """Scale a clean RAW by an exposure factor < 1 (fewer photons): the ISP's digital gain undoes it."""
    if not 0 < exposure <= 1:
        raise ValueError(f"low_light: exposure must be in (0, 1], got {exposure}")
    return raw * exposure
