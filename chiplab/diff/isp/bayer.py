"""Bayer colour-filter arrays: the four 2x2 patterns, named explicitly, and masks."""
from __future__ import annotations

from enum import Enum

import torch


class BayerPattern(str, Enum):
    """The 2x2 tile read row by row: RGGB has red at (0,0), blue at (1,1)."""

    RGGB = "RGGB"
    BGGR = "BGGR"
    GRBG = "GRBG"
    GBRG = "GBRG"

    @classmethod
    def parse(cls, p: "BayerPattern | str") -> "BayerPattern":
        try:
            return cls(str(p.value if isinstance(p, BayerPattern) else p).upper())
        except ValueError:
            raise ValueError(f"pattern: unknown Bayer pattern {p!r} (use one of RGGB, BGGR, GRBG, GBRG)") from None


def bayer_masks(pattern: "BayerPattern | str", height: int, width: int, *, dtype=torch.float32,
                device=None) -> torch.Tensor:
    """(3, H, W) 0/1 masks of the red, green and blue sites."""
    p = BayerPattern.parse(pattern).value
    masks = torch.zeros(3, height, width, dtype=dtype, device=device)
    for i, ch in enumerate(p):
        r, c = divmod(i, 2)
        masks["RGB".index(ch), r::2, c::2] = 1
    return masks


def check_raw(raw: torch.Tensor, name: str = "raw") -> None:
    if not isinstance(raw, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor, got {type(raw).__name__}")
    if raw.dim() != 4 or raw.shape[1] != 1:
        raise ValueError(f"{name}: expected a mosaic of shape (B, 1, H, W), got {tuple(raw.shape)}")
    if raw.shape[-1] < 2 or raw.shape[-2] < 2:
        raise ValueError(f"{name}: a Bayer mosaic needs H, W >= 2, got {tuple(raw.shape[-2:])}")


def check_rgb(rgb: torch.Tensor, name: str = "rgb") -> None:
    if not isinstance(rgb, torch.Tensor):
        raise TypeError(f"{name}: expected a tensor, got {type(rgb).__name__}")
    if rgb.dim() != 4 or rgb.shape[1] != 3:
        raise ValueError(f"{name}: expected an image of shape (B, 3, H, W), got {tuple(rgb.shape)}")
