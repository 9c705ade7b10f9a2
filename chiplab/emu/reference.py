"""Reference semantics of every emulated op, written for reading, not speed (Python scalars).

Tests compare the vectorized kernels (chiplab.formats, chiplab.emu.kernels, chiplab.emu.layers)
against these functions; ml_dtypes is the outside reference for the float casts.
"""
from __future__ import annotations

import math

from chiplab.emu.spec import AccumulatorNumerics
from chiplab.formats import FloatFormat, IntFormat, MXFormat


def round_float(v: float, f: FloatFormat, overflow: str = "saturate") -> float:
    """Nearest value of format ``f`` to ``v``, ties to even; then the overflow policy."""
    if math.isnan(v):
        return v
    if math.isinf(v):
        return math.copysign(f.max if overflow == "saturate" else (math.inf if overflow == "inf" else math.nan), v)
    a = abs(v)
    e = math.frexp(a)[1] - 1 if a > 0 else f.emin
    e = max(e, f.emin)
    quantum = 2.0 ** (e - f.mbits)
    r = a / quantum
    fl = math.floor(r)
    frac = r - fl
    n = fl + 1 if frac > 0.5 or (frac == 0.5 and fl % 2 == 1) else fl
    q = n * quantum
    if q > f.max:
        q = f.max if overflow == "saturate" else (math.inf if overflow == "inf" else math.nan)
    return math.copysign(q, v)


def quantize_int(v: float, scale: float, zp: int, f: IntFormat) -> int:
    """``clamp(round_half_even(v / scale) + zp, qmin, qmax)``."""
    return int(min(max(round(v / scale) + zp, f.qmin), f.qmax))


def mx_block(values: list[float], f: MXFormat) -> list[float]:
    """One MX block: shared scale 2**(floor(log2(max|v|)) - emax), elements cast with saturation."""
    amax = max(abs(v) for v in values)
    if amax == 0:
        return [0.0 * v for v in values]
    e = min(max(math.floor(math.log2(amax)) - f.emax, -127), 127)
    s = 2.0 ** e
    if isinstance(f.element, IntFormat):
        return [min(max(round(v / s * 64), -127), 127) / 64 * s for v in values]
    return [round_float(v / s, f.element, "saturate") * s for v in values]


def _int_step(total: int, add: int, acc: AccumulatorNumerics) -> int:
    s = total + add
    half = 1 << (acc.width - 1)
    if acc.overflow == "wrap":
        return ((s + half) % (1 << acc.width)) - half
    return min(max(s, -half), half - 1)


def accumulate(products: list, acc: AccumulatorNumerics, init=0, float_fmt: FloatFormat | None = None):
    """Sum ``products`` the way the accumulator does.

    The reduction is cut into chunks of ``acc.chunk`` products (all of them when 0); each chunk
    is summed exactly (integers) or in double then rounded (floats: chunk sum in fp32 first);
    chunk sums are then added to the running value in ``acc.order`` (pairwise: a balanced tree,
    ``init`` last), wrapping/saturating (int) or rounding to the accumulator format (float)
    after every addition.
    """
    size = acc.chunk or max(len(products), 1)
    chunks = [products[i:i + size] for i in range(0, len(products), size)]
    if acc.format == "int":
        sums = [_int_step(0, sum(c), acc) for c in chunks]
        step = lambda a, b: _int_step(a, b, acc)  # noqa: E731
    else:
        from chiplab.formats import FLOAT_FORMATS
        fp32 = FLOAT_FORMATS["fp32"]
        rnd = lambda v: round_float(v, float_fmt, "inf")  # noqa: E731
        sums = [rnd(_fp32_sum(c, fp32)) for c in chunks]
        step = lambda a, b: rnd(a + b)  # noqa: E731
    if acc.order == "reverse":
        sums = sums[::-1]
    if acc.order == "pairwise":
        while len(sums) > 1:
            nxt = [step(sums[i], sums[i + 1]) for i in range(0, len(sums) - 1, 2)]
            if len(sums) % 2:
                nxt.append(sums[-1])
            sums = nxt
        return step(sums[0], init)
    total = init
    for s in sums:
        total = step(total, s)
    return total


def _fp32_sum(vals: list[float], fp32: FloatFormat) -> float:
    t = 0.0
    for v in vals:
        t = round_float(t + v, fp32, "inf")
    return t


def int_matmul(xq: list[list[int]], wq: list[list[int]], bias_q: list[int], acc: AccumulatorNumerics) -> list[list[int]]:
    """``y[n][m] = acc(sum_k xq[n][k] * wq[m][k], init=bias_q[m])`` on integer codes."""
    return [[accumulate([a * b for a, b in zip(row, wrow)], acc, init=bias_q[m]) for m, wrow in enumerate(wq)]
            for row in xq]
