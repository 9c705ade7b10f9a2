"""Bringing your own model: the factory contract, the batch really captured, the cache
keyed by imported sources, stdout hygiene, and the Python API taking an nn.Module."""
import json

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import chiplab
from chiplab.capture import WorkloadError, load_graph
from chiplab.cli import app
from chiplab.errors import ChiplabError

runner = CliRunner()

FIXED = """import torch
from torch import nn
def build():
    print("hello from the model")
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU()), (torch.randn(1, 64),)
def batched(batch: int = 1, seq_len=None):
    return nn.Linear(64, 32), (torch.randn(batch, 64),)
def lying(batch: int = 1):
    return nn.Linear(64, 32), (torch.randn(3, 64),)
def shaped(input_shapes=None):
    (s,) = input_shapes
    return nn.Linear(s[-1], 8), (torch.randn(*s),)
def module_only():
    return nn.Linear(64, 8)
"""


@pytest.fixture()
def model_file(tmp_path, tmp_cache):
    f = tmp_path / "my_model.py"
    f.write_text(FIXED)
    return f


def test_batch_the_factory_cannot_give_is_an_error_not_a_wrong_figure(model_file):
    with pytest.raises(WorkloadError, match=r"--batch 8 was asked but the example inputs have batch 1.*takes no batch"):
        load_graph(f"{model_file}:build", batch=8)
    r = runner.invoke(app, ["estimate", f"{model_file}:build", "--batch", "8", "--json"])
    assert r.exit_code == 2 and "takes no batch argument" in r.output and len(r.output.strip().splitlines()) <= 2


def test_reported_batch_is_the_captured_batch(model_file):
    g1, g8 = load_graph(f"{model_file}:batched", batch=1), load_graph(f"{model_file}:batched", batch=8)
    assert (g1.meta["batch"], g8.meta["batch"]) == (1, 8) and g8.macs == 8 * g1.macs == 8 * 64 * 32
    est = chiplab.estimate(f"{model_file}:batched", "tpu-v1", batch=8)
    assert est.batch == 8
    with pytest.raises(WorkloadError, match="--batch 2 was asked but the example inputs have batch 3"):
        load_graph(f"{model_file}:lying", batch=2)


def test_seq_len_zero_is_rejected(model_file):
    with pytest.raises(ChiplabError, match="seq_len must be >= 1, got 0"):
        load_graph("bert-base", seq_len=0)
    r = runner.invoke(app, ["estimate", "bert-base", "--seq-len", "0"])
    assert r.exit_code == 2 and "seq_len must be >= 1" in r.output


def test_print_in_the_model_does_not_corrupt_json(model_file):
    r = runner.invoke(app, ["estimate", f"{model_file}:build", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)            # stdout is one JSON object and nothing else
    assert d["batch"] == 1 and "hello from the model" in r.stderr


def test_cache_follows_an_imported_helper(tmp_path, tmp_cache):
    (tmp_path / "blocks_h3.py").write_text("from torch import nn\nWIDTH = 16\n"
                                           "def block():\n    return nn.Linear(8, WIDTH)\n")
    f = tmp_path / "net.py"
    f.write_text("import torch\nfrom blocks_h3 import block\n"
                 "def build():\n    return block(), (torch.randn(2, 8),)\n")
    g1 = load_graph(f"{f}:build")
    assert g1.macs == 2 * 8 * 16
    (tmp_path / "blocks_h3.py").write_text("from torch import nn\nWIDTH = 48\n"
                                           "def block():\n    return nn.Linear(8, WIDTH)\n")
    g2 = load_graph(f"{f}:build")
    assert g2.macs == 2 * 8 * 48


def test_input_shapes_for_factories(model_file):
    g = load_graph(f"{model_file}:shaped", input_shapes=[(4, 16)])
    assert g.meta["batch"] == 4 and g.macs == 4 * 16 * 8
    g = load_graph(f"{model_file}:module_only", input_shapes=[(5, 64)])    # random inputs of that shape
    assert g.meta["batch"] == 5 and g.macs == 5 * 64 * 8
    with pytest.raises(WorkloadError, match="returned only a module"):
        load_graph(f"{model_file}:module_only")
    r = runner.invoke(app, ["estimate", f"{model_file}:build", "--input-shape", "3x64", "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["batch"] == 3
    r = runner.invoke(app, ["estimate", f"{model_file}:build", "--input-shape", "3xq"])
    assert r.exit_code == 2 and "--input-shape" in r.output


def test_api_takes_a_module_and_never_dumps_its_repr(model_file):
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 6 * 6, 10))
    est = chiplab.estimate(m, "tpu-v1", inputs=torch.randn(2, 3, 8, 8))
    assert est.batch == 2 and est.macs == 2 * (8 * 6 * 6 * 27 + 288 * 10)
    assert chiplab.estimate(m, "tpu-v1", input_shapes=[(1, 3, 8, 8)]).batch == 1
    with pytest.raises(ChiplabError) as e:
        chiplab.estimate(m, "tpu-v1")
    assert "inputs=" in str(e.value) and "Conv2d(" not in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(ChiplabError, match="batch 4 was asked but the example inputs have batch 2"):
        chiplab.estimate(m, "tpu-v1", inputs=(torch.randn(2, 3, 8, 8),), batch=4)
    # the other reference forms go through the same function
    assert chiplab.estimate(f"{model_file}:batched", "tpu-v1").macs == 64 * 32


def test_regnet_builds_although_meta_init_fails(tmp_cache):
    g = load_graph("regnet_y_400mf")    # torchvision computes its widths with .tolist(): not on meta
    assert g.meta["batch"] == 1 and g.macs > 3e8
