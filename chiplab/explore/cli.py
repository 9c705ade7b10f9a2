"""``chiplab explore SPACE``: run or resume an exploration, print the Pareto table, write the
plot and the best designs as chip files that ``chiplab.load_chip`` reads."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer


def write_outputs(res, space, out: Path, top: int = 5) -> dict:
    """Pareto plot (PNG), best designs as chip files, a JSON summary."""
    from chiplab.hw.dump import save_chip
    from chiplab.hw.edit import edit
    from chiplab.hw.loader import load_chip_file

    out.mkdir(parents=True, exist_ok=True)
    pareto = res.pareto()
    chips = []
    for t in pareto[:top]:
        chip = space.chip(t.params, name=f"{space.name}-t{t.number}")
        vals = ", ".join(f"{o}={v:.4g}" for o, v in zip(space.spec.objectives, t.values))
        header = (f"chiplab explore {space.origin}: trial {t.number} ({vals}); "
                  f"area {t.user_attrs['area_mm2']:.2f} mm2, power {t.user_attrs['power_w']:.2f} W")
        path = save_chip(chip, out / f"{chip.name}.yaml", header=header)
        # the file states every field, defaults included: cite those as the format's defaults
        missing = load_chip_file(path).uncited()
        if missing:
            src = {**chip.sources, **{f: "[A] chiplab's default for this field" for f in missing}}
            path = save_chip(edit(chip, {"sources": src}, cite=None), path, header=header)
        chips.append(str(path))
    plot = _plot(res, space, out / f"{space.name}-pareto.png", pareto)
    # study.trials deep-copies every trial (seconds at 20,000): read them without the copy
    summary = {"space": space.name, "trials": len(res.study.get_trials(deepcopy=False)), "resumed": res.resumed, "new": res.new,
               "feasible": len(res.feasible()), "pareto": [{"trial": t.number, "params": t.params,
               "objectives": dict(zip(space.spec.objectives, t.values)),
               "area_mm2": t.user_attrs["area_mm2"], "power_w": t.user_attrs["power_w"]} for t in pareto],
               "chips": chips, "plot": plot}
    (out / f"{space.name}-summary.json").write_text(json.dumps(summary, indent=1))
    return summary


def _plot(res, space, path: Path, pareto: list | None = None) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    done = [t for t in res.study.get_trials(deepcopy=False) if t.values is not None]
    feas = {t.number for t in res.feasible()}
    fig, ax = plt.subplots(figsize=(6, 4.5))
    objs = space.spec.objectives
    if len(objs) >= 2 and done:
        for ok, c, lab in ((False, "0.75", "over budget"), (True, "tab:blue", "feasible")):
            pts = [t.values for t in done if (t.number in feas) == ok]
            if pts:
                ax.scatter([p[0] for p in pts], [p[1] for p in pts], s=8, c=c, label=lab)
        par = res.pareto() if pareto is None else pareto
        ax.plot([t.values[0] for t in par], [t.values[1] for t in par], "o-", c="tab:red", ms=4, label="Pareto front")
        ax.set_xlabel(objs[0])
        ax.set_ylabel(objs[1])
        ax.set_xscale("log")
        ax.set_yscale("log")
    elif done:
        best, curve = None, []
        sign = 1 if space.directions()[0] == "minimize" else -1
        for t in done:
            if t.number in feas and (best is None or sign * t.values[0] < sign * best):
                best = t.values[0]
            curve.append(best)
        ax.plot(range(len(curve)), curve, label="best feasible")
        ax.set_xlabel("trial")
        ax.set_ylabel(objs[0])
    ax.set_title(f"{space.name}: {len(done)} trials")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return str(path)


def explore_cmd(
    space_file: Path = typer.Argument(..., help="design-space YAML (see docs/explore.md)"),
    trials: Optional[int] = typer.Option(None, "--trials", "-n", help="total trials (default: the file's search.trials)"),
    sampler: Optional[str] = typer.Option(None, "--sampler", help="nsga2 | tpe | random"),
    seed: Optional[int] = typer.Option(None, "--seed"),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="output folder (default: <space>-explore/ beside the file)"),
    storage: Optional[Path] = typer.Option(None, "--storage", help="optuna journal file (default: <out>/study.log); "
                                                                  "a second run resumes it"),
    ray_workers: int = typer.Option(0, "--ray", help="evaluate on a Ray cluster with this many workers (0: local)"),
    top: int = typer.Option(5, "--top", help="best designs written as chip files"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Explore a chip design space with optuna; resumable; Pareto table, plot and chip files."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from chiplab.cli import _fail
    from chiplab.errors import ChiplabError
    from chiplab.explore.search import run
    from chiplab.explore.space import load_space

    err = Console(stderr=True)
    try:
        if sampler is not None and sampler not in ("nsga2", "tpe", "random"):
            raise ChiplabError(f"--sampler: expected nsga2, tpe or random, got {sampler!r}")
        space = load_space(space_file)
        outdir = out or space_file.with_name(f"{space.name}-explore")
        outdir.mkdir(parents=True, exist_ok=True)
        with Progress(TextColumn("exploring"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                      console=err, disable=as_json or not err.is_terminal) as prog:
            task = prog.add_task("explore", total=None)
            store = storage or outdir / "study.log"
            res = run(space, trials=trials, storage=store, sampler=sampler, seed=seed,
                      ray=ray_workers > 0, workers=max(ray_workers, 1),
                      progress=lambda done, total: prog.update(task, completed=done, total=total))
        summary = write_outputs(res, space, outdir, top=top)
    except (ValueError, KeyError, FileNotFoundError, ImportError) as e:
        _fail(e)
        return
    if as_json:
        sys.stdout.write(json.dumps(summary, allow_nan=False) + "\n")
        return
    con = Console(width=None if sys.stdout.isatty() else 160)
    if res.resumed:
        con.print(f"resumed {res.resumed} finished trials from {store}; ran {res.new} new")
    tab = Table(title=f"{space.name}: Pareto front of {summary['feasible']} feasible of {summary['trials']} trials "
                      f"({summary['resumed']} resumed)")
    tab.add_column("trial", justify="right")
    for o in space.spec.objectives:
        tab.add_column(o, justify="right")
    tab.add_column("area mm2", justify="right")
    tab.add_column("power W", justify="right")
    tab.add_column("design")
    for p in summary["pareto"][:20]:
        tab.add_row(str(p["trial"]), *[f"{v:.4g}" for v in p["objectives"].values()], f"{p['area_mm2']:.2f}",
                    f"{p['power_w']:.2f}", ", ".join(f"{k.split('.')[-1]}={v}" for k, v in p["params"].items()))
    con.print(tab)
    if res.evaluator is not None:
        con.print(f"evaluated {res.evaluator.misses} distinct points, {res.evaluator.hits} revisits from the memo")
    con.print(f"plot: {summary['plot']}")
    for c in summary["chips"]:
        con.print(f"chip: {c}")
