"""Interactive figures (plotly) for the HTML report, one function per view.

Each function returns a ``plotly.graph_objects.Figure`` whose axes carry units and whose
footer names the command that made it. Strings that come from the user (chip, model and
layer names) are HTML-escaped before they reach plotly, which renders a subset of HTML
in titles, hover labels and annotations. Numeric arrays are float32 numpy arrays so that
plotly writes them as compact base64 typed arrays (the page stays small with 10 chips).
"""
from __future__ import annotations

from html import escape
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from chiplab.perf.result import Estimate
from chiplab.report import views

# a small fixed palette (Okabe-Ito, colour-blind safe) instead of plotly's large default template
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999")
_LAYOUT = dict(template="none", font=dict(family="system-ui, sans-serif", size=12), margin=dict(l=70, r=20, t=50, b=95),
               hoverlabel=dict(align="left"), legend=dict(traceorder="normal", x=1.01, y=1, yanchor="top"))


def _f32(xs: Sequence[float]) -> np.ndarray:
    return np.asarray(xs, dtype=np.float32)


def _colour(keys: Sequence[str]) -> dict[str, str]:
    return {k: PALETTE[i % len(PALETTE)] for i, k in enumerate(keys)}


def _finish(fig: go.Figure, title: str, command: str, height: int = 420) -> go.Figure:
    fig.update_layout(**_LAYOUT, title=dict(text=escape(title), x=0.01), height=height)
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    fig.add_annotation(text=f"made by: {escape(command)}", xref="paper", yref="paper", x=0, y=0, yshift=-90,
                       showarrow=False, xanchor="left", yanchor="bottom", font=dict(size=10, color="#555"))
    return fig


def roofline(est: Estimate, dram_bw: float | None, command: str) -> go.Figure:
    """Achieved FLOP/s vs arithmetic intensity (FLOP per DRAM byte), one point per matrix layer."""
    r = views.roofline(est, dram_bw)
    ais = [p["ai"] for p in r.points if p["ai"] is not None]
    ridge = r.peak_flops / dram_bw if dram_bw else None
    lo = min([*ais, ridge or 1.0, 1.0]) / 4
    hi = max([*ais, ridge or 1.0, 1.0]) * 8
    fig = go.Figure()
    # on log axes the roof is straight between its corners: lo, the ridge point, hi
    xs = np.array(sorted({lo, hi, *([ridge] if ridge and lo < ridge < hi else [])}))
    roof = np.minimum(r.peak_flops, dram_bw * xs) if dram_bw else np.full_like(xs, r.peak_flops)
    fig.add_trace(go.Scatter(x=_f32(xs), y=_f32(roof), mode="lines", name="roof: min(peak, DRAM BW x AI)",
                             line=dict(color="#333", width=2), hoverinfo="skip"))
    if r.nominal_peak_flops > r.peak_flops * 1.0001:
        fig.add_trace(go.Scatter(x=_f32([lo, hi]), y=_f32([r.nominal_peak_flops] * 2), mode="lines", hoverinfo="skip",
                                 name="peak at nominal clock (above the power wall)", line=dict(color="#999", dash="dash")))
    bounds = sorted({p["bound"] for p in r.points})
    col = _colour(bounds)
    for b in bounds:
        for on_dram in (True, False):   # layers without DRAM traffic: triangles at the right edge, their own hover
            pts = [p for p in r.points if p["bound"] == b and (p["ai"] is not None) == on_dram]
            if not pts:
                continue
            ai = "%{x:.3g} FLOP/B" if on_dram else "no DRAM traffic (drawn at the right edge)"
            fig.add_trace(go.Scatter(
                x=_f32([p["ai"] if on_dram else hi / 2 for p in pts]), y=_f32([p["flops_s"] for p in pts]),
                mode="markers", name=f"{b}-bound layers" + ("" if on_dram else ", no DRAM traffic"), legendgroup=b,
                marker=dict(color=col[b], size=8, opacity=0.8, symbol="circle" if on_dram else "triangle-right"),
                hovertext=[f"{escape(p['name'])} ({p['op']})" for p in pts], customdata=_f32([p["macs"] for p in pts]),
                hovertemplate=f"<b>%{{hovertext}}</b><br>MACs: %{{customdata:.4s}}<br>arithmetic intensity: {ai}"
                              "<br>achieved: %{y:.3s}FLOP/s<extra></extra>"))
    fig.update_xaxes(type="log", title="arithmetic intensity (FLOP per DRAM byte)")
    fig.update_yaxes(type="log", title="achieved FLOP/s", tickformat="~s")
    wall = f", clock x{est.meta['tdp_scale']:.2f} (power wall)" if "tdp_scale" in est.meta else ""
    fig = _finish(fig, f"Roofline: {est.workload} on {est.chip} ({est.precision}{wall})", command)
    if r.skipped:   # a sub-title line; the title text was escaped by _finish, this part is ours
        fig.update_layout(title_text=fig.layout.title.text + f"<br><sup>{len(r.points)} layers with MACs shown; "
                                                             f"{r.skipped} without MACs (vector ops, transfers) are not</sup>")
    return fig


