"""`chiplab report`: the HTML page opened in headless Chromium (no console errors, every plot
rendered, a screenshot), hostile names escaped, the Markdown report with its PNGs, the CLI,
and the numbers behind each view checked against the Estimate they come from.

One capture of ResNet-50 and BERT-base per session; Chromium tests skip cleanly where no
Chromium can start (Debian's `chromium` package; `.ci/run` installs it when it can).
"""
from __future__ import annotations

import dataclasses
import math
import re
import shutil
import subprocess

import pytest

from chiplab.hw import load_chip
from chiplab.report import plots, views
from chiplab.report.build import collect
from chiplab.report.html import render_html, write_html
from chiplab.report.md import write_md

EVIL = "<script>alert(1)</script>"
EVIL_ESC = "&lt;script&gt;alert(1)&lt;/script&gt;"
CHIPS = ("tpu-v4", "a100-sxm4-40gb", "xeon-e5-2699v3")


def _hostile(data):
    """Give the model, one chip and one layer a name that would run script if not escaped."""
    data.model = f"resnet50 {EVIL}"
    data.runs[0].est.chip = f"tpu-v4 {EVIL}"
    mat = next(l for l in data.runs[0].est.layers if l.macs > 0 and l.latency_s > 0)
    mat.name = f"layer1 {EVIL}"
    return data


@pytest.fixture(scope="session")
def graphs():
    from chiplab.capture.workloads import load_graph

    return {"resnet50": load_graph("resnet50"), "bert-base": load_graph("bert-base", seq_len=128)}


@pytest.fixture(scope="session")
def reports(graphs):
    out = {m: collect(m, CHIPS, graph=g, progress=False, seq_len=128 if m == "bert-base" else None)
           for m, g in graphs.items()}
    _hostile(out["resnet50"])
    return out


# ---------------------------------------------------------------- headless Chromium
_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--enable-logging=stderr", "--v=0")


def _chromium(tmp, url, *extra, timeout=90):
    exe = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if exe is None:
        pytest.skip("no chromium on PATH (apt-get install chromium)")
    tmp.mkdir(parents=True, exist_ok=True)
    try:
        p = subprocess.run([exe, *_FLAGS, f"--user-data-dir={tmp / 'profile'}", *extra, url], capture_output=True,
                           text=True, timeout=timeout)
    except (subprocess.TimeoutExpired, OSError) as e:
        pytest.skip(f"chromium could not run: {e}")
    return p


def _console(stderr: str) -> list[str]:
    return [l for l in stderr.splitlines() if ":CONSOLE" in l]


@pytest.fixture(scope="session")
def browser(tmp_path_factory):
    """Chromium that starts and reports console errors, proven on a page that has one."""
    tmp = tmp_path_factory.mktemp("chromium")
    page = tmp / "bad.html"
    page.write_text('<html><body><div id="ok">x</div><script>undefinedFn();</script></body></html>')
    p = _chromium(tmp, page.as_uri(), "--dump-dom")
    if p.returncode != 0 or 'id="ok"' not in p.stdout:
        pytest.skip(f"chromium did not start (rc {p.returncode}): {p.stderr.strip()[-300:]}")
    assert any("Uncaught ReferenceError" in l for l in _console(p.stderr)), "console errors are not visible on stderr"
    return tmp


@pytest.mark.parametrize("model", ["resnet50", "bert-base"])
def test_html_report_opens_in_chromium(reports, browser, tmp_path, model):
    data = reports[model]
    html = render_html(data)
    page = tmp_path / f"{model}.html"
    # test-only probe: the hover names the page stores once come back on the figures' traces
    probe = ('<script>const t=document.getElementById("fig0").data.find(t=>t.hovertext);'
             'document.body.insertAdjacentHTML("beforeend","<p id=probe>"+t.hovertext.length+"|"+t.meta+"</p>")</script>')
    page.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
    # plotly.js inlined exactly once; no network needed
    assert html.count("Plotly.newPlot(") == 2 * len(CHIPS) + 5
    assert len(re.findall(r"<script[^>]*\bsrc=", html)) == 0
    shot = tmp_path / f"{model}.png"
    p = _chromium(tmp_path, page.as_uri(), "--dump-dom", "--window-size=1400,3000", f"--screenshot={shot}")
    assert p.returncode == 0, p.stderr[-500:]
    assert shot.read_bytes()[:4] == b"\x89PNG" and shot.stat().st_size > 10_000
    assert _console(p.stderr) == [], _console(p.stderr)
    dom = p.stdout
    roof = next(t for t in plots.roofline(data.runs[0].est, data.runs[0].dram_bw, "x").data if t.hovertext)
    assert f'<p id="probe">{len(roof.hovertext)}|undefined</p>' in dom
    n_figs = 2 * len(CHIPS) + 5       # roofline + timeline per chip; op, bound, Amdahl, energy, power
    assert dom.count('class="plotly-graph-div') == n_figs
    assert len(re.findall(r'class="[^"]*js-plotly-plot', dom)) == n_figs   # plotly drew into every div
    assert dom.count('class="main-svg"') >= n_figs
    if model == "resnet50":   # the hostile names: escaped in the page and in what the browser built
        assert EVIL not in html and EVIL not in dom
        assert html.count(EVIL_ESC) >= 3             # title, heading, table row
        in_json = EVIL_ESC.replace("/", "\\u002f")      # escaped, then JSON-escaped, in the figures' data
        assert f"layer1 {in_json}" in html and f"on tpu-v4 {in_json}" in html


