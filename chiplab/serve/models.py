"""Decoder-only transformer shapes (no weights), from the published Hugging Face ``config.json`` values.

Each entry cites its config: hidden_size, num_hidden_layers, num_attention_heads,
num_key_value_heads, intermediate_size, vocab_size (and the MoE fields for Mixtral).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from chiplab.errors import ChiplabError


@dataclass(frozen=True)
class LlmConfig:
    name: str
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    intermediate: int
    vocab: int
    gated_mlp: bool = True        # SwiGLU: gate, up, down (3 matrices); else up, down (2)
    experts: int = 1              # MoE experts per layer (1: dense)
    experts_per_token: int = 1
    tied_embeddings: bool = False
    explicit_head_dim: int | None = None   # a config's ``head_dim`` when heads x head_dim != hidden (Qwen3, Gemma)
    sliding_window: int | None = None      # attention window, tokens (noted; attention is priced over the whole context)
    source: str | None = None              # the config.json it came from (None: built in)

    def _checked(self) -> "LlmConfig":
        """Itself, if its sizes make a model (raises ValueError naming the field otherwise)."""
        for f in ("hidden", "layers", "heads", "kv_heads", "intermediate", "vocab", "experts", "experts_per_token"):
            if getattr(self, f) < 1:
                raise ValueError(f"{f} must be >= 1, got {getattr(self, f)}")
        if self.heads % self.kv_heads:
            raise ValueError(f"num_key_value_heads {self.kv_heads} does not divide num_attention_heads {self.heads}")
        if self.explicit_head_dim is None and self.hidden % self.heads:
            raise ValueError(f"num_attention_heads {self.heads} does not divide hidden_size {self.hidden}")
        if self.experts_per_token > self.experts:
            raise ValueError(f"num_experts_per_tok {self.experts_per_token} > experts {self.experts}")
        return self

    @property
    def head_dim(self) -> int:
        return self.explicit_head_dim or self.hidden // self.heads

    @property
    def q_dim(self) -> int:                # width of Q (and of attention's output before O)
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    # parameters, by layer type
    @property
    def attn_params(self) -> int:          # per layer: Q, K, V (hidden -> q/kv dims), O (q dim -> hidden)
        return self.hidden * (2 * self.q_dim + 2 * self.kv_dim)

    @property
    def mlp_params_per_expert(self) -> int:
        return (3 if self.gated_mlp else 2) * self.hidden * self.intermediate

    @property
    def router_params(self) -> int:
        return self.hidden * self.experts if self.experts > 1 else 0

    @property
    def layer_params(self) -> int:
        return self.attn_params + self.experts * self.mlp_params_per_expert + self.router_params

    @property
    def embed_params(self) -> int:
        return self.vocab * self.hidden * (1 if self.tied_embeddings else 2)

    @property
    def params(self) -> int:
        """Matrix parameters (norm weights and biases, < 0.01 %, left out)."""
        return self.layers * self.layer_params + self.embed_params

    @property
    def notes(self) -> list[str]:
        """What the cost model simplifies about this model (printed by ``chiplab serve``)."""
        out = [f"model read from {self.source}"] if self.source else []
        if self.sliding_window:
            out.append(f"{self.name} attends over a sliding window of {self.sliding_window} tokens; attention is priced "
                       f"over the whole context (exact up to {self.sliding_window} tokens, an upper bound beyond)")
        return out

    @property
    def active_mlp_macs_per_token(self) -> int:
        return self.experts_per_token * self.mlp_params_per_expert + self.router_params


# Values from each model's Hugging Face config.json (the repository named beside it).
MODELS: dict[str, LlmConfig] = {
    # meta-llama/Llama-2-70b-hf config.json: 8192, 80, 64, 8, 28672, 32000
    "llama-2-70b": LlmConfig("llama-2-70b", 8192, 80, 64, 8, 28672, 32000),
    # meta-llama/Llama-3.1-8B config.json: 4096, 32, 32, 8, 14336, 128256
    "llama-3.1-8b": LlmConfig("llama-3.1-8b", 4096, 32, 32, 8, 14336, 128256),
    # meta-llama/Llama-3.1-70B config.json: 8192, 80, 64, 8, 28672, 128256
    "llama-3.1-70b": LlmConfig("llama-3.1-70b", 8192, 80, 64, 8, 28672, 128256),
    # EleutherAI/gpt-j-6b config.json: n_embd 4096, n_layer 28, n_head 16 (no GQA), n_inner null -> 4 x 4096,
    # vocab_size 50400; GELU MLP (2 matrices), untied lm_head
    "gpt-j-6b": LlmConfig("gpt-j-6b", 4096, 28, 16, 16, 16384, 50400, gated_mlp=False),
    # mistralai/Mixtral-8x7B-v0.1 config.json: 4096, 32, 32, 8, 14336, 32000, num_local_experts 8,
    # num_experts_per_tok 2
    "mixtral-8x7b": LlmConfig("mixtral-8x7b", 4096, 32, 32, 8, 14336, 32000, experts=8, experts_per_token=2),
}


def get_model(name: "str | LlmConfig") -> LlmConfig:
    """A built-in name, an :class:`LlmConfig`, or a transformers ``config.json`` (or a directory holding one)."""
    if isinstance(name, LlmConfig):
        return name
    if name in MODELS:
        return MODELS[name]
    if name.endswith(".json") or "/" in name or Path(name).exists():
        from chiplab.serve.hf_config import from_hf_config

        return from_hf_config(name)
    raise ChiplabError(f"unknown LLM {name!r} (known: {', '.join(MODELS)}, or a transformers config.json)")
