"""One emulated layer: the chip's arithmetic for a user module, keyed by its module path.

Matrix layers (``nn.Conv2d``, ``nn.Linear``) quantize weights once (cached) and activations per
call, then take one of two paths:

* **fast path** (integer operands): the convolution/matmul runs in float32 on the integer codes
  (``q_x - zp_x`` and ``q_w``). Precondition, checked once per layer from the weights and the
  activation zero point: ``max_o sum_k |q_w[o,k]| * max|q_x - zp_x| + |bias_q[o]| < 2**(width-1)``,
  i.e. no partial sum in any order or chunking can overflow the accumulator, so wrap/saturate
  and chunk order cannot matter. When that bound is also ``<= 2**24`` every partial sum is an
  integer float32 holds exactly, so the fast path equals the exact path bit for bit
  (``exact_fast``). Above 2**24 the activation codes are split, ``x = 16*x_hi + x_lo`` with
  ``x_lo`` in [0, 15], and two float32 convolutions (each bounded by 2**24, so exact) are
  combined in float64: still bit-exact, at twice the cost for those layers (``split``).
  Float/MX operands take the fast path when the accumulator is fp32 with no chunking (float32
  sum, order unspecified as on the chip's fp32 adder tree).
* **exact path** (otherwise): im2col, chunk partial sums (exact int64 / float32), then the
  accumulator's wrap/saturate/rounding after each chunk in the stated order.

Other layers run on the vector unit: inputs and outputs rounded to the vector format.
Layers whose op class the chip cannot run execute on the host in fp32.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F

from chiplab.emu.kernels import accumulate, act_quant, conv_partials, linear_partials, output_round, weight_quant
from chiplab.emu.observers import Observer, qparams_for
from chiplab.emu.spec import MatmulNumerics, VectorNumerics
from chiplab.formats import INT_FORMATS, cast_float, get_format

def _clone(v: Any) -> Any:
    """Copy captured tensors: later in-place ops (ReLU(inplace=True)) would change them."""
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, (tuple, list)):
        return type(v)(_clone(t) for t in v)
    return v


_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm, nn.InstanceNorm2d)
_ACT = (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish, nn.Hardsigmoid, nn.LeakyReLU,
        nn.Mish, nn.ELU)
_POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
         nn.AdaptiveMaxPool2d)
_LAYOUT = (nn.Identity, nn.Flatten, nn.Unflatten, nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d,
           nn.AlphaDropout, nn.FeatureAlphaDropout, nn.Embedding, nn.PixelShuffle, nn.PixelUnshuffle,
           nn.ChannelShuffle, nn.ZeroPad2d, nn.ConstantPad2d)
# Leaf modules of other libraries, by class name: no arithmetic in eval mode (StochasticDepth,
# dropouts), data movement (Permute), or precomputed tables (rotary embeddings).
_LAYOUT_NAMES = frozenset({"StochasticDepth", "Permute", "DropPath", "LlamaRotaryEmbedding", "RotaryEmbedding"})
_ACT_NAMES = frozenset({"GELUActivation", "NewGELUActivation", "FastGELUActivation", "QuickGELUActivation",
                        "SiLUActivation", "GELUTanh", "PytorchGELUTanh", "AccurateGELUActivation", "ClippedGELUActivation"})
_NORM_NAMES = frozenset({"LlamaRMSNorm", "RMSNorm", "T5LayerNorm", "LayerNorm2d"})


def op_class(mod: nn.Module) -> str | None:
    """The op class of a leaf module; None for pure data movement or no-ops in eval mode; 'unknown' otherwise."""
    name = type(mod).__name__
    if isinstance(mod, nn.Conv2d):
        return "conv"
    if isinstance(mod, nn.Linear):
        return "linear"
    if isinstance(mod, _NORM) or isinstance(mod, getattr(nn, "RMSNorm", ())) or name in _NORM_NAMES:
        return "norm"
    if isinstance(mod, _ACT) or name in _ACT_NAMES:
        return "activation"
    if isinstance(mod, _POOL):
        return "pool"
    if isinstance(mod, (nn.Softmax, nn.LogSoftmax)):
        return "softmax"
    if isinstance(mod, _LAYOUT) or name in _LAYOUT_NAMES:
        return None
    return "unknown"


@dataclass
class EmuLayer:
    """Runtime state of one emulated module (mutable: the debugger toggles and overrides it)."""

    path: str
    module: nn.Module
    op_class: str
    cfg: MatmulNumerics | VectorNumerics | None      # None: host fp32
    enabled: bool = True
    observer: Observer | None = None
    stats: dict = field(default_factory=dict)
    # prepared matrix-layer state
    w: torch.Tensor | None = None
    w_scale: torch.Tensor | None = None
    a_qp: object = None
    bias_q: torch.Tensor | None = None
    out_scale: torch.Tensor | None = None
    fast: bool = False
    exact_fast: bool = False
    split: bool = False
    ints: bool = False
    mode: object = None        # the model's EmuMode (chiplab.emu.functional), paused while this layer runs
    reached: bool = False      # called during calibration

    @property
    def on_host(self) -> bool:
        return self.cfg is None

    # ------------------------------------------------------------ preparation
    def prepare(self) -> None:
        """Quantize the weights, derive activation qparams from the observer, pick the path."""
        if not isinstance(self.cfg, MatmulNumerics):
            return
        cfg, m = self.cfg, self.module
        self.w, self.w_scale, _ = weight_quant(m.weight, cfg.weight)
        self.a_qp = None
        if self.observer is not None:
            lo, hi = self.observer.range()
            self.a_qp = qparams_for(cfg.activation, lo, hi)
        ints = self.ints = cfg.weight.format in INT_FORMATS and cfg.activation.format in INT_FORMATS
        acc = cfg.accumulator
        if ints:
            sx, zpx = self.a_qp
            self.out_scale = (sx * self.w_scale).float().reshape(-1)          # per out channel (or scalar)
            b = m.bias.detach().float() if m.bias is not None else torch.zeros(self.w.shape[0], device=self.w.device)
            self.bias_q = torch.round(b / self.out_scale)
            af = get_format(cfg.activation.format)
            xmax = max(abs(af.qmin - float(zpx)), abs(af.qmax - float(zpx)))
            bound = float((self.w.reshape(self.w.shape[0], -1).abs().sum(1) * xmax + self.bias_q.abs()).max())
            self.stats["acc_bound"] = bound
            self.fast = bound < 2 ** (acc.width - 1)
            wsum = float(self.w.reshape(self.w.shape[0], -1).abs().sum(1).max())
            self.split = self.fast and bound > 2 ** 24
            split_ok = wsum * max(15.0, -(-xmax // 16)) <= 2 ** 24
            if self.split and not split_ok:
                self.fast = False            # cannot be exact in float32: take the exact path
            self.exact_fast = self.fast
        else:
            self.bias_q = m.bias.detach().float() if m.bias is not None else None
            sx = self.a_qp if (cfg.activation.kind == "float" and cfg.activation.scale == "amax") else None
            sw = self.w_scale
            self.out_scale = None if sx is None and sw is None else \
                ((sx if sx is not None else 1.0) * (sw if sw is not None else torch.ones(()))).float().reshape(-1)
            self.fast = acc.format == "fp32" and acc.chunk == 0
            self.exact_fast = self.fast

    # ------------------------------------------------------------ execution
    def __call__(self, *args, **kwargs):
        mode = self.mode
        if mode is None:
            return self._call(*args, **kwargs)
        mode.depth += 1
        try:
            if mode.calibrating:
                self.reached = True
                if self.observer is not None and args:
                    self.observer.update(args[0])
                return type(self.module).forward(self.module, *args, **kwargs)
            rec = mode.capture is not None and self.path in mode.capture
            if rec and mode.capture_in is not None:
                mode.capture_in[self.path] = _clone(args)
            out = self._call(*args, **kwargs)
            if rec:
                mode.capture_out[self.path] = _clone(out)
            if mode.watch and mode.nonfinite is None and isinstance(out, torch.Tensor) and out.is_floating_point() \
                    and not bool(torch.isfinite(out).all()):
                mode.nonfinite = self.path
            return out
        except Exception as e:
            if not getattr(e, "_chiplab_layer", None):        # innermost layer only
                e._chiplab_layer = self.path
                e.add_note(f"in emulated layer {self.path} ({type(self.module).__name__})")
            raise
        finally:
            mode.depth -= 1

    def _call(self, *args, **kwargs):
        m = self.module
        if not self.enabled or self.cfg is None or len(args) != 1 or kwargs:
            return type(m).forward(m, *args, **kwargs)
        x = args[0]
        if isinstance(self.cfg, VectorNumerics):
            fmt = self.cfg.format
            if fmt == "fp32":
                return type(m).forward(m, x)
            return cast_float(type(m).forward(m, cast_float(x, fmt, "inf")), fmt, "inf")
        return self._matmul(x)

    def _matmul(self, x: torch.Tensor) -> torch.Tensor:
        cfg, m = self.cfg, self.module
        is_conv = isinstance(m, nn.Conv2d)
        chan = (1, -1, 1, 1) if is_conv else (-1,)
        xq = act_quant(x.float(), cfg.activation, self.a_qp, axis=1 if is_conv else -1)
        if not self.fast:
            y = self._exact(xq, is_conv)
        elif self.split:
            hi = torch.floor(xq / 16.0)
            y = (16.0 * self._mm(hi, is_conv).double() + self._mm(xq - 16.0 * hi, is_conv).double()
                 + self.bias_q.double().reshape(chan)).float()
        else:
            y = self._mm(xq, is_conv)
            if self.ints:
                y = y + self.bias_q.reshape(chan)
        # integers: accumulator (bias included) * (s_x * s_w); floats: accumulator * scales + bias
        if self.out_scale is not None:
            y = y * (self.out_scale.reshape(chan) if self.out_scale.numel() > 1 else self.out_scale)
        if not self.ints and self.bias_q is not None:
            y = y + self.bias_q.reshape(chan)
        return output_round(y, cfg.output)

    def _mm(self, xq: torch.Tensor, is_conv: bool) -> torch.Tensor:
        m = self.module
        if is_conv:
            return F.conv2d(xq, self.w, None, m.stride, m.padding, m.dilation, m.groups)
        return xq @ self.w.t()

    def _exact(self, xq: torch.Tensor, is_conv: bool) -> torch.Tensor:
        """Chunked partial sums and the accumulator; returns the accumulator value as float32."""
        cfg, m, ints = self.cfg, self.module, self.ints
        acc = cfg.accumulator
        dtype = torch.float64 if ints else torch.float32
        if is_conv:
            p, (ho, wo) = conv_partials(xq, self.w, m, acc.chunk, dtype)      # (N, Cout, L, nc)
            init = self.bias_q.reshape(1, -1, 1) if ints else None
        else:
            lead = xq.shape[:-1]
            p = linear_partials(xq.reshape(-1, xq.shape[-1]), self.w, acc.chunk, dtype)   # (N, M, nc)
            init = self.bias_q.reshape(1, -1) if ints else None
        if ints:
            p = p.round().to(torch.int64)
            init = init.to(torch.int64)
            exact = p.sum(-1) + init
        y = accumulate(p, acc, init)
        if ints:
            self.stats["acc_overflow_frac"] = float((y != exact).float().mean())
        y = y.to(torch.float32)
        if is_conv:
            return y.reshape(y.shape[0], y.shape[1], ho, wo)
        return y.reshape(*lead, -1)

    def describe(self) -> dict:
        d = {"layer": self.path, "op_class": self.op_class, "enabled": self.enabled}
        if self.cfg is None:
            d["where"] = "host fp32"
        elif isinstance(self.cfg, VectorNumerics):
            d["where"] = f"vector {self.cfg.format}"
        else:
            c = self.cfg
            gran = "block32" if c.weight.kind == "mx" else c.weight.granularity
            acc = (f"int{c.accumulator.width}/{c.accumulator.overflow}" if c.accumulator.format == "int"
                   else c.accumulator.format)
            if c.accumulator.chunk:
                acc += f"/chunk{c.accumulator.chunk}/{c.accumulator.order}"
            d["where"] = f"matrix w={c.weight.format}/{gran} a={c.activation.format} acc={acc} out={c.output.format}"
            d["path"] = ("fast-split" if self.split else "fast") if self.fast else "exact"
            d.update({k: v for k, v in self.stats.items()})
        return d
