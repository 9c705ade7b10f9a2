"""``chiplab run --placement`` / ``chiplab debug --placement``: the host parts of a partition run in fp32."""
import json
from pathlib import Path

from typer.testing import CliRunner

from chiplab.capture.workloads import load_graph
from chiplab.cli import app
from chiplab.partition import save_placement

ROOT = Path(__file__).resolve().parents[2]
TINY = "examples/partition/tiny_transformer.py:factory"
CHIP = "examples/partition/int8_no_softmax.yaml"
runner = CliRunner()


def _run(*args):
    r = runner.invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r


def test_run_with_every_matrix_layer_on_the_host_is_fp32_and_all_acc_is_plain_run(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    g = load_graph(TINY, batch=2)
    host = save_placement(tmp_path / "host.yaml", {n.name: "host" if n.op.is_matrix else "acc" for n in g.nodes})
    acc = save_placement(tmp_path / "acc.yaml", {n.name: "acc" for n in g.nodes})
    args = ("run", TINY, "--chip", CHIP, "--batch", "2", "--json")
    on_host = json.loads(_run(*args, "--placement", str(host)).stdout)
    assert on_host["vs_fp32"]["max_abs_err"] == 0.0
    assert any("9 modules on the host" in w for w in on_host["warnings"])
    plain = json.loads(_run(*args).stdout)
    all_acc = json.loads(_run(*args, "--placement", str(acc)).stdout)
    assert plain["vs_fp32"]["max_abs_err"] > 0
    assert all_acc["vs_fp32"] == plain["vs_fp32"] and all_acc["output"] == plain["output"]


def test_debug_takes_a_placement(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    g = load_graph(TINY, batch=2)
    host = save_placement(tmp_path / "host.yaml", {n.name: "host" if n.op.is_matrix else "acc" for n in g.nodes})
    r = _run("debug", TINY, "--chip", CHIP, "--batch", "2", "--no-fixes", "--json", "--placement", str(host))
    assert "modules on the host" in r.stdout


def test_a_bad_placement_file_is_one_line(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT)
    bad = tmp_path / "bad.yaml"
    bad.write_text("nope: host\n")
    r = runner.invoke(app, ["run", TINY, "--chip", CHIP, "--placement", str(bad)])
    assert r.exit_code == 2 and "unknown node 'nope'" in r.output and "Traceback" not in r.output
