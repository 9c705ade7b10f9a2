"""The objects a performance model returns: one :class:`LayerEstimate` per IR node
and an :class:`Estimate` with totals, convertible to pandas and JSON.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import Any

from chiplab.errors import ChiplabError


class EstimateError(ChiplabError):
    """An estimate with a figure that is NaN, infinite or negative: a degenerate input or a bug."""



class Bound(str, Enum):
    """What limits a layer's time."""

    COMPUTE = "compute"      # the matrix array / tensor cores are the bottleneck
    VECTOR = "vector"        # the vector unit / CUDA cores (non-matrix op)
    SRAM = "sram"            # on-chip buffer bandwidth
    DRAM = "dram"            # off-chip memory bandwidth
    HOST = "host"            # host link (PCIe) transfer
    NOC = "noc"              # network-on-chip between cores
    LAUNCH = "launch"        # kernel launch / dispatch overhead
    HW_BLOCK = "hw_block"    # a fixed-function block's own pipeline
    NONE = "none"            # zero-cost view op


@dataclass
class LayerEstimate:
    name: str                 # the user's module path when known (Node.label), else the node name
    node: str                 # IR node name
    op: str                   # OpKind value
    macs: int
    cycles: float             # in the chip's clock
    latency_s: float
    energy_j: float           # dynamic energy of this layer (static energy is added in the totals)
    bound: Bound
    utilization: float        # achieved / peak MACs of the matrix unit over this layer (0 for non-matrix ops)
    unit: str = "array"       # which unit ran it: array, vector, host, hw_block, ...
    dram_bytes: float = 0.0
    sram_bytes: float = 0.0
    noc_bytes: float = 0.0        # bytes over the on-chip network (mesh)
    compute_cycles: float = 0.0   # stall-free compute cycles (SCALE-Sim's notion)
    stall_cycles: float = 0.0
    energy_breakdown: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    counts: Any = field(default=None, repr=False, compare=False)   # the Counts it was priced from (re-pricing)

    def row(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "counts"}
        d["energy_breakdown"] = dict(self.energy_breakdown)
        d["notes"] = list(self.notes)
        d["bound"] = self.bound.value
        return d


