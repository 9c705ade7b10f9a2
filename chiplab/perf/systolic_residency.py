"""Which activations stay on chip between layers (default mode).

Real arrays keep activations in an on-chip buffer between layers when they fit —
TPU v1's 24 MiB Unified Buffer holds a network's activations while only weights
stream from DDR3 (Jouppi et al., ISCA 2017). SCALE-Sim instead reads every layer's
ifmap from DRAM and writes its ofmap back, and ``--compat scalesim`` keeps that.

The plan walks the graph in order with a liveness count: a node's output stays on
chip when it has consumers and fits, next to every tensor still live, in
``capacity`` bytes; it is freed after its last consumer. VIEW nodes alias their
input (no bytes). Graph inputs and outputs live in DRAM (the host link moves them).
Greedy and O(nodes).
"""
from __future__ import annotations

from dataclasses import dataclass

from chiplab.ir.graph import Graph, OpKind
from chiplab.perf.common import tensor_bytes


@dataclass(frozen=True)
class Residency:
    """For one node: which of its inputs are read from chip, and whether its output stays."""

    inputs_on_chip: tuple[bool, ...]
    output_on_chip: bool


def plan_residency(graph: Graph, capacity: float, precision: str, fused: dict[str, str] | None = None,
                   chained: dict[str, int] | None = None) -> dict[str, Residency]:
    """Greedy on-chip residency of activations for ``graph`` in ``capacity`` bytes.
    ``fused`` nodes (see :mod:`chiplab.perf.passes`; ``chained``: the input each one flows from) write no tensor of their
    own: like views they alias their producer's bytes."""
    fused = fused or {}
    root: dict[str, str] = {}                 # VIEW / fused node -> the node whose bytes it aliases
    for n in graph.nodes:
        if n.name in fused:
            k = (chained or {}).get(n.name)
            src = n.inputs[k].producer if k is not None else next(t.producer for t in n.inputs if t.producer is not None)
            root[n.name] = root.get(src, src)
        elif n.op is OpKind.VIEW and n.inputs and n.inputs[0].producer is not None:
            root[n.name] = root.get(n.inputs[0].producer, n.inputs[0].producer)

    def base(name: str | None) -> str | None:
        return None if name is None else root.get(name, name)

    last_use: dict[str, int] = {}
    for i, n in enumerate(graph.nodes):
        for t in n.inputs:
            b = base(t.producer)
            if b is not None:
                last_use[b] = i
    plan: dict[str, Residency] = {}
    live: dict[str, float] = {}
    for i, n in enumerate(graph.nodes):
        if n.name in fused:    # a fused residual add reads its skip operand from here
            plan[n.name] = Residency(tuple(base(t.producer) in live for t in n.inputs), False)
            continue
        if n.op is OpKind.VIEW:
            continue
        on_chip = tuple(base(t.producer) in live for t in n.inputs)
        out_bytes = sum(tensor_bytes(t, precision) for t in n.outputs)
        keep = (n.op is not OpKind.HW_BLOCK and n.name in last_use and out_bytes > 0
                and out_bytes + sum(live.values()) <= capacity)
        for name in [k for k in live if last_use[k] <= i]:
            del live[name]
        if keep:
            live[n.name] = out_bytes
        plan[n.name] = Residency(on_chip, keep)
    return plan
