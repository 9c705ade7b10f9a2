"""CLI commands ``chiplab run MODEL --chip X`` and ``chiplab debug MODEL --chip X --json``.

Plain typer-compatible functions; the application registers them with
``app.command("run")(run_cmd)`` and ``app.command("debug")(debug_cmd)``. Errors end as one line
and exit code 2 through :func:`chiplab.cli._fail` (``CHIPLAB_DEBUG=1`` shows the traceback).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from chiplab.errors import ChiplabError


class ModelRefError(ChiplabError):
    """A model reference run/debug cannot turn into a PyTorch module."""


def _fail(e: BaseException) -> None:
    from chiplab.cli import _fail as fail     # imported here: chiplab.cli imports this module

    fail(e)


def _build(name: str, batch: int, device: str):
    """(module, inputs): the workload registry, then torchvision model names (swin_t, efficientnet_b0, ...)."""
    import torch

    from chiplab.capture.workloads import WORKLOADS, WorkloadError, build

    if Path(name).suffix.lower() == ".onnx":
        raise ModelRefError(f"{name}: run/debug need a PyTorch model and no ONNX-to-PyTorch converter (onnx2torch) is "
                            "installed; `chiplab estimate` reads .onnx, for run/debug pass file.py:factory")
    try:
        return build(name, batch=batch, device=device)
    except WorkloadError:
        import torchvision

        if name in WORKLOADS or ":" in name or not callable(getattr(torchvision.models, name, None)) \
                or name not in torchvision.models.list_models():
            raise
        with torch.device(device):
            return getattr(torchvision.models, name)(weights=None).eval(), (torch.randn(batch, 3, 224, 224),)


def _model(name: str, batch: int, seed: int, copies: int, command: str):
    """(module, inputs) on the CPU in fp32, after checking on the meta device that it fits."""
    import torch

    from chiplab.emu.memory import check_fits

    try:
        meta, _ = _build(name, batch, "meta")
    except ChiplabError:
        raise
    except Exception:  # noqa: BLE001 - a factory that cannot build on meta: check after building instead
        meta = None
    if meta is not None:
        check_fits(name, meta, copies, command)
        del meta
    torch.manual_seed(seed)
    model, inputs = _build(name, batch, "cpu")
    inputs = tuple(inputs) if isinstance(inputs, (tuple, list)) else (inputs,)
    notes = []
    if any(isinstance(t, torch.Tensor) and t.is_floating_point() and t.dtype != torch.float32 for t in inputs) or \
            any(p.is_floating_point() and p.dtype != torch.float32 for p in model.parameters()):
        notes.append("inputs/weights that were not fp32 are cast to fp32, the emulator's working precision "
                     "(the chip's formats are applied by the emulated layers)")
        model = model.float()
        inputs = tuple(t.float() if isinstance(t, torch.Tensor) and t.is_floating_point() else t for t in inputs)
    return model.eval(), inputs, notes


def _check_bundle_path(bundle: Optional[str]) -> None:
    if bundle is not None and Path(bundle).exists() and not Path(bundle).is_dir():
        raise ChiplabError(f"--bundle: {bundle} is an existing file; give a directory (it is created if missing)")


def _placement_overrides(placement: Optional[Path], model: str, batch: int, m) -> tuple[dict, list[str]]:
    """Emulator overrides of a ``chiplab partition`` placement file: its host modules run in fp32."""
    if placement is None:
        return {}, []
    from chiplab.capture.workloads import load_graph
    from chiplab.partition import load_placement
    from chiplab.partition.numerics import overrides_for

    graph = load_graph(model, batch=batch)
    ov, unmapped = overrides_for(graph, load_placement(placement, graph), m)
    note = [f"placement {placement}: {len(ov)} modules on the host (fp32)"
            + (f"; {unmapped} host nodes outside a leaf module follow the chip's vector format" if unmapped else "")]
    return ov, note


PLACEMENT_HELP = "a `chiplab partition` placement file: its host parts run in fp32, the rest under the chip's numerics"


def run_cmd(
    model: str = typer.Argument(..., help="workload name, torchvision model name, or file.py:factory"),
    chip: str = typer.Option(..., "--chip", help="chip preset name or chip-file path (or a numerics preset: int8, fp8, mxfp4, ...)"),
    json_out: bool = typer.Option(False, "--json", help="print JSON"),
    batch: int = typer.Option(1, "--batch", help="batch size"),
    seed: int = typer.Option(0, "--seed", help="seed for weights/inputs the workload draws"),
    observer: Optional[str] = typer.Option(None, "--observer", help="activation observer: minmax, percentile, mse"),
    placement: Optional[Path] = typer.Option(None, "--placement", help=PLACEMENT_HELP),
) -> None:
    """Run MODEL with the chip's numerics and show what the chip outputs (vs fp32)."""
    import torch

    from chiplab.debugger.metrics import agreement, compare_tree
    from chiplab.emu import emulate
    from chiplab.emu.emulator import check_finite

    torch.set_num_threads(1)
    try:
        m, inputs, notes = _model(model, batch, seed, 3, "run")
        check_finite(inputs)
        ov, placed = _placement_overrides(placement, model, batch, m)
        notes += placed
        with torch.no_grad():
            ref = m(*inputs)
        from chiplab.cli import busy

        with busy(f"running {model} under {chip}'s numerics"):
            res = emulate(m, chip, inputs, observer=observer, overrides=ov)
        out = res.output
        d = res.to_dict()
        d["warnings"] = notes + d["warnings"]
        d["vs_fp32"] = compare_tree(ref, out)
    except (ChiplabError, FileNotFoundError) as e:
        _fail(e)
        return
    if isinstance(out, torch.Tensor) and isinstance(ref, torch.Tensor) and out.dim() == 2:
        d["output"]["top5"] = out[0].topk(min(5, out.shape[1])).indices.tolist()
        agree = agreement(ref, out) if "degenerate_reference" not in d["vs_fp32"] else None
        d["output"]["top1_agrees_with_fp32"] = agree
        if agree is None:
            d["warnings"].append("top-1 agreement not computed: NaN/inf in the output or a degenerate fp32 reference")
    if json_out:
        from chiplab.debugger.report import _clean

        typer.echo(json.dumps(_clean(d), indent=2, default=str, allow_nan=False))
        return
    typer.echo(f"{model} on {res.chip}: output {d['output']}")
    v = d["vs_fp32"]
    typer.echo(_vs_line("vs fp32", v))
    for k, lv in v.get("leaves", {}).items():
        typer.echo(_vs_line(f"  {k}", lv))
    for w in d["warnings"]:
        typer.echo(f"warning: {w}")
    groups: dict[tuple, list[str]] = {}
    for f in res.fallbacks:               # one line per kind of fallback, not per layer
        groups.setdefault((f["op"], f["reason"]), []).append(f["layer"])
    for (op, reason), paths in groups.items():
        where = paths[0] if len(paths) == 1 else f"{len(paths)} layers ({', '.join(paths[:3])}{', ...' if len(paths) > 3 else ''})"
        typer.echo(f"host fallback: {where} ({op}): {reason}")


