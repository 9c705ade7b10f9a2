"""Typed per-layer counts: what one layer does, before any of it is priced.

An architecture class turns a node into :class:`Counts`: MACs, vector operations,
bytes per memory level (:class:`Level`) per operand (:class:`Operand`) and direction,
and a small *time expression* (:class:`Term` leaves combined by :class:`Max` and
:class:`Sum`). A term names the chip figures it is divided by (or multiplied by) as
dotted paths into the :class:`~chiplab.hw.spec.ChipSpec` (``"memory.dram_bandwidth"``,
``"clock_hz"``, ``"arch.launch_overhead"``), so :mod:`chiplab.perf.price` can price the
same counts against an edited chip (another clock, energy table or bandwidth) without
re-running the model. Figures the model used to *decide* a mapping (tile sizes, buffer
capacities) are baked into the amounts: changing those needs a fresh estimate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import Enum
from typing import Union

from chiplab.perf.result import Bound


class Level(str, Enum):
    """Where bytes move."""

    SRAM = "sram"      # on-chip buffers / caches
    DRAM = "dram"      # off-chip memory
    NOC = "noc"        # on-chip network between cores (mesh)
    HOST = "host"      # the host link (PCIe)


class Operand(str, Enum):
    INPUT = "input"    # A: the streamed activation (a second activation operand counts here too)
    WEIGHT = "weight"  # B: weights (and bias)
    OUTPUT = "output"  # C: results
    PSUM = "psum"      # partial sums spilled or re-read at accumulator width


READ, WRITE = "r", "w"


@dataclass(frozen=True)
class Term:
    """One time term: ``amount × Π mul / Π div`` seconds, where ``mul`` and ``div`` are
    dotted paths of chip figures (``"clock_hz"``: ``amount`` is in main-clock cycles)."""

    bound: Bound
    amount: float
    div: tuple[str, ...] = ()
    mul: tuple[str, ...] = ()


@dataclass(frozen=True)
class Max:
    """The slowest of concurrent terms (ties go to the first; an all-zero max to the last)."""

    terms: tuple["Time", ...]


@dataclass(frozen=True)
class Sum:
    """Terms one after another (the bound is the largest one's)."""

    terms: tuple["Time", ...]


Time = Union[Term, Max, Sum]


def cycles(bound: Bound, n: float) -> Term:
    """``n`` cycles of the main clock."""
    return Term(bound, float(n), div=("clock_hz",))


def seconds(bound: Bound, s: float, *mul: str) -> Term:
    """A fixed time (``s`` × the figures in ``mul``)."""
    return Term(bound, float(s), mul=mul)


def over(bound: Bound, nbytes: float, *rate: str) -> Term:
    """``nbytes`` moved at the product of the rates named by ``rate``."""
    return Term(bound, float(nbytes), div=rate)


def zero() -> Term:
    return Term(Bound.NONE, 0.0)


@dataclass
class Counts:
    """One layer's actions and time terms (see module doc). ``fused_into``: the head node
    whose output pipeline runs this node (its time overlaps the head's)."""

    time: Time
    unit: str
    macs: float = 0.0
    vector_ops: float = 0.0
    traffic: dict[tuple[Level, Operand, str], float] = field(default_factory=dict)
    fixed_energy_j: float = 0.0                          # a fixed-function block's own energy
    fixed_breakdown: dict[str, float] = field(default_factory=dict)
    compute_cycles: float = 0.0                          # stall-free compute cycles (informational)
    stall_cycles: float | None = 0.0                     # None: total - compute, once priced
    notes: list[str] = field(default_factory=list)
    fused_into: str | None = None

    def add(self, level: Level, operand: Operand, direction: str, nbytes: float) -> "Counts":
        if nbytes:
            key = (level, operand, direction)
            self.traffic[key] = self.traffic.get(key, 0.0) + float(nbytes)
        return self

    def bytes(self, level: Level, direction: str | None = None) -> float:
        return sum(v for (lv, _, d), v in self.traffic.items() if lv is level and (direction is None or d == direction))

    def by_level(self) -> dict[tuple[Level, str], float]:
        """Bytes per (level, direction), all operands together."""
        out: dict[tuple[Level, str], float] = {}
        for (lv, _, d), v in self.traffic.items():
            out[(lv, d)] = out.get((lv, d), 0.0) + v
        return out


class Rates:
    """Chip figures by dotted path, looked up once per pricing."""

    def __init__(self, chip) -> None:
        self.chip = chip
        self._memo: dict[str, float] = {}

    def __getitem__(self, path: str) -> float:
        v = self._memo.get(path)
        if v is None:
            obj = self.chip
            for part in path.split("."):
                obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
            v = self._memo[path] = float(obj)
        return v

    @property
    def clock_hz(self) -> float:
        return self["clock_hz"]


def evaluate(t: Time, rates: Rates) -> tuple[float, Bound]:
    """(main-clock cycles, bound) of a time expression."""
    if isinstance(t, Term):
        if t.amount == 0:
            return 0.0, t.bound
        if t.div == ("clock_hz",) and not t.mul:
            return t.amount, t.bound
        v = t.amount
        for p in t.mul:
            v *= rates[p]
        for p in t.div:
            v /= rates[p]
        return v * rates.clock_hz if math.isfinite(v) else v, t.bound
    parts = [evaluate(x, rates) for x in t.terms]
    if not parts:
        return 0.0, Bound.NONE
    best = parts[0]
    for p in parts[1:]:
        if p[0] > best[0]:
            best = p
    if isinstance(t, Max):
        return (best[0], best[1]) if best[0] > 0 else (0.0, parts[-1][1])
    return sum(p[0] for p in parts), best[1]


def paths(t: Time) -> set[str]:
    """The chip figures a time expression reads."""
    if isinstance(t, Term):
        return set(t.div) | set(t.mul)
    out: set[str] = set()
    for x in t.terms:
        out |= paths(x)
    return out


def utilization(macs: float, cycles: float, peak_macs_per_cycle: float) -> float:
    """Achieved over peak MACs of a layer (0 when it takes no time)."""
    return macs / (peak_macs_per_cycle * cycles) if cycles > 0 and peak_macs_per_cycle > 0 else 0.0
