"""LLM cost model: parameter counts, tensor-parallel MAC split, KV bytes, capacity errors."""
import pytest

from chiplab.errors import CapacityError, ChiplabError
from chiplab.serve.cost import LlmCost
from chiplab.serve.models import MODELS, get_model
from chiplab.system import load_system

H100 = load_system("dgx-h100")


@pytest.mark.parametrize("name,published", [
    ("llama-2-70b", 68.98e9),     # 68,976,648,192 (HF model card / safetensors total; norms included)
    ("llama-3.1-8b", 8.03e9),     # 8.03B (HF model card)
    ("gpt-j-6b", 6.05e9),         # 6,053,381,344 (EleutherAI model card)
    ("mixtral-8x7b", 46.7e9),     # 46.7B total (Mistral AI, "Mixtral of experts" blog)
])
def test_parameter_counts_match_published(name, published):
    assert get_model(name).params == pytest.approx(published, rel=2e-3)


def test_tensor_parallel_splits_macs_exactly():
    m = MODELS["llama-2-70b"]
    one = LlmCost(m, load_system("dgx-h100"), tp=2)   # tp=1 does not fit; compare splits of the same work
    args = (3000, 7, 1.5e6, 4e5)
    base = one.work(*args)
    for tp in (4, 8):
        w = LlmCost(m, H100, tp=tp).work(*args)
        assert w.gemm_macs * tp == pytest.approx(base.gemm_macs * 2)
        assert w.attn_macs * tp == pytest.approx(base.attn_macs * 2)
        assert w.gemm_bytes * tp == pytest.approx(base.gemm_bytes * 2)


def test_prefill_and_decode_by_hand():
    m = MODELS["llama-3.1-8b"]
    c = LlmCost(m, H100, tp=1)
    h, L = m.hidden, m.layers
    per_tok = L * (h * (2 * h + 2 * 1024) + 3 * h * m.intermediate)      # kv_dim = 8 heads x 128
    w = c.prefill(100)
    assert w.gemm_macs == 100 * per_tok + h * m.vocab
    assert w.attn_macs == 100 * 101 / 2 * 2 * h * L
    d = c.decode(500, batch=4)
    assert d.attn_bytes == (4 * 500 + 4) * 2 * L * 1024 * 2               # KV read + one token written, bf16
    assert d.comm_s == 0.0                                                  # one chip, no links


def test_decode_is_memory_bound_and_tp_adds_comm():
    m = MODELS["llama-2-70b"]
    c = LlmCost(m, H100, tp=8)
    w = c.decode(1000)
    assert w.gemm_bytes / c.bw > w.gemm_macs / c.peak
    assert w.comm_s > 0 and c.replicas == 1
    # two all-reduces per layer: 160 for 80 layers
    from chiplab.system.collectives import all_reduce
    assert w.comm_s == pytest.approx(160 * all_reduce(m.hidden * 2, 8, 450e9, H100.link.latency))


def test_moe_uses_all_to_all_and_touches_only_hit_experts():
    m = MODELS["mixtral-8x7b"]
    c = LlmCost(m, H100, tp=2)
    one_tok = c.decode(100)
    many = c.work(4096, 1, 0, 0)
    assert one_tok.gemm_bytes < many.gemm_bytes       # 2 of 8 experts touched vs all
    # every matrix but the input embedding (a lookup, not a GEMM), bf16, split over 2 chips
    assert many.gemm_bytes == pytest.approx((m.params - m.vocab * m.hidden) * 2 / 2, rel=1e-3)


def test_out_of_memory_is_one_line_naming_chip_and_shortfall():
    with pytest.raises(CapacityError) as e:
        LlmCost(MODELS["llama-2-70b"], H100, tp=1)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("h100-sxm:") and "short by" in msg
    with pytest.raises(CapacityError, match="tpu-v4"):
        LlmCost(MODELS["llama-2-70b"], load_system("tpu-v4-8"), tp=4)   # 138 GB bf16 > 4 x 32 GiB


