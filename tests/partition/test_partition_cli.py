"""``chiplab partition`` end to end: the custom-op example (default suite), ResNet-50 and BERT-base (slow)."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chiplab.cli import app

ROOT = Path(__file__).resolve().parents[2]
CUSTOM = "examples/partition/custom_op.py:factory"
runner = CliRunner()


def _run(*args):
    r = runner.invoke(app, ["partition", *args])
    return r


def test_custom_op_model_runs_on_host(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)      # a factory importing torch.library, captured from the project root
    save = tmp_path / "optimal.yaml"
    r = _run(CUSTOM, "--chip", "tpu-v1", "--host", "xeon-e5-2699v3", "--allow-unsupported", "--json",
             "--save-placement", str(save))
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert set(d["policies"]) == {"greedy", "min-block", "optimal"}
    [(node, why)] = d["host_only"].items()
    assert "lut_activation" in why["reason"]
    for name, p in d["policies"].items():
        dev = {row["node"]: row["device"] for row in p["placement"]}
        assert dev[node] == "host", name
        assert p["cuts"] >= 2 and p["bytes_moved"] > 0
        assert p["latency_s"] == pytest.approx(p["host_busy_s"] + p["acc_busy_s"] + p["link_busy_s"])
        assert p["pipelined_throughput_per_s"] >= p["throughput_per_s"]
        assert p["single_stream_latency_s"] == pytest.approx(p["latency_s"])
        assert p["throughput_per_s"] * (1 - 1e-9) <= p["offline_throughput_per_s"]
        assert p["offline_throughput_per_s"] <= p["pipelined_throughput_per_s"] * (1 + 1e-9)
    opt = d["policies"]["optimal"]["latency_s"]
    assert opt <= min(d["policies"]["greedy"]["latency_s"], d["policies"]["min-block"]["latency_s"]) * (1 + 1e-12)
    # the saved placement prices the same when given back as the user's own
    r2 = _run(CUSTOM, "--chip", "tpu-v1", "--host", "xeon-e5-2699v3", "--allow-unsupported", "--json",
              "--policy", "greedy", "--placement", str(save))
    assert r2.exit_code == 0, r2.output
    d2 = json.loads(r2.stdout)
    assert set(d2["policies"]) == {"greedy", "file"}
    assert d2["policies"]["file"]["latency_s"] == pytest.approx(opt)
    # the table names the three policies side by side
    r3 = _run(CUSTOM, "--chip", "tpu-v1", "--host", "xeon-e5-2699v3", "--allow-unsupported")
    assert r3.exit_code == 0 and all(k in r3.stdout for k in ("greedy", "min-block", "optimal", "lut_activation",
                                                     "SingleStream", "Offline"))


def test_user_errors_are_one_line(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    bad = tmp_path / "p.yaml"
    bad.write_text("nope: acc\n")
    for args, msg in [(["--placement", str(bad)], "unknown node 'nope'"),
                      (["--policy", "fastest"], "--policy"),
                      (["--host", "tpu-v4"], "not cpu")]:
        r = _run(CUSTOM, "--chip", "tpu-v1", "--allow-unsupported", *args)
        assert r.exit_code == 2, r.output
        assert msg in r.output and "Traceback" not in r.output


@pytest.mark.slow
@pytest.mark.parametrize("model,precision", [("resnet50", "int8"), ("resnet50", "fp32"), ("bert-base", "int8")])
def test_big_models_three_policies(model, precision):
    r = _run(model, "--chip", "tpu-v1", "--host", "xeon-e5-2699v3", "-p", precision, "--json")
    assert r.exit_code == 0, r.output
    p = json.loads(r.stdout)["policies"]
    assert p["optimal"]["latency_s"] <= min(p["greedy"]["latency_s"], p["min-block"]["latency_s"]) * (1 + 1e-12)


TINY = "examples/partition/tiny_transformer.py:factory"
NO_SOFTMAX = "examples/partition/int8_no_softmax.yaml"


def test_a_chip_without_softmax_sends_it_to_the_host_with_accuracy_and_latency_per_policy(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = _run(TINY, "--chip", NO_SOFTMAX, "--host", "xeon-e5-2699v3", "--batch", "4", "--numerics", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["chip"] == "int8-no-softmax"
    softmax = {k for k, v in d["host_only"].items() if "softmax" in v["reason"]}
    assert {d["host_only"][k]["layer"] for k in softmax} == {"blocks.0.attn.softmax", "blocks.1.attn.softmax"}
    assert set(d["policies"]) == {"greedy", "min-block", "optimal"}
    greedy = {row["node"]: row["device"] for row in d["policies"]["greedy"]["placement"]}
    assert {k for k, v in greedy.items() if v == "host"} == softmax     # greedy: only what the chip lacks
    for name, p in d["policies"].items():
        a = p["accuracy"]
        assert a["host_modules"] >= 2 and 0 < a["cosine"] <= 1 and a["sqnr_db"] > 0, name
        assert 0 <= a["top1_agreement"] <= 1
        assert p["single_stream_latency_s"] > 0 and p["offline_throughput_per_s"] > 0
    t = _run(TINY, "--chip", NO_SOFTMAX, "--host", "xeon-e5-2699v3", "--numerics")
    assert t.exit_code == 0, t.output
    assert all(k in t.stdout for k in ("SQNR vs fp32", "top-1 agreement", "SingleStream", "blocks.0.attn.softmax"))


def test_numerics_refuses_a_precision_other_than_the_chips(monkeypatch):
    monkeypatch.chdir(ROOT)
    r = _run(TINY, "--chip", NO_SOFTMAX, "--host", "xeon-e5-2699v3", "--numerics", "-p", "fp32")
    assert r.exit_code == 2 and "--numerics" in r.output and "Traceback" not in r.output


@pytest.mark.slow
def test_bert_base_on_a_chip_without_softmax():
    r = _run("bert-base", "--chip", str(ROOT / NO_SOFTMAX), "--host", "xeon-e5-2699v3", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    softmax = {k for k, v in d["host_only"].items() if "softmax" in v["reason"]}
    assert len(softmax) == 12                     # one per encoder layer
    for name, p in d["policies"].items():
        host = {row["node"] for row in p["placement"] if row["device"] == "host"}
        assert softmax <= host, name
        assert p["offline_throughput_per_s"] <= p["pipelined_throughput_per_s"] * (1 + 1e-9)
