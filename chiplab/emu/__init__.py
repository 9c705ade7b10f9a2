"""Numerics emulation: run a model with a chip's arithmetic (see docs/numerics.md)."""
from chiplab.emu.emulator import EmulationResult, Emulator, emulate
from chiplab.emu.spec import (AccumulatorNumerics, MatmulNumerics, NumericsSpec, OutputNumerics, TensorNumerics,
                              VectorNumerics, default_numerics, preset_numerics)

__all__ = ["AccumulatorNumerics", "EmulationResult", "Emulator", "MatmulNumerics", "NumericsSpec", "OutputNumerics",
           "TensorNumerics", "VectorNumerics", "default_numerics", "emulate", "preset_numerics"]
