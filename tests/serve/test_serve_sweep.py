"""TP x batch x precision sweep: Pareto front of tokens/s/chip vs TPOT (issue #12, item 6)."""
import json
import time

import pytest
from typer.testing import CliRunner

from chiplab.cli import app
from chiplab.serve.cost import LlmCost
from chiplab.serve.models import MODELS
from chiplab.serve.sweep import pareto, steady_step, sweep
from chiplab.system import load_system


@pytest.fixture(scope="module")
def h100_70b():
    t0 = time.perf_counter()
    out = sweep("llama-2-70b", "dgx-h100")
    return out, time.perf_counter() - t0


def _dominated(r, rows):
    return any(s is not r and s["tokens_per_s_per_chip"] >= r["tokens_per_s_per_chip"] and s["tpot_s"] <= r["tpot_s"]
               and (s["tokens_per_s_per_chip"] > r["tokens_per_s_per_chip"] or s["tpot_s"] < r["tpot_s"])
               for s in rows)


def test_front_is_exactly_the_non_dominated_rows_by_brute_force(h100_70b):
    out, seconds = h100_70b
    fits = [r for r in out["rows"] if r["oom"] is None]
    brute = [r for r in fits if not _dominated(r, fits)]
    assert len(brute) >= 3
    assert sorted(map(id, brute)) == sorted(map(id, out["front"]))
    assert all(r["pareto"] == (r in brute) for r in out["rows"])
    assert seconds < 5                                                     # "in seconds"


def test_oom_rows_are_marked_and_left_off_the_front(h100_70b):
    out, _ = h100_70b
    oom = [r for r in out["rows"] if r["oom"]]
    assert {r["oom"] for r in oom} == {"weights", "kv"}
    assert all(r["tpot_s"] is None and not r["pareto"] for r in oom)
    # tp=1 bf16: 138 GB of weights on one 80 GiB chip
    assert all(r["oom"] == "weights" for r in out["rows"] if r["tp"] == 1 and r["precision"] == "bf16")
    # a kv OOM is a batch whose B x (prompt + output) tokens exceed the cache beside the weights
    r = next(r for r in oom if r["oom"] == "kv")
    c = LlmCost(MODELS["llama-2-70b"], load_system("dgx-h100"), tp=r["tp"], precision=r["activations"],
                weights=r["weights"], kv=r["kv"])
    assert r["batch"] * (out["prompt_mean"] + out["output_mean"]) > c.kv_capacity_tokens


def test_tp8_has_lower_tpot_than_tp1_where_tp1_fits(h100_70b):
    out, _ = h100_70b
    def key(r):
        return r["precision"], r["batch"]

    tp1 = {key(r): r for r in out["rows"] if r["tp"] == 1 and r["oom"] is None}
    tp8 = {key(r): r for r in out["rows"] if r["tp"] == 8 and r["oom"] is None}
    both = tp1.keys() & tp8.keys()
    assert both
    assert all(tp8[k]["tpot_s"] < tp1[k]["tpot_s"] for k in both)


def test_rows_are_the_cost_models_steady_step():
    out = sweep("llama-3.1-8b", "dgx-h100", batches=(4,))
    r = next(r for r in out["rows"] if r["tp"] == 2 and r["precision"] == "fp8")
    c = LlmCost(MODELS["llama-3.1-8b"], load_system("dgx-h100"), tp=2, precision="fp8")
    P, O = out["prompt_mean"], out["output_mean"]
    t = c.step_time(4 + 4 / O * P, 4, 4 * (P + O / 2) + 4 / O * P * (P + 1) / 2, 4 * (P + O / 2))
    assert r["tpot_s"] == pytest.approx(t) == pytest.approx(steady_step(c, 4, P, O))
    assert r["tokens_per_s_per_chip"] == pytest.approx(4 / (t * 2)) and r["replicas"] == 4
    assert {r["precision"] for r in out["rows"]} == {"bf16", "fp8", "int8", "int4-w/bf16"}
    a100 = sweep("llama-3.1-8b", "dgx-a100", batches=(1,))
    assert "fp8" not in {r["precision"] for r in a100["rows"]}             # not in the A100's numerics


def test_pareto_keeps_exact_ties_and_drops_dominated():
    rows = [{"tpot_s": 1, "tokens_per_s_per_chip": 5}, {"tpot_s": 1, "tokens_per_s_per_chip": 5},
            {"tpot_s": 2, "tokens_per_s_per_chip": 5}, {"tpot_s": 3, "tokens_per_s_per_chip": 9},
            {"tpot_s": 1, "tokens_per_s_per_chip": 4}]
    assert pareto(rows) == [rows[0], rows[1], rows[3]]


def test_cli_sweep_table_and_json():
    r = CliRunner().invoke(app, ["serve", "llama-2-70b", "--system", "dgx-h100", "--sweep"])
    assert r.exit_code == 0, r.output
    assert "Pareto" in r.output and "tokens/s/chip" in r.output and "out of memory" in r.output
    r = CliRunner().invoke(app, ["serve", "llama-2-70b", "--system", "tpu-v4-8", "--sweep", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["chips"] == 4 and {x["tp"] for x in d["rows"]} == {1, 2, 4}
    assert any(x["pareto"] for x in d["rows"]) and all(x["oom"] == "weights" for x in d["rows"]
                                                       if x["precision"] == "bf16")
