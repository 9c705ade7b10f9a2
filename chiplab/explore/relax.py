"""A differentiable relaxation of the systolic model, for gradient co-design (``bench/codesign.py``).

The exact model (:mod:`chiplab.perf.arch_systolic`, :mod:`chiplab.perf.systolic_map`) is rewritten
in torch (float64) over a batch of design points and all layers of a captured graph at once, as a
function of continuous **log** parameters: rows, cols, the three SRAM sizes, clock, DRAM bandwidth
(:data:`RELAXED`). The dataflow is categorical: one relaxation per dataflow, optimised separately.
What is relaxed, and how:

* ``ceil`` (folds ``ceil(Sr/R)``, chunk counts, DRAM PHYs): straight-through: the forward value is
  the exact ``ceil(max(x, 1))``, the gradient that of ``softplus``-smoothed ``max(x, 1)``.
* ``max`` / ``min`` (per-fold ``max(T, R)``, compute vs DRAM, ``min(N, cols)``, the worst power over
  workloads): p-norms, ``(a^p + b^p)^(1/p)`` with ``p = sharpness`` (over-estimates an exact tie by
  ``2^(1/p)``).
* "fits in its buffer" decisions (operand re-sweeps, psum spill): ``sigmoid(log(cap/footprint)/tau)``.
* the ws/is psum-resident loop order (:func:`~chiplab.perf.systolic_map.psum_resident_plan`):
  a sigmoid mixture of the two plans by ``log`` of their time ratio.
* with ``hard=True`` (the default) these sigmoids are straight-through too: the exact decision
  forward, the sigmoid's gradient backward. Fully smooth (``hard=False``) was measured worse: a
  psum buffer 1.3x larger than the psums still spills ``sigmoid(-1.3/tau)`` of them, times the row
  folds (up to 288), which put single designs off by up to 5.3x in EDP (docs/explore.md).
* activation residency between layers (a greedy, discrete plan): the exact plan is computed at a
  grid of ifmap capacities (the space's choices) and interpolated linearly in log capacity; so are
  the byte counts of the non-matrix layers, whose time is their roofline ``max(vector, bytes/bw)``.
* fused element-wise tails are hidden under their head as in :func:`chiplab.perf.price.overlap_fused`
  (each one's excess over what is left of its head's time, in order).

Area is :func:`chiplab.hw.area.area` term by term (same cited tables). Here only **hardware**
parameters are co-optimised: the space's workloads are fixed networks with no accuracy model, so a
width multiplier would only ever shrink them. ``metrics(..., shapes=...)`` takes layer shapes as
torch tensors instead; :mod:`chiplab.explore.joint` uses it to train a network's channel widths
together with the hardware, with an accuracy term.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from chiplab.errors import ChiplabError
from chiplab.explore.space import Space

RELAXED = ("arch.rows", "arch.cols", "arch.ifmap_sram", "arch.filter_sram", "arch.ofmap_sram", "arch.clock",
           "memory.dram_bandwidth")
COVERED = (*RELAXED, "arch.dataflow")
DT = torch.float64
TINY = 1e-30


class RelaxError(ChiplabError):
    """A space or chip the relaxation does not cover."""


def st_ceil(x: torch.Tensor) -> torch.Tensor:
    """``ceil(max(x, 1))`` forward; the gradient of ``1 + softplus(x - 1)``."""
    soft = 1.0 + torch.nn.functional.softplus(x - 1.0)
    return soft + (torch.clamp(torch.ceil(x - 1e-9), min=1.0) - soft).detach()


def smax(a: torch.Tensor, b: Any, p: float) -> torch.Tensor:
    a, b = torch.broadcast_tensors(torch.as_tensor(a, dtype=DT), torch.as_tensor(b, dtype=DT))
    a, b = a.clamp(TINY, 1 / TINY), b.clamp(TINY, 1 / TINY)      # a zero (no DRAM bytes) has no log
    return torch.exp(torch.logsumexp(torch.stack((p * torch.log(a), p * torch.log(b))), 0) / p)


def smin(a: torch.Tensor, b: Any, p: float) -> torch.Tensor:
    a, b = torch.as_tensor(a, dtype=DT).clamp(min=TINY), torch.as_tensor(b, dtype=DT).clamp(min=TINY)
    return 1.0 / smax(1.0 / a, 1.0 / b, p)


def _t(xs: list[float]) -> torch.Tensor:
    return torch.tensor(xs, dtype=DT)


@dataclass
class _Workload:
    name: str
    weight: float
    mat: dict[str, torch.Tensor]          # per matrix layer: M N K batch a_u extra_w macs; on_a/b/c [L, G]
    vec: dict[str, torch.Tensor]          # per vector layer: ops, dram_r, dram_w, sram_r, sram_w, onchip [V, G]
    tails: list[tuple[int, int]]          # fused tails in order: (vector index, head's matrix index)
    fixed_s: float                        # host transfers (independent of the parameters)
    fixed_j: float


class Relaxation:
    """The relaxed metrics of ``space`` (a systolic base chip) on its workloads' graphs."""

    def __init__(self, space: Space, graphs: dict[str, Any], sharpness: float = 20.0, tau: float = 0.05,
                 hard: bool = True) -> None:
        chip = space.base
        if chip.arch.kind != "systolic":
            raise RelaxError(f"{space.origin}: base: the relaxation covers systolic chips, not {chip.arch.kind!r}")
        batched = [w.name for w in space.spec.workloads if w.batch != 1]
        if batched:
            raise RelaxError(f"{space.origin}: workloads.{batched[0]}: the relaxation covers batch 1 only")
        extra = [p for p in space.spec.parameters if p not in COVERED]
        if extra:
            raise RelaxError(f"{space.origin}: parameters.{extra[0]}: not covered by the relaxation "
                             f"(covered: {', '.join(COVERED)})")
        if chip.arch.conv_rows != "im2col" or not chip.arch.double_buffered or chip.vector.clock is not None \
                or chip.power.tdp is not None or chip.arch.ifmap_sram_bandwidth is not None:
            raise RelaxError(f"{chip.name}: the relaxation covers double-buffered im2col arrays without SRAM "
                             "bandwidths, vector clock or TDP")
        self.space, self.p, self.tau, self.hard = space, sharpness, tau, hard
        self.prec = chip.native_precision
        from chiplab.perf.common import precision_bytes

        self.elem = precision_bytes(self.prec)
        self.acc = chip.arch.accumulator_bytes
        self.mpp = chip.arch.macs_per_pe[self.prec]
        if self.mpp != 1:
            raise RelaxError(f"{chip.name}: arch.macs_per_pe.{self.prec}: the relaxation assumes 1")
        e = chip.energy
        self.e = {"mac": e.mac_energy(self.prec, chip.name), "sr": e.sram_read_per_byte, "sw": e.sram_write_per_byte,
                  "dr": e.dram_read_per_byte, "dw": e.dram_write_per_byte, "vec": e.vector_op}
        self.static_w = e.static_power
        self.tied_lanes = any(s == "arch.cols" for t, s in space.spec.tied.items() if t == "vector.lanes")
        # parameter ranges (log), and each one's legal values (choices) when it has them
        self.lo, self.hi, self.choices, self.base_x = [], [], {}, []
        for path in RELAXED:
            p = space.spec.parameters.get(path)
            v0 = float(_field(chip, path))
            self.base_x.append(math.log(v0))
            if p is None:
                self.lo.append(math.log(v0)), self.hi.append(math.log(v0))
            elif p.choices is not None:
                vals = sorted(float(space._si(path, c, path)) for c in p.choices)
                self.choices[path] = list(zip(vals, sorted(p.choices, key=lambda c: space._si(path, c, path))))
                self.lo.append(math.log(vals[0])), self.hi.append(math.log(vals[-1]))
            else:
                lo, hi = space.bounds[path]
                self.lo.append(math.log(lo)), self.hi.append(math.log(hi))
        dp = space.spec.parameters.get("arch.dataflow")
        self.dataflows = list(dp.choices) if dp is not None else [chip.arch.dataflow]
        if "flexible" in self.dataflows:
            raise RelaxError(f"{space.origin}: arch.dataflow: flexible is not covered by the relaxation")
        # residency grid: the ifmap capacities the plans are tabulated at
        i = RELAXED.index("arch.ifmap_sram")
        if "arch.ifmap_sram" in self.choices:
            self.grid = [v for v, _ in self.choices["arch.ifmap_sram"]]
        else:
            self.grid = [math.exp(self.lo[i] + (self.hi[i] - self.lo[i]) * k / 7) for k in range(8)] \
                if self.hi[i] > self.lo[i] else [math.exp(self.lo[i])]
        self.loggrid = _t([math.log(g) for g in self.grid])
        self.workloads = [self._tabulate(w.name, w.weight, graphs[w.name]) for w in space.spec.workloads]
        self.evals = 0          # design points evaluated by the relaxation

    # --- tables from the graph (exact counting code, at each grid capacity)
    def _tabulate(self, name: str, weight: float, graph) -> _Workload:
        from chiplab.hw.edit import edit
        from chiplab.ir.graph import OpKind, Role
        from chiplab.perf.common import (
            fused_counts,
            host_counts,
            host_rows_bytes,
            tensor_bytes,
        )
        from chiplab.perf.counts import READ, WRITE, Level, Rates, evaluate
        from chiplab.perf.passes import run_passes
        from chiplab.perf.price import energy
        from chiplab.perf.registry import EstimateOptions, model_for

        chip0 = self.space.base
        opts = EstimateOptions(precision=self.prec, batch=int(graph.meta.get("batch", 1)))
        passes = run_passes(graph, opts.passes)
        models = [model_for(edit(chip0, {"arch.ifmap_sram": g}), opts) for g in self.grid]
        plans = [m.plan(graph, passes) for m in models]
        mat: dict[str, list] = {k: [] for k in ("M", "N", "K", "batch", "a_u", "extra_w", "macs", "on_a", "on_b", "on_c")}
        vec: dict[str, list] = {k: [] for k in ("ops", "dram_r", "dram_w", "sram_r", "sram_w", "onchip", "fused")}
        mat_index: dict[str, int] = {}
        tails: list[tuple[int, int]] = []
        for n in graph.nodes:
            if n.op is OpKind.VIEW:
                continue
            if n.op is OpKind.HW_BLOCK:
                raise RelaxError(f"{name}: {n.label}: fixed-function blocks are not covered by the relaxation")
            if n.name in passes.fused or n.gemm is None:
                rows = []
                for m, plan in zip(models, plans):
                    res = plan.get(n.name)
                    if n.name in passes.fused:
                        c = fused_counts(n, passes.fused[n.name], self.prec, passes.side.get(n.name, ()),
                                         getattr(res, "inputs_on_chip", None))
                    else:
                        c = m.vector_counts(n, res)
                    lv = c.by_level()
                    dr, dw = lv.get((Level.DRAM, READ), 0.0), lv.get((Level.DRAM, WRITE), 0.0)
                    rows.append((dr, dw, lv.get((Level.SRAM, READ), 0.0), lv.get((Level.SRAM, WRITE), 0.0),
                                 float(dr + dw == 0)))
                if n.name in passes.fused:
                    head = passes.fused[n.name]
                    if head not in mat_index:
                        raise RelaxError(f"{name}: {n.label}: fused into {head}, which is not a matrix layer")
                    tails.append((len(vec["ops"]), mat_index[head]))
                vec["ops"].append(float(n.vector_ops))
                vec["fused"].append(float(n.name in passes.fused))
                for k, col in zip(("dram_r", "dram_w", "sram_r", "sram_w", "onchip"), zip(*rows)):
                    vec[k].append(list(col))
                continue
            g, m0 = n.gemm, models[0]
            mat_index[n.name] = len(mat["M"])
            mat["M"].append(g.M), mat["N"].append(g.N), mat["K"].append(g.K), mat["batch"].append(g.batch)
            mat["a_u"].append(float(m0._a_unique(n)))
            w = sum(tensor_bytes(t, self.prec) for t in n.inputs if t.role is Role.WEIGHT)
            mat["extra_w"].append(max(0.0, w - g.batch * g.K * g.N * self.elem) if g.b_is_weight else 0.0)
            mat["macs"].append(float(n.macs))
            ons = [m0._operands_on_chip(n, plan.get(n.name)) for plan in plans]
            for j, k in enumerate(("on_a", "on_b", "on_c")):
                mat[k].append([float(o[j]) for o in ons])
        fixed_s = fixed_j = 0.0
        if chip0.host_link is not None:
            rates = Rates(chip0)
            for b in host_rows_bytes(graph, self.prec):
                if b > 0:
                    c = host_counts(b)
                    fixed_s += evaluate(c.time, rates)[0] / rates.clock_hz
                    fixed_j += energy(c, chip0, self.prec)[0]
        return _Workload(name, weight, {k: _t(v) for k, v in mat.items()}, {k: _t(v) for k, v in vec.items()},
                         tails, fixed_s, fixed_j)

    # --- the relaxed model
    def _interp(self, log_ifmap: torch.Tensor) -> torch.Tensor:
        """[B, G] weights interpolating the residency grid linearly in log capacity."""
        g = self.loggrid
        if len(g) == 1:
            return torch.ones(log_ifmap.shape[0], 1, dtype=DT)
        x = torch.clamp(log_ifmap, g[0], g[-1])[:, None]
        left, right = g[:-1][None, :], g[1:][None, :]
        t = torch.clamp((x - left) / (right - left), 0.0, 1.0)           # [B, G-1]
        w = torch.zeros(x.shape[0], len(g), dtype=DT)
        inside = ((x >= left) & (x <= right)).to(DT)
        inside = inside * (torch.cumsum(inside, 1) == 1).to(DT)        # the first segment holding x
        w = w + torch.nn.functional.pad(inside * (1 - t), (0, 1)) + torch.nn.functional.pad(inside * t, (1, 0))
        return w

    def _fits(self, footprint: torch.Tensor, cap: torch.Tensor) -> torch.Tensor:
        return self._step((torch.log(cap) - torch.log(footprint)) / self.tau)

    def _step(self, z: torch.Tensor) -> torch.Tensor:
        """``sigmoid(z)``; with ``hard``, the exact step ``z >= 0`` forward and the sigmoid's gradient."""
        s = torch.sigmoid(z)
        return s + ((z >= -1e-6).to(DT) - s).detach() if self.hard else s   # ties: p-norms round

    def _matrix(self, t: dict, df: str, R, C, cap_a, cap_b, cap_c, bpc, w):
        """Per-layer (cycles, dynamic joules), [B, L]."""
        p, e, acc = self.p, self.elem, self.acc
        M, N, K, bt, a_u = t["M"], t["N"], t["K"], t["batch"], t["a_u"]
        on_a, on_b, on_c = (w @ t[k].T for k in ("on_a", "on_b", "on_c"))     # [B, L]
        Sr, Sc, T = {"os": (M, N, K), "ws": (K, N, M), "is": (K, M, N)}[df]
        rf, cf = st_ceil(Sr / R), st_ceil(Sc / C)
        folds = rf * cf
        fill = 2 * R + C - 2
        compute = bt * folds * smax(T, R, p) + fill
        re_a = 1.0 - self._fits(a_u, cap_a)
        spill = torch.zeros_like(compute)
        if df == "os":
            s_a, s_b, s_cw, s_cr = M * K * cf, K * N * rf, M * N + 0 * rf, 0 * rf
            d_a = a_u * (1 + (cf - 1) * re_a)
            d_b = K * N * (1 + (rf - 1) * (1 - self._fits(K * smin(N, C, p), cap_b)))
            d_c = M * N + 0 * rf
        else:
            if df == "ws":
                s_a, s_b, s_cw, s_cr = M * K * cf, K * N + 0 * cf, M * N * rf, M * N * (rf - 1)
                width, extent = smin(N, C, p), M
                d_a, d_b = a_u * (1 + (cf - 1) * re_a), K * N + 0 * rf
            else:
                s_a, s_b, s_cw, s_cr = M * K + 0 * cf, K * N * cf, M * N * rf, M * N * (rf - 1)
                width, extent = smin(M, C, p), N
                d_a, d_b = a_u + 0 * rf, K * N * (1 + (cf - 1) * (1 - self._fits(K * N, cap_b)))
            d_c = M * N + 0 * rf
            need = 1.0 - self._fits(extent * width, cap_c)
            spill = 2.0 * M * N * (rf - 1) * need
            # the other loop order: chunk the streamed extent so a chunk's psums stay on chip
            chunk = smin(smax(cap_c / width, 1.0, p), extent, p)
            chunks = st_ceil(extent / chunk)
            comp2 = bt * chunks * folds * smax(chunk, R, p) + fill
            if df == "ws":
                a2, b2 = d_a, K * N * (1 + (chunks - 1) * (1 - self._fits(K * N, cap_b)))
            else:
                a2, b2 = a_u * (1 + (chunks - 1) * re_a), K * N + 0 * rf
            by1 = (d_a * (1 - on_a) + d_b * (1 - on_b) + d_c * (1 - on_c)) * e + spill * acc
            by2 = (a2 * (1 - on_a) + b2 * (1 - on_b) + d_c * (1 - on_c)) * e
            t1, t2 = smax(compute, bt * by1 / bpc, p), smax(comp2, bt * by2 / bpc, p)
            w2 = need * torch.clamp(rf - 1, 0, 1) * self._step(torch.log(t1 / t2) / self.tau)
            compute = (1 - w2) * compute + w2 * comp2
            d_a, d_b, spill = (1 - w2) * d_a + w2 * a2, (1 - w2) * d_b + w2 * b2, (1 - w2) * spill
        dram_a = bt * d_a * e * (1 - on_a)
        dram_b = (bt * d_b * e + t["extra_w"]) * (1 - on_b)
        dram_c = bt * (d_c * e * (1 - on_c) + spill * acc)
        dram = dram_a + dram_b + dram_c
        first = smin(dram, 2.0 * R * C * e, p)
        cyc = smax(compute, dram / bpc, p) + first / bpc
        half = bt * spill * acc / 2
        sram_r = bt * (s_a + s_b) * e + bt * s_cr * acc + dram_c
        sram_w = bt * s_cw * acc + dram_a + dram_b
        x = self.e
        joules = (t["macs"] * x["mac"] + sram_r * x["sr"] + sram_w * x["sw"] + (dram_a + dram_b + half) * x["dr"]
                  + (dram_c - half) * x["dw"])
        return cyc, joules, dram

    @staticmethod
    def _exposed(tails: list[tuple[int, int]], head_s: torch.Tensor, head_dram_s: torch.Tensor,
                 t_v: torch.Tensor, t_d: torch.Tensor) -> torch.Tensor:
        """Seconds of the fused tails not hidden under their heads (``overlap_fused``), [B]."""
        budget_v: dict[int, torch.Tensor] = {}
        budget_d: dict[int, torch.Tensor] = {}
        out = torch.zeros(head_s.shape[0], dtype=DT)
        for i, h in tails:
            hv = budget_v.get(h, head_s[:, h])
            hd = budget_d.get(h, torch.relu(head_s[:, h] - head_dram_s[:, h]))
            out = out + torch.relu(torch.maximum(t_v[:, i] - hv, t_d[:, i] - hd))
            budget_v[h], budget_d[h] = torch.relu(hv - t_v[:, i]), torch.relu(hd - t_d[:, i])
        return out

    def metrics(self, x: torch.Tensor, dataflow: str,
                shapes: dict[str, dict[str, torch.Tensor]] | None = None) -> dict[str, torch.Tensor]:
        """Relaxed metrics of a batch of log-parameter rows ``x`` [B, 7] (order :data:`RELAXED`).

        ``shapes`` (optional, per workload name) replaces the captured layer shapes with torch
        tensors, so that the metrics are differentiable in them too (joint co-design,
        :mod:`chiplab.explore.joint`): any of :data:`SHAPE_KEYS` per matrix layer [L], and ``vec``,
        a factor [V] on each non-matrix layer's ops and bytes. What stays as captured: the residency
        tables (which operands stay on chip) and the fused-tail structure."""
        if x.dim() == 1:
            x = x[None, :]
        self.evals += x.shape[0]
        v = torch.exp(x)
        R, C, ifm, fil, ofm, clk, bw = (v[:, i:i + 1] for i in range(7))
        lanes = C if self.tied_lanes else float(self.space.base.vector.lanes)
        e = self.elem
        bpc = bw / clk
        w = self._interp(x[:, 2])
        lat = energy = edp = None
        powers = []
        for wl in self.workloads:
            if shapes is not None and wl.name in shapes:
                wl = _reshaped(wl, shapes[wl.name])
            cyc, j, dram = self._matrix(wl.mat, dataflow, R, C, ifm * 0.5 / e, fil * 0.5 / e, ofm * 0.5 / self.acc, bpc, w)
            head_s = cyc / clk
            t_s = head_s.sum(1)
            dyn = j.sum(1)
            vt = wl.vec
            if vt["ops"].numel():
                dr, dw, sr, sw, on = (w @ vt[k].T for k in ("dram_r", "dram_w", "sram_r", "sram_w", "onchip"))
                v_t = vt["ops"] / (lanes * clk)
                rw = sr + sw + dr + dw
                t_on = smax(v_t, rw / (2 * lanes * e * clk), self.p)
                t_off = smax(v_t, (dr + dw) / bw, self.p)
                t_vec = (on * t_on + (1 - on) * t_off) * (1 - vt["fused"])
                t_s = t_s + t_vec.sum(1)
                if wl.tails:
                    v_t = v_t.expand_as(dr)
                    t_s = t_s + self._exposed(wl.tails, head_s, dram / bw, v_t, dr / bw)
                x_ = self.e
                dyn = dyn + (vt["ops"] * x_["vec"] + sr * x_["sr"] + sw * x_["sw"] + dr * x_["dr"] + dw * x_["dw"]).sum(1)
            t_s = t_s + wl.fixed_s
            en = dyn + wl.fixed_j + self.static_w * t_s
            lat = wl.weight * t_s if lat is None else lat + wl.weight * t_s
            energy = wl.weight * en if energy is None else energy + wl.weight * en
            edp = wl.weight * t_s * en if edp is None else edp + wl.weight * t_s * en
            powers.append(en / t_s)
        power = powers[0]
        for q in powers[1:]:
            power = smax(power, q, self.p)
        return {"latency": lat, "energy": energy, "edp": edp, "power_w": power, "area_mm2": self.area(x)}

    def area(self, x: torch.Tensor) -> torch.Tensor:
        """:func:`chiplab.hw.area.area` with the parameters continuous (PHY count straight-through)."""
        from chiplab.hw.area import _by_node, tables

        t, node = tables(), self.space.spec.node_nm
        v = torch.exp(x)
        R, C, ifm, fil, ofm, bw = v[:, 0], v[:, 1], v[:, 2], v[:, 3], v[:, 4], v[:, 6]
        logic = (node / 45.0) ** t["logic_scaling_exponent"]["value"]
        mac = t["mac_um2_45nm"]
        mac_um2 = R * C * self.mpp * mac[self.prec]["value"]
        lanes = C if self.tied_lanes else float(self.space.base.vector.lanes)
        lane = mac[t["vector_lane_precision"]["value"]]["value"] * lanes
        cell = _by_node(t["sram_bitcell_um2"], node, "the SRAM bit cell")
        sram_um2 = (ifm + fil + ofm) * 8 * cell / t["sram_array_efficiency"]["value"]
        phys = st_ceil(bw / 16e9)
        return self.space.overhead * (mac_um2 * logic + lane * logic + sram_um2) / 1e6 + phys * t["phy_mm2_per_16GBps"]["value"]

    # --- design points <-> log parameters
    def encode(self, params: dict[str, Any]) -> torch.Tensor:
        sp = self.space
        return _t([math.log(float(sp._si(p, params[p], p))) if p in params else b for p, b in zip(RELAXED, self.base_x)])

    def neighbours(self, x: torch.Tensor, k: int = 2) -> list[list[tuple[str, Any]]]:
        """Per parameter, the legal values nearest ``x`` in log space (``k`` at most)."""
        out = []
        for i, path in enumerate(RELAXED):
            p = self.space.spec.parameters.get(path)
            if p is None:
                continue
            xi = float(x[i])
            if p.choices is not None:
                vals = sorted(self.choices[path], key=lambda vc: abs(math.log(vc[0]) - xi))
                out.append([(path, c) for _, c in vals[:k]])
            elif p.irange is not None:
                step = int(p.step) if p.step is not None else 1
                lo = int(self.space.bounds[path][0])
                f = lo + step * math.floor((math.exp(xi) - lo) / step)
                hi = int(self.space.bounds[path][1])
                out.append([(path, v) for v in dict.fromkeys(min(max(c, lo), hi) for c in (f, f + step))][:k])
            else:
                out.append([(path, math.exp(xi))])
        return out


