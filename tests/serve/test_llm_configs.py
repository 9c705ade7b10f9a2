"""``chiplab serve path/to/config.json``: a transformers config -> LlmConfig, cross-checked against the model
transformers builds from it (meta device, no weights) and against chiplab's captured graph of that model.

Conventions made comparable here (see docs/serving.md, "Your own model"):
* parameters: every matrix parameter of ``AutoModelForCausalLM.from_config`` (ndim >= 2: Linear, Conv1D, Embedding,
  stacked MoE expert tensors); 1-D norm weights and biases and learned *position* embeddings (GPT-2 ``wpe``, OPT
  ``embed_positions``) are left out, as ``LlmConfig.params`` leaves them out; tied embeddings count once.
* MACs: the captured prefill (``use_cache=False``) computes the logits of all P positions and the full P x P score
  matrix (the causal mask is applied to it, nothing is skipped), so it is compared with :func:`step_macs` at
  ``n_out=P, pairs=P*P``; the serving model itself prices a prefill with ``n_out=1`` (only the last position's
  logits are sampled) and ``P(P+1)/2`` causal pairs. The captured decode step with a KV cache of L tokens attends
  to L + 1 keys (the cache and itself): the simulator's ``kv_len`` counts the new token the same way.
"""
from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from chiplab.cli import app
from chiplab.errors import ChiplabError
from chiplab.serve.cost import step_macs
from chiplab.serve.models import get_model

TINY = dict(hidden_size=256, intermediate_size=512, num_hidden_layers=2, num_attention_heads=8,
            num_key_value_heads=2, vocab_size=1000)
CONFIGS = {
    "llama-gqa": {"model_type": "llama", **TINY},                                  # gated, GQA 8/2
    "qwen3-headdim": {"model_type": "qwen3", **TINY, "head_dim": 64},              # 8 x 64 != 256
    "gpt2": {"model_type": "gpt2", "n_embd": 256, "n_layer": 2, "n_head": 8, "vocab_size": 1000,
             "bos_token_id": 0, "eos_token_id": 0},                                 # not gated, tied, Conv1D
    "gptj": {"model_type": "gptj", "n_embd": 256, "n_layer": 2, "n_head": 8, "n_inner": None, "rotary_dim": 16,
             "vocab_size": 1000, "bos_token_id": 0, "eos_token_id": 0},             # n_inner null -> 4 x hidden
    "gemma": {"model_type": "gemma", **TINY, "head_dim": 64},                       # tied, head_dim, GeGLU
    "mixtral": {"model_type": "mixtral", **TINY, "num_local_experts": 4, "num_experts_per_tok": 2},
    "qwen3-moe": {"model_type": "qwen3_moe", **TINY, "moe_intermediate_size": 128, "num_experts": 4,
                  "num_experts_per_tok": 2},
}
POSITION_TABLES = ("wpe", "embed_positions")


def _write(tmp_path, name: str, cfg: dict):
    d = tmp_path / name
    d.mkdir()
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def _hf_model(cfg: dict):
    import transformers as tf

    c = tf.AutoConfig.for_model(**cfg)
    c._attn_implementation = "sdpa"
    with torch.device("meta"):
        return tf.AutoModelForCausalLM.from_config(c).eval()


def _matrix_params(model) -> int:
    return sum(p.numel() for name, p in model.named_parameters()
               if p.dim() >= 2 and not any(t in name for t in POSITION_TABLES))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_params_equal_the_matrices_of_the_model_transformers_builds(tmp_path, name):
    m = get_model(str(_write(tmp_path, name, CONFIGS[name])))
    assert m.params == _matrix_params(_hf_model(CONFIGS[name]))


def _capture_prefill(cfg: dict, prompt: int, **kw):
    from chiplab.capture.torch_export import capture
    from chiplab.capture.workloads import _LogitsOnly

    return capture(_LogitsOnly(_hf_model(cfg)), (torch.zeros(1, prompt, dtype=torch.long),), name="tiny", **kw)


def _capture_decode(cfg: dict, kv_len: int):
    from chiplab.capture.torch_export import capture
    from chiplab.capture.workloads import _DecodeStep

    model = _hf_model(cfg)
    c = model.config
    heads = getattr(c, "num_key_value_heads", None) or c.num_attention_heads
    head_dim = getattr(c, "head_dim", None) or c.hidden_size // c.num_attention_heads
    kv = torch.zeros(c.num_hidden_layers, 1, heads, kv_len, head_dim, device="meta")
    ids = torch.zeros(1, 1, dtype=torch.long, device="meta")
    return capture(_DecodeStep(model), (ids, kv, kv.clone()), name="tiny-decode")


