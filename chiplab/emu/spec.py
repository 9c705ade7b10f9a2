"""The ``numerics`` section of a chip file: the chip's arithmetic, per op class.

Op classes: ``conv`` and ``linear`` (matrix units: :class:`MatmulNumerics`), ``norm``,
``activation``, ``pool``, ``softmax``, ``elementwise`` (vector unit: :class:`VectorNumerics`).
An op class the chip cannot run (``host: [...]``, or ``conv``/``linear`` set to null) runs on
the host in fp32 and is reported as a fallback. See docs/numerics.md for a YAML example.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chiplab.errors import ChiplabError
from chiplab.formats import ALL_FORMATS, FLOAT_FORMATS, INT_FORMATS, MX_FORMATS

OP_CLASSES = ("conv", "linear", "norm", "activation", "pool", "softmax", "elementwise")
VECTOR_CLASSES = ("norm", "activation", "pool", "softmax", "elementwise")


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TensorNumerics(_Frozen):
    """How one operand (weight or activation) is stored.

    ``granularity``: one scale for the tensor or one per output channel (weights) — MX formats
    always use their own per-block-of-32 scale. ``symmetric``: integer zero point fixed at 0.
    ``scale``: ``fp32`` or ``pow2`` scales (integers), ``amax`` / ``none`` (floats: scale the
    tensor so its calibrated max maps to the format's max, or cast unscaled).
    ``observer``: how activation ranges are taken from calibration data.
    """

    format: str
    granularity: Literal["per_tensor", "per_channel"] = "per_tensor"
    symmetric: bool = True
    scale: Literal["fp32", "pow2", "amax", "none"] = "fp32"
    observer: Literal["minmax", "percentile", "mse"] = "minmax"
    percentile: float = Field(99.99, gt=50.0, le=100.0)
    overflow: Literal["saturate", "nan", "inf"] = "saturate"

    @field_validator("format")
    @classmethod
    def _fmt(cls, v: str) -> str:
        if v not in ALL_FORMATS:
            raise ValueError(f"unknown number format {v!r} (known: {', '.join(ALL_FORMATS)})")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "TensorNumerics":
        if self.format in INT_FORMATS and self.scale in ("amax", "none"):
            raise ValueError(f"scale: integer format {self.format} needs scale 'fp32' or 'pow2'")
        if self.format in FLOAT_FORMATS and self.scale in ("fp32", "pow2"):
            object.__setattr__(self, "scale", "none")   # floats default to unscaled
        if self.overflow == "inf" and self.format in ("fp8_e4m3",) + tuple(MX_FORMATS):
            raise ValueError(f"overflow: {self.format} has no infinity (use 'saturate' or 'nan')")
        return self

    @property
    def kind(self) -> str:
        return "int" if self.format in INT_FORMATS else ("mx" if self.format in MX_FORMATS else "float")


class AccumulatorNumerics(_Frozen):
    """The MAC accumulator. Integer: ``width`` bits, ``overflow`` wrap or saturate. Float:
    ``format`` fp32/fp16/bf16 (``width`` ignored). ``chunk``: the reduction is split into chunks
    of this many products, each summed exactly (int) or in fp32 (float), then added to the
    accumulator one by one in ``order``, rounding / wrapping / saturating after each add.
    ``chunk: 0`` means one chunk (the whole reduction)."""

    format: Literal["int", "fp32", "fp16", "bf16"] = "int"
    width: int = Field(32, ge=8, le=64)
    overflow: Literal["wrap", "saturate"] = "wrap"
    chunk: int = Field(0, ge=0)
    order: Literal["forward", "reverse", "pairwise"] = "forward"


class OutputNumerics(_Frozen):
    """Rounding of the accumulator into the stored result."""

    format: Literal["fp32", "tf32", "bf16", "fp16"] = "fp32"
    rounding: Literal["nearest_even", "toward_zero"] = "nearest_even"


class MatmulNumerics(_Frozen):
    weight: TensorNumerics
    activation: TensorNumerics
    accumulator: AccumulatorNumerics = AccumulatorNumerics()
    output: OutputNumerics = OutputNumerics()

    @model_validator(mode="after")
    def _acc(self) -> "MatmulNumerics":
        ints = self.weight.kind == "int" and self.activation.kind == "int"
        if ints and self.accumulator.format != "int":
            raise ValueError("accumulator.format: integer operands need an 'int' accumulator")
        if not ints and self.accumulator.format == "int":
            raise ValueError("accumulator.format: float/MX operands need a float accumulator (fp32, fp16, bf16)")
        if self.activation.granularity == "per_channel":
            raise ValueError("activation.granularity: activations take per_tensor scales")
        return self


class VectorNumerics(_Frozen):
    format: Literal["fp32", "tf32", "bf16", "fp16"] = "fp32"


class NumericsSpec(_Frozen):
    conv: MatmulNumerics | None = None
    linear: MatmulNumerics | None = None
    vector: VectorNumerics = VectorNumerics()
    host: tuple[str, ...] = ()

    @field_validator("host")
    @classmethod
    def _host(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for c in v:
            if c not in OP_CLASSES:
                raise ValueError(f"unknown op class {c!r} (known: {', '.join(OP_CLASSES)})")
        return v

    def on_host(self, op_class: str) -> bool:
        if op_class in self.host:
            return True
        return op_class in ("conv", "linear") and getattr(self, op_class) is None


def _mm(wfmt: str, afmt: str, **kw) -> MatmulNumerics:
    if wfmt in INT_FORMATS:
        w = TensorNumerics(format=wfmt, granularity="per_channel", symmetric=True)
        a = TensorNumerics(format=afmt, symmetric=False)
        acc = AccumulatorNumerics(format="int", width=32)
    else:
        scaled = "amax" if wfmt.startswith("fp8") else "none"
        w = TensorNumerics(format=wfmt, granularity="per_channel" if scaled == "amax" else "per_tensor", scale=scaled)
        a = TensorNumerics(format=afmt, scale=scaled)
        acc = AccumulatorNumerics(format="fp32")
    return MatmulNumerics(weight=w, activation=a, accumulator=kw.get("accumulator", acc))


def default_numerics(precision: str) -> NumericsSpec:
    """Numerics for a chip file without a ``numerics`` section, from its native precision.

    int8: per-channel symmetric int8 weights, per-tensor asymmetric int8 activations (min/max),
    int32 wrapping accumulator, fp32 output, fp32 vector unit. fp8: E4M3 weights (per-channel
    amax scale) and activations (per-tensor amax scale), fp32 accumulator, bf16 vector unit.
    bf16/fp16/fp32: that format throughout, fp32 accumulation.
    """
    if precision == "int8":
        mm = _mm("int8", "int8")
        return NumericsSpec(conv=mm, linear=mm)
    if precision == "fp8":
        mm = _mm("fp8_e4m3", "fp8_e4m3")
        return NumericsSpec(conv=mm, linear=mm, vector=VectorNumerics(format="bf16"))
    if precision in ("bf16", "fp16", "fp32"):
        mm = _mm(precision, precision)
        return NumericsSpec(conv=mm, linear=mm, vector=VectorNumerics(format=precision))
    raise ChiplabError(f"native_precision: {precision!r} is not one of int8, fp8, bf16, fp16, fp32")


def preset_numerics(name: str) -> NumericsSpec:
    """Built-in numerics presets by format name: int8, int4, fp8, bf16, fp16, fp32, mxfp8, mxfp6,
    mxfp4, mxint8 (used by the accuracy benchmark and tests)."""
    if name in ("int8", "fp8", "bf16", "fp16", "fp32"):
        return default_numerics(name)
    if name == "int4":
        mm = MatmulNumerics(weight=TensorNumerics(format="int4", granularity="per_channel"),
                            activation=TensorNumerics(format="int8", symmetric=False))
        return NumericsSpec(conv=mm, linear=mm)
    if name in MX_FORMATS:
        mm = MatmulNumerics(weight=TensorNumerics(format=name), activation=TensorNumerics(format=name),
                            accumulator=AccumulatorNumerics(format="fp32"))
        return NumericsSpec(conv=mm, linear=mm, vector=VectorNumerics(format="bf16"))
    raise ChiplabError(f"unknown numerics preset {name!r}")
