"""The search loop: optuna samplers (NSGA-II, TPE, random), batched ask/tell, a durable study.

The sampler works on an in-memory study (optuna's samplers re-read every trial on each ask;
on a journal file that costs an fsync and a replay per trial: 6.9 trials/s measured for
NSGA-II against 326/s in memory). Each batch's finished trials are then appended to an optuna
journal file (``optuna.storages.JournalStorage``, readable by ``optuna.load_study``) in one
flushed and fsync'd write before the next batch is asked, so a SIGKILL loses no finished trial.
Resuming reads the journal's finished trials back into the in-memory study. NSGA-II is optuna's
sampler with its O(trials) per-ask scans made incremental (:class:`_NSGAII`; same trials).
See docs/explore.md, "Loop overhead".

Evaluation is local, or on a Ray cluster (``workers`` actors, each with its own captured
graphs) when ``ray=True``; sampling stays in this process, so with the same seed a Ray run
asks for the same points as a local one.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from datetime import timezone
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


class _NSGAII(optuna.samplers.NSGAIISampler):
    """optuna's NSGA-II with two per-ask scans made incremental; the same draws as the parent.

    ``get_trial_generation`` scans every COMPLETE trial on each ask for the highest generation and
    its size; ``get_parent_population`` scans every trial for the cached parents' ids. Both are
    O(trials) per ask, O(trials^2) per run (15 of 31 s at 6,000 trials, ``bench/explore_loop.py``).
    Here the generation statistic (highest generation among COMPLETE trials, how many are in it:
    independent of the trials' order) is kept as counts updated from the first trial that was
    not yet finished at the previous ask, and each generation's parents are kept after their first
    lookup (in trial order, as optuna returns them from its cache). ``tests/explore/test_loop.py``
    checks the trials against ``optuna.samplers.NSGAIISampler``'s."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._gen_study: int | None = None
        self._gen_counts: dict[int, int] = {}
        self._gen_counted: set[int] = set()
        self._gen_cursor = 0
        self._parents: dict[int, list[optuna.trial.FrozenTrial]] = {}
        self._space_state: tuple[dict | None, int] = (None, -1)

    def infer_relative_search_space(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> dict:
        """optuna's intersection search space, kept incrementally as ``IntersectionSearchSpace``
        does, without its deep copy of the distributions per ask (they are not modified)."""
        from optuna.search_space.intersection import _calculate

        self._check_study(study)
        got, cursor = _calculate(study._get_trials(deepcopy=False, use_cache=True), False, *self._space_state)
        self._space_state = (got, cursor)
        return {k: d for k, d in sorted((got or {}).items()) if not d.single()}

    def _check_study(self, study: optuna.Study) -> None:
        if self._gen_study != study._study_id:
            self._gen_study, self._gen_counts, self._gen_counted = study._study_id, {}, set()
            self._gen_cursor, self._parents, self._space_state = 0, {}, (None, -1)

    def get_trial_generation(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> int:
        key = self._get_generation_key()
        generation = trial.system_attrs.get(key, None)
        if generation is not None:
            return generation
        self._check_study(study)
        trials = study._get_trials(deepcopy=False, use_cache=True)
        cursor = None
        for i in range(self._gen_cursor, len(trials)):
            t = trials[i]
            if not t.state.is_finished():
                cursor = i if cursor is None else cursor
            elif t.state == TrialState.COMPLETE and t.number not in self._gen_counted:
                self._gen_counted.add(t.number)
                g = t.system_attrs.get(key, -1)
                self._gen_counts[g] = self._gen_counts.get(g, 0) + 1
        self._gen_cursor = len(trials) if cursor is None else cursor
        max_generation = max([0, *self._gen_counts])
        generation = max_generation
        assert self._population_size is not None, "Population size must be set."
        if self._gen_counts.get(max_generation, 0) >= self._population_size:
            generation = max_generation + 1
        study._storage.set_trial_system_attr(trial._trial_id, key, generation)
        return generation

    def get_parent_population(self, study: optuna.Study, generation: int) -> list[optuna.trial.FrozenTrial]:
        self._check_study(study)
        got = self._parents.get(generation)
        if got is not None:
            return list(got)
        out = super().get_parent_population(study, generation)
        if generation > 0:
            self._parents[generation] = sorted(out, key=lambda t: t.number)
        return out


# optuna names the generation and parent keys after the class: keep NSGAIISampler's, so journals
# written by either class resume with the other
_NSGAII._GENERATION_KEY = optuna.samplers.NSGAIISampler._get_generation_key()
_NSGAII._PARENT_CACHE_KEY_PREFIX = optuna.samplers.NSGAIISampler._get_parent_cache_key_prefix()


# The fast paths below (_NSGAII, _Journal's batched write, _tell) read optuna internals; they were checked
# against optuna's own classes on these versions (tests/explore/test_loop.py). On any other version the
# loop uses optuna's public API only: the same trials, slower (about 12 ms a trial at 20,000 trials).
TESTED_OPTUNA = ("5.0",)


def fast_paths() -> bool:
    """Whether the installed optuna is one the internals-reading fast paths were checked on."""
    return ".".join(optuna.__version__.split(".")[:2]) in TESTED_OPTUNA


def _sampler(space: Space, seed: int) -> optuna.samplers.BaseSampler:
    s = space.spec.search
    cons = None   # optuna >= 5 takes constraints per trial (Trial.set_constraint); older ones a function
    if _has_constraints(space) and not hasattr(optuna.trial.Trial, "set_constraint"):
        cons = lambda ft: ft.user_attrs.get("constraints", [0.0])  # noqa: E731
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    if s.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=seed, constraints_func=cons, multivariate=True)
    nsga2 = _NSGAII if fast_paths() else optuna.samplers.NSGAIISampler
    return nsga2(seed=seed, population_size=s.population, constraints_func=cons)


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


class _Journal:
    """An optuna journal file that finished trials are appended to, one write per batch.

    ``Study.add_trial`` on a :class:`JournalStorage` writes one log line and replays the file
    back per trial (0.4 ms a trial, a quarter of the loop at 6,000 trials); here the batch's
    ``CREATE_TRIAL`` lines (the fields ``JournalStorage.create_new_trial`` writes for a template
    trial) go out in one flushed write, read back by ``optuna.load_study``
    (``tests/explore/test_loop.py`` compares both paths). A torn last line (a SIGKILL inside the
    write) is cut off when the file is opened again: optuna would otherwise fail on the line
    appended after it."""

    def __init__(self, path: Path, space: Space) -> None:
        _cut_torn_tail(path)
        self.backend = _FlushedBackend(str(path))
        storage = JournalStorage(self.backend)
        study = optuna.create_study(storage=storage, study_name=space.name, directions=space.directions(),
                                    load_if_exists=True)
        self.study = study
        self.study_id = study._study_id
        self.worker_id = getattr(getattr(storage, "_replay_result", None), "worker_id", None)   # fast path only
        self.done = [t for t in study.get_trials(deepcopy=False) if t.state in (TrialState.COMPLETE, TrialState.FAIL)]

    def _log(self, t: optuna.trial.FrozenTrial) -> dict[str, Any]:
        from optuna.distributions import distribution_to_json
        from optuna.storages.journal._storage import JournalOperation

        def iso(d):
            return None if d is None else d.astimezone(timezone.utc).isoformat(timespec="microseconds")

        multi = t.values is not None and len(t.values) > 1
        log = {"op_code": JournalOperation.CREATE_TRIAL, "worker_id": self.worker_id, "study_id": self.study_id,
               "state": t.state, "value": None if multi else t.value, "values": t.values if multi else None,
               "datetime_start": iso(t.datetime_start)}
        if t.datetime_complete is not None:
            log["datetime_complete"] = iso(t.datetime_complete)
        log.update(distributions={k: distribution_to_json(d) for k, d in t.distributions.items()},
                   params={k: t.distributions[k].to_internal_repr(v) for k, v in t.params.items()},
                   user_attrs=t.user_attrs, system_attrs=t.system_attrs, intermediate_values=t.intermediate_values)
        return log

    def write(self, trials: list[optuna.trial.FrozenTrial]) -> None:
        """Append ``trials`` (finished) in one flushed write, then fsync."""
        if not trials:
            return
        if fast_paths():
            self.backend.append_logs([self._log(t) for t in trials])
        else:                     # optuna's public path: one log line and a replay per trial
            for t in trials:
                self.study.add_trial(t)
        self.backend.sync()


def _cut_torn_tail(path: Path) -> None:
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        size = f.seek(0, os.SEEK_END)
        pos, chunk = size, 1 << 16
        while pos > 0:
            start = max(0, pos - chunk)
            f.seek(start)
            i = f.read(pos - start).rfind(b"\n")
            if i >= 0:
                f.truncate(start + i + 1)
                return
            pos = start
        f.truncate(0)


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
    journal, done = None, []
    if storage is not None:
        journal = _Journal(Path(storage), space)
        done = journal.done
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
        if pool is not None:
            outs = pool.map(params)
        else:
            outs = ev.many(params) if hasattr(ev, "many") else [_safe(ev, p) for p in params]
            # a metrics dict per point (rather than _safe's triple) is accepted too
            outs = [(o, ev.violations(o), ev.objectives(o)) if isinstance(o, dict) else o for o in outs]
        told = []
        for t, out in zip(asked, outs):
            if isinstance(out, str):          # the point did not validate or could not be estimated
                t.set_user_attr("error", out)
                ft = _tell(study, t, state=TrialState.FAIL)
            else:
                metrics, cons, values = out
                t.set_user_attr("constraints", cons)
                if hasattr(t, "set_constraint"):
                    for i, v in enumerate(cons):
                        t.set_constraint(f"c{i}", v)
                for k in ("power_w", "area_mm2", "price_usd"):
                    t.set_user_attr(k, metrics[k])
                ft = _tell(study, t, values)
            told.append(ft)
        if journal is not None:      # durable before the next batch is asked
            journal.write(told)
        finished += len(asked)
        res.new += len(asked)
        if progress:
            progress(finished, total)
    if pool is not None:
        pool.close()
    return res


def _tell(study: optuna.Study, trial: optuna.Trial, values: list[float] | None = None,
          state: TrialState | None = None) -> optuna.trial.FrozenTrial:
    """``Study.tell`` without its deep copy of the told trial (a fifth of the loop's time, for a
    copy only the journal reads): optuna's ``_tell_with_warning``, then the stored (finished,
    so no longer changing) trial. Falls back to ``Study.tell`` if optuna moves the function."""
    try:
        from optuna.study._tell import _tell_with_warning
    except ImportError:
        return study.tell(trial, values, state=state)
    if not fast_paths():
        return study.tell(trial, values, state=state)
    _tell_with_warning(study=study, trial=trial, value_or_values=values, state=state)
    return study._storage.get_trial(trial._trial_id)


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

            def run(self, ps):   # each actor prices its share of the batch at once
                return self.ev.outcomes(ps)

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
