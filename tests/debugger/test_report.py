"""Debugger report: JSON fields, fixes that are checked, repro bundle round trip, bisection."""
import json
import subprocess
import sys

import torch
import torch.nn as nn

from chiplab.debugger import debug
from chiplab.emu.spec import AccumulatorNumerics, MatmulNumerics, NumericsSpec, TensorNumerics, default_numerics

INT8 = default_numerics("int8")
ROOT = str(__import__("pathlib").Path(__file__).resolve().parents[2])


def _seq():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
                         nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(16, 10)).eval()
    for mod in m:
        if isinstance(mod, (nn.Conv2d, nn.Linear)):       # signal-preserving init: output not just bias
            nn.init.kaiming_normal_(mod.weight)
            nn.init.zeros_(mod.bias)
    return m, torch.randn(16, 3, 12, 12)


def test_json_report_fields_and_fix_verified():
    m, x = _seq()
    ov = {"2": INT8.conv.model_copy(update={"accumulator": AccumulatorNumerics(width=16)})}
    rep = debug(m, INT8, x, overrides=ov)
    d = json.loads(rep.to_json())
    assert d["culprits"][0] == "2"
    row = next(r for r in d["layers"] if r["layer"] == "2")
    assert set(row["propagated"]) == {"sqnr_db", "channel_sqnr_db", "cosine", "max_abs_err"} and set(row["isolated"]) == set(row["propagated"])
    fix = d["fixes"][0]
    assert fix["layer"] == "2" and fix["verified"] and fix["fix"] == "32-bit accumulator"
    assert fix["after_db"] > fix["before_db"] + 6 and fix["final_sqnr_db_after"] > fix["final_sqnr_db_before"]


def test_per_tensor_weights_fix_is_per_channel():
    m, x = _seq()
    with torch.no_grad():
        m[2].weight[3] *= 50.0                       # one output channel with huge weights
        m[4].weight[:, 3] /= 50.0
    pt = MatmulNumerics(weight=TensorNumerics(format="int8", granularity="per_tensor"),
                        activation=TensorNumerics(format="int8", symmetric=False))
    n = NumericsSpec(conv=pt, linear=pt)
    rep = debug(m, n, x)
    fix = next(f for f in rep.fixes if f["layer"] == "2")
    assert fix["tried"][0]["fix"] == "per-channel weight scales"
    assert fix["tried"][0]["isolated_db"] > fix["before_db"]


def test_bisection_finds_the_single_layer_with_user_metric():
    m, x = _seq()
    labels = m(x).argmax(1)
    ov = {"4": MatmulNumerics(weight=TensorNumerics(format="int4"), activation=TensorNumerics(format="int4", symmetric=False),
                              accumulator=AccumulatorNumerics(width=12, overflow="wrap"))}
    metric = lambda out: float((out.argmax(1) == labels).float().mean())   # noqa: E731
    rep = debug(m, INT8, x, overrides=ov, metric=metric, fixes=False)
    assert rep.bisection["set"] == ["4"] and rep.culprits[0] == "4"
    assert rep.final["metric"] < 1.0


def test_repro_bundle_reproduces_with_one_command(tmp_path):
    m, x = _seq()
    ov = {"4": INT8.conv.model_copy(update={"accumulator": AccumulatorNumerics(width=14, overflow="saturate")})}
    rep = debug(m, INT8, x, overrides=ov, fixes=False, bundle=str(tmp_path / "b"))
    for f in ("model.pt2", "state_dict.pt", "model.json", "inputs.pt", "chip.yaml", "finding.json"):
        assert (tmp_path / "b" / f).exists(), f
    fac = tmp_path / "fac.py"            # the model is no built-in workload: the user names its factory
    fac.write_text("from tests.debugger.test_report import _seq\ndef make():\n    m, x = _seq()\n    return m, (x,)\n")
    r = subprocess.run([sys.executable, "-m", "chiplab.debugger.repro", str(tmp_path / "b"), "--factory", f"{fac}:make",
                        "--check-export"], capture_output=True, text=True, timeout=120, cwd=ROOT,
                       env={"OMP_NUM_THREADS": "1", "PATH": "", "PYTHONPATH": ROOT})
    assert r.returncode == 0, r.stdout + r.stderr
    assert "reproduced" in r.stdout and rep.culprits[0] in r.stdout


def test_inplace_relu_does_not_corrupt_reference_captures():
    torch.manual_seed(0)
    m = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(inplace=True),
                      nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(inplace=True)).eval()
    rep = debug(m, INT8, torch.randn(2, 3, 8, 8), fixes=False, fold_bn=False)
    for p in ("1", "2", "4"):                      # fp32 vector layers fed fp32 inputs: no error
        assert rep.layer(p)["isolated"]["sqnr_db"] == float("inf"), (p, rep.layer(p))
    assert rep.culprits == []
