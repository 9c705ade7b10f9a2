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
from dataclasses import dataclass

from chiplab.errors import ChiplabError
from chiplab.hw.arch.systolic import SystolicArch
from chiplab.ir.graph import GemmShape, Graph, GraphError, Node, OpKind, Role
from chiplab.perf.base import ModelBase
from chiplab.perf.common import node_bytes, precision_bytes, tensor_bytes, vector_counts, vector_time
from chiplab.perf.counts import READ, WRITE, Counts, Level, Max, Operand, Rates, Sum, cycles, evaluate, over
from chiplab.perf.passes import Plan
from chiplab.perf.registry import EstimateOptions, register
from chiplab.perf.result import Bound
from chiplab.perf.systolic_residency import Residency, plan_residency
from chiplab.perf.systolic_map import (DATAFLOWS, FLEXIBLE, dram_traffic, map_gemm, pipelined_cycles,
                                       psum_resident_plan, scalesim_cycles, scalesim_dram_traffic, sram_traffic)

SCALESIM_ACTIVE_FRACTION = 0.5   # SCALE-Sim's read buffers keep half active, half prefetching


@dataclass(frozen=True)
class ArrayView:
    """One systolic array and its three buffers, as the systolic counts see it. A
    :class:`SystolicArch` is one; an NPU's GEMM engine and a row-stationary array's
    memory side are described by one too (their own chip stays the chip)."""

    rows: int
    cols: int
    dataflow: str
    macs_per_pe: dict
    ifmap_sram: float
    filter_sram: float
    ofmap_sram: float
    ifmap_sram_bandwidth: float | None = None      # bytes per cycle
    filter_sram_bandwidth: float | None = None
    ofmap_sram_bandwidth: float | None = None
    ifmap_dram_bandwidth: float | None = None      # per-operand DRAM ports, bytes per cycle
    filter_dram_bandwidth: float | None = None
    ofmap_dram_bandwidth: float | None = None
    double_buffered: bool = True
    accumulator_bytes: int = 4
    conv_rows: str = "im2col"

    @classmethod
    def of(cls, arch: SystolicArch) -> "ArrayView":
        return cls(**{f.name: getattr(arch, f.name) for f in dataclasses.fields(cls)})


