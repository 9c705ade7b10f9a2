"""The rasterizer as a fixed-function hardware block: triangle setup rate, fill rate
and energy per triangle / per fragment, giving a :class:`chiplab.hwblock.HwCost`.

Pipeline model: triangle setup and fragment processing overlap, so one call takes
``max(triangles / setup_rate, fragments / fill_rate)`` cycles plus a fixed pipeline
latency. Fragments are pixel-face pairs the block processes:
``pixels * min(faces_per_pixel, faces) * overdraw``.

Energy per operation: Horowitz, "Computing's energy problem (and what we can do
about it)", ISSCC 2014, 45 nm, 0.9 V: fp32 add 0.9 pJ, fp32 mult 3.7 pJ,
32-bit read from an 8 KB SRAM 5 pJ, DRAM access 1.3-2.6 nJ per 64 bits (we use
20 pJ/bit = 1.28 nJ per 64 bits, the low end). Operation counts per triangle and
per fragment below are OUR ASSUMPTIONS about a straightforward implementation
(edge-function rasterizer, fp32 throughout), not measurements of any product.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

from dataclasses import dataclass, field

from chiplab.hwblock import HwCost

# Horowitz ISSCC 2014 (45 nm) per-op energies, joules
E_FADD32 = 0.9e-12
E_FMUL32 = 3.7e-12
E_SRAM32 = 5.0e-12          # 32-bit read, 8 KB SRAM
E_DRAM_BIT = 20e-12         # 1.28 nJ / 64 bit (low end of Horowitz's 1.3-2.6 nJ)


class RasterHwError(ChiplabError):
    """Bad hardware-model parameters or input shapes."""


@dataclass(frozen=True)
class RasterHwModel:
    """Parameters of the rasterizer block (all ASSUMPTIONS unless noted).

    clock_hz: 1 GHz. setup_rate: triangles per clock (1, as one raster engine of a
    desktop GPU; NVIDIA's GF100 whitepaper (2010) quotes up to 4 triangles/clock over
    4 raster engines). fill_rate: fragments per clock (16; the same whitepaper quotes
    8 pixels/clock per raster engine, we assume a 2-engine block; the GF100 figures are
    quoted from memory of that whitepaper, not re-checked here). overdraw: average
    fragments per pixel and face slot beyond the first (1.5). pipeline_latency:
    cycles to fill the pipeline (200). attr_channels: interpolated attributes per
    fragment (3 color + 3 normal + 2 uv = 8).
    """

    clock_hz: float = 1.0e9
    setup_rate: float = 1.0
    fill_rate: float = 16.0
    overdraw: float = 1.5
    pipeline_latency: float = 200.0
    attr_channels: int = 8
    area_mm2: float | None = None
    notes: tuple[str, ...] = field(default=(
        "op energies: Horowitz ISSCC 2014, 45 nm",
        "op counts per triangle/fragment, rates, overdraw: assumptions (see chiplab/diff/raster/hwcost.py)",
    ))

    def __post_init__(self) -> None:
        for name in ("clock_hz", "setup_rate", "fill_rate", "overdraw"):
            if not getattr(self, name) > 0:
                raise RasterHwError(f"RasterHwModel.{name} must be > 0, got {getattr(self, name)!r}")

    @property
    def energy_per_triangle(self) -> float:
        """Setup: fetch 3 vertices (9 words from SRAM), 3 edge equations (2 sub + 2 mul
        each), area and its reciprocal (~2 mul, 1 sub, 1 div counted as 4 mul), bounding box
        (6 compares counted as adds), write ~16 setup words to the bin SRAM."""
        adds = 3 * 2 + 1 + 6
        muls = 3 * 2 + 2 + 4
        return 9 * E_SRAM32 + adds * E_FADD32 + muls * E_FMUL32 + 16 * E_SRAM32

    @property
    def energy_per_fragment(self) -> float:
        """Per pixel-face pair: 3 edge functions incrementally (3 adds), barycentrics
        (3 mul), perspective-correct depth (3 mul, 2 add, 1 div ~ 4 mul), z-buffer
        read + conditional write (2 SRAM words), attribute interpolation
        (attr_channels * (3 mul + 2 add)) and blending (4 mul + 4 add)."""
        adds = 3 + 2 + self.attr_channels * 2 + 4
        muls = 3 + 3 + 4 + self.attr_channels * 3 + 4
        return adds * E_FADD32 + muls * E_FMUL32 + 2 * E_SRAM32

    @property
    def energy_per_output_pixel(self) -> float:
        """Writing 4 bytes (RGBA8) per pixel to DRAM."""
        return 32 * E_DRAM_BIT

    def cost(self, batch: int, faces: int, height: int, width: int, faces_per_pixel: int = 1) -> HwCost:
        """Cost of rendering ``batch`` images of ``height`` x ``width`` from ``faces`` triangles."""
        for name, v in (("batch", batch), ("faces", faces), ("height", height), ("width", width),
                        ("faces_per_pixel", faces_per_pixel)):
            if not isinstance(v, int) or v < 0:
                raise RasterHwError(f"RasterHwModel.cost: {name} must be an int >= 0, got {v!r}")
        pixels = batch * height * width
        tris = batch * faces
        frags = pixels * min(faces_per_pixel, faces) * self.overdraw
        cycles = max(tris / self.setup_rate, frags / self.fill_rate) + (self.pipeline_latency if tris else 0.0)
        e_setup = tris * self.energy_per_triangle
        e_frag = frags * self.energy_per_fragment
        e_out = pixels * self.energy_per_output_pixel
        return HwCost(cycles=cycles, clock_hz=self.clock_hz, energy_j=e_setup + e_frag + e_out,
                      area_mm2=self.area_mm2,
                      breakdown={"triangle_setup": e_setup, "fragments": e_frag, "framebuffer_write": e_out},
                      notes=self.notes)
