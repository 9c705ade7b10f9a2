"""One design point -> its metrics: the workloads' graphs are captured once per evaluator, and
results are memoized by design point (optimizers revisit points, NSGA-II more and more as its
population converges).

Points are grouped by their *mapping key*: the values of the parameters a model maps with (array
shape, buffers, dataflow...) plus what its mapping reads from rate figures
(:func:`chiplab.perf.price.rate_decisions`: for a systolic array the DRAM bytes per cycle, since
clock and bandwidth decide psum chunking there). The first point of a group runs
:func:`chiplab.estimate`; every other point of the group is that estimate re-priced
(:meth:`Estimate.reprice`) against its own chip, which equals a fresh estimate
(``tests/explore/test_fast_path.py``). Parameters of the pricing only (``energy.*``, ``power.*``)
and rates whose decisions are equal leave the key alone; nothing is approximated.

:meth:`Evaluator.many` evaluates a list of points at once: the systolic points go through
:func:`chiplab.perf.systolic_batch.price_many` (numpy over all points of a workload, equal to
:func:`chiplab.estimate` per point, ``tests/explore/test_batch_exact.py``), every point it does not
handle through the path above."""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

from chiplab.explore.space import Space


class Evaluator:
    def __init__(self, space: Space, graphs: dict[str, Any] | None = None, fast: bool = True,
                 batched: bool = True) -> None:
        from chiplab.capture.workloads import load_graph

        self.space = space
        self.graphs = graphs or {w.name: load_graph(space.workload_ref(w.name), batch=w.batch, seq_len=w.seq_len)
                                 for w in space.spec.workloads}
        self.memo: dict[tuple, dict[str, float]] = {}
        self.hits = self.misses = 0
        self.fast = fast
        # (workload, mapping key) -> an estimate to re-price; least recently used first, bounded
        # (a 20,000-trial run reached 2.7 GB RSS with every group's estimate kept; share not measured)
        self.groups: OrderedDict[tuple, Any] = OrderedDict()
        self.full = self.repriced = 0             # estimates run / re-priced (per workload)
        self.max_groups = 256
        self.batched = batched                    # many(): numpy batch pricing where it applies
        self.batch_work: dict[str, Any] = {}      # workload -> its BatchWorkload (static arrays)
        self.batch_priced = 0                     # workload estimates priced by the batch path

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

    def mapping_key(self, params: dict[str, Any], chip) -> tuple:
        """The values a model maps with: every parameter except pricing-only ones and the rate
        fields its mapping reads only through :func:`rate_decisions` (which join the key)."""
        from chiplab.perf.price import pricing_only, rate_decisions, rate_fields

        rates = rate_fields(chip.arch.kind)

        def priced(path: str) -> bool:
            return pricing_only(path) or path in rates

        keep = tuple((k, v) for k, v in sorted(params.items())
                     if not (priced(k) and all(priced(t) for t, s in self.space.spec.tied.items() if s == k)))
        return keep + rate_decisions(chip)

    def estimate(self, name: str, chip, key: tuple | None):
        """The workload's estimate on ``chip``: re-priced from its group's when there is one."""
        from chiplab.perf.estimate import estimate

        if key is not None:
            base = self.groups.get((name, key))
            if base is not None:
                self.groups.move_to_end((name, key))
                self.repriced += 1
                return base.reprice(chip).checked()
        self.full += 1
        est = estimate(self.graphs[name], chip)
        if key is not None:
            self.groups[(name, key)] = est
            if len(self.groups) > self.max_groups:
                self.groups.popitem(last=False)
        return est

    def compute(self, params: dict[str, Any]) -> dict[str, float]:
        """Metrics of one point (no memo): per-workload weighted latency and energy, the worst
        average power over the workloads, die area and price."""
        sp = self.space
        chip = sp.chip(params)
        key = self.mapping_key(params, chip) if self.fast else None
        return self.metrics(chip, [self.estimate(w.name, chip, key) for w in sp.spec.workloads])

    def metrics(self, chip, ests: list) -> dict[str, float]:
        """The point's metrics from its workloads' results (anything with ``latency_s``, ``energy_j``,
        ``power_w`` and ``batch``: an Estimate or a batch PointResult), in the space's workload order."""
        from chiplab.hw.area import area, price_usd

        sp = self.space
        lat = energy = edp = 0.0
        power = 0.0
        for w, est in zip(sp.spec.workloads, ests):
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

    def many(self, points: list[dict[str, Any]]) -> list["dict[str, float] | str"]:
        """Metrics of many points (memoized like ``__call__``), or for a point that does not validate or
        cannot be estimated its one-line error. Points of systolic chips are priced together per workload
        by :func:`~chiplab.perf.systolic_batch.price_many`; the others (and any point it leaves out) run
        the single-point path. Same numbers as calling the evaluator point by point."""
        from chiplab.errors import ChiplabError
        from chiplab.perf.systolic_batch import BatchWorkload, price_many, unsupported

        out: list[Any] = [None] * len(points)
        todo: dict[tuple, list[int]] = {}
        for i, p in enumerate(points):
            k = self.key(p)
            got = self.memo.get(k)
            if got is not None:
                self.hits += 1
                out[i] = got
            elif k in todo:
                self.hits += 1
                todo[k].append(i)
            else:
                self.misses += 1
                todo[k] = [i]
        keys, chips = [], []
        for k, idx in todo.items():
            try:
                chips.append(self.space.chip(points[idx[0]]))
                keys.append(k)
            except ChiplabError as e:
                for i in idx:
                    out[i] = str(e).splitlines()[0]
        per_w = []
        batch = self.batched and any(unsupported(c) is None for c in chips)
        for w in self.space.spec.workloads:
            if batch:
                work = self.batch_work.get(w.name)
                if work is None:
                    work = self.batch_work[w.name] = BatchWorkload(self.graphs[w.name])
                per_w.append(price_many(work, chips))
            else:
                per_w.append([None] * len(chips))
        for j, (k, chip) in enumerate(zip(keys, chips)):
            idx = todo[k]
            try:
                ests = []
                for w, res in zip(self.space.spec.workloads, per_w):
                    if res[j] is None:
                        mk = self.mapping_key(points[idx[0]], chip) if self.fast else None
                        ests.append(self.estimate(w.name, chip, mk))
                    else:
                        self.batch_priced += 1
                        ests.append(res[j])
                m = self.metrics(chip, ests)
            except ChiplabError as e:
                m = str(e).splitlines()[0]
            else:
                self.memo[k] = m
            for i in idx:
                out[i] = m
        return out

    def outcomes(self, points: list[dict[str, Any]]) -> list:
        """What the search loop tells optuna per point: ``(metrics, violations, objectives)``, or the
        point's one-line error (as ``chiplab.explore.search._safe`` returns them, for many points)."""
        return [m if isinstance(m, str) else (m, self.violations(m), self.objectives(m)) for m in self.many(points)]

    def violations(self, m: dict[str, float]) -> list[float]:
        """optuna's constraint values: <= 0 is feasible."""
        c = self.space.spec.constraints
        return [m[k] - lim for k, lim in (("area_mm2", c.area_mm2), ("power_w", c.power_w),
                                          ("price_usd", c.price_usd)) if lim is not None]

    def objectives(self, m: dict[str, float]) -> list[float]:
        return [m[o] for o in self.space.spec.objectives]
