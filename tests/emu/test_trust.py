"""run/debug on bad or odd input: NaN/inf, degenerate references, train mode, fp16, .onnx, bundle
paths, memory, CHIPLAB_DEBUG; run and debug driven through the real app (issue 9)."""
import json

import pytest
import torch
import torch.nn as nn
from typer.testing import CliRunner

from chiplab.cli import app
from chiplab.debugger import debug
from chiplab.emu import emulate
from chiplab.emu.emulator import NonFiniteWarning
from chiplab.errors import ChiplabError

FACTORY = '''
import torch, torch.nn as nn

class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.attn = nn.MultiheadAttention(8, 2, batch_first=True)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        h = self.conv(x).flatten(2).transpose(1, 2)
        a, _ = self.attn(h, h, h, need_weights=False)
        return self.fc((h + a).mean(1))

def make():
    torch.manual_seed(0)
    return Net().eval(), (torch.randn(2, 3, 8, 8),)

def make_half():
    m, (x,) = make()
    return m.half(), (x.half(),)

def make_tiny_out():
    m, x = make()
    with torch.no_grad():
        m.fc.weight.mul_(1e-10); m.fc.bias.zero_()
    return m, x

def make_nan():
    m, (x,) = make()
    x[0, 0, 0, 0] = float("nan")
    return m, (x,)
'''


@pytest.fixture()
def fac(tmp_path):
    p = tmp_path / "fac.py"
    p.write_text(FACTORY)
    return str(p)


def _net():
    ns = {}
    exec(compile(FACTORY, "fac", "exec"), ns)
    return ns


def test_run_and_debug_through_the_app(fac):
    r = CliRunner().invoke(app, ["run", f"{fac}:make", "--chip", "tpu-v1", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["output"]["shape"] == [2, 5] and d["vs_fp32"]["sqnr_db"] > 10 and d["fallbacks"] == []
    r = CliRunner().invoke(app, ["debug", f"{fac}:make", "--chip", "fp8", "--no-fixes"])
    assert r.exit_code == 0, r.output
    assert "final output SQNR" in r.output


def test_nan_input_is_one_line_error_naming_the_input(fac):
    r = CliRunner().invoke(app, ["run", f"{fac}:make_nan", "--chip", "int8"])
    assert r.exit_code == 2 and "inputs[0]" in r.output and "NaN" in r.output and len(r.output.strip().splitlines()) == 1
    x = torch.randn(2, 3)
    x[1, 1] = float("inf")
    with pytest.raises(ChiplabError, match=r"inputs\[0\]: 1 of 6 values are NaN or inf"):
        emulate(nn.Linear(3, 2), "int8", x)


def test_nan_weight_warns_naming_first_layer_and_no_agreement_over_nan():
    m = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 3)).eval()
    with torch.no_grad():
        m[2].weight[0, 0] = float("nan")
    with pytest.warns(NonFiniteWarning, match="layer 2: output holds NaN"):
        res = emulate(m, "int8", torch.randn(3, 4))
    assert res.warnings and "layer 2" in res.warnings[0]
    from chiplab.debugger.metrics import agreement, compare
    assert agreement(m(torch.randn(3, 4)), res.output) is None
    assert "degenerate_reference" in compare(m(torch.randn(3, 4)), res.output)


def test_degenerate_reference_is_reported_not_sqnr_0(fac):
    r = CliRunner().invoke(app, ["run", f"{fac}:make_tiny_out", "--chip", "int8"])
    assert r.exit_code == 0, r.output
    assert "degenerate" in r.output and "near-zero" in r.output and "SQNR 0.0" not in r.output
    m, (x,) = _net()["make_tiny_out"]()
    rep = debug(m, "int8", x, fixes=False)
    assert "near-zero" in rep.final["degenerate_reference"] and "degenerate" in rep.summary()
    from chiplab.debugger.metrics import compare
    assert "constant" in compare(torch.ones(3, 4), torch.ones(3, 4))["degenerate_reference"]


