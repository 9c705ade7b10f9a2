"""Say what is not known: a prediction's range from the figures its chip file assumes.

A preset tags each figure with its source; ``[A]`` (assumed) and ``[U]`` (unsure) ones
are guesses (:meth:`ChipSpec.citation`). :func:`prediction_range` varies each such
numeric figure that the estimate's counts are priced with (a bandwidth, a latency, a
clock, an efficiency, an energy per action) by a factor, one figure at a time, re-prices
the estimate (:func:`chiplab.perf.price.reprice`: no re-run), and reports the min..max of
latency, steady-state throughput and energy per inference. Assumed figures that decide
the mapping itself (array shape, buffer sizes, dataflow: names, flags and integer counts
of units, and any figure no time term reads) are listed as not varied: varying them
needs fresh estimates.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from chiplab.errors import ChiplabError
from chiplab.hw.spec import ChipSpec
from chiplab.perf.counts import Rates, paths
from chiplab.perf.price import reprice
from chiplab.perf.result import Estimate

LOW, HIGH = 0.5, 2.0      # the default plausible range of an assumed figure: half to twice the value
UNKNOWN = ("[A]", "[U]")


@dataclass
class FigureEffect:
    figure: str
    low: float
    high: float
    latency_s: tuple[float, float]
    throughput_per_s: tuple[float, float]
    energy_per_inference_j: tuple[float, float]


@dataclass
class PredictionRange:
    """min..max of each total over the one-at-a-time variations (the estimate included)."""

    factor: tuple[float, float]
    latency_s: tuple[float, float]
    throughput_per_s: tuple[float, float]
    energy_per_inference_j: tuple[float, float]
    varied: list[FigureEffect] = field(default_factory=list)
    not_varied: list[str] = field(default_factory=list)

    @property
    def widest(self) -> str | None:
        """The figure whose range moves the latency most."""
        if not self.varied:
            return None
        return max(self.varied, key=lambda v: v.latency_s[1] - v.latency_s[0]).figure

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "widest": self.widest}


def edit(chip: ChipSpec, dotted: str, value: Any) -> ChipSpec:
    """``chip`` with the figure at ``dotted`` set to ``value`` (an unvalidated copy, for sensitivity)."""
    def put(obj: Any, parts: list[str]) -> Any:
        head, rest = parts[0], parts[1:]
        if isinstance(obj, dict):
            return {**obj, head: put(obj[head], rest) if rest else value}
        return obj.model_copy(update={head: put(getattr(obj, head), rest) if rest else value})
    return put(chip, dotted.split("."))


def _assumed(chip: ChipSpec) -> list[str]:
    return [f for f in chip.figures() if (chip.citation(f) or "").startswith(UNKNOWN)]


def _value(chip: ChipSpec, dotted: str) -> Any:
    obj: Any = chip
    for part in dotted.split("."):
        obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
    return obj


def _totals(est: Estimate) -> tuple[float, float, float]:
    t = est.total()
    return t["latency_s"], t["throughput_per_s"], t["energy_per_inference_j"]


def prediction_range(est: Estimate, chip: ChipSpec, factor: tuple[float, float] = (LOW, HIGH)) -> PredictionRange:
    """The range of ``est`` (an estimate on ``chip``) from its chip's assumed figures (see module doc)."""
    used = set()
    for r in est.layers:
        if r.counts is not None:
            used |= paths(r.counts.time)
    base_rates = Rates(chip)
    base = {p: base_rates[p] for p in used}
    lo_f, hi_f = factor
    varied: list[FigureEffect] = []
    not_varied: list[str] = []
    b = _totals(est)
    lat, thr, en = [b[0], b[0]], [b[1], b[1]], [b[2], b[2]]
    for fig in _assumed(chip):
        v = _value(chip, fig)
        if isinstance(v, (bool, int)) or not isinstance(v, float) or v <= 0:   # names, flags, counts of units
            not_varied.append(fig)
            continue
        hi_v = min(v * hi_f, 1.0) if "efficiency" in fig and v <= 1.0 else v * hi_f
        lo_v = v * lo_f
        probe = edit(chip, fig, hi_v)
        pr = Rates(probe)
        affects_time = any(pr[p] != base[p] for p in used)
        if not affects_time and not fig.startswith("energy."):
            not_varied.append(fig)
            continue
        try:
            outs = [_totals(reprice(est, edit(chip, fig, x))) for x in (lo_v, hi_v)]
        except ChiplabError:   # the chip cannot take this variation (e.g. static power above its TDP)
            not_varied.append(fig)
            continue
        eff = FigureEffect(fig, lo_v, hi_v, *(tuple(sorted(o[i] for o in outs)) for i in range(3)))
        varied.append(eff)
        for acc, i in ((lat, 0), (thr, 1), (en, 2)):
            acc[0] = min(acc[0], *(o[i] for o in outs))
            acc[1] = max(acc[1], *(o[i] for o in outs))
    return PredictionRange(factor, tuple(lat), tuple(thr), tuple(en), varied, not_varied)


def with_range(est: Estimate, chip: ChipSpec, factor: tuple[float, float] = (LOW, HIGH)) -> Estimate:
    """``est`` with ``meta['range']`` (a :class:`PredictionRange` as a dict)."""
    est.meta["range"] = prediction_range(est, chip, factor).to_dict()
    return est
