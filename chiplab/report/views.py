"""The numbers behind each view of the report, derived from an :class:`Estimate` alone.

Pure functions, no plotting: the HTML page (plotly), the Markdown report (matplotlib PNGs)
and the tests read the same values. Units are SI throughout (s, J, W, FLOP/s, B/s).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chiplab.perf.power import chip_power_w
from chiplab.perf.result import Estimate

# energy_breakdown keys (chiplab/perf/common.py: price) -> the component shown in the report
COMPONENTS = {"mac": "MACs", "sram_read": "SRAM", "sram_write": "SRAM", "dram_read": "DRAM", "dram_write": "DRAM",
              "host_link": "host link", "vector": "vector unit", "noc": "NoC"}
COMPONENT_ORDER = ("MACs", "SRAM", "DRAM", "host link", "vector unit", "NoC", "static")


def energy_components(est: Estimate) -> dict[str, float]:
    """Energy per inference (J) by component; ``static`` is static power x latency.

    Dynamic energy a layer carries without a breakdown (a fixed-function block's own
    figure, for instance) is listed as ``other``; the values add up to
    ``est.energy_per_inference_j``.
    """
    out: dict[str, float] = {}
    for l in est.layers:
        known = 0.0
        for k, v in l.energy_breakdown.items():
            name = COMPONENTS.get(k, k)
            out[name] = out.get(name, 0.0) + v
            known += v
        if l.energy_j - known > 1e-15 * max(1.0, abs(l.energy_j)):
            out["other"] = out.get("other", 0.0) + (l.energy_j - known)
    out["static"] = est.static_power_w * est.latency_s
    order = {n: i for i, n in enumerate(COMPONENT_ORDER)}
    return {k: v / est.batch for k, v in sorted(out.items(), key=lambda kv: order.get(kv[0], 99)) if v > 0}


def time_by(est: Estimate, key: str) -> dict[str, float]:
    """Latency (s) summed by a layer attribute: ``op`` (op class) or ``bound``."""
    out: dict[str, float] = {}
    for l in est.layers:
        k = l.bound.value if key == "bound" else str(getattr(l, key))
        out[k] = out.get(k, 0.0) + l.latency_s
    return {k: v for k, v in sorted(out.items(), key=lambda kv: -kv[1]) if v > 0}


@dataclass(frozen=True)
class Amdahl:
    matrix_s: float          # time in layers that do MACs (conv, gemm, attention products)
    other_s: float           # everything else: vector ops, host transfers, fixed-function blocks
    ceiling: float           # speed-up if matrix time went to zero: total / other (inf when other is 0)

    @property
    def matrix_share(self) -> float:
        t = self.matrix_s + self.other_s
        return self.matrix_s / t if t > 0 else 0.0


def amdahl(est: Estimate) -> Amdahl:
    m = sum(l.latency_s for l in est.layers if l.macs > 0)
    o = sum(l.latency_s for l in est.layers if l.macs <= 0)
    return Amdahl(m, o, (m + o) / o if o > 0 else float("inf"))


@dataclass(frozen=True)
class Roofline:
    peak_flops: float                 # 2 x peak MACs/cycle x the clock the run used (after any power-wall cap)
    nominal_peak_flops: float         # at the nominal clock
    dram_bw: float | None             # B/s, None when the chip file has no DRAM
    points: list[dict[str, Any]]      # matrix layers: name, op, macs, ai (FLOP/B, None without DRAM traffic), flops_s
    skipped: int                      # layers without MACs (cannot sit on a FLOP/s axis)


def roofline(est: Estimate, dram_bw: float | None) -> Roofline:
    """Every layer with MACs as a point: arithmetic intensity = 2 x MACs / DRAM bytes,
    achieved FLOP/s = 2 x MACs / latency. A layer with no DRAM traffic has ``ai`` None."""
    scale = float(est.meta.get("tdp_scale", 1.0))
    nominal = 2.0 * est.peak_macs_per_cycle * est.clock_hz
    pts = []
    for l in est.layers:
        if l.macs <= 0 or l.latency_s <= 0:
            continue
        flops = 2.0 * l.macs
        pts.append({"name": l.name, "op": l.op, "macs": l.macs, "bound": l.bound.value,
                    "ai": flops / l.dram_bytes if l.dram_bytes > 0 else None, "flops_s": flops / l.latency_s})
    return Roofline(nominal * scale, nominal, dram_bw, pts, sum(1 for l in est.layers if l.macs <= 0))


@dataclass(frozen=True)
class PowerView:
    chip_power_w: float               # static + on-chip dynamic energy / latency (what the TDP limits)
    uncapped_w: float | None          # what it would have drawn at full clock, when the power wall bit
    tdp_w: float | None
    clock_scale: float                # 1.0 when the power wall did not bite
    notes: list[str]


def power_view(est: Estimate, tdp_w: float | None) -> PowerView:
    return PowerView(chip_power_w(est), est.meta.get("power_uncapped_w"), tdp_w, float(est.meta.get("tdp_scale", 1.0)),
                     [n for n in est.notes if "power wall" in n or "TDP" in n])


def pipelined_schedule(est: Estimate, batches: int = 3) -> list[dict[str, Any]]:
    """Events of ``batches`` pipelined batches per resource (``chiplab.perf.timeline.schedule``:
    host link each way, matrix, vector, DRAM, ...), each with ``end_s`` added."""
    from chiplab.perf.timeline import schedule

    return [{**e, "end_s": e["start_s"] + e["dur_s"]} for e in schedule(est, batches)]


def merge_events(events: list[dict[str, Any]], resolution_s: float) -> dict[str, list[dict[str, Any]]]:
    """Per resource, in time order, the events of one batch that follow each other with a gap
    under ``resolution_s`` drawn as one bar: ``{"start_s", "end_s", "batch", "first", "last", "n"}``
    (first and last layer names, how many events). Bars on one resource never overlap."""
    out: dict[str, list[dict[str, Any]]] = {}
    for e in sorted(events, key=lambda e: e["start_s"]):
        bars = out.setdefault(e["resource"], [])
        b = bars[-1] if bars else None
        if b is not None and b["batch"] == e["batch"] and e["start_s"] - b["end_s"] < resolution_s:
            b.update(end_s=max(b["end_s"], e["end_s"]), last=e["name"], n=b["n"] + 1)
        else:
            bars.append({"start_s": e["start_s"], "end_s": e["end_s"], "batch": e["batch"], "first": e["name"],
                         "last": e["name"], "n": 1})
    return out


def summary_row(est: Estimate) -> dict[str, Any]:
    """One row of the comparison table: the columns of ``tables.compare_rows`` (throughput is steady state),
    the Amdahl split, the bottleneck of the pipeline, the passes applied, and the ranges from the chip's
    assumed figures (``meta['range']``, see ``chiplab.perf.uncertainty.with_range``; None without it)."""
    from chiplab.report.tables import compare_rows

    row = compare_rows([est])[0]
    a = amdahl(est)
    tot = est.total()
    row.update(matrix_share=a.matrix_share, ceiling=a.ceiling, bottleneck=tot["bottleneck"],
               serial_throughput_per_s=tot["serial_throughput_per_s"], passes=est.meta.get("passes"),
               latency_range=(row["latency_lo_s"], row["latency_hi_s"]) if "latency_lo_s" in row else None,
               throughput_range=(row["throughput_lo_per_s"], row["throughput_hi_per_s"])
               if "throughput_lo_per_s" in row else None)
    return row
