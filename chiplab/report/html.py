"""One self-contained HTML page: the comparison table and every view as an interactive
plotly figure. plotly.js is inlined once, before the first figure, so the file opens offline;
hover strings shared by figures (layer names) are written once (``_Page``). Every user-controlled string is
passed through :func:`html.escape`; plotly's JSON writer escapes ``<`` inside scripts.
"""
from __future__ import annotations

import json
import math
from html import escape
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from chiplab import __version__
from chiplab.report import plots, views
from chiplab.report.build import ReportData
from chiplab.units import fmt_si

_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:1500px;color:#222;padding:0 1em}
h1{font-size:1.6em;margin-bottom:.2em} h2{margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
code{background:#f4f4f4;padding:.1em .3em;border-radius:3px}
table{border-collapse:collapse;font-size:.92em} th,td{padding:.3em .6em;border-bottom:1px solid #e4e4e4}
th{text-align:left;background:#fafafa} td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.note{color:#8a5a00} .fig{margin:.6em 0 1.4em 0} p.help{color:#444;max-width:75em}
"""

# (key, header, formatter) of the comparison table
def _range(unit: str):
    def f(v):
        if v is None:
            return "-"
        lo, hi = v
        return f"{fmt_si(lo, unit)}..{fmt_si(hi, unit)}" if unit else f"{lo:,.0f}..{hi:,.0f}"
    return f


_COLUMNS = (
    ("precision", "precision", str),
    ("latency_s", "latency (one batch)", lambda v: fmt_si(v, "s")),
    ("latency_range", "latency range", _range("s")),
    ("throughput_per_s", "throughput (steady state)", lambda v: f"{v:,.1f} inf/s"),
    ("throughput_range", "throughput range (inf/s)", _range("")),
    ("bottleneck", "bottleneck", str),
    ("energy_per_inference_j", "energy / inference", lambda v: fmt_si(v, "J")),
    ("power_w", "avg power", lambda v: fmt_si(v, "W")),
    ("perf_per_watt", "perf/W (inf/s/W)", lambda v: f"{v:.3g}"),
    ("perf_per_dollar", "perf/$ (inf/s/$)", lambda v: f"{v:.3g}" if v else "- (no price)"),
    ("utilization", "utilization", lambda v: f"{v:.1%}"),
    ("top_bound", "mostly bound by", str),
    ("matrix_share", "matrix time", lambda v: f"{v:.0%}"),
    ("ceiling", "ceiling if matrix time = 0", lambda v: "∞" if math.isinf(v) else f"{v:.3g}x"),
)


def passes_lines(rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(who, passes applied): one line for all chips when they agree, else one per chip."""
    got = [(r["chip"], r.get("passes") or "none recorded") for r in rows]
    if len({p for _, p in got}) == 1 and got:
        return [("all chips", got[0][1])]
    return got


_CONFIG = {"displaylogo": False, "responsive": True}
# Hover strings (layer names) are written once per page, not once per point and per chip: a trace's
# list of hovertext becomes indices into CHIPLAB_S, turned back into strings before Plotly draws it.
# The same goes for the layout every figure shares (font, margins, legend: plots._LAYOUT): written once as
# CHIPLAB_L, merged back into each figure's layout.
_HYDRATE = ("function chiplabData(d){for(const t of d){if(t.meta&&t.meta.hx){t.hovertext=t.meta.hx.map(i=>CHIPLAB_S[i]);"
            "delete t.meta}}return d}function chiplabLayout(l){return Object.assign({},CHIPLAB_L,l)}")


class _Page:
    """Collects HTML parts; figures get stable ids, plotly.js is inlined once before the first,
    and hover strings are shared between figures (see ``_HYDRATE``)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.n_figs = 0
        self.strings: dict[str, int] = {}
        self._head_at: int | None = None
        self.base = go.Figure(layout=plots._LAYOUT).to_plotly_json()["layout"]

    def add(self, s: str) -> None:
        self.parts.append(s)

    def _sid(self, s: str) -> int:
        return self.strings.setdefault(s, len(self.strings))

    def fig(self, fig: Any) -> None:
        if self._head_at is None:      # plotly.js and the string table go here (filled in by html())
            self._head_at = len(self.parts)
            self.add("")
        h = int(fig.layout.height or 420)
        d = fig.to_plotly_json()
        for t in d["data"]:
            hx = t.get("hovertext")
            if isinstance(hx, (list, tuple)) and hx and all(isinstance(x, str) for x in hx):
                t["meta"] = {"hx": [self._sid(x) for x in t.pop("hovertext")]}
        lay = d["layout"]
        shared = {k for k, v in self.base.items() if k in lay and _same(lay[k], v)}   # a changed key stays (wins)
        data = pio.json.to_json_plotly(d["data"])
        layout = pio.json.to_json_plotly({k: v for k, v in lay.items() if k not in shared})
        i = self.n_figs
        self.add(f'<div class="fig"><div id="fig{i}" class="plotly-graph-div" style="height:{h}px;width:100%"></div>'
                 f'<script>Plotly.newPlot("fig{i}",chiplabData({data}),chiplabLayout({layout}),{json.dumps(_CONFIG)})</script></div>')
        self.n_figs += 1

    def html(self) -> str:
        if self._head_at is not None:
            from plotly.offline import get_plotlyjs

            table, base = pio.json.to_json_plotly(list(self.strings)), pio.json.to_json_plotly(self.base)
            self.parts[self._head_at] = (f'<script type="text/javascript">{get_plotlyjs()}</script>'
                                         f"<script>const CHIPLAB_S={table},CHIPLAB_L={base};{_HYDRATE}</script>")
        return "".join(self.parts)


def _same(a: Any, b: Any) -> bool:
    return pio.json.to_json_plotly(a) == pio.json.to_json_plotly(b)


def comparison_table(data: ReportData) -> str:
    rows = [views.summary_row(e) for e in data.ests]
    head = "<tr><th>chip</th>" + "".join(f"<th>{escape(h)}</th>" for _, h, _ in _COLUMNS) + "</tr>"
    body = []
    for r in rows:
        cells = "".join(f'<td class="{"n" if isinstance(r[k], (int, float, tuple)) else ""}">{escape(f(r[k]))}</td>'
                        for k, _, f in _COLUMNS)
        body.append(f"<tr><td><b>{escape(r['chip'])}</b></td>{cells}</tr>")
    passes = "".join(f"<li><b>{escape(c)}</b>: {escape(p)}</li>" for c, p in passes_lines(rows))
    return (f'<div style="overflow-x:auto"><table>{head}{"".join(body)}</table></div>'
            f"<p>Compiler passes applied:</p><ul>{passes}</ul>")


def render_html(data: ReportData, traces: dict[str, str] | None = None) -> str:
    """The page; ``traces``: {chip: file name of its Perfetto trace beside the page}, linked from the timeline."""
    cmd = data.command
    ests = data.ests
    p = _Page()
    title = f"chiplab report: {data.model}"
    p.add(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
          f"<style>{_CSS}</style></head><body>")
    p.add(f"<h1>{escape(title)}</h1><p>made by <code>{escape(cmd)}</code> (chiplab {escape(__version__)}); "
          f"batch {ests[0].batch if ests else '-'}, workload <code>{escape(ests[0].workload if ests else data.model)}</code>. "
          "Analytical estimates, not measurements.</p>")
    p.add('<h2 id="compare">Comparison</h2><p class="help">Latency: one batch, end to end. '
          "Throughput is steady state: batches pipelined, host transfers in and out overlapping the device's work, "
          "limited by the slowest stage (the bottleneck; see the timeline). The ranges are min..max when each assumed "
          "([A]/[U]) figure of the chip file is varied ×0.5..×2, one at a time (re-priced, not re-run; “-”: no "
          "assumed figure moves it). Energy per inference "
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

    p.add('<h2 id="timeline">Timeline (pipelined batches)</h2><p class="help">Three batches on each resource: '
          "the host link in (<code>link.h2d</code>), the device's matrix and vector units running its layers as one "
          "stream in graph order, DRAM (the part of each layer spent moving its DRAM bytes at full bandwidth, inside "
          "that layer), and the link out (<code>link.d2h</code>). With double-buffered inputs and outputs the next "
          "batch's transfer overlaps this batch's device work, so the <b>latency</b> (one batch end to end, dotted "
          "line) is longer than the <b>steady-state period</b> (a new batch every period, set by the slowest stage: "
          "the bottleneck). Events of one batch closer than 1/"
          f"{plots.TIMELINE_RESOLUTION} of the time axis on one resource are drawn as one bar (hover: how many); "
          "the trace file has every event.</p>")
    for r in data.runs:
        p.fig(plots.timeline(r.est, cmd))
        if traces and r.est.chip in traces:
            f = traces[r.est.chip]
            p.add(f'<p class="trace">Every event: <a href="{escape(f)}" download>{escape(f)}</a> '
                  "(trace-event JSON; open in ui.perfetto.dev or chrome://tracing).</p>")

    if data.numerics:
        p.add('<h2 id="numerics">Numerics</h2><p class="help">From <code>chiplab.debug</code>: each layer\'s SQNR '
              "against fp32, isolated (the layer alone under the chip's numerics) and propagated (with the error of "
              "every earlier layer); culprits are the layers the debugger names.</p>")
        for r in data.runs:
            p.add(_numerics_html(r, cmd, p))
    p.add("</body></html>")
    return p.html()


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


def write_html(data: ReportData, path: str | Path) -> list[Path]:
    """Write the page and, beside it, one Perfetto trace per chip (``<stem>-trace-<chip>.json``,
    :func:`chiplab.perf.timeline.write_trace`) that the page links to; returns every file written."""
    from chiplab.perf.timeline import write_trace
    from chiplab.report.md import _slug

    path = Path(path)
    traces: dict[str, str] = {}
    files = []
    for r in data.runs:
        t = path.with_name(f"{path.stem}-trace-{_slug(r.est.chip)}.json")
        files.append(write_trace(r.est, t))
        traces[r.est.chip] = t.name
    path.write_text(render_html(data, traces), encoding="utf-8")
    return [path, *files]
