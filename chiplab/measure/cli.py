"""``chiplab measure`` and ``chiplab calibrate`` (registered by chiplab.cli)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def measure_cmd(device: str = typer.Option("cpu", "--device", help="cpu or cuda"),
                out: Optional[Path] = typer.Option(None, "--out", help="CSV path (default data/measurements/<device>-<date>.csv)"),
                quick: bool = typer.Option(False, "--quick", help="the short sweep (a few minutes on a CPU)"),
                reps: int = typer.Option(10, "--reps", min=3),
                models: bool = typer.Option(True, "--models/--no-models", help="also time ResNet-50 and BERT-base"),
                threads: int = typer.Option(1, "--threads", min=1, help="CPU threads (recorded in the CSV)"),
                resume: bool = typer.Option(True, "--resume/--restart",
                                            help="keep rows already in --out and measure only the rest")) -> None:
    """Time GEMMs, convolutions, attention and whole models on this device; write a CSV with provenance.

    Every row is written as soon as it is measured, so an interrupted run loses nothing:
    run the same command again to measure only what is missing."""
    import datetime as dt

    import torch
    from rich.console import Console

    from chiplab.errors import ChiplabError
    from chiplab.measure.sweep import output_lock

    err = Console(stderr=True)
    if device not in ("cpu", "cuda"):
        err.print(f"[bold red]error:[/] --device: expected cpu or cuda, got {device!r}", soft_wrap=True, highlight=False)
        raise typer.Exit(2)
    if device == "cuda" and not torch.cuda.is_available():
        err.print("[bold red]error:[/] --device cuda: no CUDA GPU is available on this machine")
        raise typer.Exit(2)
    out = out or Path("data/measurements") / f"{device}-{dt.date.today().isoformat()}.csv"
    try:
        with output_lock(out):      # one run per output file
            _measure(device, out, quick, reps, models, threads, resume, err)
    except ChiplabError as e:
        err.print(f"[bold red]error:[/] {str(e).splitlines()[0]}", soft_wrap=True, highlight=False)
        raise typer.Exit(2)


def _measure(device: str, out: Path, quick: bool, reps: int, models: bool, threads: int, resume: bool, err) -> None:
    import sys

    import torch
    from rich.progress import Progress

    from chiplab.measure.sweep import provenance, run_sweep, write_csv

    torch.set_num_threads(threads)
    from chiplab.hw.host import _cache_bytes

    cache = _cache_bytes(3) or 32 * 2**20
    rows: list = []
    prov = provenance(device, threads, "chiplab measure " + " ".join(sys.argv[2:]))
    if resume and out.exists():
        from chiplab.measure.sweep import read_csv

        old, old_prov = read_csv(out)
        if old_prov.get("device") != device or old_prov.get("threads") != str(threads):
            err.print(f"[bold red]error:[/] {out}: was measured with device={old_prov.get('device')} "
                      f"threads={old_prov.get('threads')}; use --restart or another --out", soft_wrap=True)
            raise typer.Exit(2)
        rows = old.to_dict("records")
        prov = {**old_prov, "resumed": prov["date_utc"]}
        bad = old.attrs.get("invalid_rows", [])
        err.print(f"resuming {out}: {len(rows)} rows already measured"
                  + (f"; {len(bad)} incomplete rows measured again ({', '.join(bad)})" if bad else ""), highlight=False)
    done = frozenset(r["name"] for r in rows)
    with Progress(console=err, transient=True) as prog:
        task = prog.add_task("measuring", total=None)

        def progress(done, total, name):
            prog.update(task, total=total, completed=done, description=f"measured {name}")

        for r in run_sweep(device, quick=quick, reps=reps, models=models, cache_bytes=cache, progress=progress,
                           skip=done):
            rows.append(r)
            write_csv(rows, out, prov)          # after every row: an interruption loses nothing
    write_csv(rows, out, prov)
    err.print(f"wrote {len(rows)} measurements to {out}")


def calibrate_cmd(csv: Path = typer.Argument(..., help="a CSV written by chiplab measure"),
                  chip: str = typer.Option("host", "--chip", help="the chip the CSV was measured on"),
                  out: Path = typer.Option(Path("out/calibrated.yaml"), "--out", help="where to write the calibrated chip file")) -> None:
    """Fit the chip class's efficiency knobs to a measurement CSV; write a calibrated chip file."""
    from rich.console import Console

    from chiplab.errors import ChiplabError
    from chiplab.hw import load_chip
    from chiplab.hw.dump import save_chip
    from chiplab.measure.calibrate import calibrated_sources, fit
    from chiplab.measure.sweep import read_csv

    con, err = Console(), Console(stderr=True)
    try:
        df, prov = read_csv(csv)
        base = load_chip(chip)
        if base.arch.kind == "cpu" and prov.get("threads"):
            base = base.model_copy(update={"arch": base.arch.model_copy(update={"threads": int(prov["threads"])})})
        train = df[df["kind"] != "model"]          # whole models stay held out
        res = fit(base, train)
    except ChiplabError as e:
        err.print(f"[bold red]error:[/] {str(e).splitlines()[0]}", soft_wrap=True, highlight=False)
        raise typer.Exit(2)
    calibrated = res.chip.model_copy(update={"sources": calibrated_sources(res, csv, prov),
                                             "description": f"{res.chip.description} (calibrated on {csv.name})"})
    save_chip(calibrated, out, header=f"calibrated by chiplab calibrate from {csv}\nload with: chiplab estimate MODEL --chip {out}")
    for k, v in res.values.items():
        con.print(f"{k:28s} {v:.4g}")
    con.print(f"train log-RMSE {res.train_log_rmse:.3f} over {res.rows} rows; wrote {out}")
