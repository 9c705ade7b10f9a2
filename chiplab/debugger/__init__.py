"""Divergence debugger: which layers make the chip's output differ from fp32 (see docs/numerics.md)."""
from chiplab.debugger.core import debug
from chiplab.debugger.report import DebugReport

__all__ = ["DebugReport", "debug"]
