"""The main flow in one function: workload + chip → :class:`Estimate`."""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

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


def estimate(workload: "str | Path | Graph", chip: "str | Path | ChipSpec", *, batch: int | None = None,
             precision: str | None = None, seq_len: int | None = None,
             compat: Literal["default", "scalesim"] = "default", host_transfers: bool = True,
             passes: "str | tuple[str, ...] | None" = None, fuse: bool = True) -> Estimate:
    """Estimate a workload on a chip, layer by layer.

    ``workload``: a built-in name (``resnet50``), ``file.py:factory``, an ``.onnx``
    file, a SCALE-Sim topology ``.csv``, or an already captured :class:`Graph`.
    ``chip``: a preset name, a chip YAML, a SCALE-Sim ``.cfg`` or a :class:`ChipSpec`.
    ``batch`` (default 1): for a captured :class:`Graph` that records its batch, a different
    value re-batches it on the IR (:meth:`Graph.with_batch`) instead of capturing again.
    ``passes``: compiler passes to run (names or ``"a,b"``; default all, see
    :mod:`chiplab.perf.passes`); ``fuse=False`` runs none.
    """
    if batch is not None and batch < 1:
        raise ChiplabError(f"batch must be >= 1, got {batch}")
    if isinstance(workload, Graph) and batch is not None and workload.meta.get("batch") not in (None, batch):
        workload = workload.with_batch(batch)
    batch = batch or 1
    spec = load_chip(chip)
    prec = precision or spec.native_precision
    spec.arch.require(prec, spec.name)
    graph = workload if isinstance(workload, Graph) else _load_graph(workload, batch=batch, seq_len=seq_len)
    graph = tag_state(graph)          # a decode step's KV cache lives on the device
    mem, mem_notes = check_capacity(graph, spec, prec, int(graph.meta.get("batch", batch)))
    opts = EstimateOptions(precision=prec, batch=int(graph.meta.get("batch", batch)), compat=compat,
                           host_transfers=host_transfers, passes=parse_passes(passes, fuse))
    model = model_for(spec, opts)
    plan = run_passes(graph, opts.passes if model.fuses else ())
    layers = run(model, graph, plan)
    est = Estimate(chip=spec.name, workload=graph.name, batch=opts.batch, precision=prec, clock_hz=model.clock_hz,
                   peak_macs_per_cycle=model.peak_macs_per_cycle, layers=layers,
                   static_power_w=spec.energy.static_power, price_usd=spec.power.price,
                   notes=mem_notes, meta={"compat": compat, "device_memory_bytes": dataclasses.asdict(mem),
                                          "passes": plan.summary() if model.fuses else "none (the model does not fuse)"})
    est = apply_tdp_cap(est, spec.power.tdp)   # the power wall, for every architecture
    return attach_timeline(est, spec.memory.dram_bandwidth)   # latency and steady-state throughput


def _load_graph(workload: "str | Path", *, batch: int, seq_len: int | None) -> Graph:
    if Path(str(workload)).suffix.lower() == ".csv":   # SCALE-Sim topology: no torch needed
        from chiplab.capture.scalesim_csv import import_scalesim_csv

        return import_scalesim_csv(str(workload))
    from chiplab.capture.workloads import load_graph

    return load_graph(str(workload), batch=batch, seq_len=seq_len)
