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


class Dim:
    """Marks a quantity field with its dimension and SI unit (used to write chip files)."""

    UNITS = {"frequency": "Hz", "bytes": "B", "bandwidth": "B/s", "bytes_per_cycle": "B/cycle", "energy": "J",
             "power": "W", "time": "s", "money": "USD", "area": "mm2"}

    def __init__(self, dimension: str) -> None:
        self.dimension, self.unit = dimension, self.UNITS[dimension]


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


Frequency = Annotated[float, _q("frequency"), Dim("frequency")]
Bytes = Annotated[float, _q("bytes"), Dim("bytes")]
Bandwidth = Annotated[float, _q("bandwidth"), Dim("bandwidth")]
BytesPerCycle = Annotated[float, _q("bytes_per_cycle"), Dim("bytes_per_cycle")]
Energy = Annotated[float, _q("energy"), Dim("energy")]
Power = Annotated[float, _q("power"), Dim("power")]
Time = Annotated[float, _q("time"), Dim("time")]
Money = Annotated[float, _q("money"), Dim("money")]
Area = Annotated[float, _q("area"), Dim("area")]
