"""Built-in workloads, built from code (no weights are downloaded), and the one
entry point that turns any workload reference into an IR graph.

``load_graph(ref)`` accepts a built-in name (``resnet50``), ``path/to/file.py:factory``,
an ``.onnx`` file or a SCALE-Sim topology ``.csv``; captures are cached by content.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import hashlib
import importlib.util
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from chiplab.ir import Graph


class WorkloadError(ChiplabError):
    """An unknown workload name, a bad ``file.py:factory`` reference or a factory that misbehaves."""


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    build: Callable[[int, int | None], tuple[nn.Module, tuple]]   # (batch, seq_len) -> (model, inputs)
    default_seq_len: int | None = None


def _tv(name: str, size: int = 224) -> Callable:
    def build(batch: int, seq_len: int | None) -> tuple[nn.Module, tuple]:
        import torchvision

        return getattr(torchvision.models, name)(weights=None).eval(), (torch.randn(batch, 3, size, size),)
    return build


class _LogitsOnly(nn.Module):
    """Wraps a transformers model: token ids in, the main output tensor out, no cache."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out = self.model(input_ids=ids, use_cache=False)
        return out.logits if hasattr(out, "logits") else out.last_hidden_state


class _DecodeStep(nn.Module):
    """One autoregressive decode step: one new token per sequence attends to a KV cache
    of ``seq_len`` earlier tokens (passed in as tensors, one K and one V per layer)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, ids: torch.Tensor, keys: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        from transformers.cache_utils import DynamicCache

        cache = DynamicCache()
        for layer in range(keys.shape[0]):
            cache.update(keys[layer], values[layer], layer)
        return self.model(input_ids=ids, past_key_values=cache, use_cache=True).logits


def _hf(kind: str, size: str = "base") -> Callable:
    def build(batch: int, seq_len: int | None) -> tuple[nn.Module, tuple]:
        import transformers as tf

        if kind == "bert":
            cfg = tf.BertConfig() if size == "base" else tf.BertConfig(hidden_size=1024, num_hidden_layers=24,
                                                                          num_attention_heads=16, intermediate_size=4096)
            cls = tf.BertModel
        elif kind == "gpt2":
            cfg = {"base": tf.GPT2Config(), "xl": tf.GPT2Config(n_embd=1600, n_layer=48, n_head=25)}[size]
            cls = tf.GPT2LMHeadModel
        else:  # llama-7b dimensions (Touvron et al. 2023, Table 2: 4096 dim, 32 heads, 32 layers)
            cfg = tf.LlamaConfig(hidden_size=4096, intermediate_size=11008, num_hidden_layers=32,
                                 num_attention_heads=32, num_key_value_heads=32, vocab_size=32000)
            cls = tf.LlamaForCausalLM
        cfg._attn_implementation = "sdpa"
        model = cls(cfg).eval()
        ids = torch.zeros(batch, seq_len, dtype=torch.long)
        return _LogitsOnly(model), (ids,)
    return build


def _hf_decode(kind: str) -> Callable:
    def build(batch: int, seq_len: int | None) -> tuple[nn.Module, tuple]:
        model, _ = _hf(kind, "base")(batch, 1)
        cfg = model.model.config
        heads = cfg.num_attention_heads if kind == "gpt2" else cfg.num_key_value_heads
        layers = cfg.num_hidden_layers
        head_dim = cfg.hidden_size // cfg.num_attention_heads
        kv = torch.zeros(layers, batch, heads, seq_len, head_dim)
        return _DecodeStep(model.model), (torch.zeros(batch, 1, dtype=torch.long), kv, kv.clone())
    return build


WORKLOADS: dict[str, Workload] = {w.name: w for w in [
    Workload("resnet50", "ResNet-50 (torchvision), 224x224", _tv("resnet50")),
    Workload("resnet18", "ResNet-18 (torchvision), 224x224", _tv("resnet18")),
    Workload("mobilenet_v2", "MobileNetV2 (torchvision), 224x224", _tv("mobilenet_v2")),
    Workload("vit-b16", "ViT-B/16 (torchvision), 224x224", _tv("vit_b_16")),
    Workload("bert-base", "BERT-base encoder (transformers config), --seq-len tokens", _hf("bert", "base"), 128),
    Workload("bert-large", "BERT-large encoder (transformers config), --seq-len tokens", _hf("bert", "large"), 128),
    Workload("gpt2", "GPT-2 small, prefill of --seq-len tokens", _hf("gpt2", "base"), 128),
    Workload("gpt2-decode", "GPT-2 small, one decode step with a KV cache of --seq-len tokens", _hf_decode("gpt2"), 128),
    Workload("gpt2-xl", "GPT-2 XL (1.5B), prefill of --seq-len tokens", _hf("gpt2", "xl"), 128),
    Workload("llama-7b", "Llama-7B-shaped decoder, prefill of --seq-len tokens", _hf("llama"), 128),
    Workload("llama-7b-decode", "Llama-7B-shaped decoder, one decode step, KV cache of --seq-len", _hf_decode("llama"), 128),
]}


def list_workloads() -> dict[str, str]:
    return {w.name: w.description for w in WORKLOADS.values()}


def build(ref: str, *, batch: int = 1, seq_len: int | None = None, device: str = "meta") -> tuple[nn.Module, tuple]:
    """(model, example_inputs) for a built-in name or ``file.py:factory``; on ``device``."""
    if batch < 1:
        raise WorkloadError(f"batch must be >= 1, got {batch}")
    with torch.device(device):
        if ref in WORKLOADS:
            w = WORKLOADS[ref]
            model, inputs = w.build(batch, seq_len or w.default_seq_len)
        elif ":" in ref and ref.split(":", 1)[0].endswith(".py"):
            model, inputs = _from_file(ref, batch)
        else:
            raise WorkloadError(f"unknown workload {ref!r}: use one of {', '.join(WORKLOADS)}, "
                                "path/to/file.py:factory, a .onnx file or a SCALE-Sim .csv")
    return model, inputs


def _from_file(ref: str, batch: int) -> tuple[nn.Module, tuple]:
    path_s, factory = ref.rsplit(":", 1)
    path = Path(path_s)
    if not path.exists():
        raise WorkloadError(f"{ref}: no such file {path}")
    spec = importlib.util.spec_from_file_location(f"chiplab_user_{path.stem}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    fn = getattr(mod, factory, None)
    if fn is None or not callable(fn):
        raise WorkloadError(f"{ref}: {path.name} has no callable {factory!r}")
    out = fn()
    if isinstance(out, nn.Module):
        raise WorkloadError(f"{ref}: {factory}() returned only a module; return (module, example_inputs) so "
                            "chiplab knows the input shapes")
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], nn.Module)):
        raise WorkloadError(f"{ref}: {factory}() must return (nn.Module, example_inputs)")
    model, inputs = out
    return model, inputs if isinstance(inputs, tuple) else (inputs,)


def _key(ref: str, batch: int, seq_len: int | None) -> str:
    import chiplab

    h = hashlib.sha256(f"{ref}|{batch}|{seq_len}|{chiplab.__version__}|{torch.__version__}".encode())
    p = Path(ref.split(":", 1)[0]) if not ref in WORKLOADS else None
    if p is not None and p.exists():
        h.update(p.read_bytes())
    return h.hexdigest()[:24]


def load_graph(ref: str, *, batch: int = 1, seq_len: int | None = None, cache: bool = True) -> Graph:
    """Any workload reference → IR graph (cached by content)."""
    from chiplab.capture import cache as gcache

    suffix = Path(ref).suffix.lower()
    if suffix == ".onnx":
        from chiplab.capture.onnx_import import import_onnx

        return import_onnx(ref, batch=batch)
    if suffix == ".csv":
        from chiplab.capture.scalesim_csv import import_scalesim_csv

        return import_scalesim_csv(ref)
    key = _key(ref, batch, seq_len)
    if cache:
        hit = gcache.get(key)
        if hit is not None:
            return hit
    model, inputs = build(ref, batch=batch, seq_len=seq_len)
    from chiplab.capture.torch_export import capture

    name = ref if ref in WORKLOADS else Path(ref.split(":", 1)[0]).stem
    graph = capture(model, inputs, name=name, batch=batch)
    if seq_len is not None or ref in WORKLOADS and WORKLOADS[ref].default_seq_len:
        graph.meta["seq_len"] = seq_len or WORKLOADS[ref].default_seq_len
    if cache:
        gcache.put(key, graph)
    return graph


def describe(obj: Any) -> str:  # pragma: no cover - convenience for the CLI
    return getattr(obj, "description", str(obj))
