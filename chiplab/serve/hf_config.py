"""A transformers causal-LM ``config.json`` -> :class:`LlmConfig` (``chiplab serve path/to/config.json``).

Read offline with ``transformers.AutoConfig`` (no hub, no weights). The fields, by family:

* width, depth, heads: ``hidden_size``, ``num_hidden_layers``, ``num_attention_heads`` (GPT-2/GPT-J's
  ``n_embd``, ``n_layer``, ``n_head`` through the config's ``attribute_map``); ``num_key_value_heads``
  (absent or null: no GQA, = heads); ``vocab_size``; ``tie_word_embeddings`` as the config class resolves it.
* MLP width: ``intermediate_size`` (``moe_intermediate_size`` for Qwen-MoE experts, ``ffn_dim`` for OPT,
  ``n_inner`` for GPT-2/GPT-J, where null means 4 x hidden as in transformers' models).
* gated MLP (SwiGLU/GeGLU: gate, up, down) by ``model_type``: :data:`GATED` yes, :data:`PLAIN` no (2 matrices).
  Any other ``model_type`` (BERT, T5, ...) is refused: chiplab models decoder-only causal LMs of known layout.
* ``head_dim``: the config's (resolved) value when heads x head_dim != hidden (Qwen3, Gemma).
* MoE: ``num_local_experts`` (Mixtral) or ``num_experts`` (Qwen-MoE), ``num_experts_per_tok``. Shared experts
  (Qwen2-MoE ``shared_expert_intermediate_size``, DeepSeek ``n_shared_experts``) and dense layers mixed into a
  MoE stack (``mlp_only_layers``, ``decoder_sparse_step`` != 1, ``first_k_dense_replace``) are refused.
* Sliding-window attention (``sliding_window`` set and, where the config has the switch, ``use_sliding_window``
  true; Mistral-7B-v0.1: 4096) is kept on the model and noted: the cost model prices attention over the whole
  context, which is exact while a sequence stays within the window and an upper bound beyond it.
"""
from __future__ import annotations

import json
from pathlib import Path

from chiplab.errors import ChiplabError
from chiplab.serve.models import LlmConfig

GATED = ("llama", "mistral", "qwen2", "qwen3", "mixtral", "gemma", "qwen2_moe", "qwen3_moe")
PLAIN = ("gptj", "gpt2", "opt", "gpt_neox")
MOE = ("mixtral", "qwen2_moe", "qwen3_moe")


def _config_file(path: str) -> Path:
    p = Path(path)
    if p.is_dir():
        p = p / "config.json"
    if not p.is_file():
        raise ChiplabError(f"{path}: no such config file (give a transformers config.json or a directory holding one)")
    return p


def _name(p: Path) -> str:
    return p.parent.name if p.name == "config.json" and p.parent.name else p.stem


def from_hf_config(path: str) -> LlmConfig:
    """Map a transformers causal-LM config to :class:`LlmConfig`; errors name the file and the field."""
    p = _config_file(path)
    try:
        raw = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ChiplabError(f"{p}: not a readable JSON config ({type(e).__name__}: {str(e).splitlines()[0]})") from None
    if not isinstance(raw, dict):
        raise ChiplabError(f"{p}: expected a JSON object (a transformers config), got {type(raw).__name__}")
    mt = raw.get("model_type")
    if not mt:
        raise ChiplabError(f"{p}: no model_type field (is it a transformers config.json?)")
    if mt not in GATED + PLAIN:
        raise ChiplabError(f"{p}: model_type {mt!r} is not a decoder-only causal LM chiplab models "
                           f"(known: {', '.join(GATED + PLAIN)})")
    cfg = _auto_config(p, mt)
    alias = getattr(cfg, "attribute_map", {}) or {}

    def given(field: str) -> bool:
        return raw.get(field) is not None or raw.get(alias.get(field, "")) is not None

    def need(field: str) -> int:
        if not given(field):
            shown = f"{field} ({alias[field]})" if field in alias else field
            raise ChiplabError(f"{p}: model_type {mt} needs field {shown}, which is missing or null")
        return int(getattr(cfg, field))

    hidden, layers, heads, vocab = (need(f) for f in ("hidden_size", "num_hidden_layers", "num_attention_heads",
                                                      "vocab_size"))
    kv_heads = int(getattr(cfg, "num_key_value_heads", None) or heads)
    experts, k = 1, 1
    if mt in MOE:
        _refuse_moe_variants(p, raw)
        experts = need("num_local_experts" if mt == "mixtral" else "num_experts")
        k = need("num_experts_per_tok")
    if mt in ("gpt2", "gptj"):
        inter = int(raw.get("n_inner") or 4 * hidden)       # transformers: n_inner None -> 4 x n_embd
    elif mt == "opt":
        inter = need("ffn_dim")
        if int(getattr(cfg, "word_embed_proj_dim", hidden)) != hidden:
            raise ChiplabError(f"{p}: word_embed_proj_dim != hidden_size (OPT's projected embeddings) is not modelled")
    else:
        inter = need("moe_intermediate_size" if mt in ("qwen2_moe", "qwen3_moe") else "intermediate_size")
    hd = getattr(cfg, "head_dim", None)
    explicit = int(hd) if hd and int(hd) * heads != hidden else None
    window = raw.get("sliding_window") if raw.get("use_sliding_window", True) else None
    tied = bool(getattr(cfg, "tie_word_embeddings", False))
    try:
        return LlmConfig(_name(p), hidden, layers, heads, kv_heads, inter, vocab, gated_mlp=mt in GATED,
                         experts=experts, experts_per_token=k if experts > 1 else 1, tied_embeddings=tied,
                         explicit_head_dim=explicit, sliding_window=int(window) if window else None,
                         source=str(p))._checked()
    except (TypeError, ValueError) as e:
        raise ChiplabError(f"{p}: {e}") from None


def _refuse_moe_variants(p: Path, raw: dict) -> None:
    if raw.get("shared_expert_intermediate_size") or raw.get("n_shared_experts"):
        raise ChiplabError(f"{p}: shared experts (shared_expert_intermediate_size / n_shared_experts) are not modelled")
    if raw.get("mlp_only_layers") or raw.get("decoder_sparse_step", 1) != 1 or raw.get("first_k_dense_replace"):
        raise ChiplabError(f"{p}: dense layers mixed into the MoE stack (mlp_only_layers / decoder_sparse_step / "
                           "first_k_dense_replace) are not modelled")


def _auto_config(p: Path, mt: str):
    """``AutoConfig`` on the local file itself (``local_files_only``: no hub look-up, no process-wide env change)."""
    import transformers

    try:
        return transformers.AutoConfig.from_pretrained(str(p), local_files_only=True)
    except Exception as e:       # transformers raises ValueError/KeyError/OSError: the user needs one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ChiplabError(f"{p}: transformers could not read it as a {mt} config ({type(e).__name__}: {first[:200]})") \
            from None
