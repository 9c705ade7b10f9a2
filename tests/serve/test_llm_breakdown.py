"""bench/llm_breakdown.py: the per-term split of the MLPerf LLM rows' simulated time (issue #12)."""
import math

import pytest

from chiplab.errors import ChiplabError
from chiplab.serve.cost import LlmCost
from chiplab.serve.models import get_model
from chiplab.system import load_system


@pytest.fixture(scope="module")
def mods(load_script):
    bd = load_script("bench/llm_breakdown.py")
    return bd, bd._bench()


def _check_shares(d):
    time = sum(d[p]["time_share"] for p in ("prefill", "decode"))
    terms = sum(v for p in ("prefill", "decode") for v in d[p]["terms_share"].values())
    assert time == pytest.approx(1.0, abs=2e-3)
    # pp = 1: a step's time is exactly the sum of LlmCost.time's terms, so the terms account for all of it
    assert terms == pytest.approx(1.0, abs=5e-3)
    assert d["compute_share"] + d["memory_share"] + d["comm_share"] + d["launch_share"] == pytest.approx(1.0, abs=5e-3)


def test_offline_row_breakdown_is_the_bench_prediction(mods):
    bd, bench = mods
    row = bench.load_rows().loc[6]                     # v4.0 DGX-H100 GPT-J Offline (4 beams, tp 1)
    d = bd.breakdown_row(bench, row, requests=40)
    assert d["predicted"] == bench.predict(row, 40)    # the recorder prices every step as LlmCost does
    assert d["qps_engine"] is None and d["tp"] == 1 and d["precision"] == "fp8"
    assert d["prefill"]["steps"] > 0 and d["decode"]["steps"] > 0
    assert d["decode"]["mean_batch"] > 1               # beams decode as batch entries
    assert d["comm_share"] == 0.0                      # one chip per engine: no collectives
    _check_shares(d)


def test_server_row_records_the_accepted_search_run(mods):
    bd, bench = mods
    row = bench.load_rows().loc[15]                    # v4.1 DGX-H100 GPT-J Server (samples/s = offered QPS)
    d = bd.breakdown_row(bench, row, requests=40)
    pred = bench.predict(row, 40)
    assert d["predicted"] == pred
    assert d["qps_engine"] is not None and math.isclose(d["qps_engine"] * 8, pred, rel_tol=1e-9)
    _check_shares(d)


def test_decode_step_at_batch_one_is_memory_bound(mods):
    bd, _ = mods
    cost = LlmCost(get_model("llama-2-70b"), load_system("dgx-h100"), tp=2, precision="fp8")
    rec = bd.RecordingCost(cost)
    dt = rec.step_time(1, 1, 500, 500)
    t = rec.tally.t["decode"]
    assert dt == cost.step_time(1, 1, 500, 500)
    assert t["gemm_memory"] > 0 and t["gemm_compute"] == 0 and t["attn_memory"] > 0
    assert sum(t.values()) == pytest.approx(dt)
    assert rec.tally.steps == {"prefill": 0, "decode": 1}


def test_pipeline_parallel_cost_is_refused(mods):
    bd, _ = mods
    cost = LlmCost(get_model("llama-2-70b"), load_system("dgx-h100"), tp=2, pp=2, precision="fp8")
    with pytest.raises(ChiplabError, match="pp 2"):
        bd.RecordingCost(cost)