def test_report_content_without_browser(reports):
    data = reports["bert-base"]
    html = render_html(data)
    for chip in CHIPS:
        assert f"<td><b>{chip}</b></td>" in html
    for head in ("Comparison", "Roofline per chip", "Where the time goes", "Energy", "Power vs TDP",
                 "Timeline (pipelined batches)"):
        assert head in html
    assert "made by: chiplab report bert-base --chips tpu-v4,a100-sxm4-40gb,xeon-e5-2699v3 --seq-len 128" in html
    assert 'id="numerics"' not in html


# ---------------------------------------------------------------- the numbers behind the views
def test_views_add_up(reports):
    for data in reports.values():
        for r in data.runs:
            e = r.est
            comp = views.energy_components(e)
            assert math.isclose(sum(comp.values()), e.energy_per_inference_j, rel_tol=1e-9)
            assert math.isclose(comp["static"], e.static_power_w * e.latency_s / e.batch, rel_tol=1e-9)
            a = views.amdahl(e)
            assert math.isclose(a.matrix_s + a.other_s, e.latency_s, rel_tol=1e-9)
            assert math.isclose(a.ceiling, e.latency_s / a.other_s, rel_tol=1e-9)
            for key in ("op", "bound"):
                assert math.isclose(sum(views.time_by(e, key).values()), e.latency_s, rel_tol=1e-9)
            ev = [x for x in views.pipelined_schedule(e) if x["batch"] == 0]   # batch 0 ends at the latency
            assert math.isclose(max(x["end_s"] for x in ev), e.latency_s, rel_tol=1e-9)
            roof = views.roofline(e, r.dram_bw)
            assert len(roof.points) == sum(1 for l in e.layers if l.macs > 0 and l.latency_s > 0)
            for p in roof.points:   # nothing above the roof the chip's own numbers allow
                assert p["flops_s"] <= roof.peak_flops * 1.001
                if p["ai"] is not None:
                    assert p["flops_s"] <= r.dram_bw * p["ai"] * 1.001


def test_progress_bar_names_each_chip(graphs):
    import io

    from rich.console import Console

    buf = io.StringIO()
    collect("resnet50", ["tpu-v4", "t4"], graph=graphs["resnet50"],
            console=Console(file=buf, force_terminal=True, width=100))
    out = buf.getvalue()
    assert "estimating on tpu-v4" in out and "estimating on t4" in out


def test_power_wall_shown(graphs):
    """A chip whose TDP is lowered below its full-clock power: the view reports the clock scale and both powers."""
    spec = load_chip("tpu-v4")
    full = collect("resnet50", [spec], graph=graphs["resnet50"], progress=False).runs[0]
    p_full = views.power_view(full.est, spec.power.tdp).chip_power_w
    tdp = spec.energy.static_power + 0.5 * (p_full - spec.energy.static_power)   # half the dynamic power fits
    capped_spec = spec.model_copy(update={"power": spec.power.model_copy(update={"tdp": tdp})})
    run = collect("resnet50", [capped_spec], graph=graphs["resnet50"], progress=False).runs[0]
    pv = views.power_view(run.est, run.tdp_w)
    assert pv.clock_scale < 1 and pv.uncapped_w == pytest.approx(p_full)
    assert pv.chip_power_w == pytest.approx(tdp, rel=1e-3) and pv.tdp_w == tdp
    assert pv.notes and "power wall" in pv.notes[0]
    html = render_html(collect("resnet50", [capped_spec], graph=graphs["resnet50"], progress=False))
    assert f"clock x{pv.clock_scale:.2f}" in html


def test_timeline_is_the_pipelined_schedule(reports):
    """The figure draws chiplab.perf.timeline.schedule per resource: bars on one resource never
    overlap, cover every scheduled event, and the title gives latency and steady-state period."""
    import numpy as np

    for data in reports.values():
        for r in data.runs:
            e = r.est
            fig = plots.timeline(e, "cmd")
            ev = views.pipelined_schedule(e)
            span = max(x["end_s"] for x in ev) * 1e3
            assert {t.name for t in fig.data} == {x["resource"] for x in ev}
            if any(l.op == "host_transfer" for l in e.layers):     # an accelerator: inputs in, outputs out
                assert {"link.h2d", "link.d2h"} <= {t.name for t in fig.data}
            lanes = dict(zip(fig.layout.yaxis.ticktext, fig.layout.yaxis.tickvals))
            for t in fig.data:
                assert set(np.asarray(t.y).tolist()) == {lanes[t.name]}              # every bar on its own lane
                base, dur = np.asarray(t.base, float), np.asarray(t.x, float)
                order = np.argsort(base)
                ends, starts = (base + dur)[order][:-1], base[order][1:]
                assert np.all(ends <= starts + 1e-5 * span), t.name          # float32 rounding only
                busy = sum(x["dur_s"] for x in ev if x["resource"] == t.name) * 1e3
                assert dur.sum() >= busy * (1 - 1e-5)                        # merged bars cover every event
                assert sum(n for _, n in t.customdata) == sum(1 for x in ev if x["resource"] == t.name)
            tl = e.meta["timeline"]
            title = fig.layout.title.text
            assert f"latency {tl['latency_s'] * 1e3:.4g} ms" in title
            assert f"a batch every {tl['period_s'] * 1e3:.4g} ms = {tl['throughput_per_s']:,.1f} inf/s" in title


