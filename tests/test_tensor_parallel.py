"""Megatron tensor parallelism applied to a captured graph (chiplab/system/parallel.py, issue #12 item 2).

A tiny 2-layer Llama-like model (GQA 8/2, the ``llama-gqa`` config of tests/serve/test_llm_configs.py) is captured
once (meta device, no weights) as a prefill of P tokens and as a decode step, then split."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from chiplab.errors import ChiplabError
from chiplab.ir.graph import Graph, OpKind, Role
from chiplab.system import collectives as coll
from chiplab.system.parallel import ParallelError, estimate_parallel, split, tensor_parallel
from chiplab.system.spec import load_system

sys.path.insert(0, str(Path(__file__).parent / "serve"))
from test_llm_configs import CONFIGS, _capture_decode, _capture_prefill  # noqa: E402

P = 16
CFG = CONFIGS["llama-gqa"]          # hidden 256, 2 layers, 8 heads, 2 KV heads, intermediate 512, vocab 1000


@pytest.fixture(scope="module")
def prefill() -> Graph:
    return _capture_prefill(CFG, P)


@pytest.fixture(scope="module")
def decode() -> Graph:
    return _capture_decode(CFG, 24)


def _gemms(g: Graph):
    return [n for n in g.nodes if n.op is OpKind.GEMM]


def _weights(g: Graph, ndim_min: int = 1, ndim_max: int = 9) -> int:
    return sum(t.numel for n in g.nodes for t in n.inputs
               if t.role is Role.WEIGHT and ndim_min <= len(t.shape) <= ndim_max)


@pytest.mark.parametrize("tp", [2])
def test_split_gemm_macs_times_tp_equal_the_unsplit_graph(prefill, tp):
    per_chip, _ = tensor_parallel(prefill, tp)
    pairs = list(zip(_gemms(prefill), _gemms(per_chip)))
    assert len(pairs) == 2 * (3 + 2 + 1 + 3) + 1          # per block Q K V, 2 attention, O, gate up down; LM head
    for full, part in pairs:
        assert part.macs * tp == full.macs, full.name
    assert per_chip.macs * tp == prefill.macs


def test_weights_per_chip_are_a_tp_th_but_norms_replicated(prefill):
    tp = 2
    per_chip, _ = tensor_parallel(prefill, tp)
    # every matrix (Q K V O gate up down, the LM head, the word embedding) is split; 1-D weights (RMSNorm scales,
    # rotary inverse frequencies) are replicated on every chip
    assert _weights(per_chip, 2) * tp == _weights(prefill, 2)
    assert _weights(per_chip, 1, 1) == _weights(prefill, 1, 1) > 0


def test_two_all_reduces_per_block_of_tokens_x_hidden(prefill):
    s = split(prefill, 2)
    hidden = CFG["hidden_size"]
    blocks = [c for c in s.collectives if c.what in ("attention", "mlp")]
    assert s.blocks == CFG["num_hidden_layers"] and len(blocks) == 2 * s.blocks
    assert all(c.kind == "all-reduce" and c.elements == P * hidden and c.group == 2 for c in blocks)
    assert [c.what for c in blocks] == ["attention", "mlp"] * s.blocks
    # Megatron's vocabulary split: an all-reduce after the embedding, an all-gather of the logits
    extra = [(c.kind, c.what, c.elements) for c in s.collectives if c not in blocks]
    assert extra == [("all-reduce", "embedding", P * hidden), ("all-gather", "logits", P * CFG["vocab_size"])]
    assert (s.heads, s.kv_heads) == (8, 2)


def test_collective_times_are_the_alpha_beta_formula(prefill):
    sysm = load_system("dgx-h100")
    e = estimate_parallel(prefill, sysm, 2, precision="bf16")
    a, B, p = sysm.link.latency, sysm.link.bandwidth, 2
    n = P * CFG["hidden_size"] * 2                               # bf16
    for r in e.collectives:
        if r["kind"] == "all-reduce":
            assert r["bytes"] == n
            assert r["time_s"] == pytest.approx(2 * (p - 1) * a + 2 * (p - 1) / p * n / B, rel=1e-12)
        else:
            g = P * CFG["vocab_size"] * 2
            assert r["time_s"] == pytest.approx((p - 1) * a + (p - 1) / p * g / B, rel=1e-12)
    assert e.comm_s == pytest.approx(sum(r["time_s"] for r in e.collectives))
    assert e.latency_s == e.compute_s + e.comm_s
    assert any("exposed" in x for x in e.notes)


def test_tp1_is_the_graph_unchanged(prefill):
    g, cs = tensor_parallel(prefill, 1)
    assert g is prefill and cs == []


def test_decode_splits_the_kv_cache_by_heads(decode):
    per_chip, cs = tensor_parallel(decode, 2)
    assert per_chip.macs * 2 == decode.macs
    # the two KV-cache graph inputs (layers x 1 x kv_heads x L x head_dim) are held half per chip
    kv_full = [t.numel for t in decode.inputs if len(t.shape) == 5]
    kv_chip = [t.numel for t in per_chip.inputs if len(t.shape) == 5]
    assert len(kv_full) == 2 and [k * 2 for k in kv_chip] == kv_full
    assert sum(c.kind == "all-reduce" and c.elements == CFG["hidden_size"] for c in cs) == 2 * 2 + 1


MEDIUM = {"model_type": "llama", "hidden_size": 2048, "intermediate_size": 5632, "num_hidden_layers": 4,
          "num_attention_heads": 32, "num_key_value_heads": 4, "vocab_size": 32000}


@pytest.mark.parametrize("cfg, prompt, tp", [(CFG, P, 2), (MEDIUM, 512, 4)], ids=["tiny-tp2", "medium-tp4"])
def test_cross_check_with_llmcost_on_dgx_h100(cfg, prompt, tp, tmp_path):
    """LlmCost (analytical) and the captured graph model the same Megatron split: per-chip MACs and the block
    all-reduces agree exactly; the step times come from different pricers (LlmCost's roofline vs the GPU class
    model on the per-chip graph) and are only reported."""
    from chiplab.serve.cost import LlmCost
    from chiplab.serve.models import get_model

    d = tmp_path / "cfg"
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    m = get_model(str(d))
    sysm = load_system("dgx-h100")
    prefill, P = _capture_prefill(cfg, prompt), prompt
    cost = LlmCost(m, sysm, tp=tp, precision="bf16")
    w = cost.work(P, P, P * P, 0)                 # the capture's convention: all P logits, the full P x P scores
    per_chip, _ = tensor_parallel(prefill, tp)
    assert w.gemm_macs + w.attn_macs == per_chip.macs
    e = estimate_parallel(prefill, sysm, tp, precision="bf16", algorithm="auto")
    blocks = [r for r in e.collectives if r["what"] in ("attention", "mlp")]
    assert sum(r["bytes"] for r in blocks) == 2 * m.layers * P * m.hidden * 2
    assert sum(r["time_s"] for r in blocks) == pytest.approx(cost.comm_time(P), rel=1e-12)
    ratio = e.latency_s / cost.time(w)
    print(f"step time: captured graph on the GPU model {e.latency_s * 1e6:.1f} us, LlmCost {cost.time(w) * 1e6:.1f} us,"
          f" ratio {ratio:.2f}")
    assert ratio > 0
    # weights per chip: LlmCost's matrices / tp, plus the 1-D weights (norm scales, rotary frequencies) that
    # LlmCost leaves out and every chip of the graph's split holds
    assert e.weight_bytes_chip - _weights(prefill, 1, 1) * 2 == cost.weight_bytes_chip


def test_more_chips_than_kv_heads_replicates_the_kv_projections(prefill):
    """tp=4 > 2 KV heads: each chip computes the one KV head its query heads use (LlmCost's ``kv_shards``), so
    the K/V projections' per-chip N is head_dim, not kv_dim / tp, and the per-chip MACs exceed 1/tp."""
    per_chip, _ = tensor_parallel(prefill, 4)
    k = next(n for n in per_chip.nodes if n.module_path.endswith("layers.0.self_attn.k_proj"))
    q = next(n for n in per_chip.nodes if n.module_path.endswith("layers.0.self_attn.q_proj"))
    assert (k.gemm.N, q.gemm.N) == (32, 256 // 4)
    assert per_chip.macs * 4 > prefill.macs


def test_a_tpu_system_prices_the_same_split_with_the_systolic_model(prefill):
    sysm = load_system("tpu-v4-8")
    chip = sysm.chip()
    assert chip.arch.kind == "npu"               # tpu-v4: the NPU class model (systolic arrays + vector units)
    one = estimate_parallel(prefill, sysm, 1, precision="bf16")
    two = estimate_parallel(prefill, sysm, 2, precision="bf16")
    assert two.estimate.macs * 2 == one.estimate.macs == prefill.macs
    assert one.comm_s == 0 and two.comm_s > 0 and two.chip == chip.name
    assert two.weight_bytes_chip < one.weight_bytes_chip


def test_heads_not_divisible_is_a_one_line_error(prefill):
    with pytest.raises(ParallelError, match="8 attention heads .* not divisible by tp=3") as e:
        tensor_parallel(prefill, 3)
    assert "\n" not in str(e.value)


def test_a_graph_without_the_pattern_is_refused_naming_the_node(prefill):
    import dataclasses

    # the first block's down projection made an activation x activation product: no MLP pattern left
    down = next(n for n in prefill.nodes if n.module_path.endswith("layers.0.mlp.down_proj"))
    nodes = [dataclasses.replace(n, inputs=tuple(dataclasses.replace(t, role=Role.ACTIVATION) for t in n.inputs))
             if n is down else n for n in prefill.nodes]
    with pytest.raises(ChiplabError, match="block 0: no MLP") as e:
        tensor_parallel(Graph("broken", nodes, prefill.inputs, prefill.meta), 2)
    assert "\n" not in str(e.value)


def test_no_attention_is_refused():
    import torch

    from chiplab.capture.torch_export import capture

    g = capture(torch.nn.Sequential(torch.nn.Linear(8, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8)),
                (torch.zeros(2, 8),), name="mlp")
    with pytest.raises(ParallelError, match="no attention"):
        tensor_parallel(g, 2)
    with pytest.raises(ChiplabError, match="tp must be"):
        tensor_parallel(g, 0)


@pytest.mark.parametrize("args, text", [(["--system", "nosuch", "--tp", "2"], "unknown system"),
                                        (["--system", "tpu-v4-8", "--tp", "8"], "--tp 8 is more than the 4 chips")])
def test_cli_errors_are_one_line_before_any_capture(args, text):
    from typer.testing import CliRunner

    from chiplab.cli import app

    r = CliRunner().invoke(app, ["parallel", "llama-7b", *args])
    assert r.exit_code == 2 and text in r.stderr and len(r.stderr.strip().splitlines()) == 1, r.stderr
