"""Fit a chip class's efficiency knobs to measurements made on that device.

Each measured row becomes a small IR graph (a GEMM, a convolution, attention as
QKᵀ/softmax/PV, or a whole captured model) that chiplab predicts with
``estimate(..., host_transfers=False)``. The knobs are fitted by least squares on
log(predicted / measured) time (scipy), in log-parameter space, on the training
rows only; the rest stay held out for ``bench/prediction_error.py``.

Knobs per class (``KNOBS``): cpu: the effective ``arch.clock`` at full SIMD efficiency
(``/proc/cpuinfo`` reports the current clock, not the sustained boost clock, and clock
and efficiency cannot be told apart by timing alone, so ``gemm_efficiency`` is set to 1
and the clock absorbs both), ``arch.op_overhead`` and the effective
``memory.dram_bandwidth`` (the detected host has no way to know it);
gpu: ``arch.tensor_efficiency``, ``arch.dram_efficiency``, ``arch.launch_overhead``.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from chiplab.errors import ChiplabError
from chiplab.hw.spec import ChipSpec
from chiplab.ir import ConvShape, GemmShape, Graph, Node, OpKind, Role, TensorSpec

KNOBS: dict[str, list[tuple[str, float, float]]] = {    # (dotted field, lower, upper)
    "cpu": [("arch.clock", 2e8, 8e9), ("arch.op_overhead", 1e-7, 1e-3), ("memory.dram_bandwidth", 1e9, 1e12)],
    "gpu": [("arch.tensor_efficiency", 0.05, 1.0), ("arch.dram_efficiency", 0.05, 1.0), ("arch.launch_overhead", 1e-7, 1e-4)],
}


def graph_for_row(row) -> Graph:
    """The IR graph chiplab predicts for one measured row."""
    kind = row["kind"]
    if kind == "gemm":
        g = GemmShape(int(row["M"]), int(row["N"]), int(row["K"]))
        n = Node("mm", OpKind.GEMM, inputs=(TensorSpec((g.M, g.K)), TensorSpec((g.K, g.N), role=Role.WEIGHT)),
                 outputs=(TensorSpec((g.M, g.N), role=Role.OUTPUT),), macs=g.macs, gemm=g)
        return Graph(row["name"], [n])
    if kind == "conv":
        R, s = int(row["R"]), int(row["stride"])
        c = ConvShape(int(row["batch"]), int(row["C"]), int(row["H"]), int(row["H"]), int(row["N"]), R, R, (s, s),
                      (R // 2, R // 2))
        g = c.as_gemm()
        n = Node("conv", OpKind.CONV, inputs=(TensorSpec((c.N, c.C, c.H, c.W)), TensorSpec((c.K, c.C, R, R), role=Role.WEIGHT)),
                 outputs=(TensorSpec((c.N, c.K, c.P, c.Q), role=Role.OUTPUT),), macs=g.macs, gemm=g, conv=c)
        return Graph(row["name"], [n])
    if kind == "attention":
        b, L, d = int(row["batch"]), int(row["M"]), int(row["K"])
        g1 = GemmShape(L, L, d, b, b_is_weight=False)
        g2 = GemmShape(L, d, L, b, b_is_weight=False)
        q = TensorSpec((b, L, d))
        s_ = TensorSpec((b, L, L), role=Role.OUTPUT)
        nodes = [Node("qk", OpKind.GEMM, inputs=(q, q), outputs=(s_,), macs=g1.macs, gemm=g1),
                 Node("softmax", OpKind.SOFTMAX, inputs=(TensorSpec((b, L, L), producer="qk"),), outputs=(s_,),
                      vector_ops=5 * b * L * L),
                 Node("pv", OpKind.GEMM, inputs=(TensorSpec((b, L, L), producer="softmax"), q),
                      outputs=(TensorSpec((b, L, d), role=Role.OUTPUT),), macs=g2.macs, gemm=g2)]
        return Graph(row["name"], nodes)
    if kind == "model":
        from chiplab.capture import load_graph

        seq = int(row.get("seq_len", 0) or 0) or None
        return load_graph(row["name"], batch=int(row["batch"]), seq_len=seq)
    raise ChiplabError(f"measurement row {row['name']!r}: unknown kind {kind!r}")


def with_knobs(chip: ChipSpec, values: dict[str, float]) -> ChipSpec:
    """A re-validated copy of ``chip`` with dotted fields (``arch.gemm_efficiency``) replaced
    (see :func:`chiplab.hw.edit.edit`; the sources are rewritten by :func:`calibrated_sources`)."""
    from chiplab.hw.edit import edit

    return edit(chip, values, cite=None)


def predict(chip: ChipSpec, graphs: list[Graph], precision: str = "fp32") -> np.ndarray:
    from chiplab.perf.estimate import estimate

    return np.array([estimate(g, chip, precision=precision, host_transfers=False).latency_s for g in graphs])


@dataclass
class Fit:
    chip: ChipSpec
    values: dict[str, float]
    train_log_rmse: float
    rows: int


def fit(chip: ChipSpec, df, precision: str = "fp32") -> Fit:
    """Fit the class's knobs on the rows of ``df`` (a measurement DataFrame)."""
    from scipy.optimize import least_squares

    kind = chip.arch.kind
    if kind not in KNOBS:
        raise ChiplabError(f"{chip.name}: calibration supports arch kinds {', '.join(KNOBS)}, not {kind!r}")
    knobs = KNOBS[kind]
    if kind == "cpu":   # clock and efficiency are one knob to a timer: fit the clock at full efficiency
        chip = with_knobs(chip, {"arch.gemm_efficiency": 1.0})
    graphs = [graph_for_row(r) for _, r in df.iterrows()]
    meas = df["median_s"].to_numpy(dtype=float)
    if len(meas) < len(knobs) or not np.all(meas > 0):
        raise ChiplabError(f"calibration needs at least {len(knobs)} rows with positive times")

    def current(field: str) -> float:
        obj = chip
        for part in field.split("."):
            obj = getattr(obj, part)
        return float(obj)

    x0 = np.array([math.log(min(max(current(f), lo), hi)) for f, lo, hi in knobs])
    lo = np.log([k[1] for k in knobs])
    hi = np.log([k[2] for k in knobs])

    def resid(x):
        c = with_knobs(chip, {f: float(math.exp(v)) for (f, _, _), v in zip(knobs, x)})
        return np.log(predict(c, graphs, precision)) - np.log(meas)

    res = least_squares(resid, np.clip(x0, lo + 1e-9, hi - 1e-9), bounds=(lo, hi), diff_step=1e-3)
    values = {f: float(math.exp(v)) for (f, _, _), v in zip(knobs, res.x)}
    return Fit(with_knobs(chip, values), values, float(np.sqrt(np.mean(res.fun ** 2))), len(meas))


def calibrated_sources(fitres: Fit, csv: Path, prov: dict[str, str]) -> dict[str, str]:
    when = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d")
    src = dict(fitres.chip.sources)
    for f in fitres.values:
        src[f] = (f"[D] fitted by chiplab calibrate on {when} to {csv} ({fitres.rows} rows measured on "
                  f"{prov.get('device_name', '?')}, {prov.get('date_utc', '?')}; train log-RMSE {fitres.train_log_rmse:.3f})")
    return src