SHAPE_KEYS = ("M", "N", "K", "a_u", "extra_w", "macs")


def _reshaped(wl: _Workload, shapes: dict[str, torch.Tensor]) -> _Workload:
    """``wl`` with its matrix shapes (and non-matrix ops/bytes, scaled by ``vec``) replaced."""
    bad = [k for k in shapes if k not in (*SHAPE_KEYS, "vec")]
    if bad:
        raise RelaxError(f"{wl.name}: shapes.{bad[0]}: not a shape the relaxation takes "
                         f"({', '.join(SHAPE_KEYS)}, vec)")
    mat = dict(wl.mat)
    for k in SHAPE_KEYS:
        if k in shapes:
            v = torch.as_tensor(shapes[k], dtype=DT)
            if v.shape != wl.mat[k].shape:
                raise RelaxError(f"{wl.name}: shapes.{k}: {tuple(v.shape)} values for {tuple(wl.mat[k].shape)} layers")
            mat[k] = v
    vec = dict(wl.vec)
    if "vec" in shapes:
        f = torch.as_tensor(shapes["vec"], dtype=DT)
        if f.shape != wl.vec["ops"].shape:
            raise RelaxError(f"{wl.name}: shapes.vec: {tuple(f.shape)} factors for {tuple(wl.vec['ops'].shape)} layers")
        vec["ops"] = wl.vec["ops"] * f
        for k in ("dram_r", "dram_w", "sram_r", "sram_w"):
            vec[k] = wl.vec[k] * f[:, None]
    return _Workload(wl.name, wl.weight, mat, vec, wl.tails, wl.fixed_s, wl.fixed_j)


