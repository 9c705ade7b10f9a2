"""Many systolic design points priced at once, with numpy: the same numbers as
:func:`chiplab.estimate` per point (``tests/explore/test_batch_exact.py`` checks rel 1e-9).

:func:`price_many` takes one captured graph and P chips and returns each point's
``latency_s``, ``energy_j``, ``power_w`` and ``batch`` — the figures
:class:`chiplab.explore.evaluate.Evaluator` reads from an :class:`~chiplab.perf.result.Estimate`
— or ``None`` for a point it does not handle, which the caller must estimate with the
scalar :func:`chiplab.estimate` (never an approximation).

**Vectorised** (arrays of shape layers × points), mirroring the scalar code branch by
branch with ``np.where``:

* matrix layers of :class:`~chiplab.perf.arch_systolic.SystolicModel` in default mode
  (``_matrix_counts``): folding for the three dataflows (and ``dataflow: flexible``: every
  layer priced in all three, the fewest cycles kept, ties to fewer DRAM bytes then os/ws/is), ``macs_per_pe`` scaling,
  pipelined compute cycles, array-side SRAM traffic, DRAM tiling traffic (``dram_traffic``),
  the psum-resident alternative (``psum_resident_plan``) with its tie rule, activations kept
  on chip by the residency plan, the bias bytes, double/single buffering with the first-tile
  term, the roofline floor, and the bound of the ``Max``/``Sum`` time expression (ties to the
  first term, as :func:`chiplab.perf.counts.evaluate` does);
* vector-unit layers (``SystolicModel.vector_counts`` with its residency: SRAM-rate
  roofline when every operand is on chip, DRAM otherwise), fused tails
  (:func:`~chiplab.perf.common.fused_counts`) and their overlap with their head
  (:func:`~chiplab.perf.price.overlap_fused`), host-link rows, views;
* energy from the chip's energy table per point, and the TDP cap
  (:func:`~chiplab.perf.power.apply_tdp_cap`'s bisection, vectorised over points).

The residency plan depends only on ``ifmap_sram × (0.5 if double_buffered)`` and the
precision: it is computed once per distinct capacity (cached per workload).

**Not vectorised** (the point comes back ``None``): arch kinds other than ``systolic``,
``--compat scalesim``, ``conv_rows: channels``, SRAM bandwidths or per-operand DRAM ports
given, a precision the array or energy table lacks, a workload over ``memory.dram_capacity``
(the scalar path raises its ``CapacityError``; the check is done once per precision here), a static power at or over the TDP,
and any result that is not finite or not positive (the scalar path names the error).
Graphs with HW_BLOCK nodes or op kinds the systolic model does not price are not handled
at all. The ``Estimate`` itself (layers, notes, timeline) is not built.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from chiplab.ir.graph import Graph, OpKind, Role
from chiplab.perf.common import graph_outputs, node_bytes, precision_bytes, tensor_bytes
from chiplab.perf.counts import Rates
from chiplab.perf.systolic_map import DATAFLOWS, FLEXIBLE

_CACHE_LIMIT = 64   # residency plans kept per workload (one per distinct capacity and precision)


@dataclass(frozen=True)
class PointResult:
    """What :class:`~chiplab.perf.result.Estimate` would report for one point (whole batch)."""

    latency_s: float
    energy_j: float
    power_w: float
    batch: int


def unsupported(chip: Any) -> str | None:
    """Why ``chip`` must go through the scalar estimate, or None when :func:`price_many` handles it."""
    from chiplab.hw.arch.systolic import SystolicArch

    a = chip.arch
    if getattr(a, "kind", None) != "systolic" or type(a) is not SystolicArch:
        return f"arch kind {getattr(a, 'kind', '?')!r}"
    if a.conv_rows != "im2col":
        return "conv_rows: channels"
    if any(getattr(a, f) is not None for f in ("ifmap_sram_bandwidth", "filter_sram_bandwidth", "ofmap_sram_bandwidth",
                                                "ifmap_dram_bandwidth", "filter_dram_bandwidth", "ofmap_dram_bandwidth")):
        return "SRAM bandwidths or per-operand DRAM ports"
    p = chip.native_precision
    if p not in a.macs_per_pe or p not in chip.energy.mac:
        return f"precision {p}"
    if not chip.memory.dram_bandwidth / chip.clock_hz > 0:
        return "memory.dram_bandwidth"
    return None


class BatchWorkload:
    """One graph's static per-layer arrays, computed once (see the module doc)."""

    def __init__(self, graph: Graph) -> None:
        from chiplab.perf.memory import tag_state
        from chiplab.perf.passes import parse_passes, run_passes

        graph = tag_state(graph)
        self.graph = graph
        self.batch = int(graph.meta.get("batch", 1))
        self.passes = run_passes(graph, parse_passes(None, True))
        self.reason: str | None = None
        fused = self.passes.fused
        self.matrix, self.vector, self.fused = [], [], []
        for n in graph.nodes:
            if n.name in fused:
                self.fused.append(n)
            elif n.op.is_matrix and n.gemm is not None:
                self.matrix.append(n)
            elif n.op.is_vector:
                self.vector.append(n)
            elif n.op is not OpKind.VIEW:
                self.reason = f"{n.label}: op kind {n.op.value!r}"
        self.midx = {n.name: i for i, n in enumerate(self.matrix)}
        self.heads = np.array([self.midx.get(fused[n.name], -1) for n in self.fused], dtype=np.int64)
        if (self.heads < 0).any():
            self.reason = "a fused node whose head is not a matrix layer"
        g = [n.gemm for n in self.matrix]
        col = lambda xs: np.array(xs, dtype=np.int64)[:, None]   # noqa: E731 - layers on axis 0
        self.M, self.N, self.K = col([x.M for x in g]), col([x.N for x in g]), col([x.K for x in g])
        self.B = col([x.batch for x in g])
        self.a_unique = col([self._a_unique(n) for n in self.matrix])
        self.b_is_weight = np.array([x.b_is_weight for x in g], dtype=bool)[:, None]
        self.macs = np.array([float(n.macs) for n in self.matrix])[:, None]
        self.v_ops = np.array([float(n.vector_ops) for n in self.vector])[:, None]
        self.f_ops = np.array([float(n.vector_ops) for n in self.fused])[:, None]
        self._static: dict[str, dict] = {}
        self._plans: dict[tuple[str, float], dict] = {}

    @staticmethod
    def _a_unique(node) -> int:
        g, c = node.gemm, node.conv
        if c is not None:
            return min(c.N * (c.C // c.groups) * c.H * c.W, g.M * g.K)
        return g.M * g.K

    def static(self, p: str) -> dict:
        """Per-precision byte counts that do not depend on the plan."""
        s = self._static.get(p)
        if s is None:
            w = [sum(tensor_bytes(t, p) for t in n.inputs if t.role is Role.WEIGHT) for n in self.matrix]
            nin = sum(tensor_bytes(t, p) for t in self.graph.inputs if t.role not in (Role.WEIGHT, Role.STATE))
            nout = sum(tensor_bytes(t, p) for t in graph_outputs(self.graph))
            from chiplab.perf.memory import device_memory

            s = self._static[p] = {"w": np.array(w, dtype=float)[:, None], "host": (nin, nout),
                                   "memory": device_memory(self.graph, p).total}
        return s

    def plan(self, p: str, capacity: float) -> dict:
        """Residency-dependent arrays for one capacity (cached): matrix operands on chip, vector
        rows' on/off-chip bytes, fused rows' side-operand bytes."""
        key = (p, capacity)
        got = self._plans.get(key)
        if got is not None:
            return got
        from chiplab.perf.arch_systolic import SystolicModel
        from chiplab.perf.systolic_residency import plan_residency

        plan = plan_residency(self.graph, capacity, p, self.passes.fused, self.passes.chained)
        on = np.array([SystolicModel._operands_on_chip(n, plan.get(n.name)) for n in self.matrix],
                      dtype=bool).reshape(len(self.matrix), 3)
        vec = []
        for n in self.vector:
            res = plan[n.name]
            if n.op is OpKind.EMBEDDING:
                on_r, read = 0.0, node_bytes(n, p)[0]
            else:
                on_r = sum(tensor_bytes(t, p) for t, o in zip(n.inputs, res.inputs_on_chip) if o)
                read = sum(tensor_bytes(t, p) for t in n.inputs)
            written = sum(tensor_bytes(t, p) for t in n.outputs)
            on_w = written if res.output_on_chip else 0.0
            vec.append((read, written, on_r, on_w, read - on_r, written - on_w))
        fz = []
        for n in self.fused:
            res = plan.get(n.name)
            flags = getattr(res, "inputs_on_chip", None)
            dram = sram = 0.0
            for i in self.passes.side.get(n.name, ()):
                b = tensor_bytes(n.inputs[i], p)
                if flags is not None and i < len(flags) and flags[i]:
                    sram += b
                else:
                    dram += b
            fz.append((dram, sram, bool(self.passes.side.get(n.name, ()))))
        v = np.array(vec, dtype=float).reshape(len(self.vector), 6)
        f = np.array(fz, dtype=float).reshape(len(self.fused), 3)
        got = {"a_on": on[:, 0], "b_on": on[:, 1], "c_on": on[:, 2], "v": v, "f": f}
        if len(self._plans) >= _CACHE_LIMIT:
            self._plans.clear()
        self._plans[key] = got
        return got


def _term(amount, div, clock):
    """A ``Term`` with ``div`` rates (arrays), evaluated like :func:`chiplab.perf.counts.evaluate`."""
    v = amount
    for d in div:
        v = v / d
    v = np.where(np.isfinite(v), v * clock, v)
    return np.where(amount == 0, 0.0, v)


def _max(parts):
    """``Max`` of (value, clocked) parts: first strict maximum wins, all-zero goes to the last."""
    best, bc = parts[0]
    for v, c in parts[1:]:
        gt = v > best
        best, bc = np.where(gt, v, best), np.where(gt, c, bc)
    pos = best > 0
    return np.where(pos, best, 0.0), np.where(pos, bc, parts[-1][1])


def _sum(parts):
    """``Sum`` of (value, clocked) parts: the bound is the first largest part's."""
    total = parts[0][0]
    for v, _ in parts[1:]:
        total = total + v
    best, bc = parts[0]
    for v, c in parts[1:]:
        gt = v > best
        best, bc = np.where(gt, v, best), np.where(gt, c, bc)
    return total, bc


def _cdiv(a, b):
    return -(-a // b)


def _matrix(w: BatchWorkload, pts: dict, os_, ws, on, e: float, static: dict) -> dict:
    """Matrix layers (``SystolicModel._matrix_counts``, default mode), layers × points; ``pts`` holds
    the points' row arrays, ``os_``/``ws`` the dataflow masks (neither: ``is``), ``on`` the
    residency flags of A, B and C."""
    M, N, K, B = w.M, w.N, w.K, w.B
    R, C, mpp, acc, dbuf, clock, bw = (pts[k] for k in ("R", "C", "mpp", "acc", "dbuf", "clock", "bw"))
    cap_a, cap_b, cap_c, dram_bpc, peak = (pts[k] for k in ("cap_a", "cap_b", "cap_c", "dram_bpc", "peak"))
    k_mac, k_sr, k_sw, k_dr, k_dw = (pts[k] for k in ("k_mac", "k_sr", "k_sw", "k_dr", "k_dw"))
    Sr = np.where(os_, M, K)
    Sc = np.where(os_, N, np.where(ws, N, M))
    T0 = np.where(os_, K, np.where(ws, M, N))
    T = np.where(mpp == 1, T0, np.ceil(T0 / mpp).astype(np.int64))
    rf, cf = _cdiv(Sr, R), _cdiv(Sc, C)
    folds = rf * cf
    fill = 2 * R + C - 2
    compute = B * folds * np.maximum(T, R) + fill
    compute = np.maximum(compute, folds * np.maximum(T, R) + fill)
    # array-side SRAM traffic (elements)
    s_a = np.where(os_ | ws, M * K * cf, M * K)
    s_b = np.where(os_, K * N * rf, np.where(ws, K * N, K * N * cf))
    s_cw = np.where(os_, M * N, M * N * rf)
    s_cr = np.where(os_, 0, M * N * (rf - 1))
    # DRAM tiling (dram_traffic)
    au = w.a_unique
    a_sw = np.where(au <= cap_a, 1, cf)
    d_a = np.where(os_ | ws, au * a_sw, au)
    b_sw_os = np.where(K * np.minimum(N, C) <= cap_b, 1, rf)
    b_sw_is = np.where(K * N <= cap_b, 1, cf)
    d_b = np.where(os_, K * N * b_sw_os, np.where(ws, K * N, K * N * b_sw_is))
    d_c = M * N + 0 * R
    psum_w = np.where(ws, M * np.minimum(N, C), np.minimum(M, C) * N) * 1.0
    spill = np.where(~os_ & (rf > 1) & (psum_w > cap_c), 2.0 * M * N * (rf - 1), 0.0)
    d_a, d_b, d_c = [np.where(o, 0, x).astype(float) for o, x in zip(on, (d_a, d_b, d_c))]
    # the psum-resident alternative (psum_resident_plan) and its tie rule
    width = np.minimum(np.where(ws, N, M), C)
    extent = np.where(ws, M, N)
    alt = ~os_ & (rf > 1) & ~(extent * width <= cap_c)
    chunk = np.maximum(1, np.floor_divide(cap_c, width)).astype(np.int64)
    chunks = _cdiv(extent, chunk)
    t = np.where(mpp == 1, chunk, np.ceil(chunk / mpp).astype(np.int64))
    stream = chunks * folds * np.maximum(t, R)
    a_fits = au <= cap_a
    a2 = np.where(ws, np.where(a_fits, au, au * cf), au * np.where(a_fits, 1, chunks))
    b2 = np.where(ws, K * N * np.where(K * N <= cap_b, 1, chunks), K * N)
    c2 = M * N + 0 * R
    a2, b2, c2 = [np.where(o, 0, x).astype(float) for o, x in zip(on, (a2, b2, c2))]
    compute2 = B * stream + fill
    bytes1 = (d_a + d_b + d_c) * e + spill * acc
    bytes2 = (a2 + b2 + c2) * e
    x2, x1 = np.maximum(compute2, B * bytes2 / dram_bpc), np.maximum(compute, B * bytes1 / dram_bpc)
    take = alt & ((x2 < x1) | ((x2 == x1) & (bytes2 < bytes1)))
    compute = np.where(take, compute2, compute).astype(float)
    d_a, d_b, d_c = np.where(take, a2, d_a), np.where(take, b2, d_b), np.where(take, c2, d_c)
    spill = np.where(take, 0.0, spill)
    dram_a, dram_b = B * d_a * e, B * d_b * e
    bias = np.maximum(0.0, static["w"] - B * K * N * e)
    dram_b = dram_b + np.where(w.b_is_weight & ~on[1], bias, 0.0)
    dram_c = B * (d_c * e + spill * acc)
    dram_bytes = dram_a + dram_b + dram_c
    # time: Max((main, SRAM 0, roofline compute, dram_term)), main by buffering
    dram_t = _term(dram_bytes, (bw,), clock)
    comp_t = np.where(compute == 0, 0.0, compute)
    first_t = _term(np.minimum(dram_bytes, 2.0 * R * C * e), (bw,), clock)
    inner = _max([(comp_t, True), (dram_t, False)])
    main_db = _sum([inner, (first_t, False)])
    main_sb = _sum([(comp_t, True), (dram_t, False)])
    main = (np.where(dbuf, main_db[0], main_sb[0]), np.where(dbuf, main_db[1], main_sb[1]))
    roof = w.macs / peak
    cyc, clk = _max([main, (np.zeros_like(comp_t), True), (np.where(roof == 0, 0.0, roof), True), (dram_t, False)])
    m_lat = cyc / clock
    spill_half = B * spill * acc / 2
    sram_r = B * s_a * e + B * s_b * e + B * s_cr * acc + dram_c
    sram_w = B * s_cw * acc + dram_a + dram_b
    dram_r, dram_w = dram_a + dram_b + spill_half, spill_half + (dram_c - 2 * spill_half)
    off = dram_r * k_dr + dram_w * k_dw
    energy = w.macs * k_mac + sram_r * k_sr + sram_w * k_sw + off
    m_dram_s = np.where((dram_r + dram_w) != 0, (dram_r + dram_w) / bw, 0.0)
    # the flexible array's tie key: DRAM bytes summed as Counts.bytes(Level.DRAM) sums them
    dkey = dram_a + dram_b + spill_half + spill_half + (dram_c - 2 * spill_half)
    return {"cyc": cyc, "clk": clk, "lat": m_lat, "energy": energy, "off": off, "dram_s": m_dram_s, "dkey": dkey}


def price_many(work: "BatchWorkload | Graph", chips: list) -> list[PointResult | None]:
    """Each chip's figures for ``work``, or None where the scalar estimate must run (see the module doc)."""
    if not isinstance(work, BatchWorkload):
        work = BatchWorkload(work)
    out: list[PointResult | None] = [None] * len(chips)
    if work.reason is not None:
        return out
    groups: dict[str, list[int]] = {}
    for i, c in enumerate(chips):
        if unsupported(c) is None:
            cap = c.memory.dram_capacity     # over capacity: the scalar path raises its CapacityError
            if cap is None or work.static(c.native_precision)["memory"] <= cap:
                groups.setdefault(c.native_precision, []).append(i)
    for p, idx in groups.items():
        lat, en, pw, ok = _price(work, [chips[i] for i in idx], p)
        for j, i in enumerate(idx):
            if ok[j]:
                out[i] = PointResult(float(lat[j]), float(en[j]), float(pw[j]), work.batch)
    return out


def _price(w: BatchWorkload, chips: list, p: str):
    P = len(chips)
    row = lambda xs, dt=float: np.array(xs, dtype=dt)[None, :]   # noqa: E731 - points on axis 1
    arch = [c.arch for c in chips]
    rates = [Rates(c) for c in chips]
    e = precision_bytes(p)
    R, C = row([a.rows for a in arch], np.int64), row([a.cols for a in arch], np.int64)
    mpp = row([a.macs_per_pe[p] for a in arch])
    df = [a.dataflow for a in arch]
    os_, ws = row([d == "os" for d in df], bool), row([d == "ws" for d in df], bool)
    half = row([0.5 if a.double_buffered else 1.0 for a in arch])
    dbuf = row([a.double_buffered for a in arch], bool)
    acc = row([a.accumulator_bytes for a in arch])
    clock = row([r.clock_hz for r in rates])
    bw = row([r["memory.dram_bandwidth"] for r in rates])
    dram_bpc = row([c.memory.dram_bandwidth / c.clock_hz for c in chips])
    lanes = row([r["vector.lanes"] for r in rates])
    vclk = row([r["vector_clock_hz"] for r in rates])
    peak = row([a.peak_macs_per_cycle(p) for a in arch])
    en = [c.energy for c in chips]
    k_mac = row([x.mac_energy(p) for x in en])
    k_sr, k_sw = row([x.sram_read_per_byte for x in en]), row([x.sram_write_per_byte for x in en])
    k_dr, k_dw = row([x.dram_read_per_byte for x in en]), row([x.dram_write_per_byte for x in en])
    k_vec, k_host = row([x.vector_op for x in en]), row([x.host_link_per_byte for x in en])

    # residency: one plan per distinct capacity, gathered per point
    caps = [a.ifmap_sram * (0.5 if a.double_buffered else 1.0) for a in arch]
    distinct = sorted(set(caps))
    plans = [w.plan(p, cap) for cap in distinct]
    ci = np.array([distinct.index(cap) for cap in caps], dtype=np.int64)
    pick = lambda k: np.stack([pl[k] for pl in plans], axis=-1)[..., ci]   # noqa: E731

    static = w.static(p)
    lat_rows, clk_rows, e_rows, chip_e_rows = [], [], [], []

    def add(lat, clk, energy, off_chip):
        lat_rows.append(lat.sum(axis=0) if lat.ndim == 2 else lat)
        clk_rows.append((lat * clk).sum(axis=0) if lat.ndim == 2 else lat * clk)
        e_rows.append(energy.sum(axis=0) if energy.ndim == 2 else energy)
        chip_e_rows.append((energy - off_chip).sum(axis=0) if energy.ndim == 2 else energy - off_chip)

    # ---- matrix layers (SystolicModel.matrix_counts, default mode)
    if len(w.matrix):
        x = {"R": R, "C": C, "mpp": mpp, "acc": acc, "dbuf": dbuf, "clock": clock, "bw": bw, "dram_bpc": dram_bpc,
             "peak": peak, "k_mac": k_mac, "k_sr": k_sr, "k_sw": k_sw, "k_dr": k_dr, "k_dw": k_dw,
             "cap_a": row([a.ifmap_sram for a in arch]) * half / e, "cap_b": row([a.filter_sram for a in arch]) * half / e,
             "cap_c": row([a.ofmap_sram for a in arch]) * half / acc}
        on = pick("a_on"), pick("b_on"), pick("c_on")
        m = _matrix(w, x, os_, ws, on, e, static)
        flex = np.flatnonzero(np.array([d == FLEXIBLE for d in df]))
        if flex.size:   # a flexible array: each layer in every dataflow, the fewest cycles, then DRAM bytes
            xs, ons = {k: v[:, flex] for k, v in x.items()}, tuple(o[:, flex] for o in on)
            best = None
            for d in DATAFLOWS:
                mask = np.full((1, flex.size), True)
                got = _matrix(w, xs, mask & (d == "os"), mask & (d == "ws"), ons, e, static)
                if best is None:
                    best = got
                    continue
                take = (got["cyc"] < best["cyc"]) | ((got["cyc"] == best["cyc"]) & (got["dkey"] < best["dkey"]))
                best = {k: np.where(take, got[k], best[k]) for k in best}
            for k in m:
                m[k] = np.array(m[k], dtype=np.result_type(m[k], best[k]))
                m[k][:, flex] = best[k]
        m_lat, m_dram_s = m["lat"], m["dram_s"]
        add(m_lat, m["clk"], m["energy"], m["off"])
    else:
        m_lat = m_dram_s = np.zeros((0, P))

    # ---- vector-unit layers (SystolicModel.vector_counts with residency)
    if len(w.vector):
        v = pick("v")             # (layers, 6, points)
        read, written, on_r, on_w, off_r, off_w = (v[:, i, :] for i in range(6))
        vt = _term(w.v_ops, (lanes, vclk), clock)
        all_on = (off_r + off_w) == 0
        bpc = 2 * lanes * e
        sram_t = (read + written) / bpc
        sram_t = np.where(sram_t == 0, 0.0, sram_t)
        dram_t = _term(off_r + off_w, (bw,), clock)
        mem_t = np.where(all_on, sram_t, dram_t)
        cyc, clk = _max([(vt, True), (mem_t, all_on)])
        lat = cyc / clock
        off = np.where(all_on, 0.0, off_r * k_dr + off_w * k_dw)
        sram_rw = np.where(all_on, read * k_sr + written * k_sw, on_r * k_sr + on_w * k_sw)
        energy = w.v_ops * k_vec + sram_rw + off
        add(lat, clk, energy, off)

    # ---- fused tails (fused_counts) hidden under their heads (overlap_fused)
    if len(w.fused):
        f = pick("f")
        dram, sram, has_side = f[:, 0, :], f[:, 1, :], f[:, 2, :] > 0
        vt = _term(w.f_ops, (lanes, vclk), clock)
        dt = _term(dram, (bw,), clock)
        cyc_s, clk_s = _max([(vt, True), (dt, False)])
        cyc = np.where(has_side, cyc_s, vt)
        clk = np.where(has_side, clk_s, True)
        t_v = vt / clock
        t_d = np.where(has_side, dt / clock, 0.0)
        budget_v = m_lat.copy()
        budget_d = np.maximum(0.0, m_lat - m_dram_s)
        lat = np.empty_like(cyc)
        for j, h in enumerate(w.heads):
            hv, hd = budget_v[h], budget_d[h]
            lat[j] = np.maximum(np.maximum(0.0, t_v[j] - hv), t_d[j] - hd)
            budget_v[h], budget_d[h] = np.maximum(0.0, hv - t_v[j]), np.maximum(0.0, hd - t_d[j])
        off = dram * k_dr
        energy = w.f_ops * k_vec + off + sram * k_sr
        add(lat, clk, energy, off)

    # ---- host link rows
    nin, nout = static["host"]
    has_link = np.array([c.host_link is not None for c in chips])
    if has_link.any():
        h_lat = np.array([c.host_link.latency if c.host_link is not None else 0.0 for c in chips])
        h_bw = np.array([c.host_link.bandwidth if c.host_link is not None else 1.0 for c in chips])
        for nb in (nin, nout):
            if nb > 0:
                t1 = _term(h_lat, (), clock[0])
                t2 = _term(np.full(P, float(nb)), (h_bw,), clock[0])
                lat = np.where(has_link, (t1 + t2) / clock[0], 0.0)
                energy = np.where(has_link, nb * k_host[0], 0.0)
                add(lat, np.zeros(P, bool), energy, energy)

    # ---- totals and the TDP cap (apply_tdp_cap, bisection vectorised over points)
    latency = np.sum(lat_rows, axis=0)
    t_clk = np.sum(clk_rows, axis=0)
    t_un = latency - t_clk
    dyn = np.sum(e_rows, axis=0)
    e_chip = np.sum(chip_e_rows, axis=0)
    static_w = np.array([c.energy.static_power for c in chips])
    tdp = np.array([c.power.tdp if c.power.tdp is not None else np.inf for c in chips])
    ok = np.isfinite(latency) & (latency > 0) & np.isfinite(dyn)
    with np.errstate(divide="ignore", invalid="ignore"):
        p_full = static_w + e_chip / latency
        capped = ok & (p_full > tdp)
        ok &= ~(capped & (static_w >= tdp))          # the scalar path raises: let it
        if capped.any():
            def power_at(s):
                t = t_clk / s + t_un
                return np.where(t > 0, static_w + e_chip / t, 0.0)

            lo, hi = np.full(P, 1e-4), np.ones(P)
            stuck = power_at(lo) > tdp
            hi = np.where(stuck, 1e-4, hi)
            for _ in range(60):
                mid = (lo + hi) / 2
                over = power_at(mid) > tdp
                hi, lo = np.where(over, mid, hi), np.where(over, lo, mid)
            s = np.where(capped, lo, 1.0)
            latency = np.where(capped, t_clk / s + t_un, latency)
        energy_j = dyn + static_w * latency
        power = np.where(latency > 0, energy_j / latency, 0.0)
    ok &= np.isfinite(energy_j) & np.isfinite(power)
    return latency, energy_j, power, ok


__all__ = ["BatchWorkload", "PointResult", "price_many", "unsupported"]
