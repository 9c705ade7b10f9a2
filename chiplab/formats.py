"""Number formats and bit-exact rounding into them (pure torch, float32 in / float32 out).

Everything here takes a float32 tensor and returns a float32 tensor holding values exactly
representable in the target format ("fake quantization"). The reference for the casts in the
tests is ``ml_dtypes``; it is never used here.

Formats:

* floating point: fp32, tf32, bf16, fp16, fp8_e4m3 (OCP E4M3, "fn": no inf, one NaN),
  fp8_e5m2 (IEEE-like, has inf), and the MX element types fp6_e2m3, fp6_e3m2, fp4_e2m1
  (OCP Microscaling Formats (MX) v1.0, 2023, section 5.3: no inf/NaN).
* integers: int4, int8, int16 (two's complement) with a scale and zero point.
* MX block formats: mxfp8 (E4M3 elements), mxfp8_e5m2, mxfp6 (E2M3), mxfp6_e3m2, mxfp4 (E2M1),
  mxint8; 32 elements share one power-of-two scale (E8M0) (OCP MX v1.0, section 5.2/6.3).

Overflow policy for a float cast: ``saturate`` (clamp to +-max, also +-inf -> +-max, as the
OCP saturating conversion), ``nan`` (out of range -> NaN, as ml_dtypes/OCP non-saturating
E4M3) or ``inf`` (out of range -> +-inf, IEEE; only for formats that have inf).
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
from dataclasses import dataclass

import torch

ROUNDINGS = ("nearest_even", "toward_zero")
OVERFLOWS = ("saturate", "nan", "inf")


class FormatError(ChiplabError):
    """A format name, policy or argument that does not exist."""


@dataclass(frozen=True)
class FloatFormat:
    name: str
    ebits: int
    mbits: int
    max: float          # largest finite magnitude
    has_inf: bool

    @property
    def bias(self) -> int:
        return 2 ** (self.ebits - 1) - 1

    @property
    def emin(self) -> int:
        """Exponent of the smallest normal number."""
        return 1 - self.bias

    @property
    def bits(self) -> int:
        return 1 + self.ebits + self.mbits


@dataclass(frozen=True)
class IntFormat:
    name: str
    bits: int

    @property
    def qmin(self) -> int:
        return -(2 ** (self.bits - 1))

    @property
    def qmax(self) -> int:
        return 2 ** (self.bits - 1) - 1


@dataclass(frozen=True)
class MXFormat:
    name: str
    element: FloatFormat | IntFormat
    emax: int            # exponent of the element type's largest normal (OCP MX v1.0 table 1)
    block: int = 32

    @property
    def bits(self) -> int:
        return self.element.bits


FLOAT_FORMATS: dict[str, FloatFormat] = {f.name: f for f in (
    FloatFormat("fp32", 8, 23, float(torch.finfo(torch.float32).max), True),
    FloatFormat("tf32", 8, 10, (2 - 2 ** -10) * 2.0 ** 127, True),
    FloatFormat("bf16", 8, 7, float(torch.finfo(torch.bfloat16).max), True),
    FloatFormat("fp16", 5, 10, 65504.0, True),
    FloatFormat("fp8_e4m3", 4, 3, 448.0, False),      # OCP FP8 E4M3: max 448 (S.1111.110)
    FloatFormat("fp8_e5m2", 5, 2, 57344.0, True),     # OCP FP8 E5M2: max 57344
    FloatFormat("fp6_e2m3", 2, 3, 7.5, False),        # OCP MX v1.0 table 3
    FloatFormat("fp6_e3m2", 3, 2, 28.0, False),
    FloatFormat("fp4_e2m1", 2, 1, 6.0, False),        # OCP MX v1.0 table 4
)}
INT_FORMATS: dict[str, IntFormat] = {f.name: f for f in (IntFormat("int4", 4), IntFormat("int8", 8), IntFormat("int16", 16))}
# emax per element type: OCP MX v1.0 table 1 (E4M3 8, E5M2 15, E2M3 2, E3M2 4, E2M1 2, INT8 0)
MX_FORMATS: dict[str, MXFormat] = {f.name: f for f in (
    MXFormat("mxfp8", FLOAT_FORMATS["fp8_e4m3"], 8),
    MXFormat("mxfp8_e5m2", FLOAT_FORMATS["fp8_e5m2"], 15),
    MXFormat("mxfp6", FLOAT_FORMATS["fp6_e2m3"], 2),
    MXFormat("mxfp6_e3m2", FLOAT_FORMATS["fp6_e3m2"], 4),
    MXFormat("mxfp4", FLOAT_FORMATS["fp4_e2m1"], 2),
    MXFormat("mxint8", IntFormat("int8", 8), 0),
)}
ALL_FORMATS = (*FLOAT_FORMATS, *INT_FORMATS, *MX_FORMATS)

# Order used when a fix asks for "a wider format" of the same family.
WIDER = {"int4": "int8", "int8": "int16", "fp8_e4m3": "bf16", "fp8_e5m2": "bf16", "fp16": "fp32", "bf16": "fp32",
         "tf32": "fp32", "mxfp4": "mxfp6", "mxfp6_e3m2": "mxfp8", "mxfp6": "mxfp8", "mxfp8_e5m2": "mxint8",
         "mxfp8": "mxint8", "mxint8": "bf16", "int16": "fp32"}


def get_format(name: str) -> FloatFormat | IntFormat | MXFormat:
    for table in (FLOAT_FORMATS, INT_FORMATS, MX_FORMATS):
        if name in table:
            return table[name]
    raise FormatError(f"unknown number format {name!r} (known: {', '.join(ALL_FORMATS)})")


def _check(overflow: str, rounding: str, fmt: FloatFormat) -> None:
    if overflow not in OVERFLOWS:
        raise FormatError(f"overflow policy {overflow!r} is not one of {OVERFLOWS}")
    if rounding not in ROUNDINGS:
        raise FormatError(f"rounding {rounding!r} is not one of {ROUNDINGS}")
    if overflow == "inf" and not fmt.has_inf:
        raise FormatError(f"format {fmt.name} has no infinity: overflow must be 'saturate' or 'nan'")


def round_float(x: torch.Tensor, fmt: str | FloatFormat, overflow: str = "saturate",
                rounding: str = "nearest_even") -> torch.Tensor:
    """Round float32 ``x`` to the nearest value of a float format (generic reference path).

    Works on magnitudes: exponent ``E = max(floor(log2|x|), emin)``, quantum ``2**(E - mbits)``
    (this also gives the subnormals), round the multiple of the quantum (ties to even or toward
    zero), then apply the overflow policy. Divisions by a power of two are exact in float32.
    """
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    if not isinstance(f, FloatFormat):
        raise FormatError(f"round_float needs a float format, got {f.name}")
    _check(overflow, rounding, f)
    x = x.float()
    if f.name == "fp32":
        return x.clone()
    a = x.abs()
    _, e = torch.frexp(a)                       # a = m * 2**e, m in [0.5, 1)
    exp = torch.clamp(e - 1, min=f.emin)
    step = torch.ldexp(torch.ones_like(a), (exp - f.mbits))
    r = a / step
    r = torch.round(r) if rounding == "nearest_even" else torch.trunc(r)
    q = r * step
    big = q > f.max
    if overflow == "saturate":
        q = torch.where(big, torch.full_like(q, f.max), q)
    else:
        q = torch.where(big, torch.full_like(q, math.inf if overflow == "inf" else math.nan), q)
    q = torch.copysign(q, x)
    inf = torch.isinf(x)
    if inf.any():
        fill = f.max if overflow == "saturate" else (math.inf if overflow == "inf" else math.nan)
        q = torch.where(inf, torch.copysign(torch.full_like(q, fill), x), q)
    return torch.where(torch.isnan(x), x, q)


_TORCH_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16,
                 "fp8_e4m3": torch.float8_e4m3fn, "fp8_e5m2": torch.float8_e5m2}


def cast_float(x: torch.Tensor, fmt: str, overflow: str = "saturate", rounding: str = "nearest_even") -> torch.Tensor:
    """Fast path of :func:`round_float` (same results; tested against ml_dtypes).

    bf16/fp16/fp8 with round-to-nearest-even use torch's own casts (which round to nearest even;
    torch's float8 casts saturate, its bf16/fp16 casts overflow to inf) and then apply the
    policy; tf32 uses integer bit manipulation; other formats use the generic path.
    """
    f = get_format(fmt)
    if not isinstance(f, FloatFormat):
        raise FormatError(f"cast_float needs a float format, got {fmt}")
    _check(overflow, rounding, f)
    x = x.float()
    if fmt == "fp32":
        return x
    if rounding != "nearest_even":
        return round_float(x, f, overflow, rounding)
    if fmt == "tf32":
        return _tf32(x, overflow)
    dt = _TORCH_DTYPES.get(fmt)
    if dt is None:
        return round_float(x, f, overflow, rounding)
    if f.ebits == 4 and f.mbits == 3:          # torch's e4m3fn cast saturates (incl. inf -> 448)
        q = x.to(dt).float()
        if overflow == "nan":
            # half-way between 448 and the next (absent) step 480 is 464; 464 itself ties to even 448
            q = torch.where(x.abs() > 464.0, torch.full_like(q, math.nan), q)
        return torch.where(torch.isnan(x), x, q)
    if overflow == "saturate":
        return torch.clamp(x, -f.max, f.max).to(dt).float()   # nan passes through clamp
    q = x.to(dt).float()
    if overflow == "nan":
        q = torch.where(torch.isinf(q), torch.full_like(q, math.nan), q)
    return q


def _tf32(x: torch.Tensor, overflow: str) -> torch.Tensor:
    """Round-to-nearest-even to 10 mantissa bits by integer arithmetic on the fp32 bits."""
    bits = x.contiguous().view(torch.int32).to(torch.int64)
    lsb = (bits >> 13) & 1
    bits = (bits + 0xFFF + lsb) & ~0x1FFF
    q = bits.to(torch.int32).view(torch.float32)           # carries into the exponent are correct
    f = FLOAT_FORMATS["tf32"]
    if overflow != "inf":
        over = torch.isinf(q) & ~torch.isinf(x)
        fill = torch.copysign(torch.full_like(q, f.max if overflow == "saturate" else math.nan), x)
        q = torch.where(over, fill, q)
        if overflow == "saturate":
            q = torch.where(torch.isinf(x), torch.copysign(torch.full_like(q, f.max), x), q)
    return torch.where(torch.isnan(x), x, q)


# ---------------------------------------------------------------- integers

def int_qparams(lo: torch.Tensor, hi: torch.Tensor, fmt: str | IntFormat, symmetric: bool,
                scale_format: str = "fp32") -> tuple[torch.Tensor, torch.Tensor]:
    """Scale and zero point for a range ``[lo, hi]`` (tensors, per tensor or per channel).

    Symmetric: ``scale = max(|lo|, |hi|) / qmax``, zero point 0. Asymmetric: the range is
    widened to contain 0, ``scale = (hi - lo) / (qmax - qmin)``, ``zp = qmin - round(lo/scale)``.
    ``scale_format='pow2'`` rounds the scale up to a power of two (shift-only requantization).
    """
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    if not isinstance(f, IntFormat):
        raise FormatError(f"int_qparams needs an integer format, got {f.name}")
    lo = torch.clamp(torch.as_tensor(lo, dtype=torch.float32), max=0.0)
    hi = torch.clamp(torch.as_tensor(hi, dtype=torch.float32), min=0.0)
    eps = torch.finfo(torch.float32).eps
    if symmetric:
        scale = torch.maximum(-lo, hi) / f.qmax
    else:
        scale = (hi - lo) / (f.qmax - f.qmin)
    scale = torch.clamp(scale, min=eps)
    if scale_format == "pow2":
        scale = torch.exp2(torch.ceil(torch.log2(scale)))
    elif scale_format != "fp32":
        raise FormatError(f"scale format {scale_format!r} is not 'fp32' or 'pow2'")
    if symmetric:
        zp = torch.zeros_like(scale)
    else:
        zp = torch.clamp(f.qmin - torch.round(lo / scale), f.qmin, f.qmax)
    return scale, zp


def quantize_int(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor, fmt: str | IntFormat,
                 axis: int | None = None) -> torch.Tensor:
    """Integer codes ``clamp(round(x * (1/scale)) + zp, qmin, qmax)`` as float32 (ties to even).

    The ``x * (1/scale)`` form matches torch.fake_quantize_per_{tensor,channel}_affine bit for bit.
    """
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    if axis is not None:
        shape = [1] * x.dim()
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    inv = 1.0 / scale
    return torch.clamp(torch.round(x * inv) + zp, f.qmin, f.qmax)


def fake_quant_int(x: torch.Tensor, scale: torch.Tensor, zp: torch.Tensor, fmt: str | IntFormat,
                   axis: int | None = None) -> torch.Tensor:
    """Quantize then dequantize: ``(q - zp) * scale``."""
    q = quantize_int(x, scale, zp, fmt, axis)
    if axis is not None:
        shape = [1] * x.dim()
        shape[axis] = -1
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    return (q - zp) * scale


# ---------------------------------------------------------------- MX block formats

def mx_quantize(x: torch.Tensor, fmt: str | MXFormat, axis: int = -1) -> torch.Tensor:
    """Fake-quantize to an MX format along ``axis`` in blocks of 32 (zero-padded at the end).

    Per block: shared scale ``X = 2**(floor(log2(amax)) - emax_elem)`` clamped to the E8M0
    range [2**-127, 2**127], elements ``round(x / X)`` into the element type with saturation
    (OCP MX v1.0 section 6.3). MXINT8 elements are int8 codes with an implied 2**-6 scale,
    clamped symmetrically to [-127, 127].
    """
    f = get_format(fmt) if isinstance(fmt, str) else fmt
    if not isinstance(f, MXFormat):
        raise FormatError(f"mx_quantize needs an MX format, got {f.name}")
    x = x.float()
    xt = x.movedim(axis, -1)
    n = xt.shape[-1]
    pad = (-n) % f.block
    if pad:
        xt = torch.nn.functional.pad(xt, (0, pad))
    blocks = xt.reshape(*xt.shape[:-1], -1, f.block)
    amax = blocks.abs().amax(dim=-1, keepdim=True)
    _, e = torch.frexp(amax)
    sexp = torch.clamp(e - 1 - f.emax, -127, 127)
    sexp = torch.where(amax > 0, sexp, torch.zeros_like(sexp))
    scale = torch.ldexp(torch.ones_like(amax), sexp)
    v = blocks / scale
    if isinstance(f.element, IntFormat):
        v = torch.clamp(torch.round(v * 64.0), -127, 127) / 64.0
    else:
        v = cast_float(v, f.element.name, overflow="saturate")
    out = (v * scale).reshape(xt.shape)[..., :n]
    return out.movedim(-1, axis)


def fake_quant_float(x: torch.Tensor, fmt: str, scale: torch.Tensor | None = None, axis: int | None = None,
                     overflow: str = "saturate") -> torch.Tensor:
    """Scale (optional, per tensor or per channel), cast to a float format, unscale."""
    if scale is None:
        return cast_float(x, fmt, overflow)
    if axis is not None:
        shape = [1] * x.dim()
        shape[axis] = -1
        scale = scale.reshape(shape)
    return cast_float(x / scale, fmt, overflow) * scale