@pytest.mark.parametrize("name", ["llama-gqa", "qwen3-headdim", "gpt2"])
def test_prefill_macs_equal_the_captured_graph(tmp_path, name):
    m, P = get_model(str(_write(tmp_path, name, CONFIGS[name]))), 16
    gemm, attn = step_macs(m, P, P, P * P)       # the capture's convention: all logits, full P x P scores
    assert gemm + attn == _capture_prefill(CONFIGS[name], P).macs


@pytest.mark.parametrize("name", ["llama-gqa", "qwen3-headdim", "gpt2"])
def test_decode_macs_equal_the_captured_graph(tmp_path, name):
    m, L = get_model(str(_write(tmp_path, name, CONFIGS[name]))), 24
    gemm, attn = step_macs(m, 1, 1, L + 1)       # one token, attending to the L cached keys and itself
    assert gemm + attn == _capture_decode(CONFIGS[name], L).macs


def test_moe_prefill_captures_all_but_the_experts(tmp_path):
    """transformers runs Mixtral's experts in its own ``grouped_mm_fallback`` op, which chiplab's capture has no
    cost model for (priced memory-bound with allow_unsupported, no MACs): everything else matches."""
    m, P = get_model(str(_write(tmp_path, "mixtral", CONFIGS["mixtral"]))), 16
    g = _capture_prefill(CONFIGS["mixtral"], P, allow_unsupported=True)
    assert any("grouped_mm" in n for n in g.meta["notes"])
    gemm, attn = step_macs(m, P, P, P * P)
    experts = P * m.layers * m.experts_per_token * m.mlp_params_per_expert
    assert gemm + attn - experts == g.macs


def test_example_configs(tmp_path):
    q = get_model("examples/llm/qwen2.5-7b")
    # Qwen/Qwen2.5-7B model card: "Number of Parameters: 7.61B", "(Non-Embedding): 6.53B" (3 digits: within 0.1 %)
    assert abs(q.params / 7.61e9 - 1) < 1e-3 and abs((q.params - q.embed_params) / 6.53e9 - 1) < 1e-3
    mi = get_model("examples/llm/mistral-7b-v0.1/config.json")
    assert (mi.kv_heads, mi.sliding_window, mi.gated_mlp) == (8, 4096, True)
    q3 = get_model("examples/llm/qwen3-0.6b")
    assert q3.head_dim == 128 and q3.q_dim == 2048 != q3.hidden and q3.tied_embeddings
    # Qwen/Qwen3-0.6B model card: "Number of Parameters: 0.6B", "(Non-Embedding): 0.44B"
    assert round(q3.params / 1e9, 1) == 0.6 and round((q3.params - q3.embed_params) / 1e9, 2) == 0.44


@pytest.mark.parametrize("cfg, text", [
    ({"model_type": "bert", "hidden_size": 256}, "model_type 'bert' is not a decoder-only causal LM"),
    ({"model_type": "llama", **{k: v for k, v in TINY.items() if k != "hidden_size"}}, "field hidden_size"),
    ({"model_type": "gpt2", "n_layer": 2, "n_head": 8, "vocab_size": 1000}, r"hidden_size \(n_embd\)"),
    ({"hidden_size": 256}, "no model_type"),
    ({"model_type": "qwen2_moe", **TINY, "num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 128,
      "shared_expert_intermediate_size": 512}, "shared experts"),
    ({"model_type": "llama", **TINY, "num_key_value_heads": 3}, "does not divide"),
])
def test_bad_configs_are_one_line_errors_naming_the_file(tmp_path, cfg, text):
    d = _write(tmp_path, "bad", cfg)
    with pytest.raises(ChiplabError, match=text) as e:
        get_model(str(d))
    assert "config.json" in str(e.value) and "\n" not in str(e.value)


def test_unreadable_or_missing_files(tmp_path):
    (tmp_path / "x.json").write_text("{not json")
    for path, text in ((tmp_path / "x.json", "not a readable JSON"), (tmp_path / "nothing", "no such config")):
        with pytest.raises(ChiplabError, match=text):
            get_model(str(path))


def test_cli_serves_a_config_directory():
    r = CliRunner().invoke(app, ["serve", "examples/llm/mistral-7b-v0.1", "--system", "dgx-h100", "--tp", "1",
                                 "--qps", "2", "-n", "100", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["model"] == "mistral-7b-v0.1" and d["tokens_per_s"] > 0
    assert any("sliding window of 4096" in n for n in d["model_notes"])
