"""``chiplab parallel WORKLOAD --system SYSTEM --tp N [--seq-len L] [--batch B] [--precision P] [--algorithm A] [--json]``:
a captured transformer split tensor-parallel over ``tp`` chips of a system (:mod:`chiplab.system.parallel`),
priced on the chip's own model plus the collectives (exposed). ``chiplab/cli.py`` registers it as ``parallel``.
"""
from __future__ import annotations

import json
from typing import Optional

import typer


def parallel_cmd(
    workload: str = typer.Argument(..., help="a captured transformer: llama-7b, llama-7b-decode, gpt2, bert-base, "
                                              "file.py:factory, .onnx"),
    system: str = typer.Option(..., "--system", "-s", help="system preset (dgx-h100, tpu-v4-8, ...) or file"),
    tp: int = typer.Option(..., "--tp", min=1, help="tensor-parallel chips"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", min=1, help="sequence length to capture at"),
    batch: int = typer.Option(1, "--batch", "-b", min=1),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="default: the chip's native precision"),
    algorithm: str = typer.Option("ring", "--algorithm", help="all-reduce algorithm: ring, tree, auto (the cheaper)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Tensor parallelism applied to the captured graph: per-chip latency + exposed collectives."""
    from chiplab.cli import _fail, busy
    from chiplab.errors import ChiplabError

    try:
        from chiplab.capture.workloads import load_graph
        from chiplab.system.parallel import estimate_parallel
        from chiplab.system.spec import load_system

        sysm = load_system(system)                       # a bad system or --tp fails before the capture
        if tp > sysm.count:
            raise ChiplabError(f"--tp {tp} is more than the {sysm.count} chips of system {sysm.name!r}")
        with busy(f"capturing {workload}"):
            g = load_graph(workload, batch=batch, seq_len=seq_len)
        e = estimate_parallel(g, sysm, tp, precision=precision, algorithm=algorithm)
    except ChiplabError as err:
        _fail(err)
        return
    out = {"workload": workload, "system": e.system, "chip": e.chip, "tp": tp, "precision": e.estimate.precision,
           "compute_s": e.compute_s, "comm_s": e.comm_s, "latency_s": e.latency_s,
           "weight_bytes_chip": e.weight_bytes_chip, "weight_bytes_total": e.weight_bytes_total,
           "collectives": len(e.collectives), "notes": e.notes}
    if as_json:
        typer.echo(json.dumps(out, allow_nan=False))
        return
    kinds: dict[str, list[float]] = {}
    for r in e.collectives:
        kinds.setdefault(f"{r['kind']} ({r['what']})", []).append(r["time_s"])
    typer.echo(f"{workload} on {e.system}: tp={tp} x {e.chip}, {out['precision']}")
    typer.echo(f"  per-chip compute  {e.compute_s * 1e3:10.3f} ms  (the chip's own model on the per-chip graph)")
    for k, ts in kinds.items():
        typer.echo(f"  {k:<28} x{len(ts):<3} {sum(ts) * 1e3:8.3f} ms")
    typer.echo(f"  collectives       {e.comm_s * 1e3:10.3f} ms  ({algorithm}, exposed)")
    typer.echo(f"  total             {e.latency_s * 1e3:10.3f} ms")
    typer.echo(f"  weights per chip  {e.weight_bytes_chip / 1e9:10.3f} GB  (of {e.weight_bytes_total / 1e9:.3f} GB)")
    for n in e.notes:
        typer.echo(f"  note: {n}")
