"""``chiplab scenario MODEL --chip CHIP --scenario offline|server|single-stream|multi-stream``."""
from __future__ import annotations

import json
import sys
from typing import Optional

import typer

from chiplab.scenario.scenarios import SCENARIOS, ScenarioResult

_SEQ_GRID = (64, 128, 256, 384)   # sequence lengths estimated for BERT; others interpolated


def summary(r: ScenarioResult) -> str:
    """The run in the layout of LoadGen's mlperf_log_summary.txt."""
    yn = lambda ok: "Yes" if ok else "NO"  # noqa: E731
    lines = ["=" * 48, "chiplab MLPerf-style results summary (simulated)", "=" * 48,
             f"SUT name : {r.chip}", f"Workload : {r.workload}", f"Scenario : {r.scenario}", "Mode     : PerformanceOnly"]
    if r.scenario == "server":
        lines.append(f"Scheduled samples per second : {r.value:.2f}")
    elif r.scenario == "offline":
        lines.append(f"Samples per second: {r.value:.2f}")
    else:
        lines.append(f"{r.metric} (ns) : {r.value * 1e9:.0f}")
    lines.append(f"Result is : {'VALID' if r.valid else 'INVALID'}")
    if "performance_constraints" in r.checks:
        lines.append(f"  Performance constraints satisfied : {yn(r.checks['performance_constraints'])}"
                     f"  (p99 {r.latency_s['p99'] * 1e3:.3f} ms <= bound {r.bound_s * 1e3:g} ms)")
    lines.append(f"  Min duration satisfied : {yn(r.checks.get('min_duration', False))}"
                 f"  ({r.duration_s:.1f} s of {r.required_duration_s:g} s)")
    lines.append(f"  Min queries satisfied : {yn(r.checks.get('min_queries', False))}  ({r.n_queries:,} queries, {r.n_samples:,} samples)")
    lines += ["", "Additional stats"]
    for k in ("p50", "p90", "p99", "mean", "max"):
        lines.append(f"  {k:>4s} latency : {r.latency_s[k] * 1e3:12.4f} ms")
    p50 = r.latency_s["p50"]
    if p50 > 0:
        lines.append(f"  spread : p90/p50 {r.latency_s['p90'] / p50:.3f}, p99/p50 {r.latency_s['p99'] / p50:.3f}")
    if r.policy:
        lines.append("  policy : " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in r.policy.items()))
    lines += [f"note: {n}" for n in r.notes]
    return "\n".join(lines)


def service_for(model: str, chip: str, precision: Optional[str]):
    from chiplab.scenario.service import EstimateService
    from chiplab.scenario.workloads import mlperf_workload

    grid = _SEQ_GRID if mlperf_workload(model).seq_lens else None
    return EstimateService(model, chip, precision=precision, seq_grid=grid)


def scenario_cmd(
    model: str = typer.Argument(..., help="built-in workload (resnet50, bert-large, ...) or file.py:factory"),
    chip: str = typer.Option("tpu-v1", "--chip", "-c", help="preset name, chip .yaml or 'host'"),
    scenario: str = typer.Option("offline", "--scenario", "-s", help="|".join(SCENARIOS)),
    precision: Optional[str] = typer.Option(None, "--precision", "-p"),
    quick: bool = typer.Option(False, "--quick", help="min duration 10 s instead of MLPerf's 600 s"),
    max_batch: Optional[int] = typer.Option(None, "--max-batch", min=1,
                                            help="Server: batcher's max batch; Offline: the batch (default: searched)"),
    timeout_ms: Optional[float] = typer.Option(None, "--batch-timeout-ms", min=0.0, help="Server: batcher timeout (default: bound/10)"),
    bound_ms: Optional[float] = typer.Option(None, "--bound-ms", min=0.0, help="Server: p99 bound (default: MLPerf's for the model)"),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", min=1, help="BERT: every sample this long (default: SQuAD-like lengths)"),
    seed: int = typer.Option(0, "--seed"),
    jitter: Optional[str] = typer.Option(None, "--jitter", help="'cpu': per-batch service-time spread resampled "
                                         "from data/measurements/cpu-epyc-2core-2026-11-24.csv (default: none)"),
    as_json: bool = typer.Option(False, "--json", help="print one JSON object on stdout"),
) -> None:
    """MLPerf Inference scenarios (LoadGen's rules) simulated over MODEL's latencies on CHIP."""
    from chiplab.cli import _fail, out
    from chiplab.scenario.scenarios import run

    if scenario not in SCENARIOS:
        _fail(ValueError(f"--scenario: expected one of {', '.join(SCENARIOS)}, got {scenario!r}"))
    kw: dict = {}
    if scenario == "server":
        kw.update(max_batch=max_batch, timeout_s=None if timeout_ms is None else timeout_ms / 1e3,
                  bound_s=None if bound_ms is None else bound_ms / 1e3)
    elif scenario == "offline" and max_batch:
        kw["batch"] = max_batch
    try:
        svc = service_for(model, chip, precision)
        res = run(scenario, svc, model, quick=quick, seed=seed, fixed_len=seq_len, jitter=jitter, **kw)
    except (ValueError, KeyError, FileNotFoundError, NotImplementedError, ImportError, TypeError, RuntimeError) as e:
        _fail(e)
        return
    res.chip = getattr(getattr(svc, "chip", None), "name", str(chip))
    if hasattr(svc, "calls"):
        caps = getattr(svc, "captures", 0)
        res.notes.append(f"{svc.calls} chiplab estimates (powers of two of the batch"
                         + (f", seq lens {list(svc.seq_grid)}" if svc.seq_grid else "") + ", interpolated between)"
                         + (f" on {caps} captured graph(s), re-batched on the IR" if caps else ""))
    if as_json:
        sys.stdout.write(json.dumps(res.to_dict(), allow_nan=False) + "\n")
        return
    out.print(summary(res), highlight=False, markup=False)
