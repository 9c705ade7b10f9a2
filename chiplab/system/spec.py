"""System file, version 1: N chips of one preset (or chip file), their links, the host.

::

    chiplab_system: 1
    name: dgx-h100
    chips: {chip: h100-sxm, count: 8}
    link: {kind: nvswitch, bandwidth: 450 GB/s, latency: 5 us, topology: switch}
    host: {cpus: 2, memory: 2 TiB}
    sources: {link.bandwidth: "[D] ..."}

``link.bandwidth`` is per chip **per direction** (what one chip can send while it receives
as much); ``link.latency`` the start-up cost α of one message in the collective formulas
(:mod:`chiplab.system.collectives`). ``topology`` is ``switch`` (every chip one hop from every
other: NVSwitch, a PCIe switch), ``ring`` or ``torus`` (with ``dims``, e.g. ``[2, 2, 1]``).
Read with the chip loader's strict YAML (no duplicate keys, aliases bounded) and its error style.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from chiplab.errors import ChiplabError
from chiplab.hw.arch.base import Count, Strict
from chiplab.hw.loader import MAX_MESSAGE, ChipFileError, _format_error, check_header, load_chip, read_strict_yaml
from chiplab.hw.quantity import Bandwidth, Bytes, Time
from chiplab.hw.spec import _TAG, ChipSpec
from chiplab.units import short

SCHEMA_VERSION = 1
SYSTEM_DIR = Path(__file__).resolve().parent.parent / "hw" / "systems"


class SystemFileError(ChiplabError):
    """A system file that cannot be read or does not validate. The message is one line."""


class Chips(Strict):
    chip: str = Field(min_length=1, max_length=500)   # a preset name or a chip file
    count: Count


class Link(Strict):
    kind: Literal["nvlink", "nvswitch", "ici-torus", "pcie", "ethernet"]
    bandwidth: Bandwidth          # per chip, per direction
    latency: Time = 0.0           # α per message
    topology: Literal["switch", "ring", "torus"] = "switch"
    dims: tuple[Count, ...] | None = None

    @model_validator(mode="after")
    def _dims(self) -> "Link":
        if self.topology == "torus" and not self.dims:
            raise ValueError("dims: a torus needs its dimensions, e.g. [2, 2, 1]")
        if self.dims and self.topology != "torus":
            raise ValueError(f"dims: only a torus has dimensions (topology is {self.topology})")
        return self


class Host(Strict):
    cpus: Count | None = None
    memory: Bytes | None = None
    description: str = ""


class SystemSpec(Strict):
    chiplab_system: Literal[1] = Field(description="system-file format version")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    chips: Chips
    link: Link
    host: Host = Host()
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "SystemSpec":
        if self.link.dims and math.prod(self.link.dims) != self.chips.count:
            raise ValueError(f"link.dims: {'x'.join(map(str, self.link.dims))} = {math.prod(self.link.dims)} chips, "
                             f"but chips.count is {self.chips.count}")
        for key, cite in self.sources.items():
            m = _TAG.match(cite)
            if not m:
                raise ValueError(f"sources.{key}: citation must start with a tag [C], [D], [U] or [A] and a source")
            obj: Any = self
            for part in key.split("."):
                if not (isinstance(obj, Strict) and part in type(obj).model_fields):
                    raise ValueError(f"sources: {key!r} does not name a field of the system")
                obj = getattr(obj, part)
            if isinstance(obj, Strict) and m.group(1) != "A":
                raise ValueError(f"sources.{key}: a whole section may carry only an [A] assumption; cite each figure")
        return self

    @property
    def count(self) -> int:
        return self.chips.count

    def chip(self) -> ChipSpec:
        """The chip every slot holds (a preset name, or a chip file relative to the system file's folder)."""
        return load_chip(self.chips.chip)


def parse_system(data: Any, origin: str = "system") -> SystemSpec:
    check_header(data, "chiplab_system", SCHEMA_VERSION, origin, SystemFileError)
    try:
        spec = SystemSpec.model_validate(data, context={"strict_units": True})
    except ValidationError as err:
        raise SystemFileError(_format_error(err, origin)) from None
    try:
        spec.chip()
    except ChipFileError as e:
        raise SystemFileError(short(f"{origin}: chips.chip: {e}", MAX_MESSAGE)) from None
    return spec


def load_system_file(path: str | Path) -> SystemSpec:
    p = Path(path)
    return parse_system(read_strict_yaml(p, "system file", SystemFileError), origin=str(p))


def list_systems() -> list[str]:
    return sorted(p.stem for p in SYSTEM_DIR.glob("*.yaml"))


def load_system(name_or_path: "str | Path | SystemSpec") -> SystemSpec:
    """A preset name (``dgx-h100``), a system YAML file, or a SystemSpec."""
    if isinstance(name_or_path, SystemSpec):
        return name_or_path
    s = str(name_or_path)
    if s in list_systems():
        return load_system_file(SYSTEM_DIR / f"{s}.yaml")
    if Path(s).suffix in (".yaml", ".yml") or Path(s).is_file():
        return load_system_file(s)
    raise SystemFileError(f"unknown system {short(repr(s))}: not a preset ({', '.join(list_systems())}) "
                          "nor a system file")
