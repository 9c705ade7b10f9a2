"""A timeline, not a sum: the priced rows scheduled on the system's resources.

Resources (one track each): the host link in each direction (``link.h2d``,
``link.d2h``), the device's matrix unit (``matrix``), vector unit (``vector``),
fixed-function blocks (``hw_block``), the host CPU when it is the chip (``cpu``), and
DRAM (``dram``: the part of each layer spent moving its DRAM bytes at full bandwidth,
drawn inside the layer that moves them).

* **Latency** (one batch end to end): inputs in, then the device runs its layers as
  one stream of kernels in graph order (one kernel at a time, the way a framework
  launches them on one stream), then outputs out. That is the sum of the rows:
  :attr:`Estimate.latency_s` is unchanged.
* **Throughput** (steady state, batches pipelined): with double-buffered inputs and
  outputs the transfer of batch i+1 in and of batch i-1 out overlap the device's work
  on batch i, so the slowest of {link in, device stream, link out} sets the period;
  ``throughput_per_s = batch / period``.

:func:`trace_events` exports a few pipelined batches as Chrome / Perfetto trace-event
JSON (``chrome://tracing``, https://ui.perfetto.dev): one thread (``tid``) per resource,
complete ("X") events in microseconds.
"""
from __future__ import annotations

import math

import dataclasses
import json
from pathlib import Path
from typing import Any

from chiplab.perf.result import Estimate, LayerEstimate

H2D, D2H, MATRIX, VECTOR, DRAM, HW, CPU = "link.h2d", "link.d2h", "matrix", "vector", "dram", "hw_block", "cpu"
RESOURCES = (H2D, MATRIX, VECTOR, HW, CPU, DRAM, D2H)       # track order in the trace
_UNIT = {"vector": VECTOR, "hw_block": HW, "simd": CPU}      # every other unit is a matrix unit


def resource_of(row: LayerEstimate) -> str | None:
    """The track a row runs on (None: a zero-cost view)."""
    if row.op == "host_transfer":
        return D2H if row.node == "host:outputs" else H2D
    if row.unit == "none":
        return None
    return _UNIT.get(row.unit, MATRIX)


def _dram_s(row: LayerEstimate, dram_bw: float) -> float:
    return min(row.latency_s, row.dram_bytes / dram_bw) if row.dram_bytes and dram_bw > 0 else 0.0


def summarize(est: Estimate, dram_bw: float) -> dict[str, Any]:
    """Busy seconds per resource for one batch, the one-batch latency and the
    steady-state period, throughput and bottleneck."""
    busy = {r: 0.0 for r in RESOURCES}
    for row in est.layers:
        res = resource_of(row)
        if res is not None:
            busy[res] += row.latency_s
            if res not in (H2D, D2H):
                busy[DRAM] += _dram_s(row, dram_bw)
    stages = {H2D: busy[H2D], "device": sum(busy[r] for r in (MATRIX, VECTOR, HW, CPU)), D2H: busy[D2H]}
    bottleneck = max(stages, key=stages.get)
    period = stages[bottleneck]
    return {"latency_s": est.latency_s, "period_s": period,
            "throughput_per_s": est.batch / period if period > 0 else float("inf"),
            "bottleneck": bottleneck, "busy_s": {k: v for k, v in busy.items() if v > 0},
            "stages_s": stages}


def attach_timeline(est: Estimate, dram_bw: float | None = None) -> Estimate:
    """``est`` with ``meta['timeline']`` (see :func:`summarize`); ``dram_bw`` in bytes/s
    (default: what the estimate recorded, else no DRAM track)."""
    bw = dram_bw if dram_bw is not None else est.meta.get("dram_bandwidth", 0.0)
    if not math.isfinite(bw):   # unlimited bandwidth (SCALE-Sim's CALC mode): DRAM never waits, no track
        bw = 0.0
    meta = {**est.meta, "dram_bandwidth": bw}
    est = dataclasses.replace(est, meta=meta)
    est.meta["timeline"] = summarize(est, bw)
    return est


def schedule(est: Estimate, batches: int = 3) -> list[dict[str, Any]]:
    """Events ``{"resource", "name", "batch", "start_s", "dur_s"}`` of ``batches`` pipelined
    batches: the device stream runs batch i once its inputs are in; the input of batch
    i+2 waits for the device to finish batch i (two input buffers)."""
    bw = est.meta.get("dram_bandwidth", 0.0)
    ins = [r for r in est.layers if resource_of(r) == H2D]
    outs = [r for r in est.layers if resource_of(r) == D2H]
    dev = [r for r in est.layers if resource_of(r) not in (None, H2D, D2H)]
    events: list[dict[str, Any]] = []
    free = {H2D: 0.0, D2H: 0.0, "device": 0.0}
    dev_end: list[float] = []

    def put(res: str, row: LayerEstimate, b: int, t: float, dur: float) -> None:
        if dur > 0:
            events.append({"resource": res, "name": row.name, "batch": b, "start_s": t, "dur_s": dur})

    for b in range(batches):
        t = max(free[H2D], dev_end[b - 2] if b >= 2 else 0.0)
        for r in ins:
            put(H2D, r, b, t, r.latency_s)
            t += r.latency_s
        free[H2D] = t
        t = max(t, free["device"])
        for r in dev:
            res = resource_of(r)
            put(res, r, b, t, r.latency_s)
            put(DRAM, r, b, t, _dram_s(r, bw))
            t += r.latency_s
        free["device"] = t
        dev_end.append(t)
        t = max(t, free[D2H])
        for r in outs:
            put(D2H, r, b, t, r.latency_s)
            t += r.latency_s
        free[D2H] = t
    return events


def trace_events(est: Estimate, batches: int = 3) -> dict[str, Any]:
    """Chrome / Perfetto trace-event JSON object of :func:`schedule`."""
    evs = schedule(est, batches)
    used = [r for r in RESOURCES if any(e["resource"] == r for e in evs)]
    tid = {r: i + 1 for i, r in enumerate(used)}
    out: list[dict[str, Any]] = [{"name": "process_name", "ph": "M", "pid": 1, "tid": 0,
                                  "args": {"name": f"{est.workload} on {est.chip} (batch {est.batch})"}}]
    out += [{"name": "thread_name", "ph": "M", "pid": 1, "tid": tid[r], "args": {"name": r}} for r in used]
    out += [{"name": e["name"], "cat": e["resource"], "ph": "X", "pid": 1, "tid": tid[e["resource"]],
             "ts": e["start_s"] * 1e6, "dur": e["dur_s"] * 1e6, "args": {"batch": e["batch"]}} for e in evs]
    return {"traceEvents": out, "displayTimeUnit": "ms",
            "otherData": {"timeline": est.meta.get("timeline", {}), "batches": batches}}


def write_trace(est: Estimate, path: "str | Path", batches: int = 3) -> Path:
    p = Path(path)
    p.write_text(json.dumps(trace_events(est, batches)))
    return p
