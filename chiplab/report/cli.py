"""``chiplab report MODEL --chips A,B,C [-o report.html] [--format md] [--numerics]``.

A plain typer-compatible function; ``chiplab/cli.py`` registers it as ``report``.
"""
from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import Optional

import typer


def report_cmd(
    model: str = typer.Argument(..., help="built-in workload (resnet50, bert-base, ...), file.py:factory, .onnx or SCALE-Sim .csv"),
    chips: str = typer.Option(..., "--chips", help="comma-separated chips: preset names or chip files"),
    output: Optional[Path] = typer.Option(None, "--output", "-o", help="file to write (default report.html, or report.md with --format md)"),
    fmt: str = typer.Option("html", "--format", help="html (one self-contained page) | md (Markdown + PNGs beside it)"),
    batch: int = typer.Option(1, "--batch", "-b", min=1),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="force one precision on every chip"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="sequence length for transformer workloads"),
    numerics: bool = typer.Option(False, "--numerics", help="also run the numerics debugger on each chip (slow)"),
) -> None:
    """One report comparing MODEL on several chips: table, rooflines, time/energy/power breakdowns, timeline."""
    from rich.console import Console

    from chiplab.report.build import collect

    err = Console(stderr=True)
    if fmt not in ("html", "md"):
        _fail(ValueError(f"--format: expected 'html' or 'md', got {fmt!r}"))
    names = [c.strip() for c in chips.split(",") if c.strip()]
    out = output or Path("report.html" if fmt == "html" else "report.md")
    command = "chiplab " + shlex.join(sys.argv[1:]) if sys.argv[1:2] == ["report"] else None
    try:
        data = collect(model, names, batch=batch, precision=precision, seq_len=seq_len, numerics=numerics,
                       command=command, progress=err.is_terminal, console=err)
        if fmt == "html":
            from chiplab.report.html import write_html

            files = write_html(data, out)
        else:
            from chiplab.report.md import write_md

            files = write_md(data, out)
    except (ValueError, KeyError, FileNotFoundError, NotImplementedError, ImportError, TypeError, RuntimeError, OSError) as e:
        _fail(e)
        return
    for f in files:
        typer.echo(f"wrote {f} ({f.stat().st_size / 1e6:.2f} MB)")


def _fail(e: BaseException) -> None:
    from chiplab.cli import _fail as fail     # one place prints user errors (and honours CHIPLAB_DEBUG)

    fail(e)
