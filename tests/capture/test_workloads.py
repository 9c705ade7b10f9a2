import pytest

from chiplab.capture import WorkloadError, list_workloads, load_graph
from chiplab.capture import torch_export


def test_catalog_has_the_issue_workloads():
    names = set(list_workloads())
    assert {"resnet50", "mobilenet_v2", "vit-b16", "bert-base", "bert-large", "gpt2", "gpt2-decode"} <= names


def test_unknown_workload_lists_known_ones():
    with pytest.raises(WorkloadError, match="unknown workload 'resnet51'.*resnet50"):
        load_graph("resnet51")


def test_cache_hit_does_not_re_export(tmp_cache, monkeypatch):
    g1 = load_graph("resnet18", batch=1)

    def boom(*a, **k):
        raise AssertionError("re-exported")

    monkeypatch.setattr(torch_export, "capture", boom)
    g2 = load_graph("resnet18", batch=1)
    assert g2.nodes == g1.nodes and g2.macs == g1.macs
    assert any(tmp_cache.rglob("*.json"))


def test_seq_len_changes_work(tmp_cache):
    a, b = load_graph("bert-base", seq_len=16), load_graph("bert-base", seq_len=32)
    assert b.macs > 2 * a.macs * 0.95 and a.meta["seq_len"] == 16


def test_user_file_factory(tmp_path, tmp_cache):
    f = tmp_path / "mymodel.py"
    f.write_text("import torch\nfrom torch import nn\n"
                 "def build():\n    return nn.Sequential(nn.Linear(8, 16), nn.ReLU()), (torch.randn(4, 8),)\n"
                 "def only_module():\n    return nn.Linear(2, 2)\n")
    g = load_graph(f"{f}:build")
    assert g.macs == 4 * 8 * 16 and g.nodes[0].module_path == "0"
    with pytest.raises(WorkloadError, match="returned only a module"):
        load_graph(f"{f}:only_module")
    with pytest.raises(WorkloadError, match="has no callable 'nope'"):
        load_graph(f"{f}:nope")
    with pytest.raises(WorkloadError, match="no such file"):
        load_graph(f"{tmp_path}/missing.py:build")
