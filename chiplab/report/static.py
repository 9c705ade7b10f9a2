"""Static PNG figures (matplotlib, Agg) for ``chiplab estimate --plot`` and the Markdown report.

The same views as the HTML page (``views.py``), each with units on its axes and the
command that made it in the footer.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from chiplab.perf.result import Estimate
from chiplab.report import views

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000", "#999999")


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path, command: str) -> Path:
    fig.text(0.01, 0.005, f"made by: {command}", fontsize=7, color="#555", ha="left", va="bottom")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    path = Path(path)
    fig.savefig(path, dpi=110)
    _plt().close(fig)
    return path


def roofline_png(est: Estimate, dram_bw: float | None, path: str | Path, command: str) -> Path:
    """Roofline of one estimate: matrix layers as points, coloured by bound, and the chip's roofs."""
    plt = _plt()
    r = views.roofline(est, dram_bw)
    ais = [p["ai"] for p in r.points if p["ai"] is not None]
    ridge = r.peak_flops / dram_bw if dram_bw else 1.0
    lo, hi = min([*ais, ridge, 1.0]) / 4, max([*ais, ridge, 1.0]) * 8
    fig, ax = plt.subplots(figsize=(8, 5))
    xs = np.geomspace(lo, hi, 64)
    ax.loglog(xs, np.minimum(r.peak_flops, dram_bw * xs) if dram_bw else np.full_like(xs, r.peak_flops), "k-", lw=2,
              label="roof: min(peak, DRAM BW x AI)")
    if r.nominal_peak_flops > r.peak_flops * 1.0001:
        ax.axhline(r.nominal_peak_flops, color="#999", ls="--", label="peak at nominal clock (above the power wall)")
    for i, b in enumerate(sorted({p["bound"] for p in r.points})):
        pts = [p for p in r.points if p["bound"] == b]
        on = [p for p in pts if p["ai"] is not None]
        off = [p for p in pts if p["ai"] is None]
        c = PALETTE[i % len(PALETTE)]
        ax.scatter([p["ai"] for p in on], [p["flops_s"] for p in on], s=18, color=c, label=f"{b}-bound layers")
        if off:
            ax.scatter([hi / 2] * len(off), [p["flops_s"] for p in off], s=24, marker=">", color=c,
                       label=f"{b}-bound, no DRAM traffic (right edge)")
    ax.set_xlabel("arithmetic intensity (FLOP per DRAM byte)")
    ax.set_ylabel("achieved FLOP/s")
    wall = f", clock x{est.meta['tdp_scale']:.2f} (power wall)" if "tdp_scale" in est.meta else ""
    ax.set_title(f"Roofline: {est.workload} on {est.chip} ({est.precision}{wall})\n"
                 f"{len(r.points)} layers with MACs shown, {r.skipped} without MACs not", fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path, command)


def _share_bars(ax, ests: Sequence[Estimate], parts: Sequence[dict[str, float]]) -> None:
    keys: list[str] = []
    for p in parts:
        keys += [k for k in p if k not in keys]
    left = np.zeros(len(ests))
    y = np.arange(len(ests))
    for i, k in enumerate(keys):
        share = np.array([100 * p.get(k, 0.0) / (sum(p.values()) or 1.0) for p in parts])
        ax.barh(y, share, left=left, color=PALETTE[i % len(PALETTE)], label=k)
        left += share
    ax.set_yticks(y, [e.chip for e in ests])
    ax.set_xlim(0, 100)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1))


