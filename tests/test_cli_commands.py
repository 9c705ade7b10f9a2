"""The command line, end to end (capture cached per test session)."""
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from chiplab.cli import app

PEERS = Path(__file__).resolve().parent / "data" / "scalesim"   # copies of public SCALE-Sim inputs (data/README.md)
runner = CliRunner()


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    mp.setenv("CHIPLAB_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


def test_estimate_json_has_the_promised_fields():
    r = runner.invoke(app, ["estimate", "resnet18", "--chip", "tpu-v1", "--batch", "2", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("name", "op", "macs", "cycles", "latency_s", "energy_j", "bound"):
        assert k in d["layers"][0]
    for k in ("cycles", "latency_s", "energy_j", "macs", "utilization", "throughput_per_s", "power_w"):
        assert k in d["total"]
    assert d["total"]["macs"] == sum(l["macs"] for l in d["layers"]) > 3e9
    assert d["batch"] == 2 and 0 < d["total"]["utilization"] <= 1
    assert any(l["name"] == "layer1.0.conv1" for l in d["layers"])


def test_estimate_table_and_csv(tmp_path):
    csv = tmp_path / "l.csv"
    r = runner.invoke(app, ["estimate", "resnet18", "--chip", "systolic-32", "--csv", str(csv)])
    assert r.exit_code == 0, r.output
    assert "TOTAL" in r.stdout and csv.read_text().startswith("name,")


def test_compare_json_and_csv(tmp_path):
    csv = tmp_path / "c.csv"
    r = runner.invoke(app, ["compare", "resnet18", "--chips", "tpu-v1,systolic-128,systolic-32", "--json",
                            "--csv", str(csv)])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert [c["chip"] for c in d["chips"]] == ["tpu-v1", "systolic-128", "systolic-32"]
    assert all(c["latency_s"] > 0 and c["energy_per_inference_j"] > 0 for c in d["chips"])
    assert len(csv.read_text().splitlines()) == 4


@pytest.mark.parametrize("args,msg", [
    (["estimate", "resnet18", "--chip", "nope"], "unknown chip 'nope'"),
    (["estimate", "resnet51", "--chip", "tpu-v1"], "unknown workload 'resnet51'"),
    (["estimate", "resnet18", "--chip", "tpu-v1", "--precision", "fp8"], "no fp8 support"),
    (["estimate", "resnet18", "--compat", "zigzag"], "--compat"),
    (["compare", "resnet18", "--chips", "tpu-v1,nope"], "unknown chip 'nope'"),
    (["compare", "resnet18", "--chips", "tpu-v1", "--precision", "fp7"], "--precision: unknown 'fp7'"),
])
def test_bad_input_is_one_line_exit_2(args, msg):
    r = runner.invoke(app, args)
    assert r.exit_code == 2
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and msg in lines[0] and "Traceback" not in r.output


def test_malformed_chip_file_names_the_field(tmp_path):
    p = tmp_path / "chip.yaml"
    p.write_text((Path(__file__).parents[1] / "chiplab/hw/presets/systolic-32.yaml").read_text()
                 .replace("dataflow:", "dataflw:"))
    r = runner.invoke(app, ["estimate", "resnet18", "--chip", str(p)])
    assert r.exit_code == 2 and "arch.dataflw: unknown key (did you mean 'dataflow'?)" in r.stderr


def test_scalesim_topology_and_cfg_compat():
    r = runner.invoke(app, ["estimate", str(PEERS / "gemm_256x128x256.csv"), "--chip", str(PEERS / "ss_32_os.cfg"),
                            "--compat", "scalesim", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    gemm = next(l for l in d["layers"] if l["op"] == "gemm")
    # SCALE-Sim v3 reports 10,175 cycles for this GEMM on a 32x32 OS array (tests/data/README.md)
    assert gemm["compute_cycles"] == 10175


def test_presets_and_workloads_list():
    r = runner.invoke(app, ["presets"])
    assert r.exit_code == 0 and "tpu-v1" in r.stdout and "invalid" not in r.stdout
    r = runner.invoke(app, ["workloads"])
    assert r.exit_code == 0 and "bert-base" in r.stdout


def test_debug_and_emulate_callable_twice_in_one_process():
    """`chiplab.debug` used to be replaced by the subpackage of the same name on first call."""
    import torch

    import chiplab

    m = torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 4)).eval()
    x = (torch.randn(4, 8),)
    for _ in range(2):
        assert callable(chiplab.debug) and callable(chiplab.emulate)
        chiplab.emulate(m, "int8", x)
        chiplab.debug(m, "int8", x, fixes=False)


# --- errors: a user error is one line, a bug is a traceback
def test_a_bug_shows_its_traceback(monkeypatch):
    import chiplab.cli as cli

    def boom(*a, **k):
        raise RuntimeError("an internal bug")

    monkeypatch.setattr(cli, "_estimate", boom)
    r = runner.invoke(app, ["estimate", "resnet18", "--chip", "tpu-v1"])
    assert isinstance(r.exception, RuntimeError) and r.exit_code == 1   # not swallowed into "error: ..." / exit 2


def test_chiplab_debug_shows_the_traceback_of_a_user_error(monkeypatch):
    from chiplab.hw import ChipFileError

    monkeypatch.setenv("CHIPLAB_DEBUG", "1")
    r = runner.invoke(app, ["estimate", "resnet18", "--chip", "nope"])
    assert isinstance(r.exception, ChipFileError)
    monkeypatch.delenv("CHIPLAB_DEBUG")
    r = runner.invoke(app, ["estimate", "resnet18", "--chip", "nope"])
    assert r.exit_code == 2 and r.exception.__class__ is SystemExit


def test_subsystem_commands_are_listed_and_an_import_failure_is_not_hidden(monkeypatch):
    import chiplab.cli as cli

    r = runner.invoke(app, ["--help"])
    for cmd in ("run", "debug", "measure", "calibrate"):
        assert f" {cmd} " in r.stdout
    monkeypatch.setitem(cli.LAZY_COMMANDS, "measure", ("chiplab.no_such_module", "measure_cmd"))
    r = runner.invoke(app, ["measure", "--help"])
    assert isinstance(r.exception, ModuleNotFoundError)          # before: the command silently vanished


# --- what the tables say
def test_estimate_says_per_batch_and_per_inference():
    r = runner.invoke(app, ["estimate", "resnet18", "--chip", "tpu-v1", "--batch", "2"])
    assert r.exit_code == 0, r.output
    assert "TOTAL (one batch of 2)" in r.stdout
    line = next(l for l in r.stdout.splitlines() if "inferences/s" in l)
    assert "per batch" in line and "power" in line and "per inference" in line


def test_compare_forced_precision_marks_the_chip_that_lacks_it(tmp_path):
    r = runner.invoke(app, ["compare", "resnet18", "--chips", "tpu-v1,eyeriss", "--precision", "int8", "--json"])
    assert r.exit_code == 0, r.output
    rows = {c["chip"]: c for c in json.loads(r.stdout)["chips"]}
    assert rows["tpu-v1"]["latency_s"] > 0 and rows["eyeriss"] == {"chip": "eyeriss", "unsupported": "no int8"}
    r = runner.invoke(app, ["compare", "resnet18", "--chips", "tpu-v1,eyeriss", "--precision", "int8"])
    assert r.exit_code == 0 and "no int8" in r.stdout
    assert "inf/s/$: inferences per second per US dollar" in " ".join(r.stdout.split())


def test_host_is_a_listed_preset():
    r = runner.invoke(app, ["presets"])
    assert any(l.startswith("host ") and "detected" in l for l in r.stdout.splitlines())
    r = runner.invoke(app, ["estimate", "resnet18", "--chip", "nope"])
    assert "host (this machine, detected)" in r.stderr


# --- start-up: commands that need no torch do not import it (fresh interpreter each)
_NO_TORCH = """
import sys
from chiplab.cli import app
try:
    app({args!r}, standalone_mode=False)
except SystemExit:
    pass
print("TORCH" if "torch" in sys.modules else "NO-TORCH")
"""


def _imports_torch(args: list[str]) -> bool:
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", _NO_TORCH.format(args=args)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().splitlines()[-1] == "TORCH"


def test_import_presets_and_scalesim_estimate_do_not_import_torch(tmp_path):
    import subprocess
    import sys

    r = subprocess.run([sys.executable, "-c", "import sys, chiplab; print('torch' in sys.modules)"],
                       capture_output=True, text=True, timeout=120)
    assert r.stdout.strip() == "False", r.stderr
    assert not _imports_torch(["presets"])
    topo, cfg = tmp_path / "t.csv", tmp_path / "x.cfg"
    topo.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                    "c1, 16, 16, 3, 3, 8, 8, 1,\n")
    cfg.write_text("[general]\nrun_name = t\n[architecture_presets]\nArrayHeight: 8\nArrayWidth: 8\nIfmapSramSzkB: 8\n"
                   "FilterSramSzkB: 8\nOfmapSramSzkB: 8\nBandwidth : 4\nDataflow : os\n[run_presets]\n"
                   "InterfaceBandwidth: CALC\n")
    assert not _imports_torch(["estimate", str(topo), "--chip", str(cfg), "--compat", "scalesim", "--json"])
    assert _imports_torch(["workloads"])            # the check can see torch when it is imported


def test_compare_marks_a_chip_the_workload_does_not_fit():
    r = runner.invoke(app, ["compare", "gpt2-decode", "--chips", "h100-sxm,t4", "--batch", "2048", "--seq-len", "1000",
                            "--precision", "int8", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    rows = {c["chip"]: c for c in d["chips"]}
    assert rows["h100-sxm"]["latency_s"] > 0 and rows["t4"]["unsupported"] == "does not fit"
    assert any(s.startswith("t4: gpt2-decode at batch 2048 x 1000 tokens") for s in d["skipped"])


EVERY_COMMAND = {"estimate", "compare", "presets", "workloads", "run", "debug", "measure", "calibrate", "report",
                 "explore", "scenario", "serve", "partition", "parallel"}


def test_every_command_is_registered_and_loads_through_the_real_app():
    """The real `chiplab.cli.app` lists every command and each one imports and parses (--help):
    a subsystem whose import broke would fail here, not vanish from the CLI."""
    import click
    import typer.main

    group = typer.main.get_command(app)
    listed = set(group.list_commands(click.Context(group)))
    assert EVERY_COMMAND <= listed, EVERY_COMMAND - listed
    for cmd in sorted(listed):
        r = runner.invoke(app, [cmd, "--help"])
        assert r.exit_code == 0 and "Usage" in r.stdout, (cmd, r.stdout[-300:], r.stderr[-300:])


def test_explore_through_the_real_app(tmp_path):
    """`chiplab explore` on the tiny space (one GEMM, 30 trials) through chiplab.cli.app: JSON summary,
    chip files that load."""
    import chiplab

    space = Path(__file__).parent / "explore" / "tiny_space.yaml"
    r = runner.invoke(app, ["explore", str(space), "-o", str(tmp_path / "out"), "--storage",
                            str(tmp_path / "study.log"), "--json"])
    assert r.exit_code == 0, r.stderr[-500:]
    summary = json.loads(r.stdout)
    assert summary["pareto"] and summary["chips"]
    assert all(chiplab.load_chip(c).arch.kind == "systolic" for c in summary["chips"])
