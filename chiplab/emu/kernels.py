"""Vectorized kernels of the emulator: operand quantization, chunked partial sums, accumulation.

The plain-loop definitions these must equal live in :mod:`chiplab.emu.reference`.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from chiplab.emu.spec import AccumulatorNumerics, OutputNumerics, TensorNumerics
from chiplab.formats import FLOAT_FORMATS, INT_FORMATS, cast_float, int_qparams, mx_quantize, \
    quantize_int


# ---------------------------------------------------------------- accumulator

def wrap_int(v: torch.Tensor, width: int) -> torch.Tensor:
    """Two's-complement wrap of int64 ``v`` into ``width`` bits."""
    half = 1 << (width - 1)
    return torch.remainder(v + half, 1 << width) - half


def _int_add(a: torch.Tensor, b: torch.Tensor, acc: AccumulatorNumerics) -> torch.Tensor:
    s = a + b
    if acc.overflow == "wrap":
        return wrap_int(s, acc.width)
    half = 1 << (acc.width - 1)
    return torch.clamp(s, -half, half - 1)


def _float_round(v: torch.Tensor, acc: AccumulatorNumerics) -> torch.Tensor:
    return cast_float(v, acc.format, overflow="inf")


def accumulate(partials: torch.Tensor, acc: AccumulatorNumerics, init: torch.Tensor | None = None) -> torch.Tensor:
    """Combine chunk partial sums (last dim) the way the accumulator does.

    Integer: ``partials`` int64 exact chunk sums; the running value starts at ``init`` (the
    quantized bias, or 0), wraps or saturates to ``acc.width`` bits after every add. Float:
    ``partials`` float32 chunk sums, each rounded to the accumulator format, then added one by
    one with rounding after each add. ``order``: forward (chunk 0 first), reverse, or pairwise
    (a balanced tree over the chunks; ``init`` is added last).
    """
    is_int = acc.format == "int"
    add = (lambda a, b: _int_add(a, b, acc)) if is_int else (lambda a, b: _float_round(a + b, acc))
    if not is_int:
        partials = _float_round(partials.float(), acc)
    else:
        partials = partials.to(torch.int64)
        if acc.overflow == "wrap":
            partials = wrap_int(partials, acc.width)
        else:
            half = 1 << (acc.width - 1)
            partials = torch.clamp(partials, -half, half - 1)
    n = partials.shape[-1]
    chunks = [partials[..., i] for i in range(n)]
    if acc.order == "reverse":
        chunks = chunks[::-1]
    if acc.order == "pairwise":
        while len(chunks) > 1:
            nxt = [add(chunks[i], chunks[i + 1]) for i in range(0, len(chunks) - 1, 2)]
            if len(chunks) % 2:
                nxt.append(chunks[-1])
            chunks = nxt
        total = chunks[0]
        return total if init is None else add(total, init.to(total.dtype).expand_as(total))
    total = torch.zeros_like(chunks[0]) if init is None else init.to(chunks[0].dtype).expand_as(chunks[0]).clone()
    for c in chunks:
        total = add(total, c)
    return total


def output_round(y: torch.Tensor, out: OutputNumerics) -> torch.Tensor:
    return cast_float(y, out.format, overflow="inf", rounding=out.rounding)


# ---------------------------------------------------------------- chunked partial sums

def linear_partials(x: torch.Tensor, w: torch.Tensor, chunk: int, dtype: torch.dtype) -> torch.Tensor:
    """``x`` (N, K), ``w`` (M, K) -> (N, M, nchunks) sums of products over K-chunks, in ``dtype``.

    float64 keeps integer chunk sums exact (products of int8 codes, sums below 2**53)."""
    k = x.shape[-1]
    size = chunk if chunk > 0 else k
    parts = [x[:, i:i + size].to(dtype) @ w[:, i:i + size].to(dtype).t() for i in range(0, k, size)]
    return torch.stack(parts, dim=-1)


