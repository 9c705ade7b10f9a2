"""Die area and cost of a chip, so that designs compare at equal silicon.

    area = overhead x (MAC area + vector-lane area + SRAM area) + DRAM PHY area

* MAC area per precision at 45 nm (Horowitz ISSCC 2014), scaled to the node as (node/45)^2;
  a chip with several precisions is priced at the widest (largest peak x area).
* SRAM: bits x the node's high-density bit cell / array efficiency.
* PHY: one per 16 GB/s of DRAM bandwidth (an assumption, see the table).
* ``overhead``: control, wiring, pipeline registers, pads. Arithmetic plus bit cells is only a
  fraction of a real die; :func:`validate` fits that factor on real chips, leave-one-out, and
  prints the held-out error. Without a fitted factor it is 1 (a lower bound).

Price, when a chip has no list price: wafer price / (good dies per wafer), with dies per wafer
``pi r^2 / A - pi d / sqrt(2 A)`` and Murphy's yield ``((1 - exp(-A D0)) / (A D0))^2``
(Murphy, Proc. IEEE 1964; both as in Hennessy & Patterson, Computer Architecture, ch. 1).
Every figure lives in ``area_tables.yaml`` with its source.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from chiplab.errors import ChiplabError
from chiplab.hw.spec import ChipSpec

TABLES = Path(__file__).with_name("area_tables.yaml")


class AreaModelError(ChiplabError):
    """A chip the area model cannot price (architecture class, node)."""


@lru_cache(maxsize=1)
def tables() -> dict[str, Any]:
    data = yaml.safe_load(TABLES.read_text())
    _check_cited(data, "")
    return data


def _check_cited(d: Any, where: str) -> None:
    if isinstance(d, dict) and "value" in d:
        if not str(d.get("source", "")).startswith(("[C]", "[D]", "[U]", "[A]")):
            raise AreaModelError(f"{TABLES.name}: {where}: figure without a tagged source")
        return
    if isinstance(d, dict):
        for k, v in d.items():
            if k != "validation":
                _check_cited(v, f"{where}.{k}".strip("."))


def _by_node(table: dict[str, Any], node_nm: float, what: str) -> float:
    """The figure for ``node_nm``; between two tabulated nodes, log-log interpolation."""
    pts = sorted((float(k), v["value"]) for k, v in table.items() if k != "default")
    if str(int(node_nm)) in table:
        return float(table[str(int(node_nm))]["value"])
    if "default" in table:
        return float(table["default"]["value"])
    if not pts[0][0] <= node_nm <= pts[-1][0]:
        raise AreaModelError(f"process node {node_nm:g} nm: {what} is tabulated for "
                             f"{pts[0][0]:g}-{pts[-1][0]:g} nm only (chiplab/hw/area_tables.yaml)")
    for (n0, v0), (n1, v1) in zip(pts, pts[1:]):
        if n0 <= node_nm <= n1:
            t = (math.log(node_nm) - math.log(n0)) / (math.log(n1) - math.log(n0))
            return float(math.exp(math.log(v0) + t * (math.log(v1) - math.log(v0))))
    raise AssertionError("unreachable")


def sram_bytes(chip: ChipSpec) -> float:
    """On-chip SRAM the chip file states, by architecture class."""
    a = chip.arch
    if a.kind == "systolic":
        return a.ifmap_sram + a.filter_sram + a.ofmap_sram
    if a.kind == "npu":
        return a.sram * a.arrays
    if a.kind == "row_stationary":
        return a.global_buffer + a.filter_spad * a.rows * a.cols
    raise AreaModelError(f"{chip.name}: the area model covers systolic, npu and row_stationary chips, not {a.kind!r}")


@dataclass(frozen=True)
class Area:
    mac_mm2: float
    vector_mm2: float
    sram_mm2: float
    phy_mm2: float
    overhead: float

    @property
    def total_mm2(self) -> float:
        return self.overhead * (self.mac_mm2 + self.vector_mm2 + self.sram_mm2) + self.phy_mm2


def area(chip: ChipSpec, node_nm: float, overhead: float = 1.0, dram_phy: bool = True) -> Area:
    t = tables()
    logic = (node_nm / 45.0) ** t["logic_scaling_exponent"]["value"]
    mac = t["mac_um2_45nm"]
    mac_um2 = max(chip.arch.peak_macs_per_cycle(p) * mac[p]["value"] for p in chip.arch.precisions)
    lane = mac[t["vector_lane_precision"]["value"]]["value"] * chip.vector.lanes
    cell = _by_node(t["sram_bitcell_um2"], node_nm, "the SRAM bit cell")
    sram_um2 = sram_bytes(chip) * 8 * cell / t["sram_array_efficiency"]["value"]
    bw = chip.memory.dram_bandwidth
    phys = math.ceil(bw / 16e9 - 1e-9) if dram_phy and math.isfinite(bw) else 0
    return Area(mac_mm2=mac_um2 * logic / 1e6, vector_mm2=lane * logic / 1e6, sram_mm2=sram_um2 / 1e6,
                phy_mm2=phys * t["phy_mm2_per_16GBps"]["value"], overhead=overhead)


def dies_per_wafer(area_mm2: float, diameter_mm: float | None = None) -> float:
    d = diameter_mm or tables()["wafer_diameter_mm"]["value"]
    return max(math.pi * (d / 2) ** 2 / area_mm2 - math.pi * d / math.sqrt(2 * area_mm2), 0.0)


def murphy_yield(area_mm2: float, d0_per_cm2: float) -> float:
    ad = area_mm2 / 100.0 * d0_per_cm2
    return 1.0 if ad == 0 else ((1 - math.exp(-ad)) / ad) ** 2


def poisson_yield(area_mm2: float, d0_per_cm2: float) -> float:
    return math.exp(-area_mm2 / 100.0 * d0_per_cm2)


def die_cost_usd(area_mm2: float, node_nm: float, yield_model: str = "murphy") -> float:
    """Silicon cost of one good die (no test, packaging or margin)."""
    t = tables()
    d0 = _by_node(t["defect_density_per_cm2"], node_nm, "the defect density")
    y = murphy_yield(area_mm2, d0) if yield_model == "murphy" else poisson_yield(area_mm2, d0)
    good = dies_per_wafer(area_mm2) * y
    if good < 1:
        raise AreaModelError(f"a {area_mm2:.0f} mm2 die yields less than one good die per wafer")
    return _by_node(t["wafer_price_usd"], node_nm, "the wafer price") / good


def price_usd(chip: ChipSpec, node_nm: float, overhead: float = 1.0) -> float:
    """The chip's list price when it has one, else the silicon cost of its die."""
    if chip.power.price is not None:
        return chip.power.price
    return die_cost_usd(area(chip, node_nm, overhead).total_mm2, node_nm)