def test_trace_file_beside_the_page(reports, tmp_path):
    import json

    data = dataclasses.replace(reports["bert-base"], runs=reports["bert-base"].runs[:2])
    files = write_html(data, tmp_path / "r.html")
    html = files[0].read_text()
    links = re.findall(r'<a href="([^"]+)" download>', html)
    assert len(links) == 2 and html.count("open in ui.perfetto.dev") == 2
    for link, run in zip(links, data.runs):
        trace = json.loads((tmp_path / link).read_text())
        xs = [ev for ev in trace["traceEvents"] if ev["ph"] == "X"]
        assert len(xs) == len(views.pipelined_schedule(run.est)) and trace["otherData"]["timeline"]
    assert sorted(files[1:]) == sorted(tmp_path / l for l in links)


def test_comparison_table_throughput_range_bottleneck_passes(reports):
    from chiplab.units import fmt_si

    data = reports["bert-base"]
    html = render_html(data)
    for head in ("latency (one batch)", "throughput (steady state)", "throughput range (inf/s)", "latency range",
                 "bottleneck"):
        assert f"<th>{head}</th>" in html
    for r in data.runs:
        tot = r.est.total()
        row = re.search(rf"<tr><td><b>{re.escape(r.est.chip)}</b></td>(.*?)</tr>", html).group(1)
        cells = re.findall(r"<td[^>]*>(.*?)</td>", row)
        assert cells[3] == f"{tot['throughput_per_s']:,.1f} inf/s" and cells[1] == fmt_si(tot["latency_s"], "s")
        assert cells[5] == tot["bottleneck"]
        rg = r.est.meta["range"]                   # collect attached with_range(est, spec)
        if rg["varied"]:
            lo, hi = rg["throughput_per_s"]
            assert cells[4] == f"{lo:,.0f}..{hi:,.0f}" and lo <= tot["throughput_per_s"] <= hi
        else:
            assert cells[4] == "-"
        assert r.est.meta["passes"] in html


# ---------------------------------------------------------------- Markdown, CLI, numerics
def test_markdown_report(reports, tmp_path):
    data = dataclasses.replace(reports["resnet50"], runs=reports["resnet50"].runs[:2])   # 2 chips: fewer PNGs to draw
    files = write_md(data, tmp_path / "r.md")
    md = files[0].read_text()
    pngs = [f for f in files if f.suffix == ".png"]
    assert len(pngs) == 2 * 2 + 2
    for f in pngs:
        assert f.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({f.name})" in md
    assert EVIL not in md and EVIL_ESC in md
    assert md.count("\n| **") == 2


def test_cli_report_and_estimate_plot(graphs, tmp_path):
    from typer.testing import CliRunner

    from chiplab.cli import app

    r = CliRunner().invoke(app, ["report", "resnet50", "--chips", "tpu-v4,t4", "-o", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "r.html").read_text().count("Plotly.newPlot(") == 2 * 2 + 5
    r = CliRunner().invoke(app, ["estimate", "resnet50", "--chip", "tpu-v1", "--plot", str(tmp_path / "roof.png")])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "roof.png").read_bytes()[:4] == b"\x89PNG"
    for bad, msg in ((["--chips", "tpu-v4", "--format", "pdf"], "--format"), (["--chips", "no-such-chip"], "no-such-chip")):
        r = CliRunner().invoke(app, ["report", "resnet50", *bad, "-o", str(tmp_path / "x.html")])
        assert r.exit_code == 2 and msg in r.output, r.output


def test_numerics_section(tmp_path):
    src = tmp_path / "tiny.py"
    src.write_text("import torch\nfrom torch import nn\n"
                   "def make():\n"
                   "    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))\n"
                   "    return m, (torch.randn(1, 3, 8, 8),)\n")
    data = collect(f"{src}:make", ["tpu-v1"], numerics=True, progress=False)
    rep = data.runs[0].numerics
    assert rep is not None, data.runs[0].numerics_error
    html = render_html(data)
    assert 'id="numerics"' in html and f"final output SQNR {rep.final['sqnr_db']} dB" in html
    assert html.count("Plotly.newPlot(") == 2 + 5 + 1
