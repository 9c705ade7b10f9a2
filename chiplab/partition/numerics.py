"""The numerics of a split model: host parts in fp32, accelerator parts under the chip's numerics.

A placement names IR nodes; the emulator (:mod:`chiplab.emu`) is keyed by module path. Every IR
node captured from a module carries that module's path (``Node.module_path``, from
``nn_module_stack``), so the nodes of one leaf module (an ``nn.Linear``, an ``nn.Softmax``) share
its path. A leaf module the emulator models runs on the host (``overrides={path: "host"}``: fp32)
when any of its compute nodes (those with a numerics op class, or a matrix op) is placed on the
host; otherwise under the chip's numerics. Nodes outside a leaf module (functional ops such as
``q @ k.T`` inside an attention block) have no module of their own to override: they follow the
chip's vector format wherever they are placed (fp32 on an int8 chip, so nothing changes there);
:func:`overrides_for` counts them as ``unmapped``.
"""
from __future__ import annotations

from typing import Any, Mapping

from chiplab.ir.graph import Graph
from chiplab.partition.capability import op_class


def _leaf_layers(model) -> set[str]:
    from chiplab.emu.layers import op_class as emu_class

    return {p for p, m in model.named_modules()
            if p and not any(True for _ in m.children()) and emu_class(m) is not None}


def overrides_for(graph: Graph, placement: Mapping[str, str], model) -> tuple[dict[str, str], int]:
    """(emulator overrides ``{module path: "host"}``, the number of host-placed compute nodes
    that belong to no leaf module of ``model``) for ``placement`` of ``graph``."""
    leaves = _leaf_layers(model)
    host: dict[str, str] = {}
    unmapped = 0
    for n in graph.nodes:
        if placement.get(n.name) != "host" or (op_class(n) is None and not n.op.is_matrix):
            continue
        if n.module_path in leaves:
            host[n.module_path] = "host"
        else:
            unmapped += 1
    return host, unmapped


def reference(model, inputs: tuple) -> Any:
    """The fp32 output of ``model`` on ``inputs``."""
    import torch

    with torch.no_grad():
        return model(*inputs)


def measure(model, chip, inputs: tuple, ref: Any, overrides: Mapping[str, str] | None = None) -> dict:
    """SQNR, cosine, max |err| (chiplab/debugger/metrics.py) and top-1 agreement of the emulated
    output against the fp32 reference ``ref``."""
    import torch

    from chiplab.debugger.metrics import agreement, compare, flat
    from chiplab.emu import emulate

    out = emulate(model, chip, inputs, overrides=dict(overrides or {})).output
    d = compare(ref, out)
    r, o = (ref, out) if isinstance(ref, torch.Tensor) else (flat(ref), flat(out))
    d["top1_agreement"] = agreement(r, o) if "degenerate_reference" not in d and r.dim() >= 1 else None
    return d


def accuracy(graph: Graph, results: Mapping[str, Any], model, chip, inputs: tuple) -> dict[str, dict]:
    """Per policy: the split model's output vs fp32 (see :func:`measure`), stored in
    ``results[policy].accuracy`` too. Policies with the same host modules share one run."""
    ref = reference(model, inputs)
    seen: dict[frozenset, dict] = {}
    out = {}
    for name, r in results.items():
        ov, unmapped = overrides_for(graph, r.placement, model)
        key = frozenset(ov)
        if key not in seen:
            seen[key] = measure(model, chip, inputs, ref, ov)
        r.accuracy = {**seen[key], "host_modules": len(ov), "unmapped_host_nodes": unmapped}
        out[name] = r.accuracy
    return out
