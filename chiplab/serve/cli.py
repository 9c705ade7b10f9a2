"""``chiplab serve MODEL --system SYSTEM [--tp N] [--pp N] [--weights F] [--kv F] [--qps X | --search | --sweep] [--json]``.

A plain typer-compatible function; ``chiplab/cli.py`` registers it as ``serve``.
"""
from __future__ import annotations

import json
from typing import Optional

import typer


def _fail(e: BaseException) -> None:
    from chiplab.cli import _fail as fail     # one place prints user errors (and honours CHIPLAB_DEBUG)

    fail(e)


def serve_cmd(
    model: str = typer.Argument(..., help="llama-2-70b | llama-3.1-8b | llama-3.1-70b | gpt-j-6b | mixtral-8x7b"),
    system: str = typer.Option(..., "--system", "-s", help="system preset (dgx-h100, dgx-a100, tpu-v4-8, pcie-8x-l40s) or file"),
    tp: Optional[int] = typer.Option(None, "--tp", min=1, help="tensor-parallel chips per replica (default: the fewest that fit)"),
    pp: int = typer.Option(1, "--pp", min=1, help="pipeline stages per replica"),
    qps: Optional[float] = typer.Option(None, "--qps", help="arrival rate, queries per second (Poisson)"),
    search: bool = typer.Option(False, "--search", help="find the highest QPS meeting TTFT p99 <= 2 s, TPOT p99 <= 200 ms"),
    requests: int = typer.Option(2000, "--requests", "-n", min=1, help="simulated requests per run"),
    seed: int = typer.Option(0, "--seed"),
    precision: Optional[str] = typer.Option(None, "--precision", "-p",
                                            help="activation precision, and weights/KV unless given (default bf16 or fp16)"),
    weights: Optional[str] = typer.Option(None, "--weights", help="weight format: bf16 fp16 fp8 int8 int4 (int4: weight-only)"),
    kv: Optional[str] = typer.Option(None, "--kv", help="KV-cache format: bf16 fp16 fp8 int8 int4"),
    sweep: bool = typer.Option(False, "--sweep", help="TP x batch x precision sweep of steady-state decode; "
                                                      "prints the Pareto front (tokens/s/chip vs TPOT)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Simulate serving an LLM on a multi-chip system (continuous batching, Poisson arrivals)."""
    from chiplab.errors import ChiplabError
    from chiplab.serve.run import serve

    if sweep:
        return _sweep(model, system, as_json)
    try:
        out = serve(model, system, tp=tp, pp=pp, qps=qps, search=search, requests=requests, seed=seed,
                    precision=precision, weights=weights, kv=kv)
    except ChiplabError as e:
        _fail(e)
        return
    if as_json:
        typer.echo(json.dumps(out, allow_nan=False))
        return
    ms = lambda d: "  ".join(f"{k} {v * 1e3:.1f} ms" for k, v in d.items())  # noqa: E731
    best = out["max_qps_meeting_constraints"]
    typer.echo(f"{out['model']} on {out['system']} ({out['replicas']} x tp={out['tp']} pp={out['pp']} {out['chip']}, "
               f"weights {out['weights']}, KV {out['kv']}, activations {out['precision']}; KV cache {out['kv_capacity_tokens']:,} tokens per replica)")
    typer.echo(f"at {out['qps']:.3g} QPS, {out['requests']} requests:")
    typer.echo(f"  TTFT  {ms(out['ttft_s'])}")
    typer.echo(f"  TPOT  {ms(out['tpot_s'])}")
    typer.echo(f"  E2E   {ms(out['e2e_s'])}")
    typer.echo(f"  {out['tokens_per_s']:,.0f} tokens/s, {out['tokens_per_s_per_chip']:,.0f} per chip; "
               f"MLPerf limits {'met' if out['meets_constraints'] else 'NOT met'}")
    if search or qps is None:
        typer.echo(f"  highest QPS meeting TTFT p99 <= 2 s, TPOT p99 <= 200 ms: "
                   f"{'none found' if best is None else f'{best:.3g}'}")


def _sweep(model: str, system: str, as_json: bool) -> None:
    from chiplab.errors import ChiplabError
    from chiplab.serve.sweep import print_front, sweep

    try:
        out = sweep(model, system)
    except ChiplabError as e:
        _fail(e)
        return
    if as_json:
        typer.echo(json.dumps({k: v for k, v in out.items() if k != "front"}, allow_nan=False))
    else:
        print_front(out)
