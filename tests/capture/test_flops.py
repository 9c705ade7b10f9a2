"""FLOPs of every built-in workload equal torch's FlopCounterMode.

FlopCounterMode counts matrix work only (mm/addmm/bmm/conv/attention, 2 FLOPs per
MAC), so the comparison is against the IR's matrix FLOPs (``Graph.flops``). The
reference runs the same model on the meta device, except GPT-2 prefill, whose
transformers mask helpers call ``.item()`` eagerly: it runs on real CPU tensors, with
eager attention, because on the CPU ``scaled_dot_product_attention`` dispatches to a
flash kernel for which FlopCounterMode has no formula (it would count attention as 0).
"""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from chiplab.capture import build, capture


def _reference(model, inputs):
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        model(*inputs)
    return fc.get_total_flops()


@pytest.mark.parametrize("name,batch,seq", [
    ("resnet50", 2, None), ("resnet18", 1, None), ("mobilenet_v2", 1, None), ("vit-b16", 1, None),
    ("bert-base", 1, 32), ("gpt2-decode", 2, 16),
])
def test_flops_match_flop_counter(name, batch, seq):
    model, inputs = build(name, batch=batch, seq_len=seq)
    g = capture(model, inputs, name=name, batch=batch)
    assert g.flops == _reference(model, inputs) > 0
    assert g.meta["batch"] == batch


def test_gpt2_prefill_flops_match_on_cpu():
    model, inputs = build("gpt2", batch=1, seq_len=16, device="cpu")
    g = capture(model, inputs, name="gpt2")
    model.model.config._attn_implementation = "eager"      # explicit matmuls the counter sees
    assert g.flops == _reference(model, inputs)
    qk = [n for n in g.nodes if n.attrs.get("part") == "qk"]
    assert len(qk) == 12 and qk[0].gemm.batch == 12 and (qk[0].gemm.M, qk[0].gemm.N, qk[0].gemm.K) == (16, 16, 64)
    assert not qk[0].gemm.b_is_weight


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bert-large", "gpt2-xl", "llama-7b", "llama-7b-decode"])
def test_big_models_capture_on_meta_in_bounded_memory(name):
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    model, inputs = build(name, batch=1, seq_len=32)
    g = capture(model, inputs, name=name)
    grown_gb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 2**20
    assert grown_gb < 2.0, f"{name}: capture grew RSS by {grown_gb:.1f} GB"
    params = sum(p.numel() for p in model.parameters())
    assert params > 3e8
    if name.startswith("llama-7b"):
        assert params > 6e9
    # every weight matrix of every linear layer is read once per token: MACs >= params × tokens (minus embeddings)
    assert g.macs > 0.5 * params * (1 if name.endswith("decode") else 32)
