"""``chiplab partition MODEL --chip CHIP [--host HOST] --policy greedy|min-block|optimal|all``.

A plain typer-compatible function; ``chiplab/cli.py`` registers it as ``partition``.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Optional

import typer

from chiplab.errors import ChiplabError
from chiplab.partition.policies import MIN_BLOCK_SIZE, POLICIES


def _fmt_s(s: float) -> str:
    return f"{s * 1e3:.4g} ms"


def _host_layers(res, labels: dict[str, str], limit: int = 8) -> str:
    host = [labels[k] for k, v in res.placement.items() if v == "host"]
    if not host:
        return "-"
    return ", ".join(host[:limit]) + (f" (+{len(host) - limit} more)" if len(host) > limit else "")


def _accuracy(model: str, chip: str, graph, table, results, batch: int, seed: int) -> None:
    """Fill ``results[*].accuracy`` by emulating each placement (chiplab/partition/numerics.py)."""
    import torch

    from chiplab.emu.cli import _model
    from chiplab.hw import load_chip
    from chiplab.partition.numerics import accuracy

    native = load_chip(chip).native_precision
    if table.precision != native:
        raise ChiplabError(f"--numerics emulates {table.acc}'s own numerics ({native}); drop --precision {table.precision}")
    torch.set_num_threads(1)
    m, inputs, _ = _model(model, batch, seed, 3, "partition --numerics")
    accuracy(graph, results, m, chip, inputs)


def partition_cmd(
    model: str = typer.Argument(..., help="built-in workload (resnet50, bert-base, ...), file.py:factory or .onnx"),
    chip: str = typer.Option(..., "--chip", "-c", help="the accelerator: preset name or chip .yaml"),
    host: str = typer.Option("host", "--host", help="the host CPU: 'host' (this machine), a cpu preset or chip file"),
    policy: str = typer.Option("all", "--policy", help="greedy | min-block | optimal | all"),
    placement: Optional[Path] = typer.Option(None, "--placement", help="also price your own placement (YAML/JSON: node -> host|acc)"),
    min_block_size: int = typer.Option(MIN_BLOCK_SIZE, "--min-block-size", help="min-block: smallest accelerator block (Torch-TensorRT's default: 5)"),
    batch: int = typer.Option(1, "--batch", "-b", min=1),
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="the accelerator's precision (default: its native); the host runs fp32"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="sequence length for transformer workloads"),
    allow_unsupported: bool = typer.Option(False, "--allow-unsupported", help="capture ops chiplab has no model for (custom ops): they run on the host"),
    save_placement: Optional[Path] = typer.Option(None, "--save-placement", help="write the optimal (or the only) policy's placement to this YAML/JSON file"),
    numerics: bool = typer.Option(False, "--numerics", help="also run each placement through the emulator (host parts fp32, "
                                  "accelerator parts under the chip's numerics): SQNR, cosine, top-1 agreement vs fp32"),
    seed: int = typer.Option(0, "--seed", help="--numerics: seed for the weights/inputs the workload draws"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Split MODEL between the host CPU and CHIP: each policy's latency, throughput, bytes moved and cuts."""
    from chiplab.cli import _fail, out

    try:
        if policy not in (*POLICIES, "all"):
            raise ChiplabError(f"--policy: expected one of {', '.join(POLICIES)}, all; got {policy!r}")
        policies = POLICIES if policy == "all" else (policy,)
        from chiplab.capture.workloads import load_graph
        from chiplab.partition import cost_table, load_placement, run_policies, save_placement as save

        graph = load_graph(model, batch=batch, seq_len=seq_len, allow_unsupported=allow_unsupported)
        user = load_placement(placement, graph) if placement is not None else None
        table = cost_table(graph, chip, host, precision=precision)
        results = run_policies(graph, table, policies, min_block_size=min_block_size, placement=user)
        if numerics:
            _accuracy(model, chip, graph, table, results, batch, seed)
        if save_placement is not None:
            keep = results["optimal" if "optimal" in results else policies[0]]
            save(save_placement, keep.placement, model=model, chip=table.acc, host=table.host, policy=keep.policy,
                 precision=table.precision, batch=table.batch)
    except ChiplabError as e:
        _fail(e)
        return
    labels = {n.name: n.label for n in graph.nodes}
    if as_json:
        doc = {"model": model, "chip": table.acc, "host": table.host, "batch": table.batch,
               "precision": table.precision, "min_block_size": min_block_size,
               "host_link": {"bandwidth_B_per_s": table.link_bandwidth, "latency_s": table.link_latency},
               "host_only": {k: {"layer": labels[k], "reason": v} for k, v in table.host_only.items()},
               "policies": {k: r.to_dict(labels) for k, r in results.items()}}
        sys.stdout.write(json.dumps(doc, allow_nan=False) + "\n")
        return
    from rich.table import Table

    t = Table(title=f"{model} on {table.acc} + {table.host} (batch {table.batch}, {table.precision} on the "
                    f"accelerator, fp32 on the host)")
    t.add_column("")
    for k in results:
        t.add_column(k, justify="right")
    rows = [("SingleStream latency", lambda r: _fmt_s(r.single_stream_latency_s)),
            ("throughput serial /s", lambda r: f"{r.throughput_per_s:.4g}"),
            ("Offline throughput /s (schedule)", lambda r: f"{r.offline_throughput_per_s:.4g}"),
            ("throughput pipelined /s (bound)", lambda r: f"{r.pipelined_throughput_per_s:.4g}"),
            ("host busy", lambda r: _fmt_s(r.host_busy_s)), ("acc busy", lambda r: _fmt_s(r.acc_busy_s)),
            ("link busy", lambda r: _fmt_s(r.link_busy_s)), ("bytes moved", lambda r: f"{r.bytes_moved:,}"),
            ("cuts (tensors moved)", lambda r: str(r.cuts)),
            ("nodes acc / host", lambda r: f"{r.acc_nodes} / {r.host_nodes}")]
    if numerics:
        rows += [("SQNR vs fp32 dB", lambda r: str(r.accuracy["sqnr_db"])),
                 ("cosine vs fp32", lambda r: str(r.accuracy["cosine"])),
                 ("top-1 agreement", lambda r: str(r.accuracy["top1_agreement"])),
                 ("modules on host (emulated)", lambda r: f"{r.accuracy['host_modules']} (+{r.accuracy['unmapped_host_nodes']} functional)")]
    for name, f in rows:
        t.add_row(name, *(f(r) for r in results.values()))
    out.print(t)
    for k, r in results.items():
        out.print(f"[bold]{k}[/] host layers: {_host_layers(r, labels)}", highlight=False)
    for k, why in list(table.host_only.items())[:8]:
        out.print(f"[yellow]host only:[/] {labels[k]}: {why}", highlight=False)
    if len(table.host_only) > 8:
        out.print(f"[yellow]host only:[/] +{len(table.host_only) - 8} more nodes (see --json)")
    if save_placement is not None:
        out.print(f"placement written to {save_placement}")