def test_bad_parallelism_is_refused():
    with pytest.raises(ChiplabError, match="has 8"):
        LlmCost(MODELS["llama-3.1-8b"], H100, tp=8, pp=2)
    with pytest.raises(ChiplabError, match="attention heads"):
        LlmCost(MODELS["llama-3.1-8b"], H100, tp=3)
    with pytest.raises(ChiplabError, match="unknown LLM"):
        get_model("llama-9")


def test_pipeline_splits_weights_and_adds_p2p():
    m = MODELS["llama-2-70b"]
    a, b = LlmCost(m, H100, tp=4), LlmCost(m, H100, tp=4, pp=2)
    assert b.weight_bytes_chip == pytest.approx(a.weight_bytes_chip / 2)
    assert b.comm_time(64) > a.comm_time(64)


def test_vector_work_by_hand():
    m = MODELS["llama-3.1-8b"]
    c = LlmCost(m, H100, tp=1)
    h, L, kv, inter = m.hidden, m.layers, m.kv_dim, m.intermediate
    d = c.decode(500, batch=4)
    # per token and layer, 16-bit elements read + written: 2 norms (h in, h out), 2 residual adds
    # (2h in, h out), rotary on Q and K (in + out), SwiGLU (2 x inter in, inter out)
    per_tok = (2 * 2 * h + 2 * 3 * h + 2 * (h + kv) + 3 * inter) * 2
    assert d.vec_bytes == pytest.approx(4 * L * per_tok + 4 * m.vocab * 2 * 4)      # + fp32 logits in/out
    # ops: norms 4/elt, adds 1, rotary 3, activation 4, softmax 5 per score and head, sampling 5 per logit
    ops_tok = 2 * h * 4 + 2 * h * 1 + (h + kv) * 3 + 2 * inter * 4
    assert d.vec_ops == pytest.approx(4 * L * ops_tok + 4 * 500 * L * m.heads * 5 + 4 * m.vocab * 5)
    # tp splits rotary, activation and softmax but not the (replicated) norms and residual adds
    d2 = LlmCost(m, H100, tp=2).decode(500, batch=4)
    assert d.vec_bytes / 2 < d2.vec_bytes < d.vec_bytes


def test_step_time_adds_vector_work_and_class_launch_overhead():
    m = MODELS["llama-3.1-8b"]
    c = LlmCost(m, H100, tp=1)
    w = c.decode(500, batch=64)
    assert c.launch_overhead == H100.chip().arch.launch_overhead > 0       # the GPU class knob
    assert w.launch_s == pytest.approx(m.layers * 10 * c.launch_overhead)
    base = max(w.gemm_macs / c.peak, w.gemm_bytes / c.bw) + max(w.attn_macs / c.peak, w.attn_bytes / c.bw)
    vec = max(w.vec_ops / c.vector_rate, w.vec_bytes / c.bw)
    assert vec > 0 and c.time(w) == pytest.approx(base + vec + w.launch_s)
    # a chip with a larger launch overhead pays it per kernel
    chip = H100.chip()
    slow = chip.model_copy(update={"arch": chip.arch.model_copy(update={"launch_overhead": 2 * chip.arch.launch_overhead})})
    w2 = LlmCost(m, H100, tp=1, chip=slow).decode(500, batch=64)
    assert w2.launch_s == pytest.approx(2 * w.launch_s)


def test_cost_uses_the_class_efficiency_knobs():
    chip = H100.chip()
    c = LlmCost(MODELS["llama-3.1-8b"], H100, tp=1, precision="fp8")
    assert c.peak == pytest.approx(chip.peak_macs_per_s("fp8") * chip.arch.tensor_efficiency)
    assert c.bw == pytest.approx(chip.memory.dram_bandwidth * chip.arch.dram_efficiency)
    assert chip.arch.tensor_efficiency < 1 and chip.arch.dram_efficiency < 1
