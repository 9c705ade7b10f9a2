"""Deployment-compiler passes on the IR, each switchable and reported.

A pass reads the graph and returns decisions, not a new graph: which element-wise
nodes run in a matrix op's output pipeline ("epilogue"). The runner counts a fused
node as vector work overlapped with its head and no memory traffic of its own, except
the extra operands it must still read once (a residual add's skip tensor).

* ``fuse-epilogue``: single-input element-wise and normalisation tails (bias,
  inference batch-norm folded into scale and shift, activations). Accelerators apply
  these to results as they leave the accumulators (TPU v1's Activation unit, Jouppi et
  al. ISCA 2017; cuDNN/TensorRT epilogues).
* ``fuse-residual``: multi-input element-wise ops (a residual add, then its
  activation) whose chained operand comes from a matrix op's output pipeline: TensorRT
  and cuDNN fuse "conv + add + ReLU" (cuDNN's ConvBiasActivation takes a z operand,
  ``y = act(conv(x) + z)``). The skip operand is still read once; what disappears is the
  add's separate write and re-read of the conv output.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chiplab.errors import ChiplabError
from chiplab.ir.graph import Graph, OpKind, Role, TensorSpec

FUSE_EPILOGUE = "fuse-epilogue"
FUSE_RESIDUAL = "fuse-residual"
PASSES = (FUSE_EPILOGUE, FUSE_RESIDUAL)          # in the order they run; all on by default
FUSABLE = (OpKind.ELEMENTWISE, OpKind.NORM)


@dataclass
class Plan:
    """What the passes decided. ``fused``: {fused node: head matrix node};
    ``side``: {fused node: indices of the inputs it still reads (skip operands)};
    ``chained``: {fused node: index of the input that flows from its head}."""

    passes: tuple[str, ...] = ()
    fused: dict[str, str] = field(default_factory=dict)
    side: dict[str, tuple[int, ...]] = field(default_factory=dict)
    chained: dict[str, int] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the report: which passes ran and what they fused."""
        if not self.passes:
            return "none (no fusion): every element-wise op is its own layer"
        multi = sum(1 for n in self.side if self.side[n])
        return (f"{', '.join(self.passes)}: {len(self.fused)} element-wise ops fused into their producing "
                f"conv/GEMM ({multi} residual adds, each still reading its skip operand once)")


def parse_passes(names: "str | tuple[str, ...] | list[str] | None", fuse: bool = True) -> tuple[str, ...]:
    """Pass names from ``--passes a,b`` (None: all) and ``--no-fuse`` (none)."""
    if not fuse:
        return ()
    if names is None:
        return PASSES
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    for n in names:
        if n not in PASSES:
            raise ChiplabError(f"passes: unknown pass {n!r} (known: {', '.join(PASSES)})")
    return tuple(p for p in PASSES if p in names)


def _activations(inputs: tuple[TensorSpec, ...]) -> list[int]:
    return [i for i, t in enumerate(inputs) if t.role is not Role.WEIGHT and t.numel > 1]


def run_passes(graph: Graph, passes: tuple[str, ...] = PASSES) -> Plan:
    """Run the named passes (see module doc) over ``graph``. ``fuse-residual`` builds on
    ``fuse-epilogue``: an add's chained operand must come out of a fused pipeline.

    A node fuses into head ``h`` when it keeps the shape of its chained operand, that
    operand is produced by ``h`` (or by a node already fused into ``h``), and its producer
    has no other consumer. With ``fuse-residual`` a node may have further activation
    operands (read once); the chained one is the operand produced last in graph order, so
    the others are ready when the head's results stream out."""
    plan = Plan(passes=tuple(passes))
    if not passes:
        return plan
    multi = FUSE_RESIDUAL in passes
    single = FUSE_EPILOGUE in passes
    order = {n.name: i for i, n in enumerate(graph.nodes)}
    by_name = {n.name: n for n in graph.nodes}
    consumers = graph.consumers()
    for n in graph.nodes:
        if n.op not in FUSABLE or not n.outputs:
            continue
        acts = _activations(n.inputs)
        if not acts or (len(acts) == 1 and not single) or (len(acts) > 1 and (not multi or n.op is not OpKind.ELEMENTWISE)):
            continue
        cands = [i for i in acts if n.inputs[i].producer is not None and n.inputs[i].shape == n.outputs[0].shape]
        if not cands:
            continue
        i = max(cands, key=lambda k: order.get(n.inputs[k].producer, -1))
        p = n.inputs[i].producer
        head = p if by_name[p].op.is_matrix else plan.fused.get(p)
        if head is None or len(consumers.get(p, ())) != 1:
            continue
        plan.fused[n.name] = head
        plan.chained[n.name] = i
        plan.side[n.name] = tuple(k for k in acts if k != i)
    return plan
