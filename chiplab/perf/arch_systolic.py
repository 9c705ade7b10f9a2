"""Performance model of systolic ("Many-MAC") arrays, registered for ``arch.kind: systolic``.

Per matrix layer (CONV / GEMM), in closed form (see :mod:`chiplab.perf.systolic_map`):

1. **Compute**: the GEMM is folded onto the rows × cols array for the chip's
   dataflow; stall-free cycles follow the hardware convention (folds pipelined,
   one fill + drain) or, with ``compat="scalesim"``, SCALE-Sim v3's exact count.
2. **SRAM**: array-side reads/writes per operand; when a buffer bandwidth is given
   the layer cannot run faster than its traffic through that buffer.
3. **DRAM**: traffic from SRAM tiling (an operand re-swept by the loop order is
   re-fetched unless it fits in its buffer, half of it when double-buffered; psums
   spill when they do not fit). With double buffering DRAM overlaps compute and
   only the first tile is exposed; without it, DRAM and compute serialize. Per
   operand DRAM ports (SCALE-Sim's USER bandwidths) are honoured when given.
4. **Bound**: whichever of compute / SRAM / DRAM takes longest.
5. **Energy**: action counts (MACs, SRAM and DRAM bytes) × the chip's energy table.

Non-matrix ops run on the vector unit by roofline, views are free, HW blocks carry
their own cost, graph inputs/outputs cross the host link (all from
:mod:`chiplab.perf.common`). Every layer is at least as slow as its roofline
``max(MACs / peak, compulsory DRAM bytes / DRAM bandwidth)``.
"""
from __future__ import annotations

import dataclasses
import math

from chiplab.errors import ChiplabError
from chiplab.hw.arch.systolic import SystolicArch
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import GemmShape, Graph, GraphError, Node, OpKind, Role
from chiplab.perf.common import (Actions, add_fused_rows, fusion_plan, host_transfer_layers, hw_block_layer, node_bytes, precision_bytes, price,
                                 tensor_bytes, utilization, vector_layer, view_layer)
from chiplab.perf.registry import EstimateOptions, register
from chiplab.perf.result import Bound, LayerEstimate
from chiplab.perf.systolic_residency import Residency, plan_residency
from chiplab.perf.systolic_map import (dram_traffic, map_gemm, pipelined_cycles, psum_resident_plan,
                                       scalesim_cycles, scalesim_dram_traffic, sram_traffic)

SCALESIM_ACTIVE_FRACTION = 0.5   # SCALE-Sim's read buffers keep half active, half prefetching


