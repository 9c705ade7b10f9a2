"""Shared pieces of architecture classes: strict frozen models, precisions, capability errors."""
from __future__ import annotations

from chiplab.errors import ChiplabError

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from chiplab.hw.quantity import Frequency

PRECISIONS = ("int4", "int8", "fp8", "bf16", "fp16", "tf32", "fp32")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CapabilityError(ChiplabError):
    """The chip cannot do what was asked (e.g. fp8 on a chip without fp8)."""


def _check_rates(rates: dict[str, float], what: str) -> dict[str, float]:
    for k, v in rates.items():
        if k not in PRECISIONS:
            raise ValueError(f"{what}: unknown precision {k!r} (known: {', '.join(PRECISIONS)})")
        if v <= 0:
            raise ValueError(f"{what}: rate for {k} must be > 0, got {v}")
    if not rates:
        raise ValueError(f"{what}: at least one precision is required")
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
    return _check_rates(rates, "rates")


# MACs per unit per cycle, by precision; the keys are the precisions a unit supports
Rates = Annotated[dict[str, float], AfterValidator(_rates_ok)]
