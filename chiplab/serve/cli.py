"""``chiplab serve MODEL --system SYSTEM [--tp N] [--pp N] [--weights F] [--kv F] [--qps X | --search | --trace CSV | --sweep] [--json]``.

A plain typer-compatible function; ``chiplab/cli.py`` registers it as ``serve``.
"""
from __future__ import annotations

import json
from typing import Optional

import typer


def _fail(e: BaseException) -> None:
    from chiplab.cli import _fail as fail     # one place prints user errors (and honours CHIPLAB_DEBUG)

    fail(e)


def _ratio(text: str) -> tuple[int, int]:
    from chiplab.errors import ChiplabError

    p, sep, d = text.partition(":")
    if not (sep and p.strip().isdigit() and d.strip().isdigit()):
        raise ChiplabError(f"--disaggregate {text!r}: expected P:D, e.g. 1:3 (prefill and decode engines)")
    return int(p), int(d)


def serve_cmd(
    model: str = typer.Argument(..., help="llama-2-70b | llama-3.1-8b | llama-3.1-70b | gpt-j-6b | mixtral-8x7b, "
                                                  "or a transformers config.json (or its directory)"),
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
    trace: Optional[str] = typer.Option(None, "--trace", help="CSV of requests: arrival_s, prompt_tokens, output_tokens"),
    block_size: int = typer.Option(16, "--block-size", min=1, help="paged-KV block, tokens (vLLM's default 16)"),
    kv_policy: str = typer.Option("reserve", "--kv-policy",
                                  help="reserve (KV for prompt + output at admission) | on-demand (vLLM: grow, preempt)"),
    chunked_prefill: bool = typer.Option(False, "--chunked-prefill/--no-chunked-prefill",
                                         help="split prompts into chunks sharing each step's token budget with decodes"),
    max_batched_tokens: int = typer.Option(8192, "--max-batched-tokens", min=1, help="token budget per step"),
    max_seqs: int = typer.Option(256, "--max-seqs", min=1, help="running requests per engine"),
    disaggregate: Optional[str] = typer.Option(None, "--disaggregate", help="P:D prefill and decode engines per unit"),
) -> None:
    """Simulate serving an LLM on a multi-chip system (continuous batching, Poisson arrivals)."""
    from chiplab.errors import ChiplabError
    from chiplab.serve.run import serve

    if sweep:
        return _sweep(model, system, as_json)
    from chiplab.cli import busy

    what = "searching for the highest QPS meeting the limits" if (search or qps is None) and trace is None else "simulating"
    try:
        with busy(f"{what}: {model} on {system}"):
            out = serve(model, system, tp=tp, pp=pp, qps=qps, search=search, requests=requests, seed=seed,
                        precision=precision, weights=weights, kv=kv, max_seqs=max_seqs,
                        token_budget=max_batched_tokens, block_size=block_size, kv_policy=kv_policy,
                        chunked_prefill=chunked_prefill, trace=trace,
                        disaggregate=None if disaggregate is None else _ratio(disaggregate))
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
    typer.echo(f"  ITL   {ms(out['itl_s'])}  (time between tokens)")
    typer.echo(f"  {out['tokens_per_s']:,.0f} tokens/s, {out['tokens_per_s_per_chip']:,.0f} per chip; "
               f"MLPerf limits {'met' if out['meets_constraints'] else 'NOT met'}")
    per = lambda v, unit: "n/a" if v is None else f"{v:,.3g} {unit}"  # noqa: E731
    typer.echo(f"  {per(out['tokens_per_s_per_watt'], 'tokens/s per W of chip TDP')}, "
               f"{per(out['tokens_per_s_per_usd'], 'tokens/s per USD of chips')}; {out['preemptions']} preemptions")
    typer.echo(f"  modelled chip power {out['modelled_chip_power_w']:.0f} W (chip energy table x simulated work)")
    if "saturation_qps" in out:
        typer.echo(f"  saturated throughput {out['saturation_qps']:.3g} requests/s (every request queued; no higher rate "
                   "is sustainable)")
    for note in (out.get("model_notes", []) + out["efficiency_notes"]
                 + [out[k] for k in ("modelled_power_note", "saturation_note") if k in out]):
        typer.echo(f"  note: {note}")
    if "kv_transfer_s" in out:
        typer.echo(f"  KV transfer  {ms(out['kv_transfer_s'])}")
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
