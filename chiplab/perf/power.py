"""The power wall: lower the clock when a workload would exceed the chip's TDP.

The chip's average power is static + on-chip dynamic energy / latency, where on-chip
excludes DRAM and host-link energy (those are spent in the memory devices and the
link, outside the package whose TDP is quoted). When that exceeds ``power.tdp`` the
chip must slow down (DVFS or fewer active units, "dark silicon").
We model the clock scaled by ``s < 1``: layers bound by on-chip work (compute,
vector, SRAM, fixed-function blocks, launch) take ``1/s`` longer, layers bound by
DRAM or the host link do not; energy per action is kept (no voltage scaling, a
conservative choice: real DVFS also lowers the energy per op). ``s`` is the largest
value in (0, 1] whose average power meets the TDP, found by bisection.
"""
from __future__ import annotations

import dataclasses

from chiplab.errors import ChiplabError
from chiplab.perf.result import Bound, Estimate

_CLOCKED = {Bound.COMPUTE, Bound.VECTOR, Bound.SRAM, Bound.LAUNCH, Bound.HW_BLOCK, Bound.NOC}


OFF_CHIP = ("dram_read", "dram_write", "host_link")


def on_chip_energy_j(est: Estimate) -> float:
    """Dynamic energy spent on the chip itself (not in DRAM or on the host link)."""
    return sum(l.energy_j - sum(l.energy_breakdown.get(k, 0.0) for k in OFF_CHIP) for l in est.layers)


def chip_power_w(est: Estimate) -> float:
    return est.static_power_w + on_chip_energy_j(est) / est.latency_s if est.latency_s > 0 else 0.0


def _power_at(est: Estimate, s: float, e_chip: float) -> float:
    t = sum(l.latency_s / s if l.bound in _CLOCKED else l.latency_s for l in est.layers)
    return est.static_power_w + e_chip / t if t > 0 else 0.0


def apply_tdp_cap(est: Estimate, tdp_w: float | None) -> Estimate:
    """Return ``est`` unchanged when it fits in ``tdp_w``, else a slowed-down copy with a note."""
    if tdp_w is None or est.latency_s <= 0:
        return est
    p_full = chip_power_w(est)
    e_chip = on_chip_energy_j(est)
    if p_full <= tdp_w:
        return est
    if est.static_power_w >= tdp_w:
        raise ChiplabError(f"{est.chip}: static power {est.static_power_w:.1f} W alone exceeds the TDP {tdp_w:.1f} W")
    lo, hi = 1e-4, 1.0
    if _power_at(est, lo, e_chip) > tdp_w:     # memory-bound part alone burns too much: nothing clock can fix
        lo = hi = 1e-4
    for _ in range(60):
        mid = (lo + hi) / 2
        if _power_at(est, mid, e_chip) > tdp_w:
            hi = mid
        else:
            lo = mid
    s = lo
    layers = []
    for l in est.layers:
        if l.bound in _CLOCKED:   # cycles stay counted at the nominal clock, so utilization is vs nominal peak
            l = dataclasses.replace(l, latency_s=l.latency_s / s, cycles=l.cycles / s, utilization=l.utilization * s,
                                    notes=[*l.notes, f"clock x{s:.3f} (TDP cap)"])
        layers.append(l)
    note = (f"power wall: the chip would draw {p_full:.3g} W at full clock, over its TDP of {tdp_w:.3g} W; clock lowered to "
            f"{s:.1%} of nominal ({est.clock_hz * s / 1e9:.3g} GHz)")
    return dataclasses.replace(est, layers=layers, notes=[*est.notes, note],
                               meta={**est.meta, "tdp_scale": s, "power_uncapped_w": p_full})
