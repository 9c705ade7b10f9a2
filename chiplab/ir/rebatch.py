"""Change a captured graph's batch size on the IR, without capturing again.

Which tensors carry the batch: the graph's non-weight inputs (dimension 0), and every
output of a node that reads a batched tensor (dimension 0 again: ``(B, ...)`` or a
flattened ``(B*S, ...)``). Weights, buffers and constants built inside the graph
(position ids) do not, except an ``expand`` to the batch or a 1-D ``arange`` of the
batch size (how Hugging Face broadcasts token-type ids and builds masks). A batched node's MACs and vector
operations scale with the batch; its shapes are re-derived the way the capture
derives them (:mod:`chiplab.capture.torch_export`): a convolution's ``N``; a product
whose batch is folded into ``M`` (``linear``, ``addmm``, ``(..., M, K) @ (K, N)``) gets
a new ``M``; a batched product (``bmm``, attention) a new ``batch``. Every batched
dimension must be a multiple of the old batch. Sequence length is not changed here.
"""
from __future__ import annotations

import dataclasses
import math

from chiplab.ir.graph import GemmShape, Graph, GraphError, Node, Role, TensorSpec


def _scale(n: int, old: int, new: int, what: str) -> int:
    if n % old:
        raise GraphError(f"re-batch: {what} has size {n}, not a multiple of the captured batch {old}")
    return n // old * new


def _rebatch_tensor(t: TensorSpec, old: int, new: int, what: str) -> TensorSpec:
    if not t.shape:
        return t
    return dataclasses.replace(t, shape=(_scale(t.shape[0], old, new, what), *t.shape[1:]))


def _gemm(node: Node, a_old: TensorSpec | None, a_new: TensorSpec | None, old: int, new: int) -> GemmShape:
    g = node.gemm
    if node.conv is not None:
        return node.conv.as_gemm()
    if a_old is None or a_new is None or len(a_old.shape) < 2:
        raise GraphError(f"re-batch: {node.label}: cannot tell how the batch enters its GemmShape")
    if g.batch == 1 and g.M == math.prod(a_old.shape[:-1]):       # batch folded into M (linear, addmm)
        return dataclasses.replace(g, M=math.prod(a_new.shape[:-1]))
    if g.batch == math.prod(a_old.shape[:-2]) and g.M == a_old.shape[-2]:   # batched product (bmm, attention)
        return dataclasses.replace(g, batch=math.prod(a_new.shape[:-2]))
    raise GraphError(f"re-batch: {node.label}: cannot tell how the batch enters its GemmShape {g}")


def _makes_batch(n: Node, old: int) -> bool:
    """A node that brings in the batch without reading a batched tensor: an ``expand``
    to the batch (Hugging Face's token-type ids and attention masks) or a 1-D ``arange``
    over it (a mask's batch index)."""
    if len(n.outputs) != 1 or not n.outputs[0].shape:
        return False
    shape = n.outputs[0].shape
    if n.target.startswith("aten.expand"):
        return shape[0] == old
    return "arange" in n.target and not n.inputs and shape == (old,)


def with_batch(graph: Graph, batch: int) -> Graph:
    """``graph`` at ``batch`` (see module doc); the graph itself when the batch is unchanged."""
    old = graph.meta.get("batch")
    if old is None:
        raise GraphError(f"re-batch: graph {graph.name!r} does not record the batch it was captured at (meta['batch'])")
    old = int(old)
    if batch < 1:
        raise GraphError(f"re-batch: batch must be >= 1, got {batch}")
    if batch == old:
        return graph
    inputs = tuple(t if t.role is Role.WEIGHT else _rebatch_tensor(t, old, batch, f"graph input {i}")
                   for i, t in enumerate(graph.inputs))
    batched_inputs = {id(t) for t in graph.inputs if t.role is not Role.WEIGHT}
    input_shapes = {(t.shape, t.dtype) for t in graph.inputs if t.role is not Role.WEIGHT}
    batched: set[str] = set()
    nodes: list[Node] = []
    for n in graph.nodes:
        def is_batched(t: TensorSpec) -> bool:
            if t.producer is not None:
                return t.producer in batched
            return t.role is not Role.WEIGHT and (id(t) in batched_inputs or (t.shape, t.dtype) in input_shapes)

        flags = [is_batched(t) for t in n.inputs]
        if not any(flags) and not _makes_batch(n, old):
            nodes.append(n)
            continue
        batched.add(n.name)
        ins = tuple(_rebatch_tensor(t, old, batch, f"{n.label} input") if f else t for t, f in zip(n.inputs, flags))
        outs = tuple(_rebatch_tensor(t, old, batch, f"{n.label} output") for t in n.outputs)
        upd: dict = {"inputs": ins, "outputs": outs,
                     "vector_ops": _scale(n.vector_ops, old, batch, f"{n.label} vector ops") if n.vector_ops else 0}
        if n.conv is not None:
            upd["conv"] = dataclasses.replace(n.conv, N=_scale(n.conv.N, old, batch, f"{n.label} conv N"))
        if n.gemm is not None:
            k = next((i for i, t in enumerate(n.inputs) if t.role is not Role.WEIGHT), None)
            tmp = dataclasses.replace(n, **upd)
            g = _gemm(tmp, n.inputs[k] if k is not None else None, ins[k] if k is not None else None, old, batch)
            upd["gemm"], upd["macs"] = g, g.macs
        elif n.macs:
            upd["macs"] = _scale(n.macs, old, batch, f"{n.label} MACs")
        nodes.append(dataclasses.replace(n, **upd))
    return dataclasses.replace(graph, nodes=nodes, inputs=inputs, meta={**graph.meta, "batch": batch}).validate()