def breakdown_png(ests: Sequence[Estimate], path: str | Path, command: str) -> Path:
    """Latency share by op class and by bound, the Amdahl split, and energy share by component."""
    plt = _plt()
    fig, axs = plt.subplots(4, 1, figsize=(9, 2.2 + 2.2 * max(1, len(ests)) * 0.45 * 4))
    _share_bars(axs[0], ests, [views.time_by(e, "op") for e in ests])
    axs[0].set_title("latency share by op class (%)", fontsize=10)
    _share_bars(axs[1], ests, [views.time_by(e, "bound") for e in ests])
    axs[1].set_title("latency share by bound (%)", fontsize=10)
    a = [views.amdahl(e) for e in ests]
    _share_bars(axs[2], ests, [{"matrix layers": x.matrix_s, "everything else": x.other_s} for x in a])
    for i, x in enumerate(a):
        axs[2].text(99, i, f"ceiling {x.ceiling:.3g}x", ha="right", va="center", fontsize=8)
    axs[2].set_title("Amdahl: matrix vs non-matrix time (%); ceiling = speed-up if matrix time were zero", fontsize=10)
    _share_bars(axs[3], ests, [views.energy_components(e) for e in ests])
    axs[3].set_title("energy per inference by component (%)", fontsize=10)
    return _save(fig, path, command)


def power_png(ests: Sequence[Estimate], tdps: Sequence[float | None], path: str | Path, command: str) -> Path:
    plt = _plt()
    pv = [views.power_view(e, t) for e, t in zip(ests, tdps)]
    x = np.arange(len(ests))
    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(ests) + 2), 4))
    ax.bar(x - 0.2, [p.chip_power_w for p in pv], 0.4, color=PALETTE[0], label="chip power (static + on-chip dynamic)")
    ax.bar(x + 0.2, [p.uncapped_w or 0.0 for p in pv], 0.4, color=PALETTE[3], label="at full clock (power wall bit)")
    for i, p in enumerate(pv):
        if p.tdp_w is not None:
            ax.hlines(p.tdp_w, i - 0.4, i + 0.4, colors="k", lw=2, label="TDP" if i == 0 else None)
        if p.clock_scale < 1:
            ax.text(i, p.chip_power_w, f"clock x{p.clock_scale:.2f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [e.chip for e in ests], rotation=20, ha="right")
    ax.set_ylabel("power (W)")
    ax.set_title("Power vs TDP", fontsize=10)
    ax.legend(fontsize=7)
    return _save(fig, path, command)


def timeline_png(est: Estimate, path: str | Path, command: str, batches: int = 3) -> Path:
    """Gantt per resource of ``batches`` pipelined batches (``chiplab.perf.timeline.schedule``)."""
    from chiplab.perf.timeline import RESOURCES

    plt = _plt()
    ev = views.pipelined_schedule(est, batches)
    res = [r for r in RESOURCES if any(e["resource"] == r for e in ev)]
    fig, ax = plt.subplots(figsize=(9, 1.4 + 0.45 * len(res)))
    for i, r in enumerate(res):
        for b in range(batches):
            ax.broken_barh([(e["start_s"] * 1e3, e["dur_s"] * 1e3) for e in ev if e["resource"] == r and e["batch"] == b],
                           (i - 0.35, 0.7), color=PALETTE[i % len(PALETTE)], alpha=1.0 if b % 2 == 0 else 0.55)
    ax.axvline(est.latency_s * 1e3, color="k", ls=":", lw=1)
    ax.set_yticks(range(len(res)), res)
    ax.invert_yaxis()
    ax.set_xlabel("time (ms); batches alternate dark and light; dotted: latency of batch 0")
    tl = est.meta.get("timeline") or {}
    sub = (f"latency {est.latency_s * 1e3:.4g} ms; steady state a batch every {tl['period_s'] * 1e3:.4g} ms = "
           f"{tl['throughput_per_s']:,.1f} inf/s (bottleneck {tl['bottleneck']})" if tl.get("period_s") else "")
    ax.set_title(f"Timeline: {est.workload} on {est.chip}, {batches} batches pipelined\n{sub}", fontsize=10)
    return _save(fig, path, command)


def estimate_plot(est: Estimate, chip: object, path: str | Path, command: str) -> Path:
    """``chiplab estimate ... --plot out.png``: the roofline of one estimate (the chip re-read for its DRAM bandwidth)."""
    from chiplab.hw import ChipSpec, load_chip

    spec = chip if isinstance(chip, ChipSpec) else load_chip(chip)
    return roofline_png(est, getattr(spec.memory, "dram_bandwidth", None) or None, path, command)