def _field(chip, path: str) -> Any:
    obj: Any = chip
    for part in path.split("."):
        obj = getattr(obj, part)
    return obj


@dataclass
class Search:
    """What :func:`gradient_search` did: every exact evaluation in order (params, metrics or the
    error), and what the relaxation cost."""

    evaluated: list[tuple[dict[str, Any], dict[str, float] | str]]
    surrogate_evals: int
    surrogate_s: float
    exact_s: float
    candidates: int

    def feasible(self, ev) -> list[tuple[dict[str, Any], dict[str, float]]]:
        return [(p, m) for p, m in self.evaluated if not isinstance(m, str) and all(v <= 0 for v in ev.violations(m))]


def violation(rel: Relaxation, m: dict[str, torch.Tensor]) -> torch.Tensor:
    """The larger log-ratio by which a constraint is exceeded (<= 0: feasible)."""
    c = rel.space.spec.constraints
    out = torch.full_like(m["edp"], -math.inf)
    for key, lim in (("area_mm2", c.area_mm2), ("power_w", c.power_w)):
        if lim is not None:
            out = torch.maximum(out, torch.log(m[key] / lim))
    return out


def penalised(rel: Relaxation, m: dict[str, torch.Tensor], rho: float = 200.0) -> torch.Tensor:
    """log EDP plus a quadratic penalty on the log-ratio by which each constraint is exceeded."""
    c = rel.space.spec.constraints
    obj = torch.log(m["edp"])
    for key, lim in (("area_mm2", c.area_mm2), ("power_w", c.power_w)):
        if lim is not None:
            obj = obj + rho * torch.relu(torch.log(m[key] / lim)) ** 2
    return obj


