"""Pydantic field types for physical quantities.

In a chip *file* every quantity must carry a unit (``"700 MHz"``); a bare number
is refused with a one-line error. In Python a plain float is taken as SI, so that
design-space sweeps can build thousands of specs without formatting strings.
The loader sets the validation context ``{"strict_units": True}`` for files.
"""
from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator, ValidationInfo

from chiplab.units import UnitError, parse_quantity


def _q(dimension: str):
    def check(v: object, info: ValidationInfo) -> float:
        strict = bool(info.context and info.context.get("strict_units"))
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not strict:
            return float(v)
        try:
            return parse_quantity(v, dimension, field="")
        except UnitError as e:
            raise ValueError(str(e).lstrip(": ")) from None

    return BeforeValidator(check)


Frequency = Annotated[float, _q("frequency")]
Bytes = Annotated[float, _q("bytes")]
Bandwidth = Annotated[float, _q("bandwidth")]
BytesPerCycle = Annotated[float, _q("bytes_per_cycle")]
Energy = Annotated[float, _q("energy")]
Power = Annotated[float, _q("power")]
Time = Annotated[float, _q("time")]
Money = Annotated[float, _q("money")]
Area = Annotated[float, _q("area")]