def _stacked_share(ests: Sequence[Estimate], parts: Sequence[dict[str, float]], unit: str, fmt: str,
                   order: Sequence[str] = ()) -> list[go.Bar]:
    """Horizontal 100 % stacked bars, one row per chip, hover in absolute units; ``order``: keys first, in that order
    (so that a component keeps its colour whichever chips are shown)."""
    keys: list[str] = [k for k in order if any(k in p for p in parts)]
    for p in parts:
        keys += [k for k in p if k not in keys]
    col = _colour(keys)
    chips = [escape(e.chip) for e in ests]
    bars = []
    for k in keys:
        absv = [p.get(k, 0.0) for p in parts]
        share = [100 * v / (sum(p.values()) or 1.0) for v, p in zip(absv, parts)]
        bars.append(go.Bar(y=chips, x=_f32(share), name=escape(k), orientation="h", marker_color=col[k],
                           customdata=_f32(absv),
                           hovertemplate=f"%{{y}}: {escape(k)} %{{customdata:{fmt}}}{unit} (%{{x:.1f}} %)<extra></extra>"))
    return bars


def time_breakdown(ests: Sequence[Estimate], key: str, command: str) -> go.Figure:
    """Share of each chip's latency by op class (``key='op'``) or by bound (``key='bound'``)."""
    fig = go.Figure(_stacked_share(ests, [{k: v * 1e3 for k, v in views.time_by(e, key).items()} for e in ests],
                                   " ms", ".4g"))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="share of latency (%), hover: ms per run", range=[0, 100])
    what = "op class" if key == "op" else "what bounds each layer"
    return _finish(fig, f"Where the time goes, by {what}", command, height=140 + 40 * len(ests))


def amdahl(ests: Sequence[Estimate], command: str) -> go.Figure:
    """Matrix vs non-matrix time, and the speed-up ceiling if matrix time went to zero."""
    a = [views.amdahl(e) for e in ests]
    chips = [escape(e.chip) for e in ests]
    fig = go.Figure([
        go.Bar(y=chips, x=_f32([100 * x.matrix_share for x in a]), orientation="h", name="matrix layers (MACs)",
               marker_color=PALETTE[0], customdata=[f"{x.matrix_s * 1e3:.4g}" for x in a],
               hovertemplate="%{y}: matrix %{customdata} ms (%{x:.1f} %)<extra></extra>"),
        go.Bar(y=chips, x=_f32([100 - 100 * x.matrix_share for x in a]), orientation="h", name="everything else",
               marker_color=PALETTE[1], customdata=[f"{x.other_s * 1e3:.4g}" for x in a],
               text=[f"ceiling {x.ceiling:.3g}x" for x in a], textposition="inside",
               hovertemplate="%{y}: non-matrix %{customdata} ms (%{x:.1f} %)<extra></extra>")])
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="share of latency (%); ceiling = speed-up if matrix time went to zero (Amdahl)", range=[0, 100])
    return _finish(fig, "Amdahl view: matrix vs non-matrix time", command, height=140 + 40 * len(ests))


def energy(ests: Sequence[Estimate], command: str) -> go.Figure:
    """Energy per inference by component (MACs, SRAM, DRAM, host link, vector unit, static)."""
    fig = go.Figure(_stacked_share(ests, [{k: v * 1e3 for k, v in views.energy_components(e).items()} for e in ests],
                                   " mJ/inference", ".4g", order=views.COMPONENT_ORDER))
    fig.update_layout(barmode="stack")
    fig.update_xaxes(title="share of energy per inference (%), hover: mJ per inference", range=[0, 100])
    return _finish(fig, "Energy per inference by component", command, height=140 + 40 * len(ests))


def power(ests: Sequence[Estimate], tdps: Sequence[float | None], command: str) -> go.Figure:
    """Average chip power vs TDP; where the power wall bit, the full-clock power and the clock scale."""
    pv = [views.power_view(e, t) for e, t in zip(ests, tdps)]
    chips = [escape(e.chip) for e in ests]
    fig = go.Figure([
        go.Bar(x=chips, y=_f32([p.chip_power_w for p in pv]), name="chip power (static + on-chip dynamic)",
               marker_color=PALETTE[0], text=[f"clock x{p.clock_scale:.2f}" if p.clock_scale < 1 else "" for p in pv],
               textposition="outside", hovertemplate="%{x}: %{y:.3s}W<extra></extra>"),
        go.Bar(x=chips, y=_f32([p.uncapped_w or 0.0 for p in pv]), name="would draw at full clock (power wall bit)",
               marker_color=PALETTE[3], hovertemplate="%{x}: %{y:.3s}W at full clock<extra></extra>"),
        go.Scatter(x=chips, y=_f32([p.tdp_w if p.tdp_w is not None else np.nan for p in pv]), mode="markers", name="TDP",
                   marker=dict(symbol="line-ew", size=40, line=dict(width=3, color="#000")),
                   hovertemplate="%{x}: TDP %{y:.3s}W<extra></extra>")])
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="power (W)", tickformat="~s", rangemode="tozero")
    return _finish(fig, "Power vs TDP (the power wall lowers the clock when a run would exceed it)", command)