@register("systolic")
class SystolicModel(ModelBase):
    """Counts of a graph's layers on a :class:`SystolicArch` chip."""

    arch_type = SystolicArch
    compat_modes = ("default", "scalesim")

    def __init__(self, chip, options: EstimateOptions) -> None:
        super().__init__(chip, options)
        self.array = self.array_view()
        self.elem = precision_bytes(options.precision)
        self.mpp = self.array.macs_per_pe[options.precision]
        self.compat = options.compat == "scalesim"
        self.fuses = not self.compat          # SCALE-Sim has no fusion and no residency
        self.rates = Rates(chip)
        self.dram_bpc = chip.memory.dram_bandwidth / self.clock_hz     # bytes per cycle, may be inf
        if not self.dram_bpc > 0:
            raise ChiplabError(f"{chip.name}: memory.dram_bandwidth must be > 0")

    def array_view(self) -> ArrayView:
        return ArrayView.of(self.arch)

    def plan(self, graph: Graph, passes: Plan) -> dict[str, Residency]:
        if self.compat:
            return {}
        return plan_residency(graph, self.resident_capacity, self.precision, passes.fused, passes.chained)

    @property
    def resident_capacity(self) -> float:
        """Bytes of the ifmap buffer that can hold activations between layers (half of it
        when double-buffered: the other half streams the working tiles)."""
        return self.array.ifmap_sram * (0.5 if self.array.double_buffered else 1.0)

    # --- non-matrix ops
    def vector_counts(self, node: Node, res: Residency | None = None) -> Counts:
        """Vector-unit roofline: operands on chip (from the residency plan, or when the
        whole op fits in the ifmap SRAM) are read at SRAM rate, the rest from DRAM."""
        p = self.precision
        if res is None:
            read, written = node_bytes(node, p)
            on_read, on_written = (read, written) if read + written <= self.array.ifmap_sram else (0.0, 0.0)
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
            bpc = self.array.ifmap_sram_bandwidth or 2 * self.chip.vector.lanes * self.elem
            c = vector_counts(node, p, rate=bpc * self.clock_hz, memory=Bound.SRAM, rw_bytes=(read, written))
            return dataclasses.replace(c, time=Max((vector_time(node), cycles(Bound.SRAM, (read + written) / bpc))))
        return vector_counts(node, p, memory=Bound.DRAM, rw_bytes=(off_read, off_written),
                             onchip_rw_bytes=(on_read, on_written))

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

    def matrix_counts(self, node: Node, res: Residency | None = None) -> Counts:
        """A matrix layer. With ``dataflow: flexible`` the array is reconfigured per layer
        (as MAERI, Kwon et al. ASPLOS 2018, and Eyeriss v2, Chen et al. JETCAS 2019, are):
        each fixed dataflow is counted and the one with the fewest layer cycles wins; at
        equal cycles, fewer DRAM bytes; then the order of :data:`DATAFLOWS`."""
        if self.array.dataflow != FLEXIBLE:
            return self._dataflow_counts(node, res, self.array.dataflow)
        best, key, tried = None, None, []
        for df in DATAFLOWS:
            cn = self._dataflow_counts(node, res, df)
            k = (evaluate(cn.time, self.rates)[0], cn.bytes(Level.DRAM))
            tried.append(f"{df} {k[0]:.0f}")
            if key is None or k < key:
                best, key, chosen = cn, k, df
        best.notes.append(f"flexible array: {chosen} chosen for this layer (cycles: {', '.join(tried)})")
        return best

    def _dataflow_counts(self, node: Node, res: Residency | None, dataflow: str) -> Counts:
        """A matrix layer in one fixed dataflow. With ``conv_rows: channels`` a convolution's compute cycles come
        from the channels-only mapping (input channels on the rows, the R x S taps stepped
        in time as R*S products of depth C/groups), while its memory traffic and energy are
        those of the same layer lowered by im2col (the taps reuse the feature map); the
        slower of the two bounds the layer."""
        c = node.conv
        row = self._matrix_counts(node, res, dataflow)
        if self.array.conv_rows != "channels" or c is None or c.R * c.S == 1 or self.compat:
            return row
        g = node.gemm
        taps = GemmShape(M=g.M, N=g.N, K=c.C // c.groups, batch=g.batch * c.R * c.S, b_is_weight=g.b_is_weight)
        compute = self._matrix_counts(dataclasses.replace(node, gemm=taps), res, dataflow).compute_cycles
        mem_cycles = evaluate(row.time, self.rates)[0]
        note = "channels-only rows; memory-bound" if compute <= mem_cycles else f"channels-only rows: {c.R}x{c.S} taps in time"
        return dataclasses.replace(row, time=Max((row.time, cycles(Bound.COMPUTE, compute))), compute_cycles=compute,
                                   stall_cycles=None, notes=[*row.notes, note])

    def _matrix_counts(self, node: Node, res: Residency | None = None, dataflow: str | None = None) -> Counts:
        g = node.gemm
        if g is None:
            raise GraphError(f"{node.label}: matrix node without a GemmShape")
        a = self.array
        R, C = a.rows, a.cols
        M, N, K, batch = g.M, g.N, g.K, g.batch
        if self.compat and node.conv is not None:
            M = self._scalesim_pixels(node)
        df = dataflow or a.dataflow
        mp = map_gemm(M, N, K, R, C, df, self.mpp)
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
                # faster wins; at equal time, fewer DRAM bytes (no psum spill: less energy, and
                # bandwidth left for the other engines of an NPU that share the DRAM)
                if (max(compute2, batch * bytes2 / self.dram_bpc), bytes2) < (max(compute, batch * bytes1 / self.dram_bpc), bytes1):
                    compute, d_a, d_b, d_c, spill = compute2, a2, b2, c2, 0.0
                    chunked = True
        e = self.elem
        dram_a, dram_b = batch * d_a * e, batch * d_b * e
        if not self.compat:   # weight tensors beyond the B matrix (a bias) are read once too
            w = sum(tensor_bytes(t, self.precision) for t in node.inputs if t.role is Role.WEIGHT)
            dram_b += max(0.0, w - batch * K * N * e) if g.b_is_weight and not on[1] else 0.0
        dram_c = batch * (d_c * e + spill * acc)
        dram_bytes = dram_a + dram_b + dram_c

        # DRAM time: per-operand ports when described (bytes per cycle), else one shared channel
        ports = (a.ifmap_dram_bandwidth, a.filter_dram_bandwidth, a.ofmap_dram_bandwidth)
        has_ports = all(p is not None for p in ports)
        if has_ports:
            t_dram = max(dram_a / ports[0], dram_b / ports[1], dram_c / ports[2])
            bpc = sum(ports)
            dram_term = cycles(Bound.DRAM, t_dram)
        else:
            t_dram = dram_bytes / self.dram_bpc
            bpc = self.dram_bpc
            dram_term = over(Bound.DRAM, dram_bytes, "memory.dram_bandwidth")
        compute_term = cycles(Bound.COMPUTE, compute)
        if self.compat:
            # SCALE-Sim fills each active buffer before cycle 0 (its "incl. prefetch"
            # cycles); only the rest streams while the array runs
            pre = [a.ifmap_sram, a.filter_sram, a.ofmap_sram]
            rest = [max(0.0, x - SCALESIM_ACTIVE_FRACTION * p) for x, p in zip((dram_a, dram_b, dram_c), pre)]
            if has_ports:
                t_stream = max(r / p for r, p in zip(rest, ports))
                stream_term = cycles(Bound.DRAM, t_stream)
            else:
                t_stream = sum(rest) / self.dram_bpc
                stream_term = over(Bound.DRAM, sum(rest), "memory.dram_bandwidth")
            total = max(compute, t_stream)
            scalesim_stall = total - compute
            main = [compute_term, stream_term, dram_term]
        elif a.double_buffered:
            first = min(dram_bytes, 2.0 * R * C * e)
            first_tile = first / bpc
            first_term = cycles(Bound.DRAM, first_tile) if has_ports else over(Bound.DRAM, first, "memory.dram_bandwidth")
            total = max(compute, t_dram) + first_tile
            main = [Sum((Max((compute_term, dram_term)), first_term))]
        else:
            total = compute + t_dram
            main = [Sum((compute_term, dram_term))]

        # SRAM bandwidth limits (only when the chip gives them; bytes per cycle)
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
        time = Max((*main, cycles(Bound.SRAM, t_sram), cycles(Bound.COMPUTE, node.macs / self.peak_macs_per_cycle),
                    dram_term))

        notes.insert(0, f"{df} {R}x{C}: {mp.row_folds}x{mp.col_folds} folds x{batch}, "
                        f"mapping eff {mp.mapping_efficiency:.0%}")
        if chunked:
            notes.append("streamed extent chunked so psums stay in the ofmap buffer")
        kept = [w for w, o in zip(("input", "second operand", "output"), self._operands_on_chip(node, res)) if o]
        if kept and not self.compat:
            notes.append(f"on chip between layers: {', '.join(kept)}")
        if math.isinf(self.dram_bpc) and not has_ports:
            notes.append("stall-free (infinite DRAM bandwidth)")
        cn = Counts(time=time, unit="array", macs=node.macs, compute_cycles=float(compute),
                    stall_cycles=float(scalesim_stall) if self.compat else None, notes=notes)
        spill_half = batch * spill * acc / 2
        cn.add(Level.DRAM, Operand.INPUT, READ, dram_a).add(Level.DRAM, Operand.WEIGHT, READ, dram_b)
        cn.add(Level.DRAM, Operand.PSUM, READ, spill_half).add(Level.DRAM, Operand.PSUM, WRITE, spill_half)
        cn.add(Level.DRAM, Operand.OUTPUT, WRITE, dram_c - 2 * spill_half)
        cn.add(Level.SRAM, Operand.INPUT, READ, batch * s_a * e).add(Level.SRAM, Operand.WEIGHT, READ, batch * s_b * e)
        cn.add(Level.SRAM, Operand.PSUM, READ, batch * s_cr * acc).add(Level.SRAM, Operand.OUTPUT, READ, dram_c)
        cn.add(Level.SRAM, Operand.PSUM, WRITE, batch * s_cw * acc)
        return cn.add(Level.SRAM, Operand.INPUT, WRITE, dram_a).add(Level.SRAM, Operand.WEIGHT, WRITE, dram_b)
