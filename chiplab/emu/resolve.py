"""Turn the ``chip`` argument of emulate/debug into (name, NumericsSpec)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from chiplab.emu.spec import NumericsSpec, default_numerics, preset_numerics
from chiplab.errors import ChiplabError


def resolve_chip(chip: Any) -> tuple[str, NumericsSpec]:
    """Accepts a NumericsSpec, a ChipSpec-like object (``.numerics`` and ``.native_precision``),
    a chip preset name or YAML path (via ``chiplab.hw.load_chip``), or a numerics preset name
    (int8, int4, fp8, bf16, fp16, fp32, mxfp8, mxfp6, mxfp4, mxint8)."""
    if isinstance(chip, NumericsSpec):
        return "custom", chip
    if hasattr(chip, "native_precision") and hasattr(chip, "numerics"):
        return getattr(chip, "name", "chip"), numerics_of(chip)
    if isinstance(chip, (str, Path)):
        name = str(chip)
        try:
            from chiplab.hw import load_chip  # provided by the hardware package
        except ImportError:
            load_chip = None
        if load_chip is not None:
            try:
                spec = load_chip(name)
            except Exception as e:  # not a chip preset/file: maybe a numerics preset
                try:
                    return name, preset_numerics(name)
                except ValueError:
                    raise ChiplabError(f"chip: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None
            return getattr(spec, "name", name), numerics_of(spec)
        return name, preset_numerics(name)
    raise ChiplabError(f"chip: expected a preset name, chip-file path, ChipSpec or NumericsSpec, got {type(chip).__name__}")


def numerics_of(spec: Any) -> NumericsSpec:
    n = spec.numerics
    if n is None:
        return default_numerics(spec.native_precision)
    if isinstance(n, NumericsSpec):
        return n
    try:
        return NumericsSpec.model_validate(n)
    except ValueError as e:
        raise ChiplabError(f"numerics: {str(e).splitlines()[0]}: {str(e).splitlines()[1:3]}") from None
