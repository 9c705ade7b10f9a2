"""The divergence debugger: which layers make the chip's output differ from fp32, and why.

Three views, all keyed by module path:

* **propagated**: the device run end to end; every layer's output compared with fp32.
* **isolated**: every layer fed its fp32 reference input, so the error it makes itself shows
  even when a residual path or a later layer hides it downstream.
* **bisection**: emulation switched on for subsets of layers (the rest fp32) to find a
  smallest set that alone produces at least ``explain_frac`` of the final drop.

Culprits are the bisection set plus the layers whose isolated SQNR sits ``outlier_db`` below
the median; worst isolated SQNR first. The bisection set counts only when the final drop is
significant (final SQNR below ``healthy_db``, or any drop of a user metric).
"""
from __future__ import annotations

import math
import statistics
from typing import Any, Callable, Mapping

import torch
import torch.nn as nn

from chiplab.debugger.metrics import compare, compare_tree, flat, sqnr_db
from chiplab.debugger.report import DebugReport
from chiplab.emu.emulator import (EmulationError, Emulator, Override, _batches, _clone, as_tuple, check_finite,
                                  nonfinite_warning)


class Session:
    """State shared by the views and the fix checker: one emulator, its fp32 reference run."""

    def __init__(self, model: nn.Module, chip: Any, inputs: tuple, calibration: Any, observer: str | None,
                 overrides: Mapping[str, Override] | None, metric: Callable[[Any], float] | None, fold_bn: bool = True):
        self.model, self.chip, self.inputs = model, chip, inputs
        self.calibration = calibration if calibration is not None else inputs
        self.observer, self.overrides, self.metric = observer, dict(overrides or {}), metric
        self.fold_bn = fold_bn
        self.warnings: list[str] = []
        self.emu = self.make(self.overrides)
        self.paths = list(self.emu.layers)
        self.emu.enable(set())
        self.ref_raw, self.ref_out, self.ref_in = self.emu.run_capture(inputs, self.paths, inputs_too=True)
        if self.emu.nonfinite is not None:
            self.warnings.append(nonfinite_warning(self.emu.nonfinite, "fp32 reference"))
        self.emu.enable(None)
        self.paths = [p for p in self.paths if p in self.ref_out]     # reached by these inputs
        self.ref = flat(self.ref_raw)
        self.ref_metric = metric(self.ref_raw) if metric else None

    def make(self, overrides: Mapping[str, Override]) -> Emulator:
        return Emulator(self.model, self.chip, self.calibration, observer=self.observer, overrides=overrides,
                        fold_bn=self.fold_bn)

    def badness(self, out: Any) -> float:
        """Final drop: metric(fp32) - metric(device) with a user metric, else noise power ratio."""
        if self.metric is not None:
            return self.ref_metric - self.metric(out)
        s = sqnr_db(self.ref, flat(out))
        return math.inf if s == -math.inf else 10 ** (-s / 10)

    def isolated(self, emu: Emulator, path: str) -> dict:
        layer = emu.layers[path]
        with torch.no_grad():
            out = layer.module(*_clone(self.ref_in[path]))      # in-place modules must not eat the reference
        return compare(self.ref_out[path], out)

    def final(self, emu: Emulator) -> dict:
        out = emu(*self.inputs)
        d = compare_tree(self.ref_raw, out)
        if self.metric is not None:
            d["metric"] = self.metric(out)
        return d


