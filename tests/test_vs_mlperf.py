"""bench/vs_mlperf.py's machinery: the leave-one-chip-out split, the fit, the JSON line.

The bench itself (captures of ResNet-50 and BERT-large at batch 2048/1024) is not run
here; these tests use one-node GEMM graphs and no accuracy figure is pinned."""
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from chiplab.hw import load_chip
from chiplab.measure.calibrate import graph_for_row

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench/vs_mlperf.py")


@dataclass(frozen=True)
class K:       # a knob as fit_knobs needs it
    dotted: str
    value: float
    lower: float
    upper: float


KNOBS = [K("arch.tensor_efficiency", 0.85, 0.05, 1.0), K("arch.dram_efficiency", 0.85, 0.05, 1.0)]
CHIPS = ("a100-sxm4-40gb", "t4", "h100-sxm")


def _gemm(name, M, N, K_):
    return graph_for_row({"kind": "gemm", "name": name, "M": M, "N": N, "K": K_})


def _cases(bench, published=None):
    """Per chip: a compute-bound GEMM and a weight-streaming (DRAM-bound) one."""
    out = []
    for chip in CHIPS:
        for shape in ((4096, 4096, 4096), (16, 8192, 8192)):
            g = _gemm(f"mm{shape[0]}", *shape)
            key = f"{chip}/{shape[0]}"
            out.append(bench.Case(key=key, chip=chip, kind="gpu", model="resnet50",
                                  published=(published or {}).get(key, 1.0), graph=g, batch=1,
                                  precision="int8", host_transfers=False, note=key))
    return out


@pytest.fixture(scope="module")
def specs():
    return {c: load_chip(c) for c in CHIPS}


def test_fit_recovers_knobs_from_data_made_by_the_model(bench, specs):
    true = {"arch.tensor_efficiency": 0.55, "arch.dram_efficiency": 0.4}
    cases = _cases(bench)
    pub = {c.key: bench.throughput(c, bench.with_knobs(specs[c.chip], true)) for c in cases}
    cases = _cases(bench, pub)
    got = bench.fit_knobs(cases, specs, KNOBS)
    for k, v in true.items():
        assert got[k] == pytest.approx(v, rel=2e-2), (k, got)
    # and the default knobs do not already reproduce the synthetic data (the fit did the work)
    assert any(abs(bench.throughput(c, specs[c.chip]) / c.published - 1) > 0.1 for c in cases)


def test_leave_one_chip_out_never_trains_on_the_held_out_chip(bench, specs):
    cases = _cases(bench)
    trained_on: dict[float, frozenset] = {}

    def spy_fit(cs, sp, knobs, predict):
        v = round(0.1 + 0.01 * len(trained_on), 4)       # a value naming this fit
        trained_on[v] = frozenset(c.chip for c in cs)
        return {"arch.tensor_efficiency": v}

    def read_knob(case, spec):                             # "prediction" = the knob it was made with
        return spec.arch.tensor_efficiency

    held, train, fits = bench.loco(cases, specs, lambda kind: KNOBS[:1], fit=spy_fit, predict=read_knob)
    assert len(trained_on) == 1 + len(CHIPS)               # one fit on all chips, one per held-out chip
    for c in cases:
        assert c.chip not in trained_on[held[c.key]]
        assert trained_on[held[c.key]] == frozenset(CHIPS) - {c.chip}
        assert trained_on[train[c.key]] == frozenset(CHIPS)
    assert set(fits["gpu"]) == {"all", *CHIPS}


def test_class_without_knobs_is_predicted_unfitted(bench, specs):
    cases = _cases(bench)
    calls = []
    held, train, fits = bench.loco(cases, specs, lambda kind: [],
                                   fit=lambda *a: calls.append(a) or {}, predict=lambda c, s: s.arch.tensor_efficiency)
    assert calls == [] and all(v == {} for v in fits["gpu"].values())
    assert all(held[c.key] == specs[c.chip].arch.tensor_efficiency for c in cases)


def test_json_line_format(bench, specs, monkeypatch, capsys):
    cases = _cases(bench)
    pub = {c.key: 1.3 * bench.throughput(c, specs[c.chip]) for c in cases}
    cases = _cases(bench, pub)
    monkeypatch.setattr(bench, "build_cases", lambda: (cases, specs, ["v9 x y: skipped for the test"]))
    assert bench.main([]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    out = json.loads(lines[-1])
    assert {"median_abs_error_heldout", "median_abs_error_train", "rows"} <= set(out)
    assert out["rows"] == len(cases)
    for k in ("median_abs_error_heldout", "median_abs_error_train", "worst_abs_error_heldout"):
        assert isinstance(out[k], float) and out[k] >= 0
    assert out["worst_abs_error_heldout"] >= out["median_abs_error_heldout"]
    assert any(l.startswith("skipped: v9") for l in lines)


def test_every_offline_row_with_a_preset_has_cited_settings(bench):
    from chiplab.data_mlperf import load_published

    df = load_published()
    rows = df[(df.scenario == "Offline") & df.has_preset & df.model.isin(list(bench.MODELS))]
    assert len(rows) > 0
    for _, r in rows.iterrows():
        key = (r["round"], r["accelerator"], int(r["accelerator_count"]), r["model"])
        s = bench.SETTINGS.get(key)
        assert s is not None, key
        assert s.source[:3] in ("[C]", "[D]", "[A]", "[U]")
        assert s.precision in load_chip(r["accelerator"]).arch.precisions
        if not pd_isna(r["batch"]):                       # the row's own batch wins
            assert s.batch == int(r["batch"]), key


def pd_isna(v):
    import pandas as pd

    return pd.isna(v)


def test_at_bound(bench):
    k = KNOBS[0]
    assert bench.at_bound(1.0, k) and bench.at_bound(0.05, k) and not bench.at_bound(0.7, k)


def test_write_fitted_skips_values_at_their_bound(bench, monkeypatch):
    import chiplab.hw.class_knobs as ck

    cases = [bench.Case(key="r1", chip="t4", kind="gpu", model="resnet50", published=1.0, graph=None, batch=1,
                        precision="int8", host_transfers=False)]
    written = []
    monkeypatch.setattr(ck, "write_knobs", lambda updates, path=None: written.append(updates))
    fits = {"gpu": {"all": {"arch.tensor_efficiency": 1.0, "arch.dram_efficiency": 0.62}}}
    bench.write_fitted(fits, cases, {"r1": 1.1})
    assert len(written) == 1 and set(written[0]) == {("gpu", "dram_efficiency")}
    value, source = written[0][("gpu", "dram_efficiency")]
    assert value == 0.62 and source.startswith("[D] fitted by bench/vs_mlperf.py") and "t4" in source
