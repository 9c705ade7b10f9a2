"""The search loop: optuna samplers (NSGA-II, TPE, random), batched ask/tell, a durable study.

The sampler works on an in-memory study (optuna's samplers re-read every trial on each ask;
on a journal file that costs an fsync and a replay per trial: 6.9 trials/s measured for
NSGA-II against 326/s in memory). Each finished trial is then appended to an optuna journal
file (``optuna.storages.JournalStorage``, readable by ``optuna.load_study``) before the next
batch is asked; writes are flushed per trial (a SIGKILL loses no finished trial) and fsync'd
once per batch. Resuming reads the journal's finished trials back into the in-memory study.

Evaluation is local, or on a Ray cluster (``workers`` actors, each with its own captured
graphs) when ``ray=True``; sampling stays in this process, so with the same seed a Ray run
asks for the same points as a local one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from chiplab.explore.evaluate import Evaluator
from chiplab.explore.space import Space


class _FlushedBackend(JournalFileBackend):
    """optuna's journal file, written and flushed per call (safe against SIGKILL: the data is in
    the kernel) but fsync'd only by :meth:`sync` (once per batch, for power loss)."""

    def append_logs(self, logs: list[dict[str, Any]]) -> None:
        import json

        self._lock.acquire()
        try:
            with open(self._file_path, "ab") as f:
                f.write(("\n".join(json.dumps(x, separators=(",", ":")) for x in logs) + "\n").encode())
                f.flush()
        finally:
            self._lock.release()

    def sync(self) -> None:
        with open(self._file_path, "ab") as f:
            os.fsync(f.fileno())


def _sampler(space: Space, seed: int) -> optuna.samplers.BaseSampler:
    s = space.spec.search
    cons = None   # optuna >= 5 takes constraints per trial (Trial.set_constraint); older ones a function
    if _has_constraints(space) and not hasattr(optuna.trial.Trial, "set_constraint"):
        cons = lambda ft: ft.user_attrs.get("constraints", [0.0])  # noqa: E731
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constraints_func=cons, multivariate=True)
    return optuna.samplers.NSGAIISampler(seed=seed, population_size=s.population, constraints_func=cons)


def _has_constraints(space: Space) -> bool:
    c = space.spec.constraints
    return any(v is not None for v in (c.area_mm2, c.power_w, c.price_usd))


@dataclass
class Result:
    study: optuna.Study
    evaluator: Evaluator | None
    resumed: int = 0
    new: int = 0
    notes: list[str] = field(default_factory=list)

    def feasible(self) -> list[optuna.trial.FrozenTrial]:
        return [t for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if all(v <= 0 for v in t.user_attrs.get("constraints", []))]

    def pareto(self) -> list[optuna.trial.FrozenTrial]:
        """Feasible trials no other feasible trial dominates (each distinct design once).

        One sweep in lexicographic order of the (minimised) objectives: a trial's dominators
        sort before it, and a dominated dominator has a dominator on the front already, so
        checking the front so far suffices (O(trials x front), not O(trials^2): 20,000 trials)."""
        dirs = self.study.directions
        sign = [1.0 if d == optuna.study.StudyDirection.MINIMIZE else -1.0 for d in dirs]
        seen, cand = set(), []
        for t in self.feasible():
            key = tuple(sorted(t.params.items()))
            if key not in seen:
                seen.add(key)
                cand.append((tuple(s * v for s, v in zip(sign, t.values)), t))
        cand.sort(key=lambda c: c[0])
        front: list[tuple[tuple[float, ...], optuna.trial.FrozenTrial]] = []
        for v, t in cand:
            if not any(all(a <= b for a, b in zip(f, v)) and f != v for f, _ in front):
                front.append((v, t))
        return [t for _, t in front]


def _durable(path: Path, space: Space) -> tuple[optuna.Study, _FlushedBackend]:
    backend = _FlushedBackend(str(path))
    study = optuna.create_study(storage=JournalStorage(backend), study_name=space.name,
                                directions=space.directions(), load_if_exists=True)
    return study, backend


def run(space: Space, *, trials: int | None = None, storage: "str | Path | None" = None, sampler: str | None = None,
        seed: int | None = None, batch: int | None = None, ray: bool = False, workers: int = 1,
        evaluator: Evaluator | None = None, progress: Callable[[int, int], None] | None = None) -> Result:
    """Run (or resume) an exploration until ``trials`` trials are finished in total."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    s = space.spec.search
    if sampler is not None:
        space.spec = space.spec.model_copy(update={"search": s.model_copy(update={"sampler": sampler})})
        s = space.spec.search
    total = trials or s.trials
    seed = s.seed if seed is None else seed
    bsize = batch or s.batch
    durable, backend, done = None, None, []
    if storage is not None:
        durable, backend = _durable(Path(storage), space)
        done = [t for t in durable.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.FAIL)]
    # a resumed run reseeds with the number of finished trials, so its draws differ from the first run's
    study = optuna.create_study(sampler=_sampler(space, seed + len(done)), directions=space.directions())
    if done:
        study.add_trials(done)
    res = Result(study, None, resumed=len(done))
    ev = evaluator
    pool = None
    if ray:
        pool = _RayPool(space, workers)
    elif ev is None:
        ev = Evaluator(space)
    res.evaluator = ev
    finished = len(done)
    if progress:
        progress(finished, total)
    while finished < total:
        asked = [study.ask() for _ in range(min(bsize, total - finished))]
        params = [space.suggest(t) for t in asked]
        outs = pool.map(params) if pool is not None else ev.outcomes(params)
        for t, out in zip(asked, outs):
            if isinstance(out, str):          # the point did not validate or could not be estimated
                t.set_user_attr("error", out)
                ft = study.tell(t, state=TrialState.FAIL)
            else:
                metrics, cons, values = out
                t.set_user_attr("constraints", cons)
                if hasattr(t, "set_constraint"):
                    for i, v in enumerate(cons):
                        t.set_constraint(f"c{i}", v)
                for k in ("power_w", "area_mm2", "price_usd"):
                    t.set_user_attr(k, metrics[k])
                ft = study.tell(t, values)
            if durable is not None:
                durable.add_trial(ft)
        if backend is not None:
            backend.sync()
        finished += len(asked)
        res.new += len(asked)
        if progress:
            progress(finished, total)
    if pool is not None:
        pool.close()
    return res


def _safe(ev: Evaluator, params: dict[str, Any]):
    from chiplab.errors import ChiplabError

    try:
        m = ev(params)
    except ChiplabError as e:
        return str(e).splitlines()[0]
    return m, ev.violations(m), ev.objectives(m)


class _RayPool:
    """Evaluators on Ray actors (each captures the workloads once)."""

    def __init__(self, space: Space, workers: int) -> None:
        import ray

        if not ray.is_initialized():
            ray.init(num_cpus=max(workers, 1), include_dashboard=False, log_to_driver=False)

        @ray.remote(num_cpus=1)
        class _Worker:
            def __init__(self, sp):
                self.ev = Evaluator(sp)

            def run(self, ps):
                return [_safe(self.ev, p) for p in ps]

        self.ray = ray
        self.actors = [_Worker.remote(space) for _ in range(max(workers, 1))]

    def map(self, params: list[dict[str, Any]]) -> list:
        n = len(self.actors)
        chunks = [params[i::n] for i in range(n)]
        outs = self.ray.get([a.run.remote(c) for a, c in zip(self.actors, chunks)])
        merged: list = [None] * len(params)
        for i, chunk_out in enumerate(outs):
            merged[i::n] = chunk_out
        return merged

    def close(self) -> None:
        for a in self.actors:
            self.ray.kill(a)
