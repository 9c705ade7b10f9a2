"""Machinery of bench/llm_vs_published.py: the CSV loads, rows are sourced, predictions run, JSON line shape.

No accuracy number is pinned here: the bench prints what it measures.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench/llm_vs_published.py")


def test_csv_loads_and_every_row_is_sourced(bench):
    df = bench.load_rows()
    assert len(df) >= 4
    assert df["source"].str.startswith("https://github.com/mlcommons/inference_results_").all()
    assert (df["value"] > 0).all()
    assert set(df["scenario"]) <= {"Offline", "Server"}


def test_bad_row_is_a_one_line_error(bench, tmp_path):
    df = pd.read_csv(bench.CSV)
    df.loc[0, "source"] = ""
    bad = tmp_path / "bad.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(bench.LlmPublishedError, match="bad.csv line 2.*source"):
        bench.load_rows(bad)


def test_missing_column_is_named(bench, tmp_path):
    df = pd.read_csv(bench.CSV).drop(columns=["num_beams"])
    bad = tmp_path / "cols.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(bench.LlmPublishedError, match="num_beams"):
        bench.load_rows(bad)


def test_offline_prediction_runs_and_scales_with_replicas(bench):
    df = bench.load_rows()
    row = df[(df.chiplab_model == "llama-2-70b") & (df.scenario == "Offline")].iloc[0]
    cost = bench._cost(row)
    assert cost.tp == int(row["tp"]) and cost.replicas == 8 // cost.tp and cost.precision == row["precision"]
    p = bench.predict_offline(row, cost, n=200)
    assert p > 0
    # the deployment follows the row: tp 4 gives 2 engines
    row4 = row.copy()
    row4["tp"] = 4
    assert bench._cost(row4).replicas == 2


def test_beam_search_is_one_request_per_sample(bench):
    df = bench.load_rows()
    row = df[df.chiplab_model == "gpt-j-6b"].iloc[0]
    wl, beams, out = bench._workload(row, 10, None, 0)
    assert beams == int(row["num_beams"]) == 4
    # one request per sample (prefilled once), carrying its 4 beams
    assert len(wl.prompts) == 10 and (wl.arrivals == 0).all() and (wl.beams == 4).all()
    # every sample decodes the row's published mean (LoadGen's GPT-J token factor, 69), not max_new_tokens
    assert out == row["output_mean"] == 69 and (wl.outputs == 69).all()
    blank = row.copy()
    blank["output_mean"] = float("nan")
    assert bench._workload(blank, 10, None, 0)[2] == bench.GPTJ_OUTPUT


def test_gptj_decodes_published_mean_not_max_new_tokens(bench):
    """Before: every GPT-J beam decoded max_new_tokens (128) and DGX-H100 v4.0 Offline came out -29 %. The
    published tokens/sample (69) roughly halves the decode work, so the prediction rises by well over 1.3x."""
    df = bench.load_rows()
    row = df[(df.chiplab_model == "gpt-j-6b") & (df.scenario == "Offline") & (df.chiplab_system == "dgx-h100")].iloc[0]
    cost = bench._cost(row)
    at_69 = bench.predict_offline(row, cost, n=300)
    at_128 = row.copy()
    at_128["output_mean"] = float("nan")
    assert at_69 > 1.3 * bench.predict_offline(at_128, cost, n=300)


def test_json_line_format(bench, capsys, monkeypatch):
    df = bench.load_rows()
    small = df[(df.scenario == "Offline")].head(2)
    monkeypatch.setattr(bench, "load_rows", lambda path=None: small.reset_index(drop=True))
    assert bench.main(["--requests", "100"]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    out = json.loads(last)
    assert set(out) >= {"median_abs_error", "rows", "per_system", "fitted_on", "results"}
    assert out["rows"] == 2 and out["fitted_on"] == []
    assert all(r["predicted"] > 0 for r in out["results"])
    # the secondary fit chooses on the v4.0 row only and scores the v4.1 row apart
    fit = out["fit"]
    assert fit["train_rows"] == [0] and fit["heldout_rows"] == [1] and fit["value"] in fit["grid"]


def test_every_row_cites_its_summary_and_config(bench):
    """Every row names the results file it was read from and the submitter config its deployment came from."""
    df = bench.load_rows()
    for col in ("source", "config_source"):
        assert df[col].str.match(r"https://github\.com/mlcommons/inference_results_v[0-9.]+/blob/[0-9a-f]{40}/").all(), col
    assert df["source"].str.endswith("mlperf_log_summary.txt").all()
    assert (df["notes"].str.len() > 0).all()


def test_unknown_system_is_refused_not_skipped(bench, tmp_path):
    df = pd.read_csv(bench.CSV)
    df.loc[3, "chiplab_system"] = "dgx-h900"
    bad = tmp_path / "sys.csv"
    df.to_csv(bad, index=False)
    with pytest.raises(bench.LlmPublishedError, match=r"sys.csv line 5 .*chiplab_system 'dgx-h900'"):
        bench.load_rows(bad)
    df = pd.read_csv(bench.CSV)
    df.loc[0, "chiplab_model"] = "gpt-5"
    df.to_csv(bad, index=False)
    with pytest.raises(bench.LlmPublishedError, match="chiplab_model 'gpt-5'"):
        bench.load_rows(bad)


def test_server_run_spans_ten_latency_limits(bench):
    """Before: 2000 GPT-J requests arrived in ~40 s, shorter than 2 x the 20 s limit, so an overloaded engine still
    passed and GPT-J Server scored up to +114 %. A Server run now spans SERVER_SPAN_LIMITS limits."""
    df = bench.load_rows()
    gptj = df[(df.chiplab_model == "gpt-j-6b") & (df.scenario == "Server")].iloc[0]
    llama = df[(df.chiplab_model == "llama-2-70b") & (df.scenario == "Server")].iloc[0]
    assert bench.server_requests(gptj, 50.0, 100) == 50 * bench.SERVER_SPAN_LIMITS * 20
    assert bench.server_requests(llama, 50.0, 100) == 50 * bench.SERVER_SPAN_LIMITS * 2
    assert bench.server_requests(llama, 1.0, 2000) == 2000


def test_per_system_medians(bench):
    rows = [{"system": "a", "error_pct": 10.0}, {"system": "a", "error_pct": -30.0}, {"system": "b", "error_pct": 4.0}]
    out = bench.per_system_medians(rows)
    assert out == {"a": {"median_abs_error": 0.2, "worst_abs_error": 0.3, "rows": 2},
                   "b": {"median_abs_error": 0.04, "worst_abs_error": 0.04, "rows": 1}}