def gradient_search(space: Space, evaluator, budget: int = 64, seed: int = 0, starts: int = 8, steps: int = 150,
                    lr: float = 0.05, relax: Relaxation | None = None) -> Search:
    """Adam on the relaxation from ``starts`` random points per dataflow; every optimum is snapped
    to its neighbouring legal designs (2 nearest values per parameter), all of them are ranked by
    the relaxation (free), and the best ``budget`` distinct designs are verified by the exact model
    (``evaluator.compute``, the only evaluations counted)."""
    import time

    if space.spec.constraints.price_usd is not None:
        raise RelaxError(f"{space.origin}: constraints.price_usd: not covered by the relaxation")
    t0 = time.perf_counter()
    rel = relax or Relaxation(space, evaluator.graphs)
    evals0 = rel.evals
    gen = torch.Generator().manual_seed(seed)
    lo, hi = _t(rel.lo), _t(rel.hi)
    rows: dict[str, torch.Tensor] = {}
    for df in rel.dataflows:
        x = (lo + (hi - lo) * torch.rand(starts, len(RELAXED), generator=gen, dtype=DT)).requires_grad_()
        opt = torch.optim.Adam([x], lr=lr)
        for _ in range(steps):
            loss = penalised(rel, rel.metrics(x, df)).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.copy_(torch.maximum(torch.minimum(x, hi), lo))
        rows[df] = x.detach()
    return snap_and_verify(rel, evaluator, rows, budget, t0, evals0)