def _bisect(s: Session, candidates: list[str], frac: float) -> tuple[list[str], int, float]:
    """QuickXplain-style search for a small subset that explains ``frac`` of the total drop."""
    cache: dict[frozenset, float] = {}

    def bad(sel) -> float:
        key = frozenset(sel)
        if key not in cache:
            s.emu.enable(key)
            cache[key] = s.badness(s.emu(*s.inputs))
        return cache[key]

    total = bad(candidates)
    s.emu.enable(None)
    if not total > 0 or not candidates:
        return [], len(cache), total
    target = frac * total if math.isfinite(total) else math.inf

    def explains(sel) -> bool:
        return bad(sel) >= target

    def explain(cands: list[str], base: list[str]) -> list[str]:
        if len(cands) == 1:
            return cands
        a, b = cands[: len(cands) // 2], cands[len(cands) // 2:]
        if explains(base + a):
            return explain(a, base)
        if explains(base + b):
            return explain(b, base)
        sa = explain(a, base + b)
        return sa + explain(b, base + sa)

    found = explain(candidates, [])
    s.emu.enable(None)
    return found, len(cache), total


def debug(model: nn.Module, chip: Any, inputs: Any, *, calibration: Any = None, metric: Callable[[Any], float] | None = None,
          observer: str | None = None, overrides: Mapping[str, Override] | None = None, explain_frac: float = 0.5,
          outlier_db: float = 10.0, healthy_db: float = 30.0, fixes: bool = True, max_fixes: int = 3, bundle: str | None = None,
          factory: str | None = None, fold_bn: bool = True) -> DebugReport:
    """Compare the chip's run of ``model`` with fp32, layer by layer, and name the culprits.

    ``metric``: optional ``f(model_output) -> float`` (higher is better, e.g. top-1 against
    labels) used for the bisection instead of the final output's noise power. ``overrides``:
    per-layer numerics (as for :func:`chiplab.emulate`). ``fixes``: try and verify a fix for the
    first ``max_fixes`` culprits. ``bundle``: directory to write a repro bundle to (created; data only,
    see :mod:`chiplab.debugger.bundle`); ``factory``: the workload name that rebuilds the model (or the
    file.py:factory it came from, recorded as a hint; the repro then needs ``--factory``).
    """
    if not 0 < explain_frac <= 1:
        raise EmulationError(f"explain_frac: must be in (0, 1], got {explain_frac}")
    inputs = as_tuple(inputs)
    check_finite(inputs)
    if bundle is not None:                     # a bad bundle path fails now, not after the whole run
        from chiplab.debugger.bundle import prepare_dir
        prepare_dir(bundle)
    if calibration is not None:
        _batches(calibration)
    s = Session(model, chip, inputs, calibration, observer, overrides, metric, fold_bn)
    emu = s.emu
    _, dev_out = emu.run_capture(inputs, s.paths)
    if emu.nonfinite is not None:
        s.warnings.append(nonfinite_warning(emu.nonfinite, "emulated"))
    rows = []
    for p in s.paths:
        layer = emu.layers[p]
        rows.append({"layer": p, "op_class": layer.op_class, "where": layer.describe()["where"],
                     "propagated": compare(s.ref_out[p], dev_out[p]), "isolated": s.isolated(emu, p),
                     **({"acc_overflow_frac": layer.stats["acc_overflow_frac"]} if "acc_overflow_frac" in layer.stats else {})})
    final = s.final(emu)
    cands = [p for p in s.paths if not emu.layers[p].on_host and not math.isnan(rows[s.paths.index(p)]["isolated"]["channel_sqnr_db"])
             and rows[s.paths.index(p)]["isolated"]["channel_sqnr_db"] != math.inf]
    bis, evals, total = _bisect(s, cands, explain_frac)
    # rank by the channel-normalized isolated SQNR: a crushed channel beside a big one shows
    iso = {r["layer"]: r["isolated"]["channel_sqnr_db"] for r in rows}
    finite = [v for p, v in iso.items() if p in cands and math.isfinite(v)]
    med = statistics.median(finite) if finite else math.inf
    significant = (total > 0) if metric else (final["sqnr_db"] < healthy_db or "degenerate_reference" in final)
    flagged = {p for p in cands if iso[p] < med - outlier_db} | (set(bis) if significant else set())
    culprits = sorted(flagged, key=lambda p: (iso[p], p not in bis))
    report = DebugReport(chip=emu.chip_name, culprits=culprits, layers=rows, final=final,
                         bisection={"set": bis, "evaluations": evals, "explain_frac": explain_frac,
                                    "drop": total, "significant": significant, "drop_measure": "metric" if metric else "noise_power_ratio"},
                         fallbacks=emu.fallbacks, warnings=s.warnings, unused=emu.unused, folded=[{"conv": c, "bn": b} for c, b in emu.folded], median_isolated_channel_sqnr_db=med)
    if fixes:
        from chiplab.debugger.fixes import suggest_and_check
        report.fixes = [suggest_and_check(s, p, iso[p], final, med) for p in culprits[:max_fixes]]
    if bundle is not None:
        from chiplab.debugger.bundle import write_bundle
        report.bundle = str(write_bundle(bundle, model, inputs, emu.numerics, emu.chip_name, s.overrides, report,
                                         factory=factory, calibration=calibration, observer=observer,
                                         fold_bn=fold_bn))
    return report
