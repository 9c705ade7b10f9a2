"""Rewrites of the emulator's (copied) model so that every matrix op is a module the emulator sees.

* ``nn.MultiheadAttention`` runs its in- and out-projections inside
  ``F.multi_head_attention_forward`` (a torch function: its body runs without the emulator's
  mode, so no layer would see them). Each MHA gets a child ``in_proj`` (an ``nn.Linear`` sharing
  ``in_proj_weight`` / ``in_proj_bias``; the path is ``<mha path>.in_proj``) and a forward written
  in plain ops: in_proj → scaled dot-product attention (fp32, or vector-rounded) → ``out_proj``
  called as a module. Equal to PyTorch's MHA in fp32 (tested). MHAs with ``bias_k``/``bias_v``,
  ``add_zero_attn`` or separate k/v dimensions keep PyTorch's forward and are reported.
* transformers' ``Conv1D`` (GPT-2: ``addmm(bias, x, W)`` with ``W`` of shape (in, out)) becomes
  an ``nn.Linear`` with ``W.T`` under the same path.
"""
from __future__ import annotations

import functools
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


def rewrite(model: nn.Module) -> list[dict]:
    """Rewrite ``model`` (a copy) in place; returns fallbacks for MHAs left to PyTorch."""
    fallbacks = []
    for path, mod in list(model.named_modules()):
        if isinstance(mod, nn.MultiheadAttention):
            if mod.bias_k is not None or mod.add_zero_attn or not mod._qkv_same_embed_dim:
                fallbacks.append({"layer": path, "op": "MultiheadAttention",
                                  "reason": "bias_k/bias_v, add_zero_attn or separate k/v dims are not modelled; "
                                            "whole attention ran on host in fp32"})
                continue
            lin = nn.Linear(mod.embed_dim, 3 * mod.embed_dim, bias=mod.in_proj_bias is not None, device="meta")
            lin.weight = mod.in_proj_weight
            lin.bias = mod.in_proj_bias
            mod.in_proj = lin
            mod.forward = functools.partial(mha_forward, mod)
        elif type(mod).__name__ == "Conv1D" and hasattr(mod, "nf") and getattr(mod, "weight", None) is not None:
            nx, nf = mod.weight.shape
            lin = nn.Linear(nx, nf, bias=mod.bias is not None, device="meta")
            lin.weight = nn.Parameter(mod.weight.detach().t().contiguous())
            if mod.bias is not None:
                lin.bias = nn.Parameter(mod.bias.detach().clone())
            parent, _, name = path.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, name, lin)
    return fallbacks


def _additive(mask: torch.Tensor | None, dtype) -> torch.Tensor | None:
    if mask is None:
        return None
    if mask.dtype == torch.bool:
        return torch.zeros(mask.shape, dtype=dtype, device=mask.device).masked_fill(mask, float("-inf"))
    return mask.to(dtype)


def mha_forward(mha: nn.MultiheadAttention, query, key, value, key_padding_mask=None, need_weights=True,
                attn_mask=None, average_attn_weights=True, is_causal=False):
    """``nn.MultiheadAttention.forward`` in plain ops (eval mode; dropout not applied)."""
    unbatched = query.dim() == 2
    if unbatched:
        query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
        if key_padding_mask is not None:
            key_padding_mask = key_padding_mask.unsqueeze(0)
        bf = False
    else:
        bf = mha.batch_first
    if not bf:                                          # work batch first: (N, L, E)
        query, key, value = query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1)
    n, lq, e = query.shape
    s = key.shape[1]
    h = mha.num_heads
    hd = e // h
    if query is key and key is value:
        q, k, v = mha.in_proj(query).chunk(3, dim=-1)
    elif key is value:
        q = mha.in_proj(query)[..., :e]
        k, v = mha.in_proj(key)[..., e:].chunk(2, dim=-1)
    else:
        q = mha.in_proj(query)[..., :e]
        k = mha.in_proj(key)[..., e:2 * e]
        v = mha.in_proj(value)[..., 2 * e:]
    q, k, v = (t.reshape(n, -1, h, hd).transpose(1, 2) for t in (q, k, v))     # (N, H, L, hd)
    mask = _additive(attn_mask, q.dtype)
    if mask is not None:
        mask = mask.reshape(n, h, lq, s) if mask.dim() == 3 else mask.reshape(1, 1, lq, s)
    elif is_causal:
        mask = torch.full((lq, s), float("-inf"), dtype=q.dtype, device=q.device).triu(1).reshape(1, 1, lq, s)
    kpm = _additive(key_padding_mask, q.dtype)
    if kpm is not None:
        kpm = kpm.reshape(n, 1, 1, s)
        mask = kpm if mask is None else mask + kpm
    scores = torch.matmul(q, k.transpose(-2, -1)) / math.sqrt(hd)
    if mask is not None:
        scores = scores + mask
    weights = F.softmax(scores, dim=-1)
    out = torch.matmul(weights, v).transpose(1, 2).reshape(n, lq, e)
    out = mha.out_proj(out)
    if not bf:
        out = out.transpose(0, 1)
    if unbatched:
        out = out.squeeze(1)
    if not need_weights:
        return out, None
    w = weights.mean(1) if average_attn_weights else weights
    return out, (w.squeeze(0) if unbatched else w)
