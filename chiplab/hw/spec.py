"""Chip description, version 1: typed, frozen, strict.

A chip file nests the way the hardware nests::

    chiplab_chip: 1            # format version
    name: tpu-v1
    arch: {kind: systolic, ...}   # the compute structure; `kind` selects the class
    memory: {...}              # off-chip DRAM
    host_link: {...}           # PCIe or similar, to the host
    vector: {...}              # unit for non-matrix ops
    energy: {...}              # per-action energy table, kept apart from structure
    power: {...}               # TDP and price
    numerics: {...}            # optional: the chip's arithmetic (see chiplab.emu.spec)
    sources: {field: "[C] citation"}   # where each figure comes from

New architecture classes join the ``Arch`` union below with their own ``kind``;
the rest of the file does not change. Every class exposes ``clock_hz``,
``peak_macs_per_cycle(precision)`` and ``precisions``.
"""
from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, field_validator, model_validator

from chiplab.hw.arch.base import PRECISIONS, CapabilityError, Count, Strict
from chiplab.hw.arch.cpu import CpuArch
from chiplab.hw.arch.fpga import FpgaOverlayArch
from chiplab.hw.arch.gpu import GpuArch
from chiplab.hw.arch.mesh import MeshArch
from chiplab.hw.arch.npu import NpuArch
from chiplab.hw.arch.rs import RowStationaryArch
from chiplab.hw.arch.systolic import SystolicArch
from chiplab.hw.quantity import Bandwidth, Bytes, Energy, Frequency, Money, PositivePower, Power, Time
from chiplab.units import fmt_si, short

SCHEMA_VERSION = 1

# Architecture classes; each new class is added here with its own `kind`.
Arch = Annotated[Union[SystolicArch, GpuArch, CpuArch, NpuArch, FpgaOverlayArch, MeshArch, RowStationaryArch], Field(discriminator="kind")]


class Memory(Strict):
    dram_bandwidth: Bandwidth
    dram_capacity: Bytes | None = None
    dram_latency: Time = 0.0


class HostLink(Strict):
    bandwidth: Bandwidth
    latency: Time = 0.0


class VectorUnit(Strict):
    """Unit for non-matrix ops: ``lanes`` element operations per cycle."""

    lanes: Count
    clock: Frequency | None = None   # default: the arch clock


class EnergyTable(Strict):
    """Per-action energy; SI joules (write e.g. ``0.2 pJ``). Static power in watts."""

    mac: dict[str, Energy]                 # per MAC, by precision
    sram_read_per_byte: Energy
    sram_write_per_byte: Energy
    dram_read_per_byte: Energy
    dram_write_per_byte: Energy
    vector_op: Energy                      # per element operation on the vector unit
    host_link_per_byte: Energy = 0.0
    static_power: Power = 0.0

    @field_validator("mac")
    @classmethod
    def _mac(cls, v: dict[str, float]) -> dict[str, float]:
        for k in v:
            if k not in PRECISIONS:
                raise ValueError(f"unknown precision {short(repr(k))} (known: {', '.join(PRECISIONS)})")
        return v

    def mac_energy(self, precision: str, chip: str = "chip") -> float:
        if precision not in self.mac:
            raise CapabilityError(f"{chip}: energy table has no MAC energy for {precision} (has {', '.join(self.mac)})")
        return self.mac[precision]


class PowerSpec(Strict):
    tdp: PositivePower | None = None
    price: Money | None = None


_TAG = re.compile(r"^\[(C|D|U|A)\]\s+\S")


class ChipSpec(Strict):
    chiplab_chip: Literal[1] = Field(description="chip-file format version")
    name: str = Field(min_length=1, max_length=200)
    description: str = ""
    native_precision: str
    arch: Arch
    memory: Memory
    host_link: HostLink | None = None
    vector: VectorUnit
    energy: EnergyTable
    power: PowerSpec = PowerSpec()
    numerics: dict[str, Any] | None = None   # validated by chiplab.emu.spec.NumericsSpec when present
    sources: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> "ChipSpec":
        if self.native_precision not in self.arch.precisions:
            raise ValueError(f"native_precision: {self.native_precision!r} is not among arch precisions "
                             f"{list(self.arch.precisions)}")
        for p in self.arch.precisions:
            if p not in self.energy.mac:
                raise ValueError(f"energy.mac: missing MAC energy for supported precision {p!r}")
        if self.power.tdp is not None and self.energy.static_power >= self.power.tdp:
            raise ValueError(f"energy.static_power: {fmt_si(self.energy.static_power, 'W')} is not below "
                             f"power.tdp {fmt_si(self.power.tdp, 'W')} (no power would be left to compute)")
        self._check_sources()
        return self

    def _check_sources(self) -> None:
        """One citation per figure: a key names a figure (``arch.clock``, ``energy.mac``, ``energy.mac.int8``)
        and may carry any tag; a key naming a whole section (``energy``) may carry only a blanket [A]."""
        for key, cite in self.sources.items():
            m = _TAG.match(cite)
            if not m:
                raise ValueError(f"sources.{key}: citation must start with a tag [C], [D], [U] or [A] and a source")
            if isinstance(self._resolve(key), BaseModel) and m.group(1) != "A":
                raise ValueError(f"sources.{key}: a whole section may carry only an [A] assumption, not "
                                 f"[{m.group(1)}]; cite each figure in it on its own ({key}.<field>)")

    def _resolve(self, dotted: str) -> Any:
        obj: Any = self
        for part in dotted.split("."):
            if isinstance(obj, dict) and part in obj:
                obj = obj[part]
            elif isinstance(obj, BaseModel) and part in type(obj).model_fields:
                obj = getattr(obj, part)
            else:
                raise ValueError(f"sources: {dotted!r} does not name a field of the chip")
        return obj

    @property
    def clock_hz(self) -> float:
        return self.arch.clock_hz

    @property
    def vector_clock_hz(self) -> float:
        return self.vector.clock or self.arch.clock_hz

    def peak_macs_per_s(self, precision: str | None = None) -> float:
        p = precision or self.native_precision
        return self.arch.peak_macs_per_cycle(p) * self.clock_hz

    def citation(self, dotted: str) -> str | None:
        """The source of a figure: its own ``sources`` key, the key of the field holding it (``energy.mac``
        covers ``energy.mac.int8``), or else an [A] on its section; a section key never stands for a
        figure with [C], [D] or [U]."""
        parts = dotted.split(".")
        for i in range(len(parts), 0, -1):
            key = ".".join(parts[:i])
            cite = self.sources.get(key)
            if cite is not None and (i == len(parts) or not isinstance(self._resolve(key), BaseModel)
                                     or cite.startswith("[A]")):
                return cite
        return None

    def figures(self) -> list[str]:
        """Dotted paths of the figures this chip states (set explicitly, not None; ``arch.kind`` is the class)."""
        out: list[str] = []

        def walk(obj: BaseModel, prefix: str) -> None:
            for f in sorted(obj.model_fields_set):
                v, path = getattr(obj, f), f"{prefix}.{f}"
                if v is None or path == "arch.kind":
                    continue
                if isinstance(v, BaseModel):
                    walk(v, path)
                elif isinstance(v, dict):
                    out.extend(f"{path}.{k}" for k in v)
                else:
                    out.append(path)

        for section in ("arch", "memory", "host_link", "vector", "energy", "power"):
            v = getattr(self, section)
            if section in self.model_fields_set and isinstance(v, BaseModel):
                walk(v, section)
        return out

    def uncited(self) -> list[str]:
        """Figures without a citation of their own (see ``citation``)."""
        return [f for f in self.figures() if self.citation(f) is None]
