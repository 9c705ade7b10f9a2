"""CLI functions run/debug through typer (registered here the way the lead's app does)."""
import json

import pytest
import typer
from typer.testing import CliRunner

from chiplab.emu.cli import debug_cmd, run_cmd

app = typer.Typer()
app.command("run")(run_cmd)
app.command("debug")(debug_cmd)


def test_run_json():
    r = CliRunner().invoke(app, ["run", "resnet18", "--chip", "int8", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["output"]["shape"] == [1, 1000] and d["vs_fp32"]["sqnr_db"] > 10


@pytest.mark.slow
def test_debug_json_and_bundle(tmp_path):
    r = CliRunner().invoke(app, ["debug", "resnet18", "--chip", "mxfp4", "--json", "--no-fixes",
                                 "--bundle", str(tmp_path / "b")])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert {"culprits", "layers", "bisection", "final"} <= set(d)
    assert all("sqnr_db" in row["isolated"] for row in d["layers"])
    assert (tmp_path / "b" / "chip.yaml").exists()


def test_bad_chip_is_one_line_error():
    r = CliRunner().invoke(app, ["run", "resnet18", "--chip", "no-such-chip"])
    assert r.exit_code == 2 and "chip" in r.output