def fitted_overhead(exclude: str | None = None) -> float:
    """Geometric mean of (published die area - PHY) / (MAC + vector + SRAM area) over the
    validation chips, leaving ``exclude`` out."""
    from chiplab.hw.loader import load_chip

    logs = []
    for name, v in tables()["validation"].items():
        if name == exclude:
            continue
        a = area(load_chip(name), v["node_nm"], dram_phy=v.get("dram_phy", True))
        logs.append(math.log((v["die_mm2"] - a.phy_mm2) / (a.mac_mm2 + a.vector_mm2 + a.sram_mm2)))
    return math.exp(sum(logs) / len(logs))


def validate() -> list[dict[str, float | str]]:
    """Each validation chip's predicted die area, raw (overhead 1) and with the overhead fitted
    on the other chips (leave-one-out), against the published area."""
    from chiplab.hw.loader import load_chip

    rows = []
    for name, v in tables()["validation"].items():
        chip = load_chip(name)
        phy = v.get("dram_phy", True)
        raw = area(chip, v["node_nm"], dram_phy=phy).total_mm2
        k = fitted_overhead(exclude=name)
        held = area(chip, v["node_nm"], overhead=k, dram_phy=phy).total_mm2
        rows.append({"chip": name, "node_nm": v["node_nm"], "published_mm2": v["die_mm2"], "raw_mm2": raw,
                     "raw_error": raw / v["die_mm2"] - 1, "overhead_loo": k, "loo_mm2": held,
                     "loo_error": held / v["die_mm2"] - 1})
    return rows


if __name__ == "__main__":   # python -m chiplab.hw.area: the validation table, honestly
    for r in validate():
        print(f"{r['chip']:8s} {r['node_nm']:3d} nm  published {r['published_mm2']:7.2f} mm2  "
              f"raw {r['raw_mm2']:7.2f} ({r['raw_error']:+.0%})  overhead x{r['overhead_loo']:.2f} fitted on the "
              f"others -> {r['loo_mm2']:7.2f} ({r['loo_error']:+.0%})")
