"""Gather what a report shows: one capture, one estimate per chip (with a rich progress
bar), optionally the numerics debugger per chip. The renderers (``html.py``, ``md.py``)
read a :class:`ReportData` and nothing else.
"""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any, Sequence

from chiplab.errors import ChiplabError
from chiplab.hw import ChipSpec, load_chip
from chiplab.perf.result import Estimate


@dataclass
class ChipRun:
    est: Estimate
    spec: ChipSpec
    numerics: Any = None              # a chiplab.debugger DebugReport when --numerics ran
    numerics_error: str | None = None

    @property
    def dram_bw(self) -> float | None:
        m = getattr(self.spec, "memory", None)
        return getattr(m, "dram_bandwidth", None) or None

    @property
    def tdp_w(self) -> float | None:
        return getattr(getattr(self.spec, "power", None), "tdp", None)


@dataclass
class ReportData:
    model: str
    runs: list[ChipRun]
    command: str
    numerics: bool = False
    skipped: list[str] = field(default_factory=list)

    @property
    def ests(self) -> list[Estimate]:
        return [r.est for r in self.runs]


def default_command(model: str, chips: Sequence[str], batch: int = 1, precision: str | None = None,
                    seq_len: int | None = None, numerics: bool = False) -> str:
    parts = ["chiplab", "report", model, "--chips", ",".join(chips)]
    if batch != 1:
        parts += ["--batch", str(batch)]
    if precision:
        parts += ["--precision", precision]
    if seq_len:
        parts += ["--seq-len", str(seq_len)]
    if numerics:
        parts.append("--numerics")
    return shlex.join(parts)


def collect(model: str, chips: Sequence[str], *, batch: int = 1, precision: str | None = None, seq_len: int | None = None,
            numerics: bool = False, command: str | None = None, progress: bool = True, console: Any = None,
            graph: Any = None) -> ReportData:
    """Estimate ``model`` on every chip in ``chips`` (names, chip files or ChipSpecs).

    ``graph``: an already captured graph (skips the capture); ``progress``: show a rich
    progress bar on ``console`` (stderr by default) while estimating.
    """
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from chiplab.perf.estimate import estimate
    from chiplab.perf.uncertainty import with_range

    if not chips:
        raise ChiplabError("--chips: name at least one chip")
    if graph is None:
        from chiplab.capture.workloads import load_graph

        graph = load_graph(model, batch=batch, seq_len=seq_len)   # capture once, estimate on every chip
    console = console or Console(stderr=True)
    names = [c if isinstance(c, str) else c.name for c in chips]
    runs = []
    cols = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*cols, console=console, transient=True, disable=not progress) as prog:
        task = prog.add_task("estimating", total=len(chips) * (2 if numerics else 1))
        for chip in chips:
            spec = chip if isinstance(chip, ChipSpec) else load_chip(chip)
            prog.update(task, description=f"estimating on {spec.name}", refresh=True)
            est = estimate(graph, spec, batch=batch, precision=precision, seq_len=seq_len)
            try:
                with_range(est, spec)      # re-prices with each assumed figure varied; never re-runs
            except ChiplabError as e:      # a variation the chip cannot take (e.g. static power over the TDP)
                est.notes.append(f"range not computed: {str(e).splitlines()[0]}")
            runs.append(ChipRun(est, spec))
            prog.advance(task)
        if numerics:
            for run in runs:
                prog.update(task, description=f"numerics on {run.spec.name}", refresh=True)
                _numerics(run, model, batch, seq_len)
                prog.advance(task)
    cmd = command or default_command(model, names, batch, precision, seq_len, numerics)
    return ReportData(model=model, runs=runs, command=cmd, numerics=numerics)


def _numerics(run: ChipRun, model: str, batch: int, seq_len: int | None) -> None:
    """Run ``chiplab.debug`` for one chip; a chip without numerics is recorded, not fatal."""
    import torch

    from chiplab.capture.workloads import build
    from chiplab.debugger import debug

    try:
        torch.manual_seed(0)
        m, inputs = build(model, batch=batch, seq_len=seq_len, device="cpu")
        run.numerics = debug(m.eval(), run.spec, tuple(inputs), fixes=False)
    except (ValueError, TypeError, NotImplementedError, KeyError) as e:   # ChiplabError derives from ValueError
        run.numerics_error = str(e).splitlines()[0] if str(e) else type(e).__name__
