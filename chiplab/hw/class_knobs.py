"""Efficiency knobs shared by every chip of an architecture class, with their sources.

The figures live in ``class_knobs.yaml`` beside this module (data, never code): for each
class (``gpu``, ``cpu``, ...) and knob (``tensor_efficiency``), a ``value``, the ``bounds``
a fit may move it in, whether ``bench/vs_mlperf.py`` fits it (``fit``) and a tagged
``source`` ([C], [D], [U] or [A], as in chip files). The ``hw/arch`` classes take their
field defaults from here, so a chip file inherits the class figure unless it states and
cites its own.

    >>> from chiplab.hw.class_knobs import knob_default, knob_source
    >>> knob_default("gpu", "tensor_efficiency"), knob_source("gpu", "tensor_efficiency")
"""
from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from chiplab.errors import ChiplabError
from chiplab.units import UnitError, parse_quantity, short

DEFAULT_PATH = Path(__file__).resolve().with_name("class_knobs.yaml")
_TAG = re.compile(r"^\[(C|D|U|A)\]\s+\S")
_FIELDS = {"value", "bounds", "fit", "source"}


class ClassKnobError(ChiplabError):
    """The class-knob data file is malformed (the message names the class and knob)."""


@dataclass(frozen=True)
class Knob:
    kind: str          # architecture class (arch.kind)
    name: str          # field of the arch class
    value: float       # SI (seconds for times; fractions are bare numbers)
    lower: float
    upper: float
    fit: bool
    source: str

    @property
    def dotted(self) -> str:
        return f"arch.{self.name}"


def _number(v: object, where: str) -> float:
    """A bare number (a fraction) or a time with its unit (``"4 us"``)."""
    if isinstance(v, bool):
        raise ClassKnobError(f"{where}: expected a number or a time like '4 us', got {short(v)}")
    if isinstance(v, (int, float)):
        x = float(v)
    else:
        try:
            x = parse_quantity(v, "time", where)
        except UnitError as e:
            raise ClassKnobError(str(e)) from None
    if not math.isfinite(x) or x <= 0:
        raise ClassKnobError(f"{where}: must be a positive finite number, got {short(v)}")
    return x


def _knob(kind: str, name: str, d: object, path: Path) -> Knob:
    where = f"{path.name}: {kind}.{name}"
    if not isinstance(d, dict):
        raise ClassKnobError(f"{where}: expected a mapping with {', '.join(sorted(_FIELDS))}")
    if set(d) != _FIELDS:
        raise ClassKnobError(f"{where}: fields must be exactly {', '.join(sorted(_FIELDS))} "
                             f"(got {', '.join(sorted(map(str, d)))})")
    b = d["bounds"]
    if not (isinstance(b, list) and len(b) == 2):
        raise ClassKnobError(f"{where}.bounds: expected [lower, upper], got {short(b)}")
    lo, hi = _number(b[0], f"{where}.bounds"), _number(b[1], f"{where}.bounds")
    value = _number(d["value"], f"{where}.value")
    if not lo < hi:
        raise ClassKnobError(f"{where}.bounds: lower {lo:g} must be below upper {hi:g}")
    if not lo <= value <= hi:
        raise ClassKnobError(f"{where}.value: {value:g} is outside bounds [{lo:g}, {hi:g}]")
    if not isinstance(d["fit"], bool):
        raise ClassKnobError(f"{where}.fit: expected true or false, got {short(d['fit'])}")
    src = d["source"]
    if not (isinstance(src, str) and _TAG.match(src)):
        raise ClassKnobError(f"{where}.source: must start with a tag [C], [D], [U] or [A] and a source")
    return Knob(kind, name, value, lo, hi, d["fit"], src)


def load_class_knobs(path: "str | Path | None" = None) -> dict[str, dict[str, Knob]]:
    """All class knobs, checked; every bad entry raises :class:`ClassKnobError` naming it."""
    path = Path(path) if path is not None else DEFAULT_PATH
    return _load(str(path))


@functools.lru_cache(maxsize=8)
def _load(path_s: str) -> dict[str, dict[str, Knob]]:
    path = Path(path_s)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as e:
        raise ClassKnobError(f"{path}: cannot read class knobs ({short(str(e), 120)})") from None
    if not isinstance(raw, dict):
        raise ClassKnobError(f"{path}: expected a mapping of architecture class -> knobs")
    out: dict[str, dict[str, Knob]] = {}
    for kind, knobs in raw.items():
        if not isinstance(knobs, dict) or not knobs:
            raise ClassKnobError(f"{path.name}: {kind}: expected a mapping of knob -> figure")
        out[str(kind)] = {str(n): _knob(str(kind), str(n), d, path) for n, d in knobs.items()}
    return out


def knob(kind: str, name: str) -> Knob:
    knobs = load_class_knobs()
    if kind not in knobs or name not in knobs[kind]:
        raise ClassKnobError(f"{DEFAULT_PATH.name}: no knob {kind}.{name}")
    return knobs[kind][name]


def knob_default(kind: str, name: str) -> float:
    """The class figure a chip of ``kind`` inherits for ``arch.<name>``."""
    return knob(kind, name).value


def knob_source(kind: str, name: str) -> str:
    return knob(kind, name).source


def fitted_knobs(kind: str) -> list[Knob]:
    """The knobs of ``kind`` that bench/vs_mlperf.py fits (empty for a class without any)."""
    return [k for k in load_class_knobs().get(kind, {}).values() if k.fit]


def write_knobs(updates: dict[tuple[str, str], tuple[float, str]], path: "str | Path | None" = None) -> None:
    """Rewrite ``value`` and ``source`` of the given (kind, knob) entries in place, keeping the
    rest of the file (comments, order) as it is. Values must be bare numbers (fractions)."""
    path = Path(path) if path is not None else DEFAULT_PATH
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    kind = name = None
    done: set[tuple[str, str]] = set()
    for i, line in enumerate(lines):
        if re.match(r"^[A-Za-z_]\w*:\s*$", line):
            kind, name = line.split(":")[0], None
        elif re.match(r"^  [A-Za-z_]\w*:\s*$", line):
            name = line.strip()[:-1]
        elif (kind, name) in updates:
            value, source = updates[(kind, name)]
            if line.startswith("    value:"):
                lines[i] = f"    value: {value:.4g}\n"
            elif line.startswith("    source:"):
                if not _TAG.match(source):
                    raise ClassKnobError(f"{kind}.{name}: new source must start with a tag")
                lines[i] = f"    source: {_quote(source)}\n"
                done.add((kind, name))
    missing = set(updates) - done
    if missing:
        raise ClassKnobError(f"{path.name}: no entry for {', '.join(f'{k}.{n}' for k, n in sorted(missing))}")
    path.write_text("".join(lines), encoding="utf-8")
    _load.cache_clear()
    load_class_knobs(path)    # the rewritten file must still load


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
