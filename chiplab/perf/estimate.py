"""The main flow in one function: workload + chip → :class:`Estimate`."""
from __future__ import annotations

from pathlib import Path
from typing import Literal

from chiplab.hw import ChipSpec, load_chip
from chiplab.ir import Graph
from chiplab.perf.power import apply_tdp_cap
from chiplab.perf.registry import EstimateOptions, model_for
from chiplab.perf.result import Estimate


def estimate(workload: "str | Path | Graph", chip: "str | Path | ChipSpec", *, batch: int = 1,
             precision: str | None = None, seq_len: int | None = None,
             compat: Literal["default", "scalesim"] = "default", host_transfers: bool = True) -> Estimate:
    """Estimate a workload on a chip, layer by layer.

    ``workload``: a built-in name (``resnet50``), ``file.py:factory``, an ``.onnx``
    file, a SCALE-Sim topology ``.csv``, or an already captured :class:`Graph`.
    ``chip``: a preset name, a chip YAML, a SCALE-Sim ``.cfg`` or a :class:`ChipSpec`.
    """
    if batch < 1:
        raise ValueError(f"batch must be >= 1, got {batch}")
    spec = load_chip(chip)
    prec = precision or spec.native_precision
    spec.arch.require(prec, spec.name)
    graph = workload if isinstance(workload, Graph) else _load_graph(workload, batch=batch, seq_len=seq_len)
    opts = EstimateOptions(precision=prec, batch=int(graph.meta.get("batch", batch)), compat=compat,
                           host_transfers=host_transfers)
    model = model_for(spec, opts)
    layers = model.run(graph)
    est = Estimate(chip=spec.name, workload=graph.name, batch=opts.batch, precision=prec, clock_hz=model.clock_hz,
                   peak_macs_per_cycle=model.peak_macs_per_cycle, layers=layers,
                   static_power_w=spec.energy.static_power, price_usd=spec.power.price, meta={"compat": compat})
    post = getattr(model, "finalize", None)   # whole-run post-processing a model may need
    if post is not None:
        est = post(est)
    return apply_tdp_cap(est, spec.power.tdp).checked()  # the power wall, then no NaN/inf/negative figure


def _load_graph(workload: "str | Path", *, batch: int, seq_len: int | None) -> Graph:
    from chiplab.capture.workloads import load_graph

    return load_graph(str(workload), batch=batch, seq_len=seq_len)
