"""What an accelerator can run, read from one place: its chip spec.

``capabilities(spec)`` gives the op kinds the chip runs, its precisions (``arch.precisions``)
and the op classes its ``numerics.host`` list leaves to the host (an op class with ``conv`` or
``linear`` set to null in ``numerics`` is left to the host too, as ``chiplab.emu`` reads it).
``host_reason`` says why one IR node must run on the host, or None when the chip can run it.
"""
from __future__ import annotations

from typing import NamedTuple

from chiplab.emu.resolve import numerics_of
from chiplab.emu.spec import OP_CLASSES
from chiplab.ir.graph import Node, OpKind

# IR op kinds by the numerics op class (chiplab/emu/spec.py OP_CLASSES) that covers them.
_KINDS_OF_CLASS = {"conv": (OpKind.CONV,), "linear": (OpKind.GEMM,), "norm": (OpKind.NORM,),
                   "softmax": (OpKind.SOFTMAX,), "pool": (OpKind.POOL,), "activation": (),
                   "elementwise": (OpKind.REDUCE,)}
# Element-wise functions the emulator treats as activations (chiplab/emu/layers.py _ACT).
_ACTIVATIONS = {"relu", "relu_", "relu6", "hardtanh", "hardtanh_", "gelu", "gelu_", "silu", "silu_", "sigmoid",
                "sigmoid_", "tanh", "tanh_", "hardswish", "hardswish_", "hardsigmoid", "leaky_relu", "mish", "elu"}


class Capabilities(NamedTuple):
    op_kinds: frozenset[OpKind]     # IR op kinds the accelerator can run (before per-function checks)
    precisions: tuple[str, ...]     # arch.precisions of the accelerator's matrix unit
    host: tuple[str, ...]           # numerics op classes the chip leaves to its host


def capabilities(spec) -> Capabilities:
    numerics = numerics_of(spec)
    host = tuple(c for c in OP_CLASSES if numerics.on_host(c))
    kinds = set(OpKind)
    for c in host:
        kinds -= set(_KINDS_OF_CLASS[c])
    return Capabilities(frozenset(kinds), tuple(spec.arch.precisions), host)


def op_class(node: Node) -> str | None:
    """The numerics op class of an IR node (None: views, data movement, embeddings, hardware blocks)."""
    if node.op is OpKind.ELEMENTWISE:
        fn = str(node.attrs.get("fn", ""))
        return "activation" if fn in _ACTIVATIONS else "elementwise"
    for c, kinds in _KINDS_OF_CLASS.items():
        if node.op in kinds:
            return c
    return None


def host_reason(node: Node, caps: Capabilities, precision: str) -> str | None:
    """Why ``node`` cannot run on the accelerator at ``precision``; None when it can."""
    if node.attrs.get("unsupported"):
        return f"custom op {node.attrs.get('fn', node.target)!r}: no accelerator kernel"
    cls = op_class(node)
    if cls is not None and cls in caps.host:
        return f"op class {cls!r} is in the chip's numerics host list"
    if node.op not in caps.op_kinds:
        return f"op kind {node.op.value!r} not supported by the chip"
    if node.op.is_matrix and precision not in caps.precisions:
        return f"{precision} matrix op; the chip supports {', '.join(caps.precisions)}"
    return None
