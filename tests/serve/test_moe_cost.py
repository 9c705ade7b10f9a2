"""MoE pricing in chiplab.serve.cost (issue #12, Mixtral over-prediction): hand-computed expected values.

Mixtral-8x7B shapes (models.py): hidden 4096, intermediate 14336, 32 layers, 32 heads / 8 KV heads,
8 experts, top-2, vocab 32000.
"""
from __future__ import annotations

import dataclasses

import pytest

from chiplab.serve.cost import LlmCost
from chiplab.serve.models import MODELS
from chiplab.system import load_system

H100 = load_system("dgx-h100")
MIX = MODELS["mixtral-8x7b"]
# the same shapes as a dense model: one "expert", the MLP activation still over 2 x intermediate
DENSE_TWIN = dataclasses.replace(MIX, name="mixtral-dense-twin", experts=1)


def test_decode_at_large_batch_reads_every_expert_once_and_computes_top2():
    c = LlmCost(MIX, H100, tp=1, precision="fp8")
    w = c.decode(300, batch=896)       # 896 x 2 / 8 = 224 tokens per expert: all 8 hit
    attn = 4096 * (2 * 4096 + 2 * 1024)             # 41,943,040 Q/K/V/O
    expert = 3 * 4096 * 14336                       # 176,160,768 gate/up/down
    router, head = 4096 * 8, 32000 * 4096
    assert w.gemm_bytes == pytest.approx(32 * (attn + 8 * expert + router) + head)     # fp8: 1 B each
    assert w.gemm_macs == pytest.approx(896 * (32 * (attn + 2 * expert + router) + head))
    one = c.decode(300, batch=1)                    # one token: its 2 experts' weights only
    assert one.gemm_bytes == pytest.approx(32 * (attn + 2 * expert + router) + head)


@pytest.mark.parametrize("tp, expected_bytes", [
    # per token and MoE layer, 16-bit: dispatch read + write k*h, combine read k*h + write h
    (1, 2 * (2 * 2 * 4096 + 2 * 4096 + 4096)),        # 57,344 B
    (2, 2 * (2 * 4096 + 4096 + 4096)),                # k*h split over 2 expert-parallel chips: 32,768 B
])
def test_moe_routing_traffic_is_priced(tp, expected_bytes):
    moe = LlmCost(MIX, H100, tp=tp, precision="fp8")
    dense = LlmCost(DENSE_TWIN, H100, tp=tp, precision="fp8")
    ops_m, bytes_m = moe.vector_work(1, 0, 0, layers=1)
    ops_d, bytes_d = dense.vector_work(1, 0, 0, layers=1)
    assert bytes_m - bytes_d == pytest.approx(expected_bytes)
    # router softmax/top-k over 8 logits (5 ops each) + the weighted k-way sum (2 ops per element read)
    assert ops_m - ops_d == pytest.approx(8 * 5 + 2 * 2 * 4096 / tp)


def test_moe_layers_launch_the_moe_runner_kernels():
    moe = LlmCost(MIX, H100, tp=1, precision="fp8")
    dense = LlmCost(DENSE_TWIN, H100, tp=1, precision="fp8")
    assert moe.launch_overhead > 0
    # 10 kernels a dense layer; MoE: router GEMM + 10 runMoe launches replace the MLP's 3 -> 18
    assert moe.decode(100).launch_s == pytest.approx(32 * 18 * moe.launch_overhead)
    assert dense.decode(100).launch_s == pytest.approx(32 * 10 * moe.launch_overhead)


def test_bench_mixtral_prompts_have_the_dataset_mean(load_script):
    """MLPerf's Mixtral set: 427.4 input tokens per sample (bench/llm_vs_published.py cites the
    extraction); prompts up to 1,948 tokens, so a 1,024 clip must not shrink the mean."""
    bench = load_script("bench/llm_vs_published.py")
    df = bench.load_rows()
    row = df[df["chiplab_model"] == "mixtral-8x7b"].iloc[0]
    wl, _, _ = bench._workload(row, 20000, None, 0)
    assert wl.prompts.mean() == pytest.approx(427.4, rel=0.03)
    assert wl.prompts.max() > 1024 and wl.prompts.max() <= 1948
    assert bench.PROMPT_MEAN["llama-2-70b"] == pytest.approx(222.3)   # same extraction, OpenOrca 24,576
