"""The search loop without the chip model (bench/explore_loop.py's stub evaluator): the faster
NSGA-II asks for the same points as optuna's, the batched journal reads back as optuna's own
writes do, a torn journal tail is cut on resume, and the CLI says what it resumed."""
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState
from typer.testing import CliRunner

from chiplab.errors import ChiplabError
from chiplab.explore import search
from chiplab.explore.search import run
from chiplab.explore.space import load_space

EDGE = Path(__file__).resolve().parents[2] / "examples" / "space_edge.yaml"
TINY = Path(__file__).with_name("tiny_space.yaml")


@pytest.fixture
def stub(load_script):
    """The bench's stub evaluator (not a chip model), failing some points as a real one does."""
    base = load_script("bench/explore_loop.py").StubEvaluator

    class Failing(base):
        def __call__(self, p):
            if p["arch.rows"] == 128 and p["arch.cols"] == 8:
                raise ChiplabError("arch: stub refuses 128x8")
            return super().__call__(p)

    return Failing


def _load(log: Path, name: str = "edge") -> list:
    st = optuna.load_study(study_name=name, storage=JournalStorage(JournalFileBackend(str(log))))
    return st.get_trials(deepcopy=False)


def _key(t) -> tuple:
    return (t.number, t.state, t.params, t.values, t.user_attrs, t.system_attrs)


def test_nsga2_asks_for_the_same_points_as_optunas(tmp_path, stub, monkeypatch):
    """600 trials (5 generations of 64 COMPLETE ones), resumed once at 300, FAIL trials among them: the same
    trials as with optuna.samplers.NSGAIISampler (whose per-ask scans are O(trials))."""
    def go(log):
        first = run(load_space(EDGE), trials=300, storage=log, evaluator=stub(load_space(EDGE)))
        res = run(load_space(EDGE), trials=600, storage=log, evaluator=stub(load_space(EDGE)))
        return first, res

    ours = search._NSGAII
    first, fast = go(tmp_path / "fast.log")
    monkeypatch.setattr(search, "_NSGAII", optuna.samplers.NSGAIISampler)
    _, ref = go(tmp_path / "ref.log")
    assert type(first.study.sampler) is ours and type(ref.study.sampler) is optuna.samplers.NSGAIISampler
    assert fast.resumed == 300 and fast.new == 300
    assert any(t.state == TrialState.FAIL for t in fast.study.trials)
    gen = "NSGAIISampler:generation"
    assert max(t.system_attrs[gen] for t in fast.study.trials) >= 4     # parents drawn from 4+ generations
    assert [_key(t) for t in fast.study.trials] == [_key(t) for t in ref.study.trials]


def test_batched_journal_reads_back_like_optunas_add_trial(tmp_path, stub):
    res = run(load_space(EDGE), trials=130, evaluator=stub(load_space(EDGE)))
    space = load_space(EDGE)
    trials = res.study.get_trials(deepcopy=False)
    search._Journal(tmp_path / "batched.log", space).write(trials)
    ref = optuna.create_study(storage=JournalStorage(JournalFileBackend(str(tmp_path / "ref.log"))),
                              study_name="edge", directions=space.directions())
    ref.add_trials(trials)
    got, want = _load(tmp_path / "batched.log"), _load(tmp_path / "ref.log")
    assert len(got) == 130 and any(t.state == TrialState.FAIL for t in got)
    for g, w in zip(got, want):
        assert _key(g) == _key(w) and g.distributions == w.distributions
        assert (g.datetime_start, g.datetime_complete) == (w.datetime_start, w.datetime_complete)


def test_torn_journal_tail_is_cut_and_the_run_resumes(tmp_path, stub):
    log = tmp_path / "study.log"
    run(load_space(EDGE), trials=64, storage=log, evaluator=stub(load_space(EDGE)))
    before = {t.number: t.params for t in _load(log)}
    with open(log, "ab") as f:                  # a SIGKILL inside the next batch's write
        f.write(b'{"op_code":4,"worker_id":"x","study_id":0,"state":1,"val')
    res = run(load_space(EDGE), trials=128, storage=log, evaluator=stub(load_space(EDGE)))
    after = _load(log)                           # optuna would refuse the file without the cut
    assert res.resumed == 64 and len(after) == 128
    assert all(after[n].params == p for n, p in before.items())


def test_cli_says_how_many_trials_it_resumed(tmp_path):
    from chiplab.cli import app

    runner = CliRunner()
    args = ["explore", str(TINY), "-o", str(tmp_path / "out"), "--storage", str(tmp_path / "study.log")]
    r = runner.invoke(app, args + ["-n", "8"])
    assert r.exit_code == 0, r.stderr[-500:]
    assert "resumed" not in r.stdout.split("Pareto")[0]
    r = runner.invoke(app, args + ["-n", "16"])
    assert r.exit_code == 0, r.stderr[-500:]
    assert "resumed 8 finished trials" in r.stdout
    out = tmp_path / "out"
    assert (out / "tiny-pareto.png").stat().st_size > 1000 and list(out.glob("tiny-t*.yaml"))


def test_a_batch_evaluator_gives_the_same_trials(stub):
    """run() calls ``ev.many(params)`` when the evaluator has it (a metrics dict, or an error
    string, per point): the same trials as one call per point."""
    class Batched(stub):
        def many(self, params):
            self.batches = getattr(self, "batches", 0) + 1
            out = []
            for p in params:
                try:
                    out.append(self(p))
                except ChiplabError as e:
                    out.append(str(e))
            return out

    one = run(load_space(EDGE), trials=200, evaluator=stub(load_space(EDGE)))
    ev = Batched(load_space(EDGE))
    many = run(load_space(EDGE), trials=200, evaluator=ev)
    assert ev.batches == 4                                   # 200 trials in batches of 64
    assert any(t.state == TrialState.FAIL for t in many.study.trials)
    assert [_key(t) for t in many.study.trials] == [_key(t) for t in one.study.trials]


def test_loop_bench_runs(load_script, tmp_path):
    row = load_script("bench/explore_loop.py").measure(130, tmp_path)
    assert row["trials"] == 130 and row["front"] > 0 and row["loop_cpu_s"] > row["stub_s"] > 0
    assert (tmp_path / "p130.png").stat().st_size > 1000 and list((tmp_path / "out130").glob("edge-t*.yaml"))


def test_an_untested_optuna_uses_the_public_api_and_gets_the_same_trials(tmp_path, monkeypatch):
    """On an optuna version the internals-reading fast paths were not checked on, the loop falls back
    to optuna's own sampler, tell and add_trial: the same trials, and a journal optuna loads."""
    import optuna

    from chiplab.explore import search
    from chiplab.explore.space import load_space

    space_file = Path(__file__).with_name("tiny_space.yaml")
    fast = search.run(load_space(space_file), trials=40, storage=tmp_path / "fast.log")
    monkeypatch.setattr(search, "TESTED_OPTUNA", ())
    assert not search.fast_paths()
    slow = search.run(load_space(space_file), trials=40, storage=tmp_path / "slow.log")
    assert [t.params for t in slow.study.trials] == [t.params for t in fast.study.trials]
    loaded = optuna.load_study(study_name=load_space(space_file).name, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "slow.log"))))
    assert len(loaded.trials) == 40
