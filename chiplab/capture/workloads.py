"""Built-in workloads, built from code (no weights are downloaded), and the one
entry point that turns any workload reference into an IR graph.

``load_graph(ref)`` accepts a built-in name (``resnet50``), ``path/to/file.py:factory``,
an ``.onnx`` file or a SCALE-Sim topology ``.csv``; captures are cached by content.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import contextlib
import hashlib
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from chiplab.capture import user_module
from chiplab.ir import Graph


class WorkloadError(ChiplabError):
    """An unknown workload name, a bad ``file.py:factory`` reference or a factory that misbehaves."""


@dataclass(frozen=True)
class Workload:
    name: str
    description: str
    build: Callable[[int, int | None], tuple[nn.Module, tuple]]   # (batch, seq_len) -> (model, inputs)
    default_seq_len: int | None = None


def _tv(name: str) -> Callable:
    def build(batch: int, seq_len: int | None) -> tuple[nn.Module, tuple]:
        from chiplab.capture.vision import build_vision

        model, inputs, notes = build_vision(name, batch)
        if notes:
            model.chiplab_notes = notes      # read by load_graph into graph.meta["notes"]
        return model, inputs
    return build


def build_torchvision(name: str, *, batch: int = 1, device: str = "meta") -> tuple[nn.Module, tuple]:
    """Any torchvision model by name (weights=None), with its default input size (see capture/vision.py)."""
    return _on_device(lambda: _tv(name)(batch, None), device, name)


def _on_device(fn: Callable[[], Any], device: str, what: str) -> Any:
    """Run a model factory under ``torch.device(device)``. A model that cannot be built on
    ``meta`` (its ``__init__`` reads tensor data, e.g. torchvision's RegNet computes its
    widths with ``.tolist()``) is rebuilt on the CPU with real (random) weights."""
    try:
        with torch.device(device):
            return fn()
    except (NotImplementedError, RuntimeError) as e:
        if device != "meta" or "meta" not in str(e):
            raise
    with torch.device("cpu"):
        return fn()


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


def _torchvision_name(ref: str) -> str | None:
    """``torchvision:NAME`` (any torchvision model) or a bare torchvision classifier name."""
    if ref.startswith("torchvision:"):
        return ref.split(":", 1)[1]
    if ref.replace("_", "").isalnum():
        import torchvision

        if ref in torchvision.models.list_models(module=torchvision.models):
            return ref
    return None


def _check_common(batch: int | None, seq_len: int | None) -> None:
    if batch is not None and batch < 1:
        raise WorkloadError(f"batch must be >= 1, got {batch}")
    if seq_len is not None and seq_len < 1:
        raise WorkloadError(f"seq_len must be >= 1, got {seq_len}")


def build(ref: str, *, batch: int = 1, seq_len: int | None = None, device: str = "meta",
          input_shapes: Sequence[Sequence[int]] | None = None) -> tuple[nn.Module, tuple]:
    """(model, example_inputs) for a built-in name, a torchvision model or ``file.py:factory``.

    Built on ``device`` (``meta`` by default: shapes only, no weight memory); a model
    that cannot be built on ``meta`` is built on the CPU instead. Anything the model
    prints while it is built goes to stderr, so ``--json`` output stays one object.
    """
    _check_common(batch, seq_len)
    with contextlib.redirect_stdout(sys.stderr):
        if ref in WORKLOADS:
            w = WORKLOADS[ref]
            if input_shapes:
                raise WorkloadError(f"{ref}: --input-shape applies to file.py:factory workloads, not built-ins")
            return _on_device(lambda: w.build(batch, seq_len or w.default_seq_len), device, ref)
        if ":" in ref and ref.split(":", 1)[0].endswith(".py"):
            fn = _factory(ref)
            return _call_factory(ref, fn, batch, seq_len, input_shapes, device)
        tv = _torchvision_name(ref)
        if tv is not None:
            return build_torchvision(tv, batch=batch, device=device)
    raise WorkloadError(f"unknown workload {ref!r}: use one of {', '.join(WORKLOADS)}, a torchvision model name "
                        "(torchvision:NAME), path/to/file.py:factory, a .onnx file or a SCALE-Sim .csv")


def _factory(ref: str) -> Callable:
    path_s, factory = ref.rsplit(":", 1)
    path = Path(path_s)
    if not path.exists():
        raise WorkloadError(f"{ref}: no such file {path}")
    try:
        mod = user_module.load(path)
    except Exception as e:      # the user's file failed to import: one line, not a traceback
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise WorkloadError(f"{ref}: importing {path.name} failed: {type(e).__name__}: {first}") from e
    fn = getattr(mod, factory, None)
    if fn is None or not callable(fn):
        raise WorkloadError(f"{ref}: {path.name} has no callable {factory!r}")
    return fn


def _call_factory(ref: str, fn: Callable, batch: int, seq_len: int | None,
                  input_shapes: Sequence[Sequence[int]] | None, device: str) -> tuple[nn.Module, tuple]:
    """Call ``fn`` with the arguments its signature takes (see docs/capture.md: the factory contract)."""
    factory = ref.rsplit(":", 1)[1]
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        params = {}
    var_kw = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    kwargs: dict[str, Any] = {}
    if "batch" in params or var_kw:
        kwargs["batch"] = batch
    if seq_len is not None:
        if not ("seq_len" in params or var_kw):
            raise WorkloadError(f"{ref}: --seq-len {seq_len} was given but {factory}() takes no seq_len argument")
        kwargs["seq_len"] = seq_len
    if input_shapes and ("input_shapes" in params or var_kw):
        kwargs["input_shapes"] = [tuple(s) for s in input_shapes]
    out = _on_device(lambda: fn(**kwargs), device, ref)
    if isinstance(out, nn.Module):
        if not input_shapes:
            raise WorkloadError(f"{ref}: {factory}() returned only a module; return (module, example_inputs) or "
                                "give --input-shape so chiplab knows the input shapes")
        out = (out, None)
    if not (isinstance(out, tuple) and len(out) == 2 and isinstance(out[0], nn.Module)):
        raise WorkloadError(f"{ref}: {factory}() must return (nn.Module, example_inputs), "
                            f"got {type(out).__name__}")
    model, inputs = out
    if input_shapes and "input_shapes" not in kwargs:     # the factory cannot take shapes: random inputs of them
        dev = next((p.device for p in model.parameters()), torch.device(device))
        inputs = tuple(torch.randn(*s, device=dev) for s in input_shapes)
    inputs = inputs if isinstance(inputs, tuple) else (inputs,)
    got = leading_batch(inputs)
    if got is not None and batch != got and (batch != 1 or "batch" in kwargs):
        how = "" if "batch" in kwargs else f"; {factory}() takes no batch argument"
        raise WorkloadError(f"{ref}: --batch {batch} was asked but the example inputs have batch {got} "
                            f"(leading dim of the first input){how}")
    return model, inputs


def leading_batch(inputs: tuple) -> int | None:
    """The batch a captured graph really has: the leading dim of its first tensor input."""
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.dim() > 0:
            return int(x.shape[0])
    return None


def _key(ref: str, batch: int, seq_len: int | None, input_shapes: Sequence[Sequence[int]] | None) -> str:
    """Cache key: the reference, its arguments, the source of chiplab's capture code, torch's
    version and, for ``file.py:factory``, every project source file the factory's module
    imports (so editing an imported helper invalidates the entry)."""
    h = hashlib.sha256(f"{ref}|{batch}|{seq_len}|{input_shapes}|{torch.__version__}".encode())
    h.update(user_module.capture_code_digest().encode())
    path = Path(ref.rsplit(":", 1)[0]) if ":" in ref and ref.split(":", 1)[0].endswith(".py") else None
    if path is not None and path.exists():
        for f in user_module.source_files(path):
            h.update(str(f).encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:24]


def load_graph(ref: str, *, batch: int = 1, seq_len: int | None = None, cache: bool = True,
               input_shapes: Sequence[Sequence[int]] | None = None, allow_unsupported: bool = False) -> Graph:
    """Any workload reference → IR graph (cached by content)."""
    from chiplab.capture import cache as gcache

    _check_common(batch, seq_len)
    suffix = Path(ref).suffix.lower()
    if suffix == ".onnx":
        from chiplab.capture.onnx_import import import_onnx

        return import_onnx(ref, batch=batch)
    if suffix == ".csv":
        from chiplab.capture.scalesim_csv import import_scalesim_csv

        return import_scalesim_csv(ref)
    key = _key(ref, batch, seq_len, input_shapes) + ("u" if allow_unsupported else "")
    if cache:
        hit = gcache.get(key)
        if hit is not None:
            return hit
    model, inputs = build(ref, batch=batch, seq_len=seq_len, input_shapes=input_shapes)
    from chiplab.capture.torch_export import capture

    name = ref if ref in WORKLOADS else Path(ref.split(":", 1)[0]).stem if ref.endswith(".py") or ".py:" in ref \
        else ref.removeprefix("torchvision:")
    with contextlib.redirect_stdout(sys.stderr):
        graph = capture(model, inputs, name=name, allow_unsupported=allow_unsupported)
    notes = getattr(model, "chiplab_notes", None)
    if notes:
        graph.meta["notes"] = [*graph.meta.get("notes", []), *notes]
    if seq_len is not None or ref in WORKLOADS and WORKLOADS[ref].default_seq_len:
        graph.meta["seq_len"] = seq_len or WORKLOADS[ref].default_seq_len
    if cache:
        gcache.put(key, graph)
    return graph


def describe(obj: Any) -> str:  # pragma: no cover - convenience for the CLI
    return getattr(obj, "description", str(obj))
