"""Vector-unit rounding for functional ops that are not modules (``out += identity``, ``F.relu``).

A TorchFunctionMode active around the emulated forward rounds the float results of the
listed arithmetic ops, called outside any emulated leaf module, to the vector format.
Ops inside a leaf module are left alone (the layer applies its own numerics).
"""
from __future__ import annotations

import torch
from torch.overrides import TorchFunctionMode

from chiplab.formats import cast_float

ROUNDED = frozenset({
    "add", "__add__", "__radd__", "__iadd__", "add_", "sub", "__sub__", "__rsub__", "__isub__", "sub_",
    "mul", "__mul__", "__rmul__", "__imul__", "mul_", "div", "__truediv__", "__itruediv__", "div_",
    "relu", "relu_", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "mean", "sum",
    "adaptive_avg_pool2d", "avg_pool2d", "layer_norm", "hardswish", "matmul", "bmm", "baddbmm", "addmm",
})


class VectorRounding(TorchFunctionMode):
    """Round functional-op outputs to ``fmt``; ``depth`` > 0 while an emulated layer runs."""

    def __init__(self, fmt: str):
        super().__init__()
        self.fmt = fmt
        self.depth = 0
        self.count = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.depth or getattr(func, "__name__", "") not in ROUNDED:
            return out
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            self.count += 1
            self.depth += 1
            try:
                r = cast_float(out, self.fmt, "inf")
                if getattr(func, "__name__", "").endswith("_") or func.__name__.startswith("__i"):
                    out.copy_(r)        # in-place op: keep the aliasing the model relies on
                    return out
                return r
            finally:
                self.depth -= 1
        return out
