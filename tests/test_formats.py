"""Bit-exactness of the format casts against ml_dtypes and torch's fake-quant ops."""
import math

import ml_dtypes
import numpy as np
import pytest
import torch

from chiplab.emu import reference as ref
from chiplab.formats import (FLOAT_FORMATS, MX_FORMATS, FormatError, cast_float, fake_quant_int, get_format,
                             int_qparams, mx_quantize, round_float)

ML = {"bf16": ml_dtypes.bfloat16, "fp16": np.float16, "fp8_e4m3": ml_dtypes.float8_e4m3fn,
      "fp8_e5m2": ml_dtypes.float8_e5m2, "fp6_e2m3": ml_dtypes.float6_e2m3fn, "fp6_e3m2": ml_dtypes.float6_e3m2fn,
      "fp4_e2m1": ml_dtypes.float4_e2m1fn}
# ml_dtypes' overflow behaviour: IEEE-like formats go to inf, E4M3FN to NaN; the MX element types
# (no inf, no NaN) saturate in ml_dtypes
ML_POLICY = {"bf16": "inf", "fp16": "inf", "fp8_e4m3": "nan", "fp8_e5m2": "inf", "fp6_e2m3": "saturate",
             "fp6_e3m2": "saturate", "fp4_e2m1": "saturate"}