def snap_and_verify(rel: Relaxation, evaluator, rows: dict[str, torch.Tensor], budget: int,
                    t0: float | None = None, evals0: int | None = None) -> Search:
    """Snap each optimum in ``rows`` (log-parameter rows per dataflow) to its neighbouring legal
    designs (2 nearest values per parameter), rank them all by ``rel`` (relaxed-feasible first, then
    penalised log EDP) and verify the best ``budget`` distinct ones with the exact model
    (``evaluator.compute``). ``t0``/``evals0``: where the relaxation's time and count started."""
    import itertools
    import time

    space = rel.space
    t0 = time.perf_counter() if t0 is None else t0
    evals0 = rel.evals if evals0 is None else evals0
    cands: dict[tuple, tuple[str, dict[str, Any]]] = {}
    for df, xs in rows.items():
        for row in xs:
            for combo in itertools.product(*rel.neighbours(row)):
                params = dict(combo)
                if "arch.dataflow" in space.spec.parameters:
                    params["arch.dataflow"] = df
                cands.setdefault(tuple(sorted(params.items())), (df, params))
    scored = []
    with torch.no_grad():
        for df in rel.dataflows:
            group = [p for d, p in cands.values() if d == df]
            if group:
                m = rel.metrics(torch.stack([rel.encode(p) for p in group]), df)
                bad = (violation(rel, m) > 0).tolist()
                scored += list(zip(bad, penalised(rel, m).tolist(), range(len(scored), len(scored) + len(group)), group))
    scored.sort(key=lambda r: r[:3])     # relaxed-feasible first, then by penalised log EDP
    t1 = time.perf_counter()
    evaluated: list = []
    for *_, params in scored[:budget]:
        try:
            evaluated.append((params, evaluator.compute(params)))
        except ChiplabError as e:
            evaluated.append((params, str(e).splitlines()[0]))
    return Search(evaluated, rel.evals - evals0, t1 - t0, time.perf_counter() - t1, len(cands))
