"""Counts × the chip's time and energy tables → a priced row; re-pricing without re-running.

:func:`price_row` turns one layer's :class:`~chiplab.perf.counts.Counts` into a
:class:`~chiplab.perf.result.LayerEstimate` that keeps its counts. :func:`overlap_fused`
hides a fused tail's time under its head's, and :func:`reprice` prices every row of an
estimate again against another chip (a new clock, energy table or bandwidth): equal to a
fresh estimate as long as the edit does not change a mapping decision (tile sizes,
buffer capacities, which the counts bake in).

Energy = action counts × the energy table: MACs, vector ops, SRAM and DRAM bytes by
direction, host-link bytes; on-chip network bytes are priced as one SRAM read plus one
SRAM write each (the table has no NoC entry).
"""
from __future__ import annotations

import dataclasses

from chiplab.hw.spec import ChipSpec
from chiplab.perf.counts import READ, WRITE, Counts, Level, Max, Rates, evaluate, utilization
from chiplab.perf.result import Bound, Estimate, LayerEstimate


_COEFF: dict[tuple[int, str, bool], tuple[object, dict[str, float]]] = {}


def _coefficients(chip: ChipSpec, precision: str, macs: bool) -> dict[str, float]:
    """Joules per action from the chip's energy table (memoised per chip object)."""
    key = (id(chip), precision, macs)
    hit = _COEFF.get(key)
    if hit is not None and hit[0] is chip:
        return hit[1]
    e = chip.energy
    k = {"mac": e.mac_energy(precision, chip.name) if macs else 0.0, "sram_read": e.sram_read_per_byte,
         "sram_write": e.sram_write_per_byte, "dram_read": e.dram_read_per_byte, "dram_write": e.dram_write_per_byte,
         "vector": e.vector_op, "host_link": e.host_link_per_byte}
    if len(_COEFF) > 256:
        _COEFF.clear()
    _COEFF[key] = (chip, k)
    return k


def energy(counts: Counts, chip: ChipSpec, precision: str) -> tuple[float, dict[str, float]]:
    """Dynamic energy of ``counts``: (joules, joules by action). MAC energy is looked up
    only when the layer does MACs, so a chip without an entry for ``precision`` can still
    price its vector and memory work."""
    c = counts
    if not (c.macs or c.vector_ops or c.traffic):
        br = dict(c.fixed_breakdown or ({"hw_block": c.fixed_energy_j} if c.fixed_energy_j else {}))
        return sum(br.values()), br
    k = _coefficients(chip, precision, bool(c.macs))
    lv = c.by_level()
    g = lv.get
    noc = g((Level.NOC, READ), 0.0) + g((Level.NOC, WRITE), 0.0)
    host = g((Level.HOST, READ), 0.0) + g((Level.HOST, WRITE), 0.0)
    br = {
        "mac": c.macs * k["mac"] if c.macs else 0.0,
        "sram_read": g((Level.SRAM, READ), 0.0) * k["sram_read"],
        "sram_write": g((Level.SRAM, WRITE), 0.0) * k["sram_write"],
        "dram_read": g((Level.DRAM, READ), 0.0) * k["dram_read"],
        "dram_write": g((Level.DRAM, WRITE), 0.0) * k["dram_write"],
        "noc": noc * (k["sram_read"] + k["sram_write"]) if noc else 0.0,
        "vector": c.vector_ops * k["vector"],
        "host_link": host * k["host_link"] if host else 0.0,
    }
    br = {k: v for k, v in br.items() if v}
    if c.fixed_energy_j or c.fixed_breakdown:
        for k, v in (c.fixed_breakdown or {"hw_block": c.fixed_energy_j}).items():
            br[k] = br.get(k, 0.0) + v
    return sum(br.values()), br


def price_row(counts: Counts, chip: ChipSpec, precision: str, *, name: str, node: str, op: str, macs: int,
              peak_macs_per_cycle: float = 0.0, rates: Rates | None = None) -> LayerEstimate:
    """One priced row. ``rates``: a shared :class:`Rates` of ``chip`` (saves look-ups)."""
    rates = rates or Rates(chip)
    cyc, bound = evaluate(counts.time, rates)
    clock = rates.clock_hz
    joules, br = energy(counts, chip, precision)
    lv = counts.by_level()
    g = lv.get
    stall = cyc - counts.compute_cycles if counts.stall_cycles is None else counts.stall_cycles
    return LayerEstimate(name=name, node=node, op=op, macs=macs, cycles=float(cyc), latency_s=cyc / clock,
                         energy_j=joules, bound=bound, utilization=utilization(macs, cyc, peak_macs_per_cycle) if macs else 0.0,
                         unit=counts.unit, dram_bytes=g((Level.DRAM, READ), 0.0) + g((Level.DRAM, WRITE), 0.0),
                         sram_bytes=g((Level.SRAM, READ), 0.0) + g((Level.SRAM, WRITE), 0.0),
                         noc_bytes=g((Level.NOC, READ), 0.0) + g((Level.NOC, WRITE), 0.0), compute_cycles=float(counts.compute_cycles),
                         stall_cycles=float(stall), energy_breakdown=br, notes=list(counts.notes), counts=counts)


