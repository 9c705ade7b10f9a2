"""The ISP as a streaming hardware block: pixels per clock, line buffers, energy per pixel.

A streaming ISP processes ``pixels_per_clock`` pixels each cycle once its line buffers
are filled; a k x k window stage needs k - 1 lines of storage. Energy per pixel is the
arithmetic of every stage plus the line-buffer reads and writes. Operation counts are
ours (from the stage definitions); per-operation energies are from Horowitz, "Computing's
energy problem", ISSCC 2014, 45 nm: 16-bit int multiply ~ between the 8-bit (0.2 pJ) and
32-bit (3.1 pJ) figures, taken as 0.8 pJ [A]; 16-bit add 0.05 pJ [D] (8-bit 0.03, 32-bit
0.1); SRAM read or write of 8 KB arrays ~10 pJ per 64-bit access -> 1.25 pJ per byte [D].
"""
from __future__ import annotations

from dataclasses import dataclass

from chiplab.hwblock import HwCost

E_MUL16 = 0.8e-12    # [A] interpolated from Horowitz ISSCC 2014 (8-bit 0.2 pJ, 32-bit 3.1 pJ)
E_ADD16 = 0.05e-12   # [D] Horowitz ISSCC 2014 (8-bit 0.03 pJ, 32-bit 0.1 pJ)
E_SRAM_B = 1.25e-12  # [D] Horowitz ISSCC 2014: 8 KB SRAM, 64-bit access ~10 pJ


@dataclass(frozen=True)
class IspHardware:
    """A streaming ISP: ``pixels_per_clock`` at ``clock_hz``; 16-bit samples [A]."""

    clock_hz: float = 600e6            # [A] typical mobile ISP clock
    pixels_per_clock: int = 2          # [A]
    bytes_per_sample: int = 2          # 16-bit internal samples

    def __post_init__(self) -> None:
        if self.clock_hz <= 0 or self.pixels_per_clock < 1 or self.bytes_per_sample < 1:
            raise ValueError(f"IspHardware: clock_hz > 0, pixels_per_clock >= 1, bytes_per_sample >= 1 required: {self}")


def stage_table(demosaic: str, denoise_radius: int) -> dict[str, tuple[int, int, int, int]]:
    """Per output pixel: (multiplies, adds, window height, channels through the line buffer)."""
    dk = 5 if demosaic == "malvar" else 3
    nk = 2 * denoise_radius + 1
    return {
        "black_level": (1, 1, 1, 1),
        "lens_shading": (2, 1, 1, 1),
        "white_balance": (2, 0, 1, 1),
        "demosaic": ((4 * 9 if demosaic == "malvar" else 3 * 5), (4 * 8 if demosaic == "malvar" else 3 * 4), dk, 1),
        "denoise": (3 * nk * nk + 3, 3 * nk * nk, nk, 3),
        "ccm": (9, 6, 1, 3),
        "gamma": (3 * 4, 3 * 4, 1, 3),            # power via a 4-term piecewise polynomial [A]
        "tone": (3 * 4, 3 * 4, 1, 3),
        "sharpen": (3 * 10, 3 * 10, 3, 3),
    }


def isp_hw_cost(input_shapes, demosaic: str = "malvar", denoise_radius: int = 2,
                hw: IspHardware = IspHardware()) -> HwCost:
    if not input_shapes or len(input_shapes[0]) != 4 or input_shapes[0][1] != 1:
        raise ValueError(f"isp hw_cost: expected one RAW input of shape (B, 1, H, W), got {input_shapes}")
    B, _, H, W = input_shapes[0]
    pixels = B * H * W
    table = stage_table(demosaic, denoise_radius)
    line_lines = {k: (v[2] - 1) * v[3] for k, v in table.items()}
    line_buffer_bytes = sum(line_lines.values()) * W * hw.bytes_per_sample
    fill = max(v[2] for v in table.values()) // 2 * W     # cycles before the first output pixel (per frame)
    cycles = pixels / hw.pixels_per_clock + B * fill / hw.pixels_per_clock
    breakdown = {}
    for name, (mul, add, k, ch) in table.items():
        sram = 2 * (k - 1) * ch * hw.bytes_per_sample if k > 1 else 0     # write once, read (k-1) rows ~ 2x per line
        breakdown[name] = pixels * (mul * E_MUL16 + add * E_ADD16 + sram * E_SRAM_B)
    return HwCost(cycles=float(cycles), clock_hz=hw.clock_hz, energy_j=sum(breakdown.values()), breakdown=breakdown,
                  notes=(f"line buffers {line_buffer_bytes / 1024:.1f} KiB for width {W}",
                         "op counts: chiplab's stage definitions; energies: Horowitz ISSCC 2014 (45 nm) [D]/[A]"))


def line_buffer_bytes(width: int, demosaic: str = "malvar", denoise_radius: int = 2,
                      hw: IspHardware = IspHardware()) -> int:
    return sum((k - 1) * ch for _, _, k, ch in stage_table(demosaic, denoise_radius).values()) * width * hw.bytes_per_sample
