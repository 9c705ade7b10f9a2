"""Capturing fixed-function hardware blocks as single graph nodes.

During export each submodule implementing :class:`chiplab.hwblock.HardwareBlock`
is temporarily replaced by a stand-in that calls the opaque custom op
``chiplab::hw_block``. Its fake (meta) implementation returns a tensor of the
shape the real block produced in a first shape-recording pass, so torch.export
sees one op per block instead of the block's internals. The user's model is
restored afterwards.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Any, Iterator

import torch
from torch import nn

from chiplab.hwblock import HardwareBlock

_OUT_SHAPES: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}


@torch.library.custom_op("chiplab::hw_block", mutates_args=())
def hw_block_op(xs: list[torch.Tensor], key: str) -> torch.Tensor:
    shape, dtype = _OUT_SHAPES[key]
    return torch.zeros(shape, dtype=dtype, device=xs[0].device if xs else "cpu")


@hw_block_op.register_fake
def _(xs: list[torch.Tensor], key: str) -> torch.Tensor:
    shape, dtype = _OUT_SHAPES[key]
    return xs[0].new_empty(shape, dtype=dtype) if xs else torch.empty(shape, dtype=dtype, device="meta")


class _StandIn(nn.Module):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def forward(self, *args: Any) -> torch.Tensor:
        xs = [a for a in args if isinstance(a, torch.Tensor)]
        return torch.ops.chiplab.hw_block(xs, self.key)


def _is_block(m: nn.Module) -> bool:
    return isinstance(m, HardwareBlock) and callable(getattr(m, "hw_cost", None))


def find_blocks(model: nn.Module) -> dict[str, nn.Module]:
    """Outermost HardwareBlock submodules by path (a block inside a block is part of it)."""
    found: dict[str, nn.Module] = {}
    for path, m in model.named_modules():
        if _is_block(m) and not any(path.startswith(p + ".") or p == "" for p in found):
            found[path] = m
    return found


@contextlib.contextmanager
def hw_block_standins(model: nn.Module, example_inputs: tuple) -> Iterator[dict[str, dict[str, Any]]]:
    """Yields {key: {"path", "block", "cost"}} and swaps blocks for stand-ins meanwhile."""
    blocks = find_blocks(model)
    if not blocks:
        yield {}
        return
    if "" in blocks:
        raise ValueError("capture: the model itself is a HardwareBlock; wrap it in a module to capture it as a node")
    shapes: dict[str, tuple[list[tuple[int, ...]], torch.Tensor]] = {}
    hooks = []
    for path, m in blocks.items():
        def hook(mod, args, out, path=path):
            if not isinstance(out, torch.Tensor):
                raise ValueError(f"capture: hardware block {path!r} must return one tensor, got {type(out).__name__}")
            shapes[path] = ([tuple(a.shape) for a in args if isinstance(a, torch.Tensor)], out)
        hooks.append(m.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(*example_inputs)
    finally:
        for h in hooks:
            h.remove()
    info: dict[str, dict[str, Any]] = {}
    saved = []
    try:
        for i, (path, m) in enumerate(blocks.items()):
            if path not in shapes:
                continue   # never called in forward: nothing to price
            key = f"{id(model)}:{i}:{path}"
            in_shapes, out = shapes[path]
            _OUT_SHAPES[key] = (tuple(out.shape), out.dtype)
            cost = m.hw_cost(in_shapes)
            info[key] = {"path": path, "block": getattr(m, "hw_block_name", type(m).__name__),
                         "cost": {k: v for k, v in dataclasses.asdict(cost).items()}}
            parent_path, _, attr = path.rpartition(".")
            parent = model.get_submodule(parent_path) if parent_path else model
            saved.append((parent, attr, m))
            setattr(parent, attr, _StandIn(key))
        yield info
    finally:
        for parent, attr, m in saved:
            setattr(parent, attr, m)