def conv_partials(x: torch.Tensor, w: torch.Tensor, conv: torch.nn.Conv2d, chunk: int,
                  dtype: torch.dtype) -> tuple[torch.Tensor, tuple[int, int]]:
    """im2col conv2d as chunked matmul: returns (N, Cout, L, nchunks) and the output (H, W).

    The reduction index runs over (input channel of the group, kh, kw) in that order."""
    n = x.shape[0]
    cols = F.unfold(x, conv.kernel_size, dilation=conv.dilation, padding=conv.padding, stride=conv.stride)
    g = conv.groups
    cout = w.shape[0]
    k = cols.shape[1] // g
    cols = cols.reshape(n, g, k, -1).to(dtype)                    # (N, G, K, L)
    wg = w.reshape(g, cout // g, k).to(dtype)                      # (G, Cout/G, K)
    size = chunk if chunk > 0 else k
    parts = [torch.einsum("gok,ngkl->ngol", wg[:, :, i:i + size], cols[:, :, i:i + size]) for i in range(0, k, size)]
    p = torch.stack(parts, dim=-1).reshape(n, cout, cols.shape[-1], len(parts))
    hout = (x.shape[2] + 2 * conv.padding[0] - conv.dilation[0] * (conv.kernel_size[0] - 1) - 1) // conv.stride[0] + 1
    wout = (x.shape[3] + 2 * conv.padding[1] - conv.dilation[1] * (conv.kernel_size[1] - 1) - 1) // conv.stride[1] + 1
    return p, (hout, wout)


# ---------------------------------------------------------------- operand quantization

def weight_quant(w: torch.Tensor, t: TensorNumerics) -> tuple[torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Quantize a weight (out channels on dim 0, reduction on dim 1).

    Returns (values, scale, zero_point): for integer formats ``values`` are the integer codes
    minus the zero point (float32) and ``scale`` the per-tensor / per-channel scale; for
    amax-scaled floats ``values`` are the format's values of ``w / scale`` (the scale is applied
    after the accumulation, as the chip does); for unscaled float and MX formats ``values`` are
    the dequantized weights and scale is None."""
    w = w.detach().float()
    per_ch = t.granularity == "per_channel"
    if t.format in INT_FORMATS:
        flat = w.reshape(w.shape[0], -1)
        lo, hi = (flat.amin(1), flat.amax(1)) if per_ch else (flat.min(), flat.max())
        scale, zp = int_qparams(lo, hi, t.format, t.symmetric, t.scale)
        axis = 0 if per_ch else None
        q = quantize_int(w, scale, zp, t.format, axis)
        zpb = zp.reshape([-1] + [1] * (w.dim() - 1)) if per_ch else zp
        return q - zpb, scale, zp
    if t.format in FLOAT_FORMATS:
        if t.scale == "amax":
            fmax = FLOAT_FORMATS[t.format].max
            amax = w.reshape(w.shape[0], -1).abs().amax(1) if per_ch else w.abs().max()
            scale = torch.clamp(amax, min=1e-30) / fmax
            sb = scale.reshape([-1] + [1] * (w.dim() - 1)) if per_ch else scale
            return cast_float(w / sb, t.format, t.overflow), scale, None
        return cast_float(w, t.format, t.overflow), None, None
    return mx_quantize(w, t.format, axis=1), None, None


def act_quant(x: torch.Tensor, t: TensorNumerics, qp: tuple[torch.Tensor, torch.Tensor] | torch.Tensor | None,
              axis: int) -> torch.Tensor:
    """Quantize an activation. Integer: returns codes minus zero point (float32); float: the
    format's value of ``x / scale`` (``scale: amax``; the scale is applied after accumulation)
    or of ``x``; MX: dequantized blocks along ``axis`` (the reduction axis)."""
    if t.format in INT_FORMATS:
        scale, zp = qp
        return quantize_int(x, scale, zp, t.format) - zp
    if t.format in FLOAT_FORMATS:
        if t.scale == "amax":
            return cast_float(x / qp, t.format, t.overflow)
        return cast_float(x, t.format, t.overflow)
    return mx_quantize(x, t.format, axis=axis)
