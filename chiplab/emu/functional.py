"""The emulator's TorchFunctionMode: functional calls of layer weights, and vector rounding.

Active around every forward of an emulated model (calibration, fp32 reference runs, device
runs). It does three things for torch functions called *outside* an emulated layer
(``depth == 0``):

* ``F.linear`` / ``F.conv2d`` called with the weight of a known ``nn.Linear`` / ``nn.Conv2d``
  (torchvision's Swin calls ``F.linear(x, self.qkv.weight, ...)``, MHA calls its ``out_proj``
  functionally) is routed to that module's :class:`~chiplab.emu.layers.EmuLayer`, so it is
  calibrated, emulated and recorded under the module's path like a module call.
* with ``fmt`` set and ``rounding`` on, the float results of the arithmetic ops in
  :data:`ROUNDED` (``out += identity``, ``F.relu``) are rounded to the vector format.
* nothing else: every other op runs as is.

Ops inside a leaf module are left alone (the layer applies its own numerics). Torch functions
that the mode intercepts run their own body without the mode (PyTorch pops a mode while its
handler runs), which is why ``nn.MultiheadAttention`` is rewritten as a unit
(:mod:`chiplab.emu.units`) instead of relying on ``F.multi_head_attention_forward``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.nn.modules.utils import _pair
from torch.overrides import TorchFunctionMode

from chiplab.formats import cast_float

ROUNDED = frozenset({
    "add", "__add__", "__radd__", "__iadd__", "add_", "sub", "__sub__", "__rsub__", "__isub__", "sub_",
    "mul", "__mul__", "__rmul__", "__imul__", "mul_", "div", "__truediv__", "__itruediv__", "div_",
    "relu", "relu_", "gelu", "silu", "sigmoid", "tanh", "softmax", "log_softmax", "mean", "sum",
    "adaptive_avg_pool2d", "avg_pool2d", "layer_norm", "hardswish", "matmul", "bmm", "baddbmm", "addmm",
})


class EmuMode(TorchFunctionMode):
    """State of one emulated forward: ``depth`` > 0 while an emulated layer runs.

    ``by_weight`` maps ``id(weight)`` to the EmuLayer owning that weight. ``calibrating``: layers
    feed their observers and run fp32. ``capture_in`` / ``capture_out``: dicts the layers named
    in ``capture`` record their inputs / outputs into. ``watch``: record the first layer whose
    output holds NaN or inf in ``nonfinite``.
    """

    def __init__(self, fmt: str | None = None):
        super().__init__()
        self.fmt = fmt
        self.rounding = fmt is not None
        self.depth = 0
        self.count = 0
        self.by_weight: dict[int, object] = {}
        self.calibrating = False
        self.capture: set[str] | None = None
        self.capture_in: dict | None = None
        self.capture_out: dict | None = None
        self.watch = False
        self.nonfinite: str | None = None

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if not self.depth and (func is F.linear or func is F.conv2d):
            layer = self._owner(func, args, kwargs)
            if layer is not None:
                return layer(args[0] if args else kwargs["input"])
        out = func(*args, **kwargs)
        if self.depth or not self.rounding or getattr(func, "__name__", "") not in ROUNDED:
            return out
        if isinstance(out, torch.Tensor) and out.is_floating_point():
            self.count += 1
            self.depth += 1
            try:
                r = cast_float(out, self.fmt, "inf")
                if func.__name__.endswith("_") or func.__name__.startswith("__i"):
                    out.copy_(r)        # in-place op: keep the aliasing the model relies on
                    return out
                return r
            finally:
                self.depth -= 1
        return out

    def _owner(self, func, args, kwargs):
        """The EmuLayer a functional linear/conv2d call belongs to, or None (then it runs as is)."""
        names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
        a = dict(zip(names, args))
        a.update(kwargs)
        w = a.get("weight")
        layer = self.by_weight.get(id(w)) if w is not None else None
        if layer is None:
            return None
        m = layer.module
        if a.get("bias") is not m.bias:            # a bias the module does not own: not this layer's op
            return None
        if func is F.conv2d:
            pad = a.get("padding", 0)
            pad_ok = (pad == m.padding) if isinstance(pad, str) or isinstance(m.padding, str) else \
                _pair(pad) == tuple(m.padding)
            if not (pad_ok and _pair(a.get("stride", 1)) == tuple(m.stride)
                    and _pair(a.get("dilation", 1)) == tuple(m.dilation) and a.get("groups", 1) == m.groups):
                return None
        return layer
