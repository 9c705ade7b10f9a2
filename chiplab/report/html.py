"""One self-contained HTML page: the comparison table and every view as an interactive
plotly figure. plotly.js is inlined once (``include_plotlyjs=True`` on the first figure,
``False`` on the others), so the file opens offline. Every user-controlled string is
passed through :func:`html.escape`; plotly's JSON writer escapes ``<`` inside scripts.
"""
from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path
from typing import Any

import plotly.io as pio

from chiplab import __version__
from chiplab.report import plots, views
from chiplab.report.build import ReportData
from chiplab.units import fmt_si

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1300px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
code{background:#f4f4f4;padding:.1em .3em;border-radius:3px}
table{border-collapse:collapse;font-size:.92em} th,td{padding:.3em .6em;border-bottom:1px solid #e4e4e4}
th{text-align:left;background:#fafafa} td.n{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#8a5a00} .fig{margin:.6em 0 1.4em 0} p.help{color:#444;max-width:75em}
"""

# (key, header, formatter) of the comparison table
_COLUMNS = (
    ("precision", "precision", str),
    ("latency_s", "latency", lambda v: fmt_si(v, "s")),
    ("throughput_per_s", "throughput", lambda v: f"{v:,.1f} inf/s"),
    ("energy_per_inference_j", "energy / inference", lambda v: fmt_si(v, "J")),
    ("power_w", "avg power", lambda v: fmt_si(v, "W")),
    ("perf_per_watt", "perf/W (inf/s/W)", lambda v: f"{v:.3g}"),
    ("perf_per_dollar", "perf/$ (inf/s/$)", lambda v: f"{v:.3g}" if v else "- (no price)"),
    ("utilization", "utilization", lambda v: f"{v:.1%}"),
    ("top_bound", "mostly bound by", str),
    ("matrix_share", "matrix time", lambda v: f"{v:.0%}"),
    ("ceiling", "ceiling if matrix time = 0", lambda v: "∞" if math.isinf(v) else f"{v:.3g}x"),
)


class _Page:
    """Collects HTML parts; figures get stable ids and plotly.js is inlined with the first."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.n_figs = 0

    def add(self, s: str) -> None:
        self.parts.append(s)

    def fig(self, fig: Any) -> None:
        h = int(fig.layout.height or 420)
        s = pio.to_html(fig, include_plotlyjs=self.n_figs == 0, full_html=False, div_id=f"fig{self.n_figs}",
                        validate=False, default_height=f"{h}px", config={"displaylogo": False, "responsive": True})
        if self.n_figs:   # drop the wrapper's indentation (not in the first: it carries plotly.js itself)
            s = re.sub(r" {8,}", " ", s)
        self.add(f'<div class="fig">{s}</div>')
        self.n_figs += 1


def comparison_table(data: ReportData) -> str:
    rows = [views.summary_row(e) for e in data.ests]
    head = "<tr><th>chip</th>" + "".join(f"<th>{escape(h)}</th>" for _, h, _ in _COLUMNS) + "</tr>"
    body = []
    for r in rows:
        cells = "".join(f'<td class="{"n" if isinstance(r[k], (int, float)) else ""}">{escape(f(r[k]))}</td>'
                        for k, _, f in _COLUMNS)
        body.append(f"<tr><td><b>{escape(r['chip'])}</b></td>{cells}</tr>")
    return f"<table>{head}{''.join(body)}</table>"


def render_html(data: ReportData) -> str:
    cmd = data.command
    ests = data.ests
    p = _Page()
    title = f"chiplab report: {data.model}"
    p.add(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
          f"<style>{_CSS}</style></head><body>")
    p.add(f"<h1>{escape(title)}</h1><p>made by <code>{escape(cmd)}</code> (chiplab {escape(__version__)}); "
          f"batch {ests[0].batch if ests else '-'}, workload <code>{escape(ests[0].workload if ests else data.model)}</code>. "
          "Analytical estimates, not measurements.</p>")
    p.add('<h2 id="compare">Comparison</h2><p class="help">Latency of one run of the batch; energy per inference '
          "includes static power over the run; perf/W is inferences per joule; utilization is achieved over peak MACs. "
          "“Ceiling” is the Amdahl limit: the speed-up if every matrix layer took no time at all.</p>")
    p.add(comparison_table(data))
    notes = [(r.est.chip, n) for r in data.runs for n in r.est.notes] + [("skipped", s) for s in data.skipped]
    if notes:
        p.add("<ul>" + "".join(f'<li class="note"><b>{escape(c)}</b>: {escape(n)}</li>' for c, n in notes) + "</ul>")

    p.add('<h2 id="roofline">Roofline per chip</h2><p class="help">Each point is one layer with MACs: arithmetic '
          "intensity (FLOP per byte of DRAM traffic) against the FLOP/s it achieved. The roof is the lower of the peak "
          "(at the clock the run used) and DRAM bandwidth × intensity. Points far below the roof lose time to something "
          "else (SRAM, array fill, launch). Layers with no DRAM traffic are drawn as triangles at the right edge.</p>")
    for r in data.runs:
        p.fig(plots.roofline(r.est, r.dram_bw, cmd))

    p.add('<h2 id="time">Where the time goes</h2><p class="help">Share of each chip\'s latency by op class and by '
          "the bound that limits each layer; hover for milliseconds.</p>")
    p.fig(plots.time_breakdown(ests, "op", cmd))
    p.fig(plots.time_breakdown(ests, "bound", cmd))
    p.fig(plots.amdahl(ests, cmd))

    p.add('<h2 id="energy">Energy</h2><p class="help">Energy per inference by component: MAC operations, SRAM and '
          "DRAM traffic, the host link, the vector unit, and static power × latency.</p>")
    p.fig(plots.energy(ests, cmd))

    p.add('<h2 id="power">Power vs TDP</h2><p class="help">Average chip power (static + on-chip dynamic; DRAM and '
          "host-link energy is spent outside the package). When a run would exceed the TDP, chiplab lowers the clock of "
          "the clocked layers until it fits (the power wall); the red bar is what it would have drawn at full clock.</p>")
    p.fig(plots.power(ests, [r.tdp_w for r in data.runs], cmd))

    p.add('<h2 id="timeline">Timeline (serial schedule)</h2><p class="help">The runner executes layers one after '
          "another: this is that serial schedule, each layer on the unit that ran it. Overlap between units (e.g. DMA "
          "under compute across layers) is not modelled yet, so this is not an overlapped pipeline view.</p>")
    for r in data.runs:
        p.fig(plots.timeline(r.est, cmd))

    if data.numerics:
        p.add('<h2 id="numerics">Numerics</h2><p class="help">From <code>chiplab.debug</code>: each layer\'s SQNR '
              "against fp32, isolated (the layer alone under the chip's numerics) and propagated (with the error of "
              "every earlier layer); culprits are the layers the debugger names.</p>")
        for r in data.runs:
            p.add(_numerics_html(r, cmd, p))
    p.add("</body></html>")
    return "".join(p.parts)


def _numerics_html(run: Any, cmd: str, page: _Page) -> str:
    chip = escape(run.spec.name)
    if run.numerics is None:
        return f'<p class="note"><b>{chip}</b>: no numerics ({escape(run.numerics_error or "not run")})</p>'
    d = run.numerics.to_dict()
    fin = d["final"]
    head = (f"<h3>{chip}</h3><p>final output SQNR {escape(str(fin.get('sqnr_db')))} dB, cosine "
            f"{escape(str(fin.get('cosine')))}; culprits: "
            + (", ".join(f"<code>{escape(c)}</code>" for c in d["culprits"]) or "none") + "</p>")
    page.add(head)
    page.fig(plots.numerics(d["layers"], run.spec.name, d["culprits"], cmd))
    return ""


def write_html(data: ReportData, path: str | Path) -> Path:
    path = Path(path)
    path.write_text(render_html(data), encoding="utf-8")
    return path