def test_train_mode_and_parameters_are_kept():
    m, (x,) = _net()["make"]()
    m.train()
    m.attn.eval()                       # mixed flags must come back as they were
    before = {k: v.clone() for k, v in m.state_dict().items()}
    emulate(m, "int8", x)
    debug(m, "int8", x, fixes=False)
    assert m.training and m.conv.training and not m.attn.training
    assert all(torch.equal(before[k], v) for k, v in m.state_dict().items())


def test_fp16_model_and_inputs_run(fac):
    r = CliRunner().invoke(app, ["run", f"{fac}:make_half", "--chip", "int8"])
    assert r.exit_code == 0, r.output
    assert "cast to fp32" in r.output and "SQNR" in r.output


def test_onnx_is_one_line_error(tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"not really onnx")
    for cmd in ("run", "debug"):
        r = CliRunner().invoke(app, [cmd, str(p), "--chip", "int8"])
        assert r.exit_code == 2 and "file.py:factory" in r.output and len(r.output.strip().splitlines()) == 1


def test_bundle_path_errors_and_missing_folders(fac, tmp_path):
    f = tmp_path / "afile"
    f.write_text("x")
    r = CliRunner().invoke(app, ["debug", f"{fac}:make", "--chip", "int8", "--no-fixes", "--bundle", str(f)])
    assert r.exit_code == 2 and "existing file" in r.output
    m, (x,) = _net()["make"]()
    with pytest.raises(ChiplabError, match="bundle: cannot create directory"):
        debug(m, "int8", x, fixes=False, bundle=str(f / "sub"))
    deep = tmp_path / "no" / "such" / "dir"
    r = CliRunner().invoke(app, ["debug", f"{fac}:make", "--chip", "int8", "--no-fixes", "--bundle", str(deep)])
    assert r.exit_code == 0, r.output
    assert (deep / "chip.yaml").exists()


def test_too_big_is_one_line_before_allocating(monkeypatch):
    import chiplab.emu.memory as mem
    import chiplab.emu.cli as ecli
    monkeypatch.setattr(mem, "available_bytes", lambda: 2**29)
    devices, real = [], ecli._build
    monkeypatch.setattr(ecli, "_build", lambda name, batch, device: devices.append(device) or real(name, batch, device))
    r = CliRunner().invoke(app, ["run", "resnet18", "--chip", "int8"])
    assert devices == ["meta"]                                  # refused before building it for real
    assert r.exit_code == 2, r.output
    assert "needs about" in r.output and "GiB" in r.output and len(r.output.strip().splitlines()) == 1


def test_chiplab_debug_shows_the_traceback(monkeypatch, tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(b"x")
    monkeypatch.setenv("CHIPLAB_DEBUG", "1")
    r = CliRunner().invoke(app, ["run", str(p), "--chip", "int8"])
    assert isinstance(r.exception, ChiplabError)          # raised, not turned into one line
    monkeypatch.delenv("CHIPLAB_DEBUG")
    r = CliRunner().invoke(app, ["run", str(p), "--chip", "int8"])
    assert r.exit_code == 2 and not isinstance(r.exception, ChiplabError)


def test_fallbacks_are_one_line_per_kind(tmp_path):
    (tmp_path / "lstm.py").write_text(
        "import torch, torch.nn as nn\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a, self.b, self.c, self.d = (nn.Conv1d(4, 4, 1) for _ in range(4))\n"
        "        self.drop = nn.Dropout(0.1)\n"
        "    def forward(self, x):\n"
        "        return self.drop(self.d(self.c(self.b(self.a(x)))))\n"
        "def make():\n"
        "    return M().eval(), (torch.randn(1, 4, 8),)\n")
    r = CliRunner().invoke(app, ["run", f"{tmp_path / 'lstm.py'}:make", "--chip", "int8"])
    assert r.exit_code == 0, r.output
    lines = [l for l in r.output.splitlines() if l.startswith("host fallback")]
    assert lines == ["host fallback: 4 layers (a, b, c, ...) (Conv1d): Conv1d is not an op the emulator models; "
                     "ran on host in fp32"]
