"""Human-facing tables (rich) and machine-facing rows (dicts for CSV/JSON/pandas)."""
from __future__ import annotations

from typing import Any, Mapping, Sequence

from rich.table import Table

from chiplab.perf.result import Estimate
from chiplab.units import fmt_si


def layer_table(est: Estimate, top: int | None = 20) -> Table:
    """Per-layer table; with ``top`` only the slowest layers, in graph order."""
    t = Table(title=f"{est.workload} on {est.chip} (batch {est.batch}, {est.precision})", title_justify="left")
    for col, just in (("layer", "left"), ("op", "left"), ("MACs", "right"), ("cycles", "right"), ("latency", "right"),
                      ("energy", "right"), ("util", "right"), ("bound", "left")):
        t.add_column(col, justify=just)
    rows = est.layers
    hidden = 0
    if top is not None and len(rows) > top:
        keep = set(id(r) for r in sorted(rows, key=lambda r: -r.latency_s)[:top])
        hidden = len(rows) - top
        rows = [r for r in rows if id(r) in keep]
    for r in rows:
        t.add_row(r.name, r.op, f"{r.macs:,}", f"{r.cycles:,.0f}", fmt_si(r.latency_s, "s"), fmt_si(r.energy_j, "J"),
                  f"{r.utilization:.0%}" if r.macs else "", r.bound.value)
    if hidden:
        t.caption = f"{hidden} faster layers hidden (use --all)"
    tot = est.total()
    t.add_section()
    t.add_row(f"TOTAL (one batch of {est.batch})", "", f"{tot['macs']:,}", f"{tot['cycles']:,.0f}", fmt_si(tot["latency_s"], "s"),
              fmt_si(tot["energy_j"], "J"), f"{tot['utilization']:.0%}", _bounds(est))
    return t


def summary_line(est: Estimate) -> str:
    """The TOTAL row per inference: throughput, average power, energy per inference."""
    tot = est.total()
    line = (f"batch {est.batch}: {fmt_si(tot['latency_s'], 's')} and {fmt_si(tot['energy_j'], 'J')} per batch; "
            f"throughput {tot['throughput_per_s']:,.1f} inferences/s, power {fmt_si(tot['power_w'], 'W')}, "
            f"energy {fmt_si(tot['energy_per_inference_j'], 'J')} per inference")
    tl = est.meta.get("timeline")
    if tl and tl["throughput_per_s"] != tot["serial_throughput_per_s"]:
        line += (f"\nthroughput is steady state (batches pipelined, host transfers overlapped; limited by "
                 f"{tl['bottleneck']}); one batch at a time: {tot['serial_throughput_per_s']:,.1f} inferences/s")
    return line


#: what each unit column of the compare table means
COMPARE_LEGEND = ("throughput: inferences/s at this batch, steady state; throughput range: min..max when each "
                  "assumed ([A]/[U]) figure of the chip file is varied x0.5..x2, one at a time; energy / inference: joules per sample (dynamic + "
                  "static); power: average W over the run; inf/s/W: inferences per second per watt "
                  "(= inferences per joule); inf/s/$: inferences per second per US dollar of chip price "
                  "(power.price in the chip file; '-' where unknown)")


def _bounds(est: Estimate) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in list(est.bound_summary().items())[:2])


def compare_rows(ests: Sequence[Estimate], unsupported: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """One row per estimate, then one per chip in ``unsupported`` ({chip: reason}, e.g. "no int8")
    with the reason under ``unsupported`` and no figures."""
    rows = []
    for e in ests:
        tot = e.total()
        rows.append({"chip": e.chip, "workload": e.workload, "batch": e.batch, "precision": e.precision,
                     "latency_s": tot["latency_s"], "throughput_per_s": tot["throughput_per_s"],
                     "utilization": tot["utilization"], "energy_per_inference_j": tot["energy_per_inference_j"],
                     "power_w": tot["power_w"], "perf_per_watt": tot["perf_per_watt"],
                     "perf_per_dollar": tot["perf_per_dollar"], "top_bound": next(iter(e.bound_summary()), ""),
                     **_range_cols(e), "notes": "; ".join(e.notes)})
    for chip, why in (unsupported or {}).items():
        rows.append({"chip": chip, "unsupported": why})
    return rows


def _range_cols(e: Estimate) -> dict[str, Any]:
    r = e.meta.get("range")
    if not r or not r["varied"]:
        return {}
    return {"latency_lo_s": r["latency_s"][0], "latency_hi_s": r["latency_s"][1],
            "throughput_lo_per_s": r["throughput_per_s"][0], "throughput_hi_per_s": r["throughput_per_s"][1]}


def range_line(est: Estimate) -> str | None:
    """The prediction's range from the chip's assumed figures (``meta['range']``), or None."""
    r = est.meta.get("range")
    if not r:
        return None
    if not r["varied"]:
        return "range: no assumed ([A]/[U]) figure of this chip affects the prediction by re-pricing"
    lo, hi = r["factor"]
    (l0, l1), (t0, t1) = r["latency_s"], r["throughput_per_s"]
    return (f"range: varying each assumed ([A]/[U]) figure x{lo:g}..x{hi:g}, one at a time ({len(r['varied'])} figures): "
            f"latency {fmt_si(l0, 's')}..{fmt_si(l1, 's')}, throughput {t0:,.0f}..{t1:,.0f} inferences/s; "
            f"widest: {r['widest']}" + (f"; not varied (decide the mapping): {', '.join(r['not_varied'])}"
                                        if r["not_varied"] else ""))


def compare_table(ests: Sequence[Estimate], unsupported: Mapping[str, str] | None = None) -> Table:
    if not ests and not unsupported:
        return Table(title="no chips")
    title = f"{ests[0].workload}, batch {ests[0].batch}" if ests else "no chip supports the precision"
    t = Table(title=title, title_justify="left", caption=COMPARE_LEGEND, caption_justify="left")
    for col, just in (("chip", "left"), ("precision", "left"), ("latency", "right"), ("throughput", "right"),
                      ("utilization", "right"), ("energy / inference", "right"), ("power", "right"),
                      ("throughput range", "right"), ("inf/s/W", "right"), ("inf/s/$", "right"),
                      ("mostly bound by", "left")):
        t.add_column(col, justify=just)
    for r in compare_rows(ests, unsupported):
        if "unsupported" in r:
            t.add_row(r["chip"], r["unsupported"], *["-"] * 9)
            continue
        t.add_row(r["chip"], r["precision"], fmt_si(r["latency_s"], "s"), f"{r['throughput_per_s']:,.1f}/s",
                  f"{r['utilization']:.1%}", fmt_si(r["energy_per_inference_j"], "J"), fmt_si(r["power_w"], "W"),
                  f"{r['throughput_lo_per_s']:,.0f}..{r['throughput_hi_per_s']:,.0f}" if "throughput_lo_per_s" in r else "-",
                  f"{r['perf_per_watt']:.3g}", f"{r['perf_per_dollar']:.3g}" if r["perf_per_dollar"] else "-",
                  r["top_bound"])
    return t