@dataclass
class Estimate:
    chip: str
    workload: str
    batch: int
    precision: str
    clock_hz: float
    peak_macs_per_cycle: float
    layers: list[LayerEstimate]
    static_power_w: float = 0.0
    price_usd: float | None = None                   # the chip's price, when known (for perf per dollar)
    notes: list[str] = field(default_factory=list)   # e.g. "TDP cap: clock lowered to 0.8 GHz"
    meta: dict[str, Any] = field(default_factory=dict)

    # --- totals ---
    @property
    def cycles(self) -> float:
        return sum(l.cycles for l in self.layers)

    @property
    def latency_s(self) -> float:
        return sum(l.latency_s for l in self.layers)

    @property
    def macs(self) -> int:
        return sum(l.macs for l in self.layers)

    @property
    def dynamic_energy_j(self) -> float:
        return sum(l.energy_j for l in self.layers)

    @property
    def energy_j(self) -> float:
        """Energy of one run of the workload (the whole batch): dynamic + static × latency."""
        return self.dynamic_energy_j + self.static_power_w * self.latency_s

    @property
    def utilization(self) -> float:
        """Achieved over peak MACs for the whole run (vendors' 'efficiency')."""
        peak = self.peak_macs_per_cycle * self.clock_hz * self.latency_s
        return self.macs / peak if peak > 0 else 0.0

    @property
    def serial_throughput_per_s(self) -> float:
        """Inferences per second running one batch at a time (batch / latency)."""
        return self.batch / self.latency_s if self.latency_s > 0 else float("inf")

    @property
    def throughput_per_s(self) -> float:
        """Inferences (samples) per second in steady state: batches pipelined so host
        transfers overlap the device's work (:mod:`chiplab.perf.timeline`); one batch at a
        time when the estimate has no timeline."""
        tl = self.meta.get("timeline")
        return tl["throughput_per_s"] if tl else self.serial_throughput_per_s

    @property
    def power_w(self) -> float:
        return self.energy_j / self.latency_s if self.latency_s > 0 else 0.0

    @property
    def energy_per_inference_j(self) -> float:
        return self.energy_j / self.batch

    @property
    def perf_per_watt(self) -> float:
        """Inferences per second per watt (= inferences per joule)."""
        return self.batch / self.energy_j if self.energy_j > 0 else 0.0

    @property
    def perf_per_dollar(self) -> float | None:
        """Inferences per second per dollar of chip price, when the price is known."""
        return self.throughput_per_s / self.price_usd if self.price_usd else None

    def total(self) -> dict[str, Any]:
        return {"cycles": self.cycles, "latency_s": self.latency_s, "energy_j": self.energy_j,
                "macs": self.macs, "flops": 2 * self.macs, "utilization": self.utilization,
                "throughput_per_s": self.throughput_per_s, "power_w": self.power_w,
                "energy_per_inference_j": self.energy_per_inference_j, "perf_per_watt": self.perf_per_watt,
                "perf_per_dollar": self.perf_per_dollar,
                "dynamic_energy_j": self.dynamic_energy_j, "static_power_w": self.static_power_w,
                "serial_throughput_per_s": self.serial_throughput_per_s,
                "bottleneck": (self.meta.get("timeline") or {}).get("bottleneck", "device")}

    def reprice(self, chip: Any) -> "Estimate":
        """This estimate priced again against ``chip`` (a :class:`ChipSpec` or preset name) from the
        rows' counts, without re-running the model (see :mod:`chiplab.perf.price`)."""
        from chiplab.hw import load_chip
        from chiplab.perf.price import reprice

        return reprice(self, load_chip(chip))

    def bound_summary(self) -> dict[str, float]:
        """Share of total latency spent in layers limited by each bound."""
        out: dict[str, float] = {}
        for l in self.layers:
            out[l.bound.value] = out.get(l.bound.value, 0.0) + l.latency_s
        t = self.latency_s or 1.0
        return {k: v / t for k, v in sorted(out.items(), key=lambda kv: -kv[1])}

    def to_dataframe(self):
        import pandas as pd

        return pd.DataFrame([l.row() for l in self.layers])

    def to_dict(self) -> dict[str, Any]:
        return {"chip": self.chip, "workload": self.workload, "batch": self.batch, "precision": self.precision,
                "clock_hz": self.clock_hz, "notes": self.notes, "meta": self.meta,
                "layers": [l.row() for l in self.layers], "total": self.total()}

    def to_json(self, **kw: Any) -> str:
        """Strict JSON (RFC 8259): a NaN or infinity is an error, never the non-standard ``NaN`` token."""
        return json.dumps(self.to_dict(), default=str, allow_nan=False, **kw)

    # --- output sanity ---
    _LAYER_FIELDS = ("cycles", "latency_s", "energy_j", "utilization", "dram_bytes", "sram_bytes",
                     "compute_cycles", "stall_cycles")
    _TOTAL_FIELDS = ("latency_s", "energy_j", "throughput_per_s", "power_w", "energy_per_inference_j",
                     "perf_per_watt", "perf_per_dollar", "utilization", "dynamic_energy_j")

    def checked(self) -> "Estimate":
        """``self`` when every figure is finite and non-negative and the run takes time; otherwise
        :class:`EstimateError` naming the layer and field (no silently wrong number leaves chiplab)."""
        where = f"{self.chip} / {self.workload}"
        for l in self.layers:
            figures = [(f, getattr(l, f)) for f in self._LAYER_FIELDS]
            figures += [(f"energy_breakdown.{k}", v) for k, v in l.energy_breakdown.items()]
            for f, v in figures:
                if not _sane(v):
                    raise EstimateError(f"{where}: layer {l.name!r}: {f} is {v} (a degenerate input or a chiplab "
                                        "bug; set CHIPLAB_DEBUG=1 and report it)")
        if not self.layers or self.latency_s <= 0:
            raise EstimateError(f"{where}: the workload takes no time on this chip (no layer does any work): "
                                "nothing to estimate")
        for f in self._TOTAL_FIELDS:
            v = getattr(self, f)
            if v is not None and not _sane(v):
                raise EstimateError(f"{where}: total {f} is {v} (a degenerate input or a chiplab bug)")
        return self


def _sane(v: float) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v) and v >= 0