def _values(fmt: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(1)
    f = FLOAT_FORMATS[fmt]
    wide = torch.exp2(torch.empty(20000).uniform_(f.emin - f.mbits - 3, math.log2(f.max) + 2, generator=g))
    wide = wide * torch.where(torch.rand(20000, generator=g) < 0.5, -1.0, 1.0)
    # every representable value and every midpoint between neighbours (ties)
    grid = torch.from_numpy(np.arange(256 if f.bits <= 8 else 0, dtype=np.uint8).view(ML[fmt]).astype(np.float32)) \
        if f.bits <= 8 else torch.empty(0)
    grid = grid[torch.isfinite(grid)].sort().values
    mids = (grid[1:] + grid[:-1]) / 2 if grid.numel() else grid
    specials = torch.tensor([0.0, -0.0, math.inf, -math.inf, math.nan, f.max, -f.max, f.max * 1.01, 1e-40])
    return torch.cat([wide, grid, mids, specials]).float()


def _same(a: torch.Tensor, b: np.ndarray) -> None:
    b = torch.from_numpy(np.asarray(b, dtype=np.float32))
    both_nan = torch.isnan(a) & torch.isnan(b)
    assert torch.equal(torch.where(both_nan, 0.0, a).view(torch.int32), torch.where(both_nan, 0.0, b).view(torch.int32))


@pytest.mark.parametrize("fmt", list(ML))
def test_float_casts_equal_ml_dtypes(fmt):
    x = _values(fmt)
    if fmt.startswith(("fp6", "fp4")):      # no NaN encoding: ml_dtypes maps NaN to -0, we keep NaN visible
        x = x[~torch.isnan(x)]
    expect = x.numpy().astype(ML[fmt]).astype(np.float32)
    _same(cast_float(x, fmt, ML_POLICY[fmt]), expect)
    _same(round_float(x, fmt, ML_POLICY[fmt]), expect)


@pytest.mark.parametrize("fmt", ["fp8_e4m3", "fp8_e5m2", "bf16", "fp16"])
def test_saturate_differs_from_ml_dtypes_only_out_of_range(fmt):
    x = _values(fmt)
    f = FLOAT_FORMATS[fmt]
    got = cast_float(x, fmt, "saturate")
    ml = torch.from_numpy(x.numpy().astype(ML[fmt]).astype(np.float32))
    differ = ~((got == ml) | (torch.isnan(got) & torch.isnan(ml)))
    assert differ.any()                                           # the policies do differ ...
    assert torch.all(~torch.isfinite(ml[differ]))                 # ... only where ml_dtypes overflowed
    assert torch.all(got[differ].abs() == f.max)                  # and saturate gives +-max there
    assert torch.equal(got.nan_to_num(9.0), round_float(x, fmt, "saturate").nan_to_num(9.0))


def test_e4m3_nan_policy_threshold():
    x = torch.tensor([448.0, 464.0, 464.01, 480.0, -1e6])
    got = cast_float(x, "fp8_e4m3", "nan")
    assert got[:2].tolist() == [448.0, 448.0] and torch.isnan(got[2:]).all()
    with pytest.raises(FormatError, match="no infinity"):
        cast_float(x, "fp8_e4m3", "inf")


def test_tf32_bits_equal_generic_path():
    x = _values("bf16") * 1.37
    assert torch.equal(cast_float(x, "tf32", "inf").nan_to_num(7.0), round_float(x, "tf32", "inf").nan_to_num(7.0))


def test_scalar_reference_agrees():
    x = _values("fp8_e5m2")[:3000]
    f = FLOAT_FORMATS["fp8_e5m2"]
    expect = torch.tensor([ref.round_float(float(v), f, "saturate") for v in x])
    assert torch.equal(cast_float(x, "fp8_e5m2", "saturate").nan_to_num(9.0), expect.nan_to_num(9.0))


@pytest.mark.parametrize("bits,symmetric", [(8, True), (8, False), (4, True)])
def test_int_per_channel_equals_torch_fake_quantize(bits, symmetric):
    w = torch.randn(16, 8, 3, 3) * torch.linspace(0.01, 3, 16).reshape(-1, 1, 1, 1)
    fmt = get_format(f"int{bits}")
    flat = w.reshape(16, -1)
    scale, zp = int_qparams(flat.amin(1), flat.amax(1), fmt, symmetric)
    ours = fake_quant_int(w, scale, zp, fmt, axis=0)
    theirs = torch.fake_quantize_per_channel_affine(w, scale, zp.to(torch.int32), 0, fmt.qmin, fmt.qmax)
    assert torch.equal(ours, theirs)
    s1, z1 = int_qparams(w.min(), w.max(), fmt, symmetric)
    assert torch.equal(fake_quant_int(w, s1, z1, fmt),
                       torch.fake_quantize_per_tensor_affine(w, float(s1), int(z1), fmt.qmin, fmt.qmax))


@pytest.mark.parametrize("name", list(MX_FORMATS))
def test_mx_equals_straightforward_reference(name):
    f = MX_FORMATS[name]
    x = torch.randn(3, 70) * torch.exp2(torch.randint(-8, 8, (3, 70)).float())
    x[0, :32] = 0.0                                                     # an all-zero block
    got = mx_quantize(x, name, axis=-1)
    for r in range(3):
        row = x[r].tolist()
        expect = []
        for i in range(0, 70, 32):
            expect += ref.mx_block(row[i:i + 32], f)
        assert got[r].tolist() == pytest.approx(expect, abs=0, rel=0)
    assert torch.equal(mx_quantize(x.t(), name, axis=0), got.t())


def test_bad_names_raise():
    with pytest.raises(FormatError, match="unknown number format 'fp7'"):
        get_format("fp7")
    with pytest.raises(FormatError, match="overflow policy"):
        cast_float(torch.ones(2), "bf16", "wrap")


# A hand-worked OCP MX block (OCP Microscaling Formats (MX) v1.0, 2023, section 6.3):
#   shared scale X = 2 ** (floor(log2(max|v|)) - emax_elem), an E8M0 power of two;
#   elements P_i = v_i / X cast to the element type (round to nearest, ties to even, saturating
#   at the largest normal); the block decodes to P_i * X.
#   emax_elem (table 1): FP4 E2M1 -> 2, FP8 E4M3 -> 8, INT8 -> 0.
# The block: 9 values then 23 zeros. max|v| = 7.99, floor(log2(7.99)) = 2.
MX_BLOCK = [7.99, 5.0, -3.1, 2.5, 1.25, 0.7, 0.26, 0.2265625, -0.1] + [0.0] * 23
MX_HAND = {
    # mxfp4: X = 2**(2 - 2) = 1, so P = v. E2M1 magnitudes: 0, 0.5, 1, 1.5, 2, 3, 4, 6.
    "mxfp4": [6.0,        # 7.99 > 6 (max normal): saturates to 6
              4.0,        # 5 is the midpoint of 4 (1.0b x 2^2) and 6 (1.1b x 2^2): tie to the even mantissa, 4
              -3.0,       # 3.1 lies between 3 and 4, nearer 3
              2.0,        # 2.5 is the midpoint of 2 (1.0b x 2^1) and 3 (1.1b x 2^1): tie to even, 2
              1.0,        # 1.25 is the midpoint of 1 and 1.5: tie to even, 1
              0.5,        # 0.7 lies between 0.5 (subnormal 0.1b x 2^0) and 1, nearer 0.5
              0.5,        # 0.26 is above the midpoint 0.25 of 0 and 0.5
              0.0,        # 0.2265625 is below 0.25
              -0.0],      # 0.1 is below 0.25
    # mxfp8 (E4M3): X = 2**(2 - 8) = 1/64, so P = 64 v; spacing in [2^e, 2^(e+1)) is 2^(e-3).
    "mxfp8": [7.0,        # 64 x 7.99 = 511.36 > 448 (max normal): saturates to 448; 448/64 = 7
              5.0,        # 320 = 1.010b x 2^8, exact
              -3.0,       # 198.4 in [128, 256), step 16: 192 (6.4 away) not 208; 192/64 = 3
              2.5,        # 160 = 1.010b x 2^7, exact
              1.25,       # 80 = 1.010b x 2^6, exact
              0.6875,     # 44.8 in [32, 64), step 4: 44; 44/64
              0.25,       # 16.64 in [16, 32), step 2: 16; 16/64
              0.21875,    # 14.5 in [8, 16), step 1: tie of 14 (1.110b) and 15 (1.111b) -> even, 14; 14/64
              -0.1015625],  # 6.4 in [4, 8), step 0.5: 6.5 (0.1 away); 6.5/64
    # mxint8: X = 2**(2 - 0) = 4; elements are int8 codes with an implied 2^-6 scale,
    # so code = round(64 v / 4) = round(16 v), value = code / 16. chiplab keeps codes in [-127, 127].
    "mxint8": [7.9375,    # 16 x 7.99 = 127.84 -> 128, clamped to 127; 127/16
               5.0,       # 80
               -3.125,    # -49.6 -> -50
               2.5,       # 40
               1.25,      # 20
               0.6875,    # 11.2 -> 11
               0.25,      # 4.16 -> 4
               0.25,      # 3.625 -> 4
               -0.125],   # -1.6 -> -2
}


@pytest.mark.parametrize("name", list(MX_HAND))
def test_mx_block_worked_by_hand(name):
    expect = MX_HAND[name] + [0.0] * 23
    x = torch.tensor(MX_BLOCK)
    got = mx_quantize(x, name)
    assert got.tolist() == expect
    # a second block, the first scaled by 2^-5 (exact): the shared exponent drops by 5, the
    # elements are the same, so the decoded block is the first one times 2^-5; an all-zero block stays 0
    two = torch.stack([x, x * 2.0 ** -5, torch.zeros(32)], 1)          # blocks run down axis 0
    got2 = mx_quantize(two, name, axis=0)
    assert got2[:, 0].tolist() == expect
    assert got2[:, 1].tolist() == [v * 2.0 ** -5 for v in expect]
    assert got2[:, 2].tolist() == [0.0] * 32