@register("systolic")
class SystolicModel:
    """Layer-by-layer estimate of a graph on a :class:`SystolicArch` chip."""

    def __init__(self, chip: ChipSpec, options: EstimateOptions) -> None:
        if not isinstance(chip.arch, SystolicArch):
            raise TypeError(f"{chip.name}: SystolicModel needs a systolic arch, got {chip.arch.kind!r}")
        self.chip, self.options, self.arch = chip, options, chip.arch
        if options.compat not in ("default", "scalesim"):
            raise ChiplabError(f"compat: unknown {options.compat!r} (known: default, scalesim)")
        self.arch.require(options.precision, chip.name)
        self.precision = options.precision
        self.elem = precision_bytes(options.precision)
        self.mpp = self.arch.macs_per_pe[options.precision]
        self.compat = options.compat == "scalesim"
        self.dram_bpc = chip.memory.dram_bandwidth / self.clock_hz     # bytes per cycle, may be inf
        if not self.dram_bpc > 0:
            raise ChiplabError(f"{chip.name}: memory.dram_bandwidth must be > 0")

    # --- the PerfModel protocol
    @property
    def clock_hz(self) -> float:
        return self.chip.clock_hz

    @property
    def peak_macs_per_cycle(self) -> float:
        return self.arch.peak_macs_per_cycle(self.precision)

    def run(self, graph: Graph) -> list[LayerEstimate]:
        out: list[LayerEstimate] = []
        before, after = ([], [])
        if self.options.host_transfers:
            before, after = host_transfer_layers(graph, self.chip, self.precision, self.clock_hz)
        out.extend(before)
        # SCALE-Sim has no fusion and no residency; the default mode has both
        fused = {} if self.compat else fusion_plan(graph)
        plan = {} if self.compat else plan_residency(graph, self.resident_capacity, self.precision, fused)
        rows = [None if n.name in fused else self.layer(n, plan.get(n.name)) for n in graph.nodes]
        out.extend(add_fused_rows(rows, graph, fused, self.chip, self.precision, self.clock_hz))
        out.extend(after)
        return out

    @property
    def resident_capacity(self) -> float:
        """Bytes of the ifmap buffer that can hold activations between layers (half of it
        when double-buffered: the other half streams the working tiles)."""
        return self.arch.ifmap_sram * (0.5 if self.arch.double_buffered else 1.0)

    def layer(self, node: Node, res: Residency | None = None) -> LayerEstimate:
        """One node's estimate, dispatched on its op kind. ``res``: which of its
        activations are on chip (default mode, from :func:`plan_residency`); without
        it every activation comes from and goes to DRAM, as in SCALE-Sim."""
        if node.op.is_matrix:
            return self.matrix_layer(node, res)
        if node.op is OpKind.VIEW:
            return view_layer(node)
        if node.op is OpKind.HW_BLOCK:
            return hw_block_layer(node, self.clock_hz)
        if node.op.is_vector:
            return self.vector_layer(node, res)
        raise ChiplabError(f"{node.label}: op kind {node.op.value!r} has no systolic cost model")

    # --- non-matrix ops
    def vector_layer(self, node: Node, res: Residency | None = None) -> LayerEstimate:
        """Vector-unit roofline: operands on chip (from the residency plan, or when the
        whole op fits in the ifmap SRAM) are read at SRAM rate, the rest from DRAM."""
        p = self.precision
        if res is None:
            read, written = node_bytes(node, p)
            on_read, on_written = (read, written) if read + written <= self.arch.ifmap_sram else (0.0, 0.0)
        else:
            if node.op is OpKind.EMBEDDING:   # gathered rows come from the (DRAM) table
                on_read = 0.0
                read = node_bytes(node, p)[0]
            else:
                on_read = sum(tensor_bytes(t, p) for t, on in zip(node.inputs, res.inputs_on_chip) if on)
                read = sum(tensor_bytes(t, p) for t in node.inputs)
            written = sum(tensor_bytes(t, p) for t in node.outputs)
            on_written = written if res.output_on_chip else 0.0
        off_read, off_written = read - on_read, written - on_written
        if off_read + off_written == 0:
            bpc = self.arch.ifmap_sram_bandwidth or 2 * self.chip.vector.lanes * self.elem
            return vector_layer(node, self.chip, p, self.clock_hz, bandwidth_bytes_per_s=bpc * self.clock_hz,
                                memory=Bound.SRAM, rw_bytes=(read, written))
        return vector_layer(node, self.chip, p, self.clock_hz, bandwidth_bytes_per_s=self.chip.memory.dram_bandwidth,
                            memory=Bound.DRAM, rw_bytes=(off_read, off_written), onchip_rw_bytes=(on_read, on_written))

    # --- matrix ops
    def _a_unique(self, node: Node) -> float:
        """A elements one product must fetch: for a convolution the input feature map,
        or the im2col matrix when that is smaller (strides larger than the kernel skip pixels)."""
        g = node.gemm
        if node.conv is not None:
            c = node.conv
            return min(c.N * (c.C // c.groups) * c.H * c.W, g.M * g.K)
        return g.M * g.K

    @staticmethod
    def _scalesim_pixels(node: Node) -> int:
        """Output pixels as SCALE-Sim counts them: ``ceil((H - R + s) / s)`` on the
        (pre-padded) input, one more than a real convolution when the stride does not
        divide ``H - R``."""
        c = node.conv
        pq = 1
        for size, pad, dil, k, s in ((c.H, c.padding[0], c.dilation[0], c.R, c.stride[0]),
                                     (c.W, c.padding[1], c.dilation[1], c.S, c.stride[1])):
            span = dil * (k - 1) + 1
            n = -(-(size + 2 * pad - span + s) // s)
            if n < 1:
                raise GraphError(f"{node.label}: filter ({span}) larger than the padded input ({size + 2 * pad})")
            pq *= n
        return c.N * pq

    @staticmethod
    def _operands_on_chip(node: Node, res: Residency | None) -> tuple[bool, bool, bool]:
        """Whether A, B (when it is an activation) and C stay on chip for this node."""
        if res is None:
            return False, False, False
        acts = [on for t, on in zip(node.inputs, res.inputs_on_chip) if t.role is not Role.WEIGHT]
        a_on = bool(acts) and acts[0]
        b_on = (not node.gemm.b_is_weight) and len(acts) > 1 and acts[1]
        return a_on, b_on, res.output_on_chip

    def matrix_layer(self, node: Node, res: Residency | None = None) -> LayerEstimate:
        """A matrix layer. With ``conv_rows: channels`` a convolution's compute cycles come
        from the channels-only mapping (input channels on the rows, the R x S taps stepped
        in time as R*S products of depth C/groups), while its memory traffic and energy are
        those of the same layer lowered by im2col (the taps reuse the feature map); the
        slower of the two bounds the layer."""
        c = node.conv
        row = self._matrix_layer(node, res)
        if self.arch.conv_rows != "channels" or c is None or c.R * c.S == 1 or self.compat:
            return row
        g = node.gemm
        taps = GemmShape(M=g.M, N=g.N, K=c.C // c.groups, batch=g.batch * c.R * c.S, b_is_weight=g.b_is_weight)
        compute = self._matrix_layer(dataclasses.replace(node, gemm=taps), res).compute_cycles
        if compute <= row.cycles:
            return dataclasses.replace(row, compute_cycles=compute,
                                       notes=[*row.notes, "channels-only rows; memory-bound"])
        return dataclasses.replace(row, cycles=compute, latency_s=compute / self.clock_hz, compute_cycles=compute,
                                   bound=Bound.COMPUTE, utilization=utilization(node.macs, compute, self.peak_macs_per_cycle),
                                   notes=[*row.notes, f"channels-only rows: {c.R}x{c.S} taps in time"])

    def _matrix_layer(self, node: Node, res: Residency | None = None) -> LayerEstimate:
        g = node.gemm
        if g is None:
            raise GraphError(f"{node.label}: matrix node without a GemmShape")
        a = self.arch
        R, C = a.rows, a.cols
        M, N, K, batch = g.M, g.N, g.K, g.batch
        if self.compat and node.conv is not None:
            M = self._scalesim_pixels(node)
        mp = map_gemm(M, N, K, R, C, a.dataflow, self.mpp)
        chunked = False
        if self.compat:
            compute = batch * scalesim_cycles(mp)
        else:   # all `batch` products pipelined back to back, one fill/drain
            compute = batch * mp.folds * max(mp.T, R) + 2 * R + C - 2
            compute = max(compute, pipelined_cycles(mp))

        # array-side SRAM traffic (elements, per product)
        s_a, s_b, s_cw, s_cr = sram_traffic(mp, M, N, K)
        acc = a.accumulator_bytes
        half = 0.5 if a.double_buffered else 1.0
        if self.compat:
            cap = SCALESIM_ACTIVE_FRACTION / self.elem
            d_a, d_b, d_c = scalesim_dram_traffic(mp, M, N, K, cap_a=a.ifmap_sram * cap, cap_b=a.filter_sram * cap)
            spill = 0.0
        else:
            caps = dict(a_unique=self._a_unique(node), cap_a=a.ifmap_sram * half / self.elem,
                        cap_b=a.filter_sram * half / self.elem, cap_c=a.ofmap_sram * half / acc)
            on = self._operands_on_chip(node, res)

            def keep(x: float, i: int) -> float:   # no DRAM traffic for an operand already on chip
                return 0.0 if on[i] else x

            d_a, d_b, d_c, spill = dram_traffic(mp, M, N, K, **caps)
            d_a, d_b, d_c = keep(d_a, 0), keep(d_b, 1), keep(d_c, 2)
            alt = psum_resident_plan(mp, M, N, K, macs_per_pe=self.mpp, **caps)
            if alt is not None:   # keep psums on chip instead of spilling them, if that is faster
                stream, a2, b2, c2 = alt
                a2, b2, c2 = keep(a2, 0), keep(b2, 1), keep(c2, 2)
                compute2 = batch * stream + 2 * R + C - 2
                bytes1 = (d_a + d_b + d_c) * self.elem + spill * acc
                bytes2 = (a2 + b2 + c2) * self.elem
                if max(compute2, batch * bytes2 / self.dram_bpc) < max(compute, batch * bytes1 / self.dram_bpc):
                    compute, d_a, d_b, d_c, spill = compute2, a2, b2, c2, 0.0
                    chunked = True
        e = self.elem
        dram_a, dram_b = batch * d_a * e, batch * d_b * e
        if not self.compat:   # weight tensors beyond the B matrix (a bias) are read once too
            w = sum(tensor_bytes(t, self.precision) for t in node.inputs if t.role is Role.WEIGHT)
            dram_b += max(0.0, w - batch * K * N * e) if g.b_is_weight and not on[1] else 0.0
        dram_c = batch * (d_c * e + spill * acc)
        dram_bytes = dram_a + dram_b + dram_c

        # DRAM time: per-operand ports when described, else one shared channel
        ports = (a.ifmap_dram_bandwidth, a.filter_dram_bandwidth, a.ofmap_dram_bandwidth)
        if all(p is not None for p in ports):
            t_dram = max(dram_a / ports[0], dram_b / ports[1], dram_c / ports[2])
            bpc = sum(ports)
        else:
            t_dram = dram_bytes / self.dram_bpc
            bpc = self.dram_bpc
        if self.compat:
            # SCALE-Sim fills each active buffer before cycle 0 (its "incl. prefetch"
            # cycles); only the rest streams while the array runs
            pre = [a.ifmap_sram, a.filter_sram, a.ofmap_sram]
            rest = [max(0.0, x - SCALESIM_ACTIVE_FRACTION * p) for x, p in zip((dram_a, dram_b, dram_c), pre)]
            if all(p is not None for p in ports):
                t_stream = max(r / p for r, p in zip(rest, ports))
            else:
                t_stream = sum(rest) / self.dram_bpc
            total = max(compute, t_stream)
            mem_part = t_stream
            scalesim_stall = total - compute
        elif a.double_buffered:
            first_tile = min(dram_bytes, 2.0 * R * C * e) / bpc
            total = max(compute, t_dram) + first_tile
            mem_part = t_dram + first_tile
        else:
            total = compute + t_dram
            mem_part = t_dram

        # SRAM bandwidth limits (only when the chip gives them)
        sram = {"ifmap": (batch * s_a * e, a.ifmap_sram_bandwidth), "filter": (batch * s_b * e, a.filter_sram_bandwidth),
                "ofmap": (batch * (s_cw + s_cr) * acc, a.ofmap_sram_bandwidth)}
        t_sram = max((b / bw for b, bw in sram.values() if bw), default=0.0)
        total = max(total, t_sram)

        # never faster than the roofline: guards the compat convention, where SCALE-Sim's
        # prefetch before cycle 0 is free and macs_per_pe < 1 is ignored
        roof = max(node.macs / self.peak_macs_per_cycle, t_dram)
        notes = []
        if total < roof:
            notes.append(f"raised to its roofline ({roof:.0f} cycles) from {total:.0f}")
            total = roof
        parts = {Bound.COMPUTE: compute, Bound.DRAM: max(mem_part, t_dram), Bound.SRAM: t_sram}
        bound = max(parts, key=lambda b: parts[b])

        sram_read = batch * ((s_a + s_b) * e + s_cr * acc) + dram_c
        sram_write = batch * s_cw * acc + dram_a + dram_b
        acts = Actions(macs=node.macs, sram_read=sram_read, sram_write=sram_write, dram_read=dram_a + dram_b +
                       batch * spill * acc / 2, dram_write=dram_c - batch * spill * acc / 2)
        energy, br = price(acts, self.chip, self.precision)
        notes.insert(0, f"{a.dataflow} {R}x{C}: {mp.row_folds}x{mp.col_folds} folds x{batch}, "
                        f"mapping eff {mp.mapping_efficiency:.0%}")
        if chunked:
            notes.append("streamed extent chunked so psums stay in the ofmap buffer")
        kept = [w for w, o in zip(("input", "second operand", "output"), self._operands_on_chip(node, res)) if o]
        if kept and not self.compat:
            notes.append(f"on chip between layers: {', '.join(kept)}")
        stall = scalesim_stall if self.compat else total - compute
        if math.isinf(self.dram_bpc) and not all(p is not None for p in ports):
            notes.append("stall-free (infinite DRAM bandwidth)")
        return LayerEstimate(
            name=node.label, node=node.name, op=node.op.value, macs=node.macs, cycles=float(total),
            latency_s=total / self.clock_hz, energy_j=energy, bound=bound,
            utilization=utilization(node.macs, total, self.peak_macs_per_cycle), unit="array",
            dram_bytes=acts.dram_bytes, sram_bytes=acts.sram_bytes, compute_cycles=float(compute),
            stall_cycles=float(stall), energy_breakdown=br, notes=notes)