def overlap_fused(rows: list[LayerEstimate], rates: Rates) -> list[LayerEstimate]:
    """Hide each fused tail under the unused time of its head, in order: its vector time
    under the head's time not yet used by earlier tails, its own DRAM reads (a residual
    add's skip operand) under the head's time not spent on DRAM. Only the longer excess
    adds latency. Energy stays."""
    budget_v: dict[str, float] = {}
    budget_d: dict[str, float] = {}
    clock = rates.clock_hz
    out = []
    for row in rows:
        c = row.counts
        if c is not None and c.fused_into is not None:
            head = c.fused_into
            if isinstance(c.time, Max):
                t_v, t_d = (evaluate(x, rates)[0] / clock for x in c.time.terms[:2])
            else:
                t_v, t_d = row.latency_s, 0.0
            hv, hd = budget_v.get(head, 0.0), budget_d.get(head, 0.0)
            exposed = max(0.0, t_v - hv, t_d - hd)
            budget_v[head], budget_d[head] = max(0.0, hv - t_v), max(0.0, hd - t_d)
            t = row.latency_s
            note = f"fused into {head}" + (f"; {t - exposed:.3g} s hidden under it" if t > exposed else "")
            row.cycles, row.latency_s = exposed * clock, exposed     # rows are fresh from price_row
            row.notes.append(note)
        else:
            budget_v[row.node] = row.latency_s
            dram_s = row.dram_bytes / rates["memory.dram_bandwidth"] if row.dram_bytes else 0.0
            budget_d[row.node] = max(0.0, row.latency_s - dram_s)
        out.append(row)
    return out


def price_rows(rows: list[LayerEstimate], chip: ChipSpec, precision: str, peak_macs_per_cycle: float) -> list[LayerEstimate]:
    """Re-price rows that carry counts (rows without counts are kept as they are)."""
    rates = Rates(chip)
    out = []
    for r in rows:
        if r.counts is None:
            out.append(r)
            continue
        out.append(price_row(r.counts, chip, precision, name=r.name, node=r.node, op=r.op, macs=r.macs,
                             peak_macs_per_cycle=peak_macs_per_cycle, rates=rates))
    return overlap_fused(out, rates)


def reprice(est: Estimate, chip: ChipSpec) -> Estimate:
    """``est`` priced again against ``chip`` (same workload, mapping and counts)."""
    from chiplab.perf.power import apply_tdp_cap

    peak = chip.arch.peak_macs_per_cycle(est.precision)
    layers = price_rows(est.layers, chip, est.precision, peak)
    notes = [n for n in est.notes if not n.startswith("power wall:")]
    meta = {k: v for k, v in est.meta.items() if k not in ("tdp_scale", "power_uncapped_w", "timeline", "dram_bandwidth")}
    new = dataclasses.replace(est, chip=chip.name, clock_hz=chip.clock_hz, peak_macs_per_cycle=peak, layers=layers,
                              static_power_w=chip.energy.static_power, price_usd=chip.power.price, notes=notes, meta=meta)
    new = apply_tdp_cap(new, chip.power.tdp)
    if "timeline" in est.meta:
        from chiplab.perf.timeline import attach_timeline

        new = attach_timeline(new, chip.memory.dram_bandwidth)
    return new


# Chip fields only pricing reads (energy table; power block: TDP cap and price, re-applied by
# reprice): no model decides a mapping with them.
PRICING_ONLY = ("energy.", "power.")
# Rate figures that pricing reads but that a model also decides with, by arch kind, and the
# derived values its decisions depend on. The systolic model chooses whether to chunk the streamed
# extent so psums stay on chip by comparing compute cycles with DRAM bytes / (bandwidth / clock)
# (arch_systolic.SystolicModel._matrix_counts): two chips with the same bandwidth/clock ratio map
# alike, so re-pricing between them is exact; between other ratios it is not.
_RATE_FIELDS = {"systolic": ("arch.clock", "memory.dram_bandwidth", "vector.clock")}


def pricing_only(path: str) -> bool:
    """Whether the chip field ``path`` (dotted) is read by pricing alone, for every model."""
    return path.startswith(PRICING_ONLY)


def rate_fields(arch_kind: str) -> tuple[str, ...]:
    """Rate fields of ``arch_kind`` that may vary between chips re-priced from one estimate, provided
    :func:`rate_decisions` is equal for both (empty: none known to be safe for that model)."""
    return _RATE_FIELDS.get(arch_kind, ())


def rate_decisions(chip: ChipSpec) -> tuple[float, ...]:
    """What a model's mapping reads from the rate fields of :func:`rate_fields` (systolic: DRAM bytes
    per main-clock cycle)."""
    if chip.arch.kind == "systolic":
        return (chip.memory.dram_bandwidth / chip.clock_hz,)
    return ()


__all__ = ["Bound", "energy", "overlap_fused", "price_row", "price_rows", "pricing_only", "rate_decisions",
           "rate_fields", "reprice"]