def _vs_line(label: str, v: dict) -> str:
    if "degenerate_reference" in v:
        return f"{label}: fp32 reference is degenerate, {v['degenerate_reference']}: SQNR/cosine not meaningful " \
               f"(max |err| {v['max_abs_err']})"
    return f"{label}: SQNR {v['sqnr_db']} dB, cosine {v['cosine']}, max |err| {v['max_abs_err']}"


def debug_cmd(
    model: str = typer.Argument(..., help="workload name, torchvision model name, or file.py:factory"),
    chip: str = typer.Option(..., "--chip", help="chip preset name or chip-file path"),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
    batch: int = typer.Option(1, "--batch", help="batch size"),
    seed: int = typer.Option(0, "--seed"),
    observer: Optional[str] = typer.Option(None, "--observer", help="activation observer: minmax, percentile, mse"),
    fixes: bool = typer.Option(True, "--fixes/--no-fixes", help="suggest and check a fix per culprit"),
    bundle: Optional[str] = typer.Option(None, "--bundle", help="write a repro bundle to this directory"),
    placement: Optional[Path] = typer.Option(None, "--placement", help=PLACEMENT_HELP),
) -> None:
    """Name the layers where the chip's numerics diverge from fp32 (per-layer SQNR, cosine, max error)."""
    import torch

    from chiplab.debugger import debug

    torch.set_num_threads(1)
    try:
        _check_bundle_path(bundle)
        m, inputs, notes = _model(model, batch, seed, 5 if fixes else 3, "debug")
        ov, placed = _placement_overrides(placement, model, batch, m)
        from chiplab.cli import busy

        with busy(f"debugging {model} on {chip} (reference, per-layer views, fixes)"):
            rep = debug(m, chip, inputs, observer=observer, overrides=ov or None, fixes=fixes, bundle=bundle,
                        factory=model)
        rep.warnings = notes + placed + rep.warnings
    except (ChiplabError, FileNotFoundError) as e:
        _fail(e)
        return
    if json_out:
        typer.echo(rep.to_json())
    else:
        typer.echo(rep.summary())


def main() -> None:  # pragma: no cover - for running without the chiplab app
    app = typer.Typer()
    app.command("run")(run_cmd)
    app.command("debug")(debug_cmd)
    app(sys.argv[1:])
