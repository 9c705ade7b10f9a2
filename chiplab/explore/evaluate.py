"""One design point -> its metrics: the workloads' graphs are captured once per evaluator, and
results are memoized by design point (optimizers revisit points, NSGA-II more and more as its
population converges). Each point is priced by :func:`chiplab.estimate` on the edited chip;
nothing is approximated."""
from __future__ import annotations

from typing import Any

from chiplab.explore.space import Space


class Evaluator:
    def __init__(self, space: Space, graphs: dict[str, Any] | None = None) -> None:
        from chiplab.capture.workloads import load_graph

        self.space = space
        self.graphs = graphs or {w.name: load_graph(space.workload_ref(w.name), batch=w.batch, seq_len=w.seq_len)
                                 for w in space.spec.workloads}
        self.memo: dict[tuple, dict[str, float]] = {}
        self.hits = self.misses = 0

    @staticmethod
    def key(params: dict[str, Any]) -> tuple:
        return tuple(sorted(params.items()))

    def __call__(self, params: dict[str, Any]) -> dict[str, float]:
        k = self.key(params)
        got = self.memo.get(k)
        if got is not None:
            self.hits += 1
            return got
        self.misses += 1
        got = self.compute(params)
        self.memo[k] = got
        return got

    def compute(self, params: dict[str, Any]) -> dict[str, float]:
        """Metrics of one point (no memo): per-workload weighted latency and energy, the worst
        average power over the workloads, die area and price."""
        from chiplab.hw.area import area, price_usd
        from chiplab.perf.estimate import estimate

        sp = self.space
        chip = sp.chip(params)
        lat = energy = edp = 0.0
        power = 0.0
        for w in sp.spec.workloads:
            est = estimate(self.graphs[w.name], chip)
            t, e = est.latency_s / est.batch, est.energy_j / est.batch
            lat += w.weight * t
            energy += w.weight * e
            edp += w.weight * t * e
            power = max(power, est.power_w)
        a = area(chip, sp.spec.node_nm, overhead=sp.overhead).total_mm2
        price = price_usd(chip, sp.spec.node_nm, overhead=sp.overhead)
        thr = 1.0 / lat
        return {"latency": lat, "energy": energy, "edp": edp, "throughput": thr, "perf_per_watt": 1.0 / energy,
                "perf_per_dollar": thr / price, "area": a, "power_w": power, "area_mm2": a, "price_usd": price}

    def violations(self, m: dict[str, float]) -> list[float]:
        """optuna's constraint values: <= 0 is feasible."""
        c = self.space.spec.constraints
        return [m[k] - lim for k, lim in (("area_mm2", c.area_mm2), ("power_w", c.power_w),
                                          ("price_usd", c.price_usd)) if lim is not None]

    def objectives(self, m: dict[str, float]) -> list[float]:
        return [m[o] for o in self.space.spec.objectives]
