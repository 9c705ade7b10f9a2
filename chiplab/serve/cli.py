"""``chiplab serve MODEL --system SYSTEM [--tp N] [--pp N] [--qps X | --search] [--json]``.

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
    precision: Optional[str] = typer.Option(None, "--precision", "-p", help="weights/KV precision (default bf16 or fp16)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """Simulate serving an LLM on a multi-chip system (continuous batching, Poisson arrivals)."""
    from chiplab.errors import ChiplabError
    from chiplab.serve.run import serve

    try:
        out = serve(model, system, tp=tp, pp=pp, qps=qps, search=search, requests=requests, seed=seed,
                    precision=precision)
    except ChiplabError as e:
        _fail(e)
        return
    if as_json:
        typer.echo(json.dumps(out, allow_nan=False))
        return
    ms = lambda d: "  ".join(f"{k} {v * 1e3:.1f} ms" for k, v in d.items())  # noqa: E731
    best = out["max_qps_meeting_constraints"]
    typer.echo(f"{out['model']} on {out['system']} ({out['replicas']} x tp={out['tp']} pp={out['pp']} {out['chip']}, "
               f"{out['precision']}; KV cache {out['kv_capacity_tokens']:,} tokens per replica)")
    typer.echo(f"at {out['qps']:.3g} QPS, {out['requests']} requests:")
    typer.echo(f"  TTFT  {ms(out['ttft_s'])}")
    typer.echo(f"  TPOT  {ms(out['tpot_s'])}")
    typer.echo(f"  E2E   {ms(out['e2e_s'])}")
    typer.echo(f"  {out['tokens_per_s']:,.0f} tokens/s, {out['tokens_per_s_per_chip']:,.0f} per chip; "
               f"MLPerf limits {'met' if out['meets_constraints'] else 'NOT met'}")
    if search or qps is None:
        typer.echo(f"  highest QPS meeting TTFT p99 <= 2 s, TPOT p99 <= 200 ms: "
                   f"{'none found' if best is None else f'{best:.3g}'}")
