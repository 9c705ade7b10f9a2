"""The report as Markdown (for a README or a pull request): the same comparison table and
static PNG figures (matplotlib) written next to the ``.md`` file.
"""
from __future__ import annotations

import math
import re
from html import escape
from pathlib import Path

from chiplab.perf.timeline import write_trace
from chiplab.report import static, views
from chiplab.report.build import ReportData
from chiplab.report.html import _COLUMNS, passes_lines


def _cell(s: str) -> str:
    """Markdown renders inline HTML: escape it, and the table's pipe."""
    return escape(s).replace("|", "\\|")


def _slug(s: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", s).strip("_") or "chip"


def write_md(data: ReportData, path: str | Path) -> list[Path]:
    """Write ``path`` (.md) and its PNGs beside it; returns every file written."""
    path = Path(path)
    stem = path.with_suffix("")
    ests = data.ests
    cmd = data.command
    written: list[Path] = []
    lines = [f"# chiplab report: {_cell(data.model)}", "",
             f"Made by `{cmd.replace('`', '')}`; batch {ests[0].batch if ests else '-'}. Analytical estimates, not measurements.",
             "", "| chip | " + " | ".join(h for _, h, _ in _COLUMNS) + " |", "|---" * (len(_COLUMNS) + 1) + "|"]
    for e in ests:
        r = views.summary_row(e)
        lines.append(f"| **{_cell(r['chip'])}** | " + " | ".join(_cell(f(r[k])) for k, _, f in _COLUMNS) + " |")
    lines.append("")
    for who, passes in passes_lines([views.summary_row(e) for e in ests]):
        lines.append(f"- passes applied, {_cell(who)}: {_cell(passes)}")
    for r in data.runs:
        for n in r.est.notes:
            lines.append(f"- note, {_cell(r.est.chip)}: {_cell(n)}")
    lines += ["", "## Roofline per chip", ""]
    for r in data.runs:
        p = static.roofline_png(r.est, r.dram_bw, f"{stem}-roofline-{_slug(r.est.chip)}.png", cmd)
        written.append(p)
        lines += [f"![roofline on {_cell(r.est.chip)}]({p.name})", ""]
    p = static.breakdown_png(ests, f"{stem}-breakdown.png", cmd)
    written.append(p)
    lines += ["## Where the time and the energy go", "", f"![time and energy breakdown]({p.name})", ""]
    p = static.power_png(ests, [r.tdp_w for r in data.runs], f"{stem}-power.png", cmd)
    written.append(p)
    lines += ["## Power vs TDP", "", f"![power vs TDP]({p.name})", "", "## Timeline (pipelined batches)", "",
              "Three batches pipelined on each resource (host link in and out, matrix, vector, DRAM): the latency of one "
              "batch vs the steady-state period. Each chip's full trace is beside this file as "
              "`<name>-trace-<chip>.json` (open in ui.perfetto.dev).", ""]
    for r in data.runs:
        p = static.timeline_png(r.est, f"{stem}-timeline-{_slug(r.est.chip)}.png", cmd)
        t = write_trace(r.est, f"{stem}-trace-{_slug(r.est.chip)}.json")
        written += [p, t]
        lines += [f"![timeline on {_cell(r.est.chip)}]({p.name})", "", f"Trace: [{t.name}]({t.name})", ""]
    if data.numerics:
        lines += ["## Numerics", "", "| chip | final SQNR (dB) | culprits |", "|---|---|---|"]
        for r in data.runs:
            if r.numerics is None:
                lines.append(f"| {_cell(r.spec.name)} | - | {_cell(r.numerics_error or 'not run')} |")
                continue
            d = r.numerics.to_dict()
            sq = d["final"].get("sqnr_db")
            sq = f"{sq:.1f}" if isinstance(sq, float) and math.isfinite(sq) else str(sq)
            lines.append(f"| {_cell(r.spec.name)} | {sq} | " + (", ".join(f"<code>{_cell(c)}</code>" for c in d["culprits"]) or "none") + " |")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return [path, *written]
