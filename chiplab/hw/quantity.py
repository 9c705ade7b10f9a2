"""Pydantic field types for physical quantities, each with its physical range.

In a chip *file* every quantity must carry a unit (``"700 MHz"``); a bare number
is refused with a one-line error. In Python a plain float is taken as SI, so that
design-space sweeps can build thousands of specs without formatting strings.
The loader sets the validation context ``{"strict_units": True}`` for files.

Every quantity is checked once, here, against the range a real chip can have
(:data:`RANGES`): finite, positive where zero makes no sense (a clock, a
bandwidth, a buffer size), non-negative where zero is a valid figure (an energy,
a latency, a price), and below a bound no chip reaches, so that a typo such as
``1e300 Hz`` or ``-1 pJ`` is refused with the field named instead of turning into
a negative or infinite latency downstream. The one exception is an unlimited
bandwidth (``float("inf")``), accepted from Python only (SCALE-Sim's stall-free
CALC mode); a file cannot write it.
"""
from __future__ import annotations

import math
from typing import Annotated

from pydantic import BeforeValidator, ValidationInfo

from chiplab.units import UnitError, fmt_si, parse_quantity, short

# dimension -> (lower, lower bound inclusive?, upper (exclusive)). The upper bounds are sanity
# limits far above any chip (a 100 GHz clock, 1 PB/s, 1 PB, 1 J per action), not physics.
RANGES: dict[str, tuple[float, bool, float]] = {
    "frequency": (1e3, True, 100.001e9),              # 1 kHz .. 100 GHz
    "bytes": (1.0, True, 1e15),                        # at least one byte
    "bandwidth": (0.0, False, 1e15),                   # B/s
    "bytes_per_cycle": (0.0, False, 1e9),
    "energy": (0.0, True, 1.0),                        # J per action (static power is a power)
    "power": (0.0, True, 1e6),                         # W
    "time": (0.0, True, 1.0),                          # s per event (latencies, overheads)
    "money": (0.0, True, 1e12),                        # USD
    "area": (0.0, False, 1e6),                         # mm2
}


class Dim:
    """Marks a quantity field with its dimension and SI unit (used to write chip files)."""

    UNITS = {"frequency": "Hz", "bytes": "B", "bandwidth": "B/s", "bytes_per_cycle": "B/cycle", "energy": "J",
             "power": "W", "time": "s", "money": "USD", "area": "mm2"}

    def __init__(self, dimension: str) -> None:
        self.dimension, self.unit = dimension, self.UNITS[dimension]


def check_range(x: float, dimension: str, shown: object, *, positive: bool = False,
                allow_unlimited: bool = False) -> float:
    """``x`` (SI) if it lies in the dimension's range, else ``ValueError`` naming the bound and the
    value as the user wrote it (``shown``, truncated)."""
    lo, lo_incl, hi = RANGES[dimension]
    unit = Dim.UNITS[dimension]
    got = short(shown) if isinstance(shown, str) else f"{x:g} {unit}"
    if math.isnan(x):
        raise ValueError(f"must be a number, got {got}")
    if x == math.inf and allow_unlimited:
        return x
    if positive and x <= 0:
        raise ValueError(f"must be > 0, got {got}")
    if x <= 0 and lo > 0:
        raise ValueError(f"must be > 0, got {got}")
    if x < lo or (x == lo and not lo_incl):
        bound = fmt_si(lo, unit) if lo else "0"
        raise ValueError(f"must be {'>=' if lo_incl else '>'} {bound}, got {got}")
    if x >= hi:
        raise ValueError(f"must be < {fmt_si(hi, unit)} (a sanity bound), got {got}")
    return x


def _q(dimension: str, *, positive: bool = False):
    def check(v: object, info: ValidationInfo) -> float:
        strict = bool(info.context and info.context.get("strict_units"))
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not strict:
            x = float(v)
        else:
            try:
                x = parse_quantity(v, dimension, field="", finite=False)
            except UnitError as e:
                raise ValueError(str(e).lstrip(": ")) from None
        return check_range(x, dimension, v, positive=positive,
                           allow_unlimited=dimension == "bandwidth" and not strict)

    return BeforeValidator(check)


Frequency = Annotated[float, _q("frequency"), Dim("frequency")]
Bytes = Annotated[float, _q("bytes"), Dim("bytes")]
Bandwidth = Annotated[float, _q("bandwidth"), Dim("bandwidth")]
BytesPerCycle = Annotated[float, _q("bytes_per_cycle"), Dim("bytes_per_cycle")]
Energy = Annotated[float, _q("energy"), Dim("energy")]
Power = Annotated[float, _q("power"), Dim("power")]
PositivePower = Annotated[float, _q("power", positive=True), Dim("power")]   # a TDP of 0 W is no chip
Time = Annotated[float, _q("time"), Dim("time")]
Money = Annotated[float, _q("money"), Dim("money")]
Area = Annotated[float, _q("area"), Dim("area")]
