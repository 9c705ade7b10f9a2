"""SI units at the edge: strings such as ``"1.41 GHz"``, ``"40 MiB"``, ``"0.3 pJ"``
are parsed once, at load time, into plain SI floats (Hz, bytes, joules, seconds,
watts, bytes/s). Inside chiplab every quantity is SI.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
import re

# dimension -> unit symbol -> factor to SI
_PREFIX = {"": 1.0, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
           "m": 1e-3, "u": 1e-6, "µ": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}
_BIN = {"Ki": 2.0**10, "Mi": 2.0**20, "Gi": 2.0**30, "Ti": 2.0**40}

DIMENSIONS: dict[str, dict[str, float]] = {}


def _build() -> None:
    def add(dim: str, base: str, prefixes=("", "k", "M", "G", "T", "m", "u", "µ", "n", "p", "f"), binary=False):
        table = DIMENSIONS.setdefault(dim, {})
        for p in prefixes:
            table[p + base] = _PREFIX[p]
        if binary:
            for p, f in _BIN.items():
                table[p + base] = f

    add("frequency", "Hz")
    add("time", "s")
    add("energy", "J")
    add("power", "W")
    add("bytes", "B", prefixes=("", "k", "K", "M", "G", "T"), binary=True)
    DIMENSIONS["bytes"].update({"bit": 1 / 8, "kbit": 1e3 / 8, "Mbit": 1e6 / 8, "Kib": 2**10 / 8, "Mib": 2**20 / 8})
    add("bandwidth", "B/s", prefixes=("", "k", "M", "G", "T"), binary=True)
    DIMENSIONS["bandwidth"].update({"GT/s": 1e9, "bit/s": 1 / 8, "Gbit/s": 1e9 / 8, "Gb/s": 1e9 / 8, "Tbit/s": 1e12 / 8})
    add("bytes_per_cycle", "B/cycle", prefixes=("",))
    DIMENSIONS["bytes_per_cycle"]["bit/cycle"] = 1 / 8
    add("area", "mm2", prefixes=("",))
    add("money", "USD", prefixes=("", "k", "M"))
    add("rate", "OP/s", prefixes=("", "k", "M", "G", "T", "P"))
    DIMENSIONS["rate"].update({f"{p}FLOP/s": f for p, f in _PREFIX.items() if p in "kMGTP" and p})
    DIMENSIONS["rate"].update({f"{p}OPS": f for p, f in _PREFIX.items() if p in "kMGTP" and p})
    DIMENSIONS["rate"].update({f"{p}FLOPS": f for p, f in _PREFIX.items() if p in "kMGTP" and p})


_build()

_NUM = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\s\d].*?)?\s*$")


class UnitError(ChiplabError):
    """A quantity string that has no number, no unit, or the wrong kind of unit."""


def short(value: object, limit: int = 60) -> str:
    """``value`` as it may appear in a one-line error: strings as written, anything else as its
    repr, cut to ``limit`` characters (a pasted megabyte or an expanded YAML alias must not be echoed)."""
    s = value if isinstance(value, str) else repr(value)
    s = s.replace("\n", "\\n")
    return s if len(s) <= limit else s[: limit - 3] + "..."


def parse_quantity(value: object, dimension: str, field: str = "value", finite: bool = True) -> float:
    """Parse ``"1.41 GHz"`` (dimension ``"frequency"``) into ``1.41e9``.

    A bare number is refused: units are mandatory so that ``clock: 700`` cannot be
    read as Hz by one person and MHz by another. ``field`` names the spec field in
    the error message. With ``finite`` (the default) a number that overflows to
    infinity (``"1e400 Hz"``) is refused too.
    """
    if dimension not in DIMENSIONS:
        raise KeyError(f"unknown dimension {dimension!r}")
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise UnitError(f"{field}: expected a quantity like '1 {_example(dimension)}', got {short(value)}")
    if isinstance(value, (int, float)):
        raise UnitError(f"{field}: missing unit in {value!r} (write e.g. '{value:g} {_example(dimension)}')")
    m = _NUM.match(value) if len(value) <= 200 else None
    if not m:
        raise UnitError(f"{field}: cannot read {short(repr(value))} as a quantity (expected e.g. '1 {_example(dimension)}')")
    number, unit = float(m.group(1)), (m.group(2) or "").strip()
    if not unit:
        raise UnitError(f"{field}: missing unit in {short(repr(value))} (write e.g. '{value.strip()} {_example(dimension)}')")
    table = DIMENSIONS[dimension]
    if unit not in table:
        other = [d for d, t in DIMENSIONS.items() if unit in t]
        hint = f" ({unit!r} is a unit of {other[0]})" if other else ""
        raise UnitError(f"{field}: wrong unit {short(repr(unit))} for {dimension}{hint}; use e.g. {_COMMON[dimension]}")
    x = number * table[unit]
    if finite and not math.isfinite(x):
        raise UnitError(f"{field}: {value!r} is out of range")
    return x


_COMMON = {"frequency": "MHz, GHz", "time": "ns, us, ms, s", "energy": "fJ, pJ, nJ", "power": "mW, W",
           "bytes": "B, kB, KiB, MB, MiB, GB, GiB", "bandwidth": "MB/s, GB/s, TB/s, GiB/s",
           "bytes_per_cycle": "B/cycle, bit/cycle", "area": "mm2", "money": "USD, kUSD", "rate": "GOPS, TOPS, TFLOPS"}


def _example(dimension: str) -> str:
    return {"frequency": "MHz", "time": "us", "energy": "pJ", "power": "W", "bytes": "KiB",
            "bandwidth": "GB/s", "bytes_per_cycle": "B/cycle", "area": "mm2", "money": "USD",
            "rate": "TOPS"}[dimension]


def fmt_si(x: float, unit: str, digits: int = 3) -> str:
    """Format an SI float for humans: ``fmt_si(1.5e-3, 's') -> '1.50 ms'``."""
    if x == 0 or x != x:
        return f"{x:g} {unit}"
    for f, p in ((1e15, "P"), (1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k"), (1.0, ""), (1e-3, "m"),
                 (1e-6, "µ"), (1e-9, "n"), (1e-12, "p"), (1e-15, "f")):
        if abs(x) >= f:
            return f"{x / f:.{digits}g} {p}{unit}"
    return f"{x:.{digits}g} {unit}"
