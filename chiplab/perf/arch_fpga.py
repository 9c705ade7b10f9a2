"""Performance model of FPGA overlays (``arch.kind: fpga_overlay``), DPU-style.

A convolution is computed ``pixel_parallelism`` output pixels × ``input_channel_
parallelism`` input channels × ``output_channel_parallelism`` output channels per
cycle per engine, so each dimension is rounded up to its multiple (parallelism
quantization: a 3-channel first layer on a 16-channel-wide engine wastes 13/16).
Engines split the output pixels. Cycles = ceil(pixels / (PP·engines)) ×
ceil(C/ICP) × ceil(K/OCP) × R × S / compiler_efficiency, per group. Operands that
do not fit in the on-chip buffer stream from DDR: time = max(compute, DDR bytes /
bandwidth). Non-matrix ops run on the overlay's misc engines (the ``vector`` unit)
by roofline; element-wise tails fuse into the conv as the DPU does.
"""
from __future__ import annotations

import math

from chiplab.hw.arch.fpga import FpgaOverlayArch
from chiplab.ir.graph import Node
from chiplab.perf.base import ModelBase
from chiplab.perf.common import Actions, gemm_operand_bytes, price, utilization
from chiplab.perf.registry import register
from chiplab.perf.result import Bound, LayerEstimate


@register("fpga_overlay")
class FpgaOverlayModel(ModelBase):
    arch_type = FpgaOverlayArch

    def matrix_layer(self, node: Node) -> LayerEstimate:
        a, g = self.arch, node.gemm
        if node.conv is not None:
            c = node.conv
            pixels, cin, cout, taps = c.N * c.P * c.Q, c.C // c.groups, c.K // c.groups, c.R * c.S
        else:
            pixels, cin, cout, taps = g.M, g.K, g.N, 1
        per_group = (math.ceil(pixels / (a.pixel_parallelism * a.engines)) * math.ceil(cin / a.input_channel_parallelism)
                     * math.ceil(cout / a.output_channel_parallelism) * taps)
        mpl = a.macs_per_lane[self.precision]
        compute_cycles = g.batch * per_group / (mpl * a.compiler_efficiency)
        ab, bb, cb = gemm_operand_bytes(node, self.precision)
        # the buffer holds the weights and a slice of activations; what does not fit is re-read once per pass
        passes = max(1, math.ceil((ab + bb) / a.on_chip_buffer))
        dram = bb + ab * (1 if ab + bb <= a.on_chip_buffer else passes) + cb
        t_compute = compute_cycles / self.clock_hz
        t_dram = dram / self.chip.memory.dram_bandwidth
        bound = Bound.COMPUTE if t_compute >= t_dram else Bound.DRAM
        t = max(t_compute, t_dram)
        acts = Actions(macs=node.macs, dram_read=dram - cb, dram_write=cb, sram_read=ab + bb, sram_write=cb)
        energy, br = price(acts, self.chip, self.precision)
        cycles = t * self.clock_hz
        return LayerEstimate(name=node.label, node=node.name, op=node.op.value, macs=node.macs, cycles=cycles,
                             latency_s=t, energy_j=energy, bound=bound,
                             utilization=utilization(node.macs, cycles, self.peak_macs_per_cycle), unit="dpu",
                             dram_bytes=dram, sram_bytes=ab + bb + cb, compute_cycles=compute_cycles,
                             energy_breakdown=br)
