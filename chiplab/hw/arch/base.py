"""Shared pieces of architecture classes: strict frozen models, precisions, capability errors."""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
from typing import Annotated

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict

from chiplab.hw.quantity import Frequency
from chiplab.units import short

PRECISIONS = ("int4", "int8", "fp8", "bf16", "fp16", "tf32", "fp32")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapabilityError(ChiplabError):
    """The chip cannot do what was asked (e.g. fp8 on a chip without fp8)."""


MAX_COUNT = 10**7        # sanity bound on any count of units (PEs, cores, lanes, SMs...)
MAX_RATE = 1e6           # sanity bound on MACs per unit per cycle


def _count(v: object) -> int:
    """A count of hardware units: a whole number in 1..MAX_COUNT (``true`` or ``2.5`` are not counts)."""
    if isinstance(v, float) and math.isfinite(v) and v.is_integer():
        v = int(v)
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"must be a whole number >= 1, got {short(v)}")
    if not 1 <= v <= MAX_COUNT:
        raise ValueError(f"must be a whole number in 1..{MAX_COUNT:,}, got {v:,}" if v > 0 else
                         f"must be a whole number >= 1, got {v}")
    return v


# A count of units (rows, cols, cores, lanes, ...): checked once here for every class.
Count = Annotated[int, BeforeValidator(_count)]


def _check_rates(rates: dict[str, float], what: str) -> dict[str, float]:
    for k, v in rates.items():
        if k not in PRECISIONS:
            raise ValueError(f"{what}unknown precision {short(repr(k))} (known: {', '.join(PRECISIONS)})")
        if not (0 < v <= MAX_RATE):   # also refuses NaN
            raise ValueError(f"{what}{k}: must be > 0 and <= {MAX_RATE:g} MACs per cycle, got {v:g}")
    if not rates:
        raise ValueError(f"{what}at least one precision is required")
    return rates


class ArchBase(Strict):
    clock: Frequency

    @property
    def clock_hz(self) -> float:
        return self.clock

    @property
    def precisions(self) -> tuple[str, ...]:  # pragma: no cover - overridden
        raise NotImplementedError

    def peak_macs_per_cycle(self, precision: str) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def require(self, precision: str, chip: str = "chip") -> None:
        if precision not in self.precisions:
            raise CapabilityError(f"{chip}: no {precision} support (supports {', '.join(self.precisions)})")


def _rates_ok(rates: dict[str, float]) -> dict[str, float]:
    return _check_rates(rates, "")


# MACs per unit per cycle, by precision; the keys are the precisions a unit supports
Rates = Annotated[dict[str, float], AfterValidator(_rates_ok)]