TIMELINE_RESOLUTION = 400     # a timeline bar joins events of one batch closer than span / this (~3 px at 1200 px)


def timeline(est: Estimate, command: str, batches: int = 3) -> go.Figure:
    """Gantt per resource (host link each way, matrix, vector, DRAM, ...) of ``batches`` pipelined
    batches (``chiplab.perf.timeline.schedule``), with the one-batch latency and the steady-state period."""
    from chiplab.perf.timeline import RESOURCES

    ev = views.pipelined_schedule(est, batches)
    span = max((e["end_s"] for e in ev), default=0.0)
    lanes = views.merge_events(ev, span / TIMELINE_RESOLUTION)
    res = [r for r in RESOURCES if r in lanes] + [r for r in lanes if r not in RESOURCES]
    col = _colour(res)
    fig = go.Figure()
    for i, r in enumerate(res):   # one trace per resource; batches alternate dark and light
        bars = lanes[r]
        fig.add_trace(go.Bar(   # lane i as a 1-byte typed array, named by the tick labels below; hover box: the resource
            y=np.full(len(bars), i, dtype=np.uint8), base=_f32([x["start_s"] * 1e3 for x in bars]), x=_f32([(x["end_s"] - x["start_s"]) * 1e3 for x in bars]),
            orientation="h", name=escape(r), marker=dict(color=col[r], opacity=_f32([1.0 - 0.45 * (x["batch"] % 2) for x in bars])),
            hovertext=[escape(x["first"]) for x in bars], customdata=[[x["batch"], x["n"]] for x in bars],
            hovertemplate="batch %{customdata[0]}: %{customdata[1]} event(s) from <b>%{hovertext}</b><br>"
                          "%{base:.4g} ms + %{x:.3g} ms"))
    tl = est.meta.get("timeline") or {}
    lat, per = tl.get("latency_s", est.latency_s), tl.get("period_s")
    fig.add_vline(x=lat * 1e3, line=dict(color="#000", dash="dot", width=1))
    fig.add_annotation(x=lat * 1e3, y=0, yref="paper", text=" latency of batch 0", showarrow=False, xanchor="left",
                       yanchor="bottom", font=dict(size=10), bgcolor="rgba(255,255,255,0.8)")
    fig.update_layout(barmode="overlay", bargap=0.3)
    fig.update_xaxes(title="time (ms); batches 0, 1, 2 alternate dark and light", range=[0, span * 1e3 * 1.01])
    fig.update_yaxes(title="resource", tickvals=list(range(len(res))), ticktext=[escape(r) for r in res],
                     range=[len(res) - 0.4, -0.6])
    fig = _finish(fig, f"Timeline: {est.workload} on {est.chip}, {batches} batches pipelined", command,
                  height=190 + 40 * len(res))
    sub = f"latency {lat * 1e3:.4g} ms (one batch end to end)"
    if per:
        sub += (f"; steady state: a batch every {per * 1e3:.4g} ms = {tl['throughput_per_s']:,.1f} inf/s, "
                f"bottleneck {escape(str(tl.get('bottleneck')))}")
    fig.update_layout(title_text=fig.layout.title.text + f"<br><sup>{sub}</sup>")
    return fig


def numerics(rows: Sequence[dict], chip: str, culprits: Sequence[str], command: str) -> go.Figure:
    """Per-layer isolated and propagated SQNR (dB) from ``chiplab.debug``; culprits in red."""
    names = [escape(r["layer"]) for r in rows]

    def _db(v):
        return float(v) if isinstance(v, (int, float)) and np.isfinite(v) else np.nan

    iso = [_db(r["isolated"]["sqnr_db"]) for r in rows]
    prop = [_db(r["propagated"]["sqnr_db"]) for r in rows]
    bad = set(culprits)
    fig = go.Figure([
        go.Scatter(x=names, y=_f32(prop), mode="lines+markers", name="propagated (error carried from earlier layers)",
                   line=dict(color=PALETTE[5]), hovertemplate="%{x}: %{y:.1f} dB propagated<extra></extra>"),
        go.Scatter(x=names, y=_f32(iso), mode="markers", name="isolated (this layer alone)",
                   marker=dict(size=9, color=[PALETTE[3] if r["layer"] in bad else PALETTE[0] for r in rows]),
                   hovertemplate="%{x}: %{y:.1f} dB isolated<extra></extra>")])
    fig.update_xaxes(title="layer (graph order)", showticklabels=len(rows) <= 60)
    fig.update_yaxes(title="SQNR vs fp32 (dB, higher is better)")
    return _finish(fig, f"Numerics on {chip}: per-layer SQNR (culprits in red)", command)
