"""chiplab: try an unmodified PyTorch model on an AI chip before buying one.

    >>> import chiplab
    >>> est = chiplab.estimate("resnet50", "tpu-v1", batch=8)      # doctest: +SKIP
    >>> est.to_dataframe().head()                                   # doctest: +SKIP
"""
from __future__ import annotations

__version__ = "0.1.0"

from chiplab.hw import ChipSpec, list_presets, load_chip
from chiplab.perf.estimate import estimate


def emulate(*args, **kwargs):
    """Run a model under a chip's numerics (see :mod:`chiplab.emu`)."""
    from chiplab.emu import emulate as _emulate

    return _emulate(*args, **kwargs)


def debug(*args, **kwargs):
    """Find the layers where a chip's numerics diverge from fp32 (see :mod:`chiplab.debugger`)."""
    from chiplab.debugger import debug as _debug

    return _debug(*args, **kwargs)


__all__ = ["ChipSpec", "debug", "emulate", "estimate", "list_presets", "load_chip", "__version__"]
