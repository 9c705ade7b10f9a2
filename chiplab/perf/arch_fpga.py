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
from chiplab.perf.common import gemm_operand_bytes
from chiplab.perf.counts import READ, WRITE, Counts, Level, Max, Operand, Term, over
from chiplab.perf.registry import register
from chiplab.perf.result import Bound


@register("fpga_overlay")
class FpgaOverlayModel(ModelBase):
    arch_type = FpgaOverlayArch

    def matrix_counts(self, node: Node, ctx=None) -> Counts:
        a, g = self.arch, node.gemm
        if node.conv is not None:
            c = node.conv
            pixels, cin, cout, taps = c.N * c.P * c.Q, c.C // c.groups, c.K // c.groups, c.R * c.S
        else:
            pixels, cin, cout, taps = g.M, g.K, g.N, 1
        per_group = (math.ceil(pixels / (a.pixel_parallelism * a.engines)) * math.ceil(cin / a.input_channel_parallelism)
                     * math.ceil(cout / a.output_channel_parallelism) * taps)
        mpl = a.macs_per_lane[self.precision]
        ideal = g.batch * per_group / mpl
        ab, bb, cb = gemm_operand_bytes(node, self.precision)
        # the buffer holds the weights and a slice of activations; what does not fit is re-read once per pass
        passes = max(1, math.ceil((ab + bb) / a.on_chip_buffer))
        dram = bb + ab * (1 if ab + bb <= a.on_chip_buffer else passes) + cb
        t = Max((Term(Bound.COMPUTE, ideal, div=("clock_hz", "arch.compiler_efficiency")),
                 over(Bound.DRAM, dram, "memory.dram_bandwidth")))
        c = Counts(time=t, unit="dpu", macs=node.macs, compute_cycles=ideal / a.compiler_efficiency)
        c.add(Level.DRAM, Operand.WEIGHT, READ, bb).add(Level.DRAM, Operand.INPUT, READ, dram - cb - bb)
        c.add(Level.DRAM, Operand.OUTPUT, WRITE, cb)
        c.add(Level.SRAM, Operand.INPUT, READ, ab).add(Level.SRAM, Operand.WEIGHT, READ, bb)
        return c.add(Level.SRAM, Operand.OUTPUT, WRITE, cb)
