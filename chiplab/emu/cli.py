"""CLI commands ``chiplab run MODEL --chip X`` and ``chiplab debug MODEL --chip X --json``.

Plain typer-compatible functions; the application registers them with
``app.command("run")(run_cmd)`` and ``app.command("debug")(debug_cmd)``.
"""
from __future__ import annotations

import json
import sys
from typing import Optional

import typer


def _model(name: str, batch: int, seed: int):
    """(module, inputs) from the workload registry; torchvision model names as a fallback."""
    import torch

    torch.manual_seed(seed)
    try:
        from chiplab.capture.workloads import build
    except ImportError:
        build = None
    if build is not None:
        model, inputs = build(name, batch=batch, device="cpu")   # the registry defaults to meta tensors
        return model.eval(), tuple(inputs)
    import torchvision

    if not hasattr(torchvision.models, name):
        raise typer.BadParameter(f"unknown model {name!r} (workload registry not available; torchvision has no such model)")
    return getattr(torchvision.models, name)(weights=None).eval(), (torch.randn(batch, 3, 224, 224),)


def _fail(e: BaseException) -> None:
    typer.echo(f"error: {e}", err=True)
    raise typer.Exit(2)


def run_cmd(
    model: str = typer.Argument(..., help="workload name, or file.py:factory"),
    chip: str = typer.Option(..., "--chip", help="chip preset name or chip-file path (or a numerics preset: int8, fp8, mxfp4, ...)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    batch: int = typer.Option(1, "--batch", help="batch size"),
    seed: int = typer.Option(0, "--seed", help="seed for weights/inputs the workload draws"),
    observer: Optional[str] = typer.Option(None, "--observer", help="activation observer: minmax, percentile, mse"),
) -> None:
    """Run MODEL with the chip's numerics and show what the chip outputs (vs fp32)."""
    import torch

    from chiplab.debugger.metrics import compare
    from chiplab.emu import emulate

    torch.set_num_threads(1)
    try:
        m, inputs = _model(model, batch, seed)
        with torch.no_grad():
            ref = m(*inputs)
        res = emulate(m, chip, inputs, observer=observer)
    except (ValueError, TypeError, FileNotFoundError) as e:
        _fail(e)
    out = res.output
    d = res.to_dict()
    if isinstance(out, torch.Tensor) and isinstance(ref, torch.Tensor):
        d["vs_fp32"] = compare(ref, out)
        if out.dim() == 2:
            d["output"]["top5"] = out[0].topk(min(5, out.shape[1])).indices.tolist()
            d["output"]["top1_agrees_with_fp32"] = float((out.argmax(1) == ref.argmax(1)).float().mean())
    if json_out:
        typer.echo(json.dumps(d, indent=2, default=str))
        return
    typer.echo(f"{model} on {res.chip}: output {d['output']}")
    if "vs_fp32" in d:
        v = d["vs_fp32"]
        typer.echo(f"vs fp32: SQNR {v['sqnr_db']} dB, cosine {v['cosine']}, max |err| {v['max_abs_err']}")
    for f in res.fallbacks:
        typer.echo(f"host fallback: {f['layer']} ({f['op']}): {f['reason']}")


def debug_cmd(
    model: str = typer.Argument(..., help="workload name, or file.py:factory"),
    chip: str = typer.Option(..., "--chip", help="chip preset name or chip-file path"),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
    batch: int = typer.Option(1, "--batch", help="batch size"),
    seed: int = typer.Option(0, "--seed"),
    observer: Optional[str] = typer.Option(None, "--observer", help="activation observer: minmax, percentile, mse"),
    fixes: bool = typer.Option(True, "--fixes/--no-fixes", help="suggest and check a fix per culprit"),
    bundle: Optional[str] = typer.Option(None, "--bundle", help="write a repro bundle to this directory"),
) -> None:
    """Name the layers where the chip's numerics diverge from fp32 (per-layer SQNR, cosine, max error)."""
    import torch

    from chiplab.debugger import debug

    torch.set_num_threads(1)
    try:
        m, inputs = _model(model, batch, seed)
        rep = debug(m, chip, inputs, observer=observer, fixes=fixes, bundle=bundle, factory=model)
    except (ValueError, TypeError, FileNotFoundError) as e:
        _fail(e)
    if json_out:
        typer.echo(rep.to_json())
    else:
        typer.echo(rep.summary())


def main() -> None:  # pragma: no cover - for running without the chiplab app
    app = typer.Typer()
    app.command("run")(run_cmd)
    app.command("debug")(debug_cmd)
    app(sys.argv[1:])
