"""The main flow in one function: workload + chip → :class:`Estimate`."""
from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, Literal, Sequence

from chiplab.errors import ChiplabError
from chiplab.hw import ChipSpec, load_chip
from chiplab.ir import Graph
from chiplab.perf.memory import check_capacity, tag_state
from chiplab.perf.power import apply_tdp_cap
from chiplab.perf.passes import parse_passes, run_passes
from chiplab.perf.registry import EstimateOptions, model_for
from chiplab.perf.runner import run
from chiplab.perf.timeline import attach_timeline
from chiplab.perf.result import Estimate


def estimate(workload: "str | Path | Graph | Any", chip: "str | Path | ChipSpec", *, batch: int | None = None,
             precision: str | None = None, seq_len: int | None = None,
             compat: Literal["default", "scalesim"] = "default", host_transfers: bool = True,
             inputs: Any = None, input_shapes: Sequence[Sequence[int]] | None = None,
             allow_unsupported: bool = False, passes: "str | tuple[str, ...] | None" = None,
             fuse: bool = True) -> Estimate:
    """Estimate a workload on a chip, layer by layer.

    ``workload``: an ``nn.Module`` (with example ``inputs``, a tensor or a tuple), a
    built-in name (``resnet50``), a torchvision model name, ``file.py:factory``, an
    ``.onnx`` file, a SCALE-Sim topology ``.csv``, or an already captured :class:`Graph`.
    ``chip``: a preset name, a chip YAML, a SCALE-Sim ``.cfg`` or a :class:`ChipSpec`.
    ``batch``: the batch to build the workload at (default 1); the batch reported is
    the one the captured graph has (the leading dim of its first input). For a captured
    :class:`Graph` that records its batch, a different value re-batches it on the IR
    (:meth:`Graph.with_batch`) instead of capturing again.
    ``allow_unsupported``: price ops chiplab has no model for as memory-bound, with a note.
    ``passes``: compiler passes to run (names or ``"a,b"``; default all, see
    :mod:`chiplab.perf.passes`); ``fuse=False`` runs none.
    """
    if batch is not None and batch < 1:
        raise ChiplabError(f"batch must be >= 1, got {batch}")
    if seq_len is not None and seq_len < 1:
        raise ChiplabError(f"seq_len must be >= 1, got {seq_len}")
    spec = load_chip(chip)
    prec = precision or spec.native_precision
    spec.arch.require(prec, spec.name)
    torch = sys.modules.get("torch")   # an nn.Module means torch is loaded; a CSV estimate never imports it
    if torch is not None and isinstance(workload, torch.nn.Module):
        graph = _capture_module(workload, inputs, input_shapes, batch, allow_unsupported)
    elif isinstance(workload, Graph):
        graph = workload
        if batch is not None and graph.meta.get("batch") not in (None, batch):
            graph = graph.with_batch(batch)
    elif isinstance(workload, (str, Path)):
        if inputs is not None:
            raise ChiplabError("inputs= applies to an nn.Module workload; a file.py:factory returns its own "
                               "(use input_shapes= to give it shapes)")
        graph = _load_graph(workload, batch=batch or 1, seq_len=seq_len, input_shapes=input_shapes,
                            allow_unsupported=allow_unsupported)
    else:
        raise ChiplabError(f"workload: expected an nn.Module, a Graph, a workload name or a path, "
                           f"got {type(workload).__name__}")
    graph = tag_state(graph)          # a decode step's KV cache lives on the device
    run_batch = int(graph.meta.get("batch", batch or 1))
    mem, mem_notes = check_capacity(graph, spec, prec, run_batch)
    opts = EstimateOptions(precision=prec, batch=run_batch, compat=compat,
                           host_transfers=host_transfers, passes=parse_passes(passes, fuse))
    model = model_for(spec, opts)
    plan = run_passes(graph, opts.passes if model.fuses else ())
    layers = run(model, graph, plan)
    est = Estimate(chip=spec.name, workload=graph.name, batch=opts.batch, precision=prec, clock_hz=model.clock_hz,
                   peak_macs_per_cycle=model.peak_macs_per_cycle, layers=layers,
                   static_power_w=spec.energy.static_power, price_usd=spec.power.price,
                   notes=list(graph.meta.get("notes", [])) + mem_notes,
                   meta={"compat": compat, "device_memory_bytes": dataclasses.asdict(mem),
                         "passes": plan.summary() if model.fuses else "none (the model does not fuse)"})
    est = apply_tdp_cap(est, spec.power.tdp)   # the power wall, for every architecture
    # latency and steady-state throughput, then no NaN/inf/negative figure
    return attach_timeline(est, spec.memory.dram_bandwidth).checked()


def _load_graph(workload: "str | Path", **kw: Any) -> Graph:
    if Path(str(workload)).suffix.lower() == ".csv":   # SCALE-Sim topology: no torch needed
        from chiplab.capture.scalesim_csv import import_scalesim_csv

        return import_scalesim_csv(str(workload))
    from chiplab.capture.workloads import load_graph

    return load_graph(str(workload), **kw)


def _capture_module(model: Any, inputs: Any, input_shapes: Any, batch: int | None, allow_unsupported: bool) -> Graph:
    """An nn.Module and its example inputs (or shapes) → graph; messages name the class, never the repr."""
    import torch

    from chiplab.capture.torch_export import capture

    name = type(model).__name__
    if inputs is None and input_shapes:
        dev = next((p.device for p in model.parameters()), torch.device("cpu"))
        inputs = tuple(torch.randn(*s, device=dev) for s in input_shapes)
    if inputs is None:
        raise ChiplabError(f"estimate: {name} is an nn.Module; pass its example inputs with inputs= "
                           "(a tensor or a tuple of them) or input_shapes=")
    return capture(model, inputs, name=name, batch=batch, allow_unsupported=allow_unsupported)
