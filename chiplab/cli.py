"""The ``chiplab`` command line (typer + rich).

Every user-facing failure (bad chip file, unknown workload, unsupported op,
missing capability) ends as one line on stderr and exit code 2; set
``CHIPLAB_DEBUG=1`` to see the traceback instead.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console

from typer.core import TyperGroup

from chiplab.errors import CapacityError, ChiplabError

# Commands implemented with their subsystem: (module, function). They are imported when
# invoked (or listed by --help), so `chiplab presets` does not pay for torch; an import
# failure is the user's to see, never a silently missing command.
LAZY_COMMANDS = {"run": ("chiplab.emu.cli", "run_cmd"), "debug": ("chiplab.emu.cli", "debug_cmd"),
                 "measure": ("chiplab.measure.cli", "measure_cmd"), "calibrate": ("chiplab.measure.cli", "calibrate_cmd"),
                 "report": ("chiplab.report.cli", "report_cmd"), "explore": ("chiplab.explore.cli", "explore_cmd"),
                 "serve": ("chiplab.serve.cli", "serve_cmd"), "partition": ("chiplab.partition.cli", "partition_cmd"),
                 "scenario": ("chiplab.scenario.cli", "scenario_cmd"),
                 "parallel": ("chiplab.system.cli", "parallel_cmd")}


class _LazyGroup(TyperGroup):
    def list_commands(self, ctx) -> list[str]:
        return [*super().list_commands(ctx), *(n for n in LAZY_COMMANDS if n not in self.commands)]

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in LAZY_COMMANDS and cmd_name not in self.commands:
            import importlib

            module, fn = LAZY_COMMANDS[cmd_name]
            sub = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
            sub.command(cmd_name)(getattr(importlib.import_module(module), fn))
            self.add_command(typer.main.get_command(sub), cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, cls=_LazyGroup,
                  help="chiplab: try a model on an AI chip before buying one.")
out = Console(width=None if sys.stdout.isatty() else 140)
err = Console(stderr=True)

# Chips compared when `chiplab compare` is given none: one of each class that is present.
DEFAULT_CHIPS = ("tpu-v1", "tpu-v4", "systolic-128", "eyeriss", "a100-sxm4-40gb", "h100-sxm", "t4", "vck5000-dpu",
                 "goya", "tesla-fsd-npu", "tesla-d1", "xeon-e5-2699v3", "host")


def busy(what: str):
    """A spinner on stderr for work that can take seconds (capture, emulation, debugging); shown only on a
    terminal, so piped output and --json stay clean."""
    import contextlib

    return err.status(what) if err.is_terminal else contextlib.nullcontext()


def _fail(e: BaseException) -> None:
    """A user error (:class:`ChiplabError`): one line on stderr, exit 2; ``CHIPLAB_DEBUG=1`` re-raises it."""
    if os.environ.get("CHIPLAB_DEBUG"):
        raise e
    msg = str(e).splitlines()[0] if str(e) else type(e).__name__
    err.print(f"[bold red]error:[/] {msg}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _estimate(model: str, chip: str, batch: int, precision: Optional[str], seq_len: Optional[int], compat: str,
              **kw):
    from chiplab.perf.estimate import estimate

    return estimate(model, chip, batch=batch, precision=precision, seq_len=seq_len, compat=compat, **kw)  # type: ignore[arg-type]


def _shapes(specs: Optional[list[str]]) -> Optional[list[tuple[int, ...]]]:
    """--input-shape 1x3x224x224 (repeatable) -> [(1, 3, 224, 224)]."""
    if not specs:
        return None
    try:
        shapes = [tuple(int(d) for d in s.lower().split("x")) for s in specs]
    except ValueError:
        shapes = []
    if not shapes or any(not s or min(s) < 1 for s in shapes):
        _fail(ChiplabError(f"--input-shape: expected sizes like 1x3x224x224, got {' '.join(specs)!r}"))
    return shapes


@app.command("estimate")
def estimate_cmd(
    model: str = typer.Argument(..., help="built-in workload (resnet50, bert-base, ...), file.py:factory, .onnx or SCALE-Sim .csv"),
    chip: str = typer.Option("tpu-v1", "--chip", "-c", help="preset name, chip .yaml or SCALE-Sim .cfg"),
    batch: int = typer.Option(1, "--batch", "-b", min=1),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="int8|fp8|bf16|fp16|fp32 (default: the chip's native)"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="sequence length for transformer workloads"),
    compat: str = typer.Option("default", "--compat", help="default | scalesim (SCALE-Sim v3's cycle conventions)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
    csv: Optional[Path] = typer.Option(None, "--csv", help="also write per-layer rows to this CSV"),
    show_all: bool = typer.Option(False, "--all", help="show every layer, not only the slowest 20"),
    input_shape: Optional[list[str]] = typer.Option(None, "--input-shape", help="input shape for a file.py:factory, e.g. 1x3x224x224 (repeat for several inputs)"),
    allow_unsupported: bool = typer.Option(False, "--allow-unsupported", help="price ops chiplab has no model for as memory-bound (with a note) instead of failing"),
    plot: Optional[Path] = typer.Option(None, "--plot", help="also write a roofline PNG (matplotlib) to this file"),
    no_fuse: bool = typer.Option(False, "--no-fuse", help="run no compiler pass: every element-wise op is its own layer"),
    passes: Optional[str] = typer.Option(None, "--passes", help="comma-separated compiler passes (default: all: "
                                         "fuse-epilogue,fuse-residual)"),
    trace: Optional[Path] = typer.Option(None, "--trace", help="write the timeline of 3 pipelined batches as "
                                         "Chrome/Perfetto trace-event JSON"),
) -> None:
    """Per-layer and whole-model latency, energy and utilization of MODEL on CHIP."""
    if compat not in ("default", "scalesim"):
        _fail(ChiplabError(f"--compat: expected 'default' or 'scalesim', got {compat!r}"))
    shapes = _shapes(input_shape)
    try:
        with busy(f"capturing {model} and estimating on {chip}"):
            est = _estimate(model, chip, batch, precision, seq_len, compat, input_shapes=shapes,
                            allow_unsupported=allow_unsupported, passes=passes, fuse=not no_fuse)
        if csv is not None:
            _write_csv(est.to_dataframe(), csv)
        from chiplab.hw import load_chip
        from chiplab.perf.uncertainty import with_range

        with_range(est, load_chip(chip))      # cheap: re-prices, never re-runs
        if trace is not None:
            from chiplab.perf.timeline import write_trace

            try:
                write_trace(est, trace)
            except OSError as e:
                raise ChiplabError(f"--trace: cannot write {trace}: {e.strerror}") from None
        if plot is not None:
            from chiplab.report.static import estimate_plot

            estimate_plot(est, chip, plot, f"chiplab estimate {model} --chip {chip} --batch {batch} -p {est.precision}")
    except ChiplabError as e:
        _fail(e)
        return
    if as_json:
        sys.stdout.write(est.to_json() + "\n")
        return
    from chiplab.report.tables import layer_table, range_line, summary_line

    out.print(layer_table(est, top=None if show_all else 20))
    out.print(summary_line(est), highlight=False)
    if "passes" in est.meta:
        out.print(f"passes: {est.meta['passes']}", highlight=False)
    if range_line(est):
        out.print(range_line(est), highlight=False)
    for n in est.notes:
        out.print(f"[yellow]note:[/] {n}")


@app.command("compare")
def compare_cmd(
    model: str = typer.Argument("resnet50", help="workload to compare the chips on"),
    chips: Optional[str] = typer.Option(None, "--chips", help="comma-separated chips (default: one of each class)"),
    batch: int = typer.Option(1, "--batch", "-b", min=1),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="force one precision on every chip"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
    csv: Optional[Path] = typer.Option(None, "--csv", help="write the comparison to this CSV"),
    input_shape: Optional[list[str]] = typer.Option(None, "--input-shape", help="input shape for a file.py:factory, e.g. 1x3x224x224 (repeat for several inputs)"),
    allow_unsupported: bool = typer.Option(False, "--allow-unsupported", help="price ops chiplab has no model for as memory-bound (with a note) instead of failing"),
) -> None:
    """Chips side by side on one workload: latency, throughput, utilization, energy per inference."""
    from rich.progress import Progress

    from chiplab.hw import list_presets
    from chiplab.report.tables import compare_rows, compare_table

    names = [c.strip() for c in chips.split(",") if c.strip()] if chips else \
        [c for c in DEFAULT_CHIPS if c in list_presets(with_host=True)]
    shapes = _shapes(input_shape)
    try:
        from chiplab.perf.estimate import _load_graph

        with busy(f"capturing {model}"):
            graph = _load_graph(model, batch=batch, seq_len=seq_len, input_shapes=shapes,
                                allow_unsupported=allow_unsupported)   # capture once, estimate on every chip
    except ChiplabError as e:
        _fail(e)
        return
    from chiplab.hw.spec import PRECISIONS, CapabilityError

    if precision and precision not in PRECISIONS:
        _fail(ChiplabError(f"--precision: unknown {precision!r} (known: {', '.join(PRECISIONS)})"))
    ests, skipped, unsupported = [], [], {}
    with Progress(console=err, transient=True, disable=as_json or not err.is_terminal) as prog:
        task = prog.add_task("estimating", total=len(names))
        for name in names:
            prog.update(task, description=f"estimating on {name}")
            try:
                from chiplab.hw import load_chip
                from chiplab.perf.uncertainty import with_range

                ests.append(with_range(_estimate(graph, name, batch, precision, seq_len, "default"), load_chip(name)))
            except CapabilityError as e:
                if not precision:
                    _fail(e)
                unsupported[name] = f"no {precision}"   # --precision forced: mark this chip, go on
            except CapacityError as e:
                unsupported[name] = "does not fit"
                skipped.append(str(e).splitlines()[0])
            except ChiplabError as e:
                if chips:   # the user named this chip: fail loudly
                    _fail(e)
                skipped.append(f"{name}: {str(e).splitlines()[0]}")
            prog.advance(task)
    rows = compare_rows(ests, unsupported)
    if csv is not None:
        import pandas as pd

        _write_csv(pd.DataFrame(rows), csv)
    if as_json:
        sys.stdout.write(json.dumps({"workload": model, "batch": int(graph.meta.get("batch", batch)), "chips": rows,
                                     "skipped": skipped}, allow_nan=False) + "\n")
        return
    out.print(compare_table(ests, unsupported))
    for s in skipped:
        out.print(f"[yellow]skipped[/] {s}")


@app.command("presets")
def presets_cmd() -> None:
    """List the chip presets shipped with chiplab."""
    from chiplab.hw import list_presets, load_chip

    for name in list_presets(with_host=True):
        try:
            c = load_chip(name)
            desc = f"(detected at load time) {c.description}" if name == "host" else c.description
            out.print(f"{name:18s} {c.arch.kind:12s} {desc}", highlight=False)
        except ChiplabError as e:
            out.print(f"{name:18s} [red]invalid:[/] {e}")


@app.command("workloads")
def workloads_cmd() -> None:
    """List the built-in workloads."""
    from chiplab.capture.workloads import list_workloads

    for name, desc in list_workloads().items():
        out.print(f"{name:14s} {desc}", highlight=False)


def _write_csv(df, path: Path) -> None:
    try:
        df.to_csv(path, index=False)
    except OSError as e:
        raise ChiplabError(f"--csv {path}: {e.strerror or e}") from None


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        raise SystemExit(130)


if __name__ == "__main__":
    main()
