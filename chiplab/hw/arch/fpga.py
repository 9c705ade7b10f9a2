"""FPGA overlays: a DPU-style engine built in programmable logic (Xilinx DPUCVDX8H on
VCK5000, DPUCADX8G / xDNN on Alveo U250), clocked at the PL clock, with off-chip DDR."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from chiplab.hw.class_knobs import knob_default
from chiplab.hw.arch.base import ArchBase, Count, Rates
from chiplab.hw.quantity import Bytes


class FpgaOverlayArch(ArchBase):
    """``engines`` processing engines, each computing ``pixel_parallelism`` output pixels ×
    ``input_channel_parallelism`` input channels × ``output_channel_parallelism`` output
    channels per cycle (the DPU PP × ICP × OCP convention): a layer's dimensions are
    rounded up to those multiples. ``compiler_efficiency`` is the fraction of peak that
    the overlay's compiler achieves on a well-shaped layer (a calibration knob)."""

    kind: Literal["fpga_overlay"] = "fpga_overlay"
    engines: Count
    pixel_parallelism: Count
    input_channel_parallelism: Count
    output_channel_parallelism: Count
    macs_per_lane: Rates = Field(default_factory=lambda: {"int8": 1.0})
    on_chip_buffer: Bytes
    compiler_efficiency: float = Field(default=knob_default("fpga_overlay", "compiler_efficiency"), gt=0, le=1)   # hw/class_knobs.yaml

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.macs_per_lane)

    @property
    def lanes(self) -> int:
        return self.pixel_parallelism * self.input_channel_parallelism * self.output_channel_parallelism

    def peak_macs_per_cycle(self, precision: str) -> float:
        self.require(precision)
        return self.engines * self.lanes * self.macs_per_lane[precision]
