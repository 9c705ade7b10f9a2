"""Fold BatchNorm into the preceding convolution, as inference compilers for these chips do.

Found with torch.fx: a ``Conv2d`` module call whose only user is a ``BatchNorm2d`` module call.
The conv gets ``W' = W * g/sqrt(v+eps)`` (per output channel) and ``b' = (b - m) * g/sqrt(v+eps) + beta``;
the BatchNorm module is replaced by ``nn.Identity`` in the (copied) model. Models that fx cannot
trace are left unfolded (the reason is returned).
"""
from __future__ import annotations

import torch
import torch.nn as nn


def fold_batchnorm(model: nn.Module) -> tuple[list[tuple[str, str]], str | None]:
    """Fold in place (call on a copy). Returns ([(conv_path, bn_path), ...], reason_not_traced)."""
    try:
        gm = torch.fx.symbolic_trace(model)
    except Exception as e:  # noqa: BLE001 - any tracing failure just disables folding
        return [], f"not folded: torch.fx could not trace the model ({type(e).__name__})"
    mods = dict(model.named_modules())
    pairs = []
    for node in gm.graph.nodes:
        if node.op != "call_module" or not isinstance(mods.get(node.target), nn.BatchNorm2d):
            continue
        src = node.args[0] if node.args else None
        if not (isinstance(src, torch.fx.Node) and src.op == "call_module" and isinstance(mods.get(src.target), nn.Conv2d)
                and len(src.users) == 1):
            continue
        conv, bn = mods[src.target], mods[node.target]
        if bn.running_mean is None or not bn.affine:
            continue
        pairs.append((src.target, node.target))
        with torch.no_grad():
            k = bn.weight / torch.sqrt(bn.running_var + bn.eps)
            conv.weight.mul_(k.reshape(-1, 1, 1, 1))
            b = conv.bias if conv.bias is not None else torch.zeros_like(bn.running_mean)
            new_b = (b - bn.running_mean) * k + bn.bias
            conv.bias = nn.Parameter(new_b)
        parent, _, name = node.target.rpartition(".")
        setattr(mods[parent] if parent else model, name, nn.Identity())
    return pairs, None
