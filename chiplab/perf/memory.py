"""Device memory: which graph inputs are device-resident state, and does the workload fit.

A decode step reads a KV cache that lives in device DRAM between steps (vLLM's paged
KV cache, TensorRT-LLM's KV cache manager, Hugging Face's ``DynamicCache`` on the
GPU); only the new token ids cross the host link. Such inputs carry
:attr:`~chiplab.ir.graph.Role.STATE`: they are never charged as host transfers, and
they count against the device's DRAM capacity next to the weights and the peak of
live activations.

:func:`tag_state` marks them: a capture that already tags inputs ``Role.STATE`` is
kept as is; ``graph.meta["state_inputs"]`` (indices into ``graph.inputs``) tags those;
a built-in ``*-decode`` workload (``chiplab.capture.workloads._DecodeStep``, whose
inputs are ``ids, keys, values``) gets its floating-point inputs tagged.

:func:`device_memory` adds up weights + state + peak live activations at the
estimate's precision, and :func:`check_capacity` refuses (one-line
:class:`~chiplab.errors.CapacityError`) a workload that does not fit in
``memory.dram_capacity``.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from chiplab.errors import CapacityError
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import Graph, Node, OpKind, Role
from chiplab.perf.common import tensor_bytes

GIB = 2 ** 30
_FLOAT = ("float", "bfloat")


def state_indices(graph: Graph) -> set[int]:
    """Indices of ``graph.inputs`` that are device-resident state (see module doc)."""
    idx = {i for i, t in enumerate(graph.inputs) if t.role is Role.STATE}
    meta = graph.meta.get("state_inputs")
    if meta is not None:
        return idx | {int(i) for i in meta}
    if not idx and graph.name.endswith("-decode"):   # built-in decode step: (ids, keys, values)
        idx = {i for i, t in enumerate(graph.inputs) if t.dtype.startswith(_FLOAT)}
    return idx


def tag_state(graph: Graph) -> Graph:
    """``graph`` with its state inputs' role set to ``Role.STATE`` and copies of state
    elided (a copy when anything changes).

    ``cat`` of one tensor with empty ones is that tensor (``DynamicCache.update`` on an
    empty cache does ``torch.cat([empty, keys])``); it becomes a VIEW of the one operand, so
    the KV cache is neither copied in time nor counted twice in memory.
    """
    idx = state_indices(graph)
    nodes = [_elide_empty_cat(n) for n in graph.nodes]
    if all(graph.inputs[i].role is Role.STATE for i in idx if i < len(graph.inputs)) and \
            all(a is b for a, b in zip(nodes, graph.nodes)):
        return graph
    inputs = tuple(dataclasses.replace(t, role=Role.STATE) if i in idx else t for i, t in enumerate(graph.inputs))
    return dataclasses.replace(graph, nodes=nodes, inputs=inputs)


def _elide_empty_cat(n: Node) -> Node:
    if n.op is not OpKind.DATA_MOVEMENT or not n.target.startswith("aten.cat"):
        return n
    full = [t for t in n.inputs if t.numel > 0]
    if len(full) != 1 or len(n.outputs) != 1 or full[0].shape != n.outputs[0].shape:
        return n
    return dataclasses.replace(n, op=OpKind.VIEW, inputs=tuple(full), vector_ops=0,
                               attrs={**n.attrs, "elided": "cat with empty tensors"})


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes a run needs on the device at once."""

    weights: float
    state: float
    activations: float            # peak of live activations (graph inputs and outputs included)

    @property
    def total(self) -> float:
        return self.weights + self.state + self.activations


def weight_bytes(graph: Graph, precision: str) -> float:
    """Bytes of the weights each node reads (a weight read by two nodes, e.g. tied
    embeddings, is counted twice: the IR does not name tensors)."""
    return sum(tensor_bytes(t, precision) for n in graph.nodes for t in n.inputs
               if t.role is Role.WEIGHT and t.producer is None)


def peak_activation_bytes(graph: Graph, precision: str) -> float:
    """Largest sum of live activations over the run, walking the graph in order: a node's
    output is live from the node to its last consumer (to the end for graph outputs);
    VIEW nodes alias their input. Non-state graph inputs are live throughout."""
    root: dict[str, str] = {}
    for n in graph.nodes:
        if n.op is OpKind.VIEW and n.inputs and n.inputs[0].producer is not None:
            root[n.name] = root.get(n.inputs[0].producer, n.inputs[0].producer)
    last_use: dict[str, int] = {}
    for i, n in enumerate(graph.nodes):
        for t in n.inputs:
            if t.producer is not None:
                b = root.get(t.producer, t.producer)
                last_use[b] = max(last_use.get(b, -1), i)
    end = len(graph.nodes)
    outs = graph.meta.get("outputs")
    out_names = set(outs) if outs is not None else {k for k, c in graph.consumers().items() if not c}
    for nm in out_names:
        last_use[root.get(nm, nm)] = end
    base = sum(tensor_bytes(t, precision) for t in graph.inputs if t.role not in (Role.WEIGHT, Role.STATE))
    live: dict[str, float] = {}
    peak = base
    for i, n in enumerate(graph.nodes):
        if n.op is not OpKind.VIEW:
            live[n.name] = sum(tensor_bytes(t, precision) for t in n.outputs)
        peak = max(peak, base + sum(live.values()))
        for k in [k for k in live if last_use.get(k, i) <= i]:
            del live[k]
    return peak


def device_memory(graph: Graph, precision: str) -> DeviceMemory:
    state = sum(tensor_bytes(t, precision) for t in graph.inputs if t.role is Role.STATE)
    return DeviceMemory(weight_bytes(graph, precision), state, peak_activation_bytes(graph, precision))


def check_capacity(graph: Graph, chip: ChipSpec, precision: str, batch: int) -> tuple[DeviceMemory, list[str]]:
    """(memory needed, notes). Raises :class:`CapacityError` when it exceeds ``memory.dram_capacity``;
    notes say when the chip has no capacity figure (nothing was checked)."""
    mem = device_memory(graph, precision)
    cap = chip.memory.dram_capacity
    if cap is None:
        return mem, [f"{chip.name}: no memory.dram_capacity, so whether {graph.name} fits "
                     f"({_gib(mem.total)} at {precision}) was not checked"]
    if mem.total > cap:
        seq = graph.meta.get("seq_len")
        what = f"{graph.name} at batch {batch}" + (f" x {seq} tokens" if seq and mem.state else "")
        parts = [f"{_gib(mem.weights)} weights"] + ([f"{_gib(mem.state)} KV cache/state"] if mem.state else []) + \
            [f"{_gib(mem.activations)} peak activations"]
        raise CapacityError(f"{chip.name}: {what} ({precision}) needs {' + '.join(parts)} = {_gib(mem.total)}, "
                            f"device has {_gib(cap)} (short by {_gib(mem.total - cap)})")
    return mem, []


def _gib(b: float) -> str:
    return f"{b / GIB:.1f} GiB" if b >= GIB / 10 else f"{b / 2 ** 20:.1f} MiB"


__all__ = ["DeviceMemory", "check_capacity", "device_memory", "state_indices", "tag_state"]
