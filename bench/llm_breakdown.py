"""Where the simulated time of each MLPerf LLM row goes (issue #12, validation).

For every row of ``data/mlperf/llm_published.csv`` this runs the bench's own prediction
(``bench/llm_vs_published.py``: the same deployment, workload, seed and Server search) with the engine's
cost model wrapped in a recorder. The recorder prices every step exactly as ``LlmCost.step_time`` does and
books the step's time to the terms of ``LlmCost.time``:

* GEMM: compute-bound (MACs / derated peak > weight bytes / derated bandwidth) or memory-bound;
* attention (QK^T, AV and the KV read): compute- or memory-bound;
* vector (norms, adds, rotary, activation, softmax, sampling, MoE routing): ops- or bytes-bound;
* collectives (tp all-reduce / all-to-all) and kernel launches.

Steps are split into those carrying prefill (a prompt, whole or chunked, possibly with decodes: continuous
batching mixes them) and decode-only steps. Per row it prints the shares of simulated engine time, the mean
batch (sequences emitting a token per step) and tokens per step, the GEMM arithmetic intensity against the
chip's derated ridge point, and which knob sets the level: the share of time priced by the compute rate
(``tensor_efficiency`` x peak) and by the DRAM rate (``dram_efficiency`` x bandwidth). For a Server row the
run recorded is the highest-QPS run the bench's search accepted. The recorded prediction is checked against
the bench's own (same figure). Ends with one JSON line.

    OMP_NUM_THREADS=1 python bench/llm_breakdown.py [--rows 0,8] [--requests N]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chiplab.errors import ChiplabError  # noqa: E402

TERMS = ("gemm_compute", "gemm_memory", "attn_compute", "attn_memory", "vec_compute", "vec_memory", "comm", "launch")
PHASES = ("prefill", "decode")


def _bench():
    """bench/llm_vs_published.py as a module (its functions are reused, not copied)."""
    spec = importlib.util.spec_from_file_location("llm_vs_published", ROOT / "bench" / "llm_vs_published.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class Tally:
    """Per-phase sums of one simulated run."""

    def __init__(self) -> None:
        self.t = {p: dict.fromkeys(TERMS, 0.0) for p in PHASES}
        self.steps = dict.fromkeys(PHASES, 0)
        self.time = dict.fromkeys(PHASES, 0.0)
        self.tokens = dict.fromkeys(PHASES, 0.0)
        self.seqs = dict.fromkeys(PHASES, 0.0)
        self.gemm_macs = self.gemm_bytes = 0.0

    def as_dict(self) -> dict:
        total = sum(self.time.values()) or 1.0
        out = {"sim_s": round(sum(self.time.values()), 4)}
        for p in PHASES:
            n = self.steps[p] or 1
            out[p] = {"steps": self.steps[p], "time_share": round(self.time[p] / total, 4),
                      "mean_step_ms": round(1e3 * self.time[p] / n, 3),
                      "mean_tokens_per_step": round(self.tokens[p] / n, 1),
                      "mean_batch": round(self.seqs[p] / n, 1),
                      "terms_share": {k: round(v / total, 4) for k, v in self.t[p].items()}}
        return out


class RecordingCost:
    """``LlmCost`` with a ``step_time`` that also books each step's time to the terms of ``LlmCost.time``."""

    def __init__(self, cost) -> None:
        if cost.pp != 1:
            raise ChiplabError(f"llm_breakdown: pp {cost.pp} is not broken down (pipeline steps mix stages); use pp 1")
        self.cost = cost
        self.tally = Tally()

    def __getattr__(self, name):          # replicas, kv_capacity_tokens, ... from the wrapped cost
        return getattr(self.cost, name)

    def step_time(self, n_tok: float, n_out: float, pairs: float, kv_read: float) -> float:
        c = self.cost
        dt = c.step_time(n_tok, n_out, pairs, kv_read)
        if not n_tok:
            return dt
        w = c.work(n_tok, n_out, pairs, kv_read)
        # a step carries prefill when it runs more tokens than it emits (a decode emits its one token)
        phase = "prefill" if n_tok > n_out else "decode"
        t, tl = self.tally.t[phase], self.tally
        for (comp, mem), name in (((w.gemm_macs / c.peak, w.gemm_bytes / c.bw), "gemm"),
                                  ((w.attn_macs / c.attn_peak, w.attn_bytes / c.bw), "attn"),
                                  ((w.vec_ops / c.vector_rate, w.vec_bytes / c.bw), "vec")):
            t[f"{name}_compute" if comp >= mem else f"{name}_memory"] += max(comp, mem)
        t["comm"] += w.comm_s
        t["launch"] += w.launch_s
        tl.steps[phase] += 1
        tl.time[phase] += dt
        tl.tokens[phase] += n_tok
        tl.seqs[phase] += n_out
        tl.gemm_macs += w.gemm_macs
        tl.gemm_bytes += w.gemm_bytes
        return dt


def breakdown_row(bench, row, requests: int | None = None) -> dict:
    """Run the bench's prediction of ``row`` through a :class:`RecordingCost`; returns the prediction (must equal
    the bench's) and the tally of the run that sets it (Offline: its one run; Server: the accepted search run)."""
    cost = RecordingCost(bench._cost(row))
    runs: list[dict] = []
    state = {"qps": None, "cap": None}
    orig = {k: getattr(bench, k) for k in ("simulate", "_workload", "_meets", "saturation")}

    def simulate(c, wl, **kw):
        c.tally = Tally()
        r = orig["simulate"](c, wl, **kw)
        runs.append({"qps": state["qps"], "tally": c.tally, "meets": None})
        return r

    def workload(row_, n, qps, seed):
        state["qps"] = qps
        return orig["_workload"](row_, n, qps, seed)

    def meets(row_, r, beams):
        ok = orig["_meets"](row_, r, beams)
        runs[-1]["meets"] = ok
        return ok

    def saturation(row_, c, seed=0):
        state["cap"] = orig["saturation"](row_, c, seed)
        return state["cap"]

    try:
        bench.simulate, bench._workload, bench._meets, bench.saturation = simulate, workload, meets, saturation
        pred = bench.predict_offline(row, cost, requests or bench.OFFLINE_REQUESTS) if row["scenario"] == "Offline" \
            else bench.predict_server(row, cost, requests or bench.SERVER_REQUESTS)
    finally:
        for k, v in orig.items():
            setattr(bench, k, v)
    if row["scenario"] == "Offline":
        chosen = runs[-1]
    else:                                  # the last run the search accepted: met the limits, under saturation
        ok = [r for r in runs if r["meets"] and r["qps"] is not None
              and r["qps"] * cost.replicas <= state["cap"]]
        chosen = ok[-1] if ok else runs[-1]
    c = cost.cost
    ridge = c.peak / c.bw                  # MAC per byte where the derated GEMM roofline bends
    tl = chosen["tally"]
    d = tl.as_dict()
    total = sum(tl.time.values()) or 1.0
    terms = {k: sum(tl.t[p][k] for p in PHASES) / total for k in TERMS}
    d.update({"predicted": pred, "qps_engine": chosen["qps"], "tp": c.tp, "precision": c.gemm_precision,
              "derated_peak_tmacs": round(c.peak / 1e12, 1), "derated_bw_gbs": round(c.bw / 1e9, 1),
              "gemm_intensity_mac_per_b": round(tl.gemm_macs / tl.gemm_bytes, 1) if tl.gemm_bytes else None,
              "ridge_mac_per_b": round(ridge, 1),
              "compute_share": round(terms["gemm_compute"] + terms["attn_compute"] + terms["vec_compute"], 4),
              "memory_share": round(terms["gemm_memory"] + terms["attn_memory"] + terms["vec_memory"], 4),
              "comm_share": round(terms["comm"], 4), "launch_share": round(terms["launch"], 4)})
    return d


def print_row(i: int, row, d: dict, err: float) -> None:
    print(f"\n#{i} {row['round']} {row['chiplab_system']} {row['model']} {row['scenario']}: predicted "
          f"{d['predicted']:.1f} vs published {row['value']:.1f} {row['metric']} ({err:+.1f} %); tp {d['tp']}, "
          f"{d['precision']} GEMM at {d['derated_peak_tmacs']} TMAC/s, DRAM {d['derated_bw_gbs']} GB/s (derated); "
          f"GEMM intensity {d['gemm_intensity_mac_per_b']} MAC/B vs ridge {d['ridge_mac_per_b']}"
          + (f"; engine QPS {d['qps_engine']:.3f}" if d["qps_engine"] else ""))
    print(f"  {'phase':8} {'steps':>7} {'time%':>6} {'ms/step':>8} {'tok/step':>9} {'batch':>7}  "
          + " ".join(f"{k:>12}" for k in TERMS))
    for p in PHASES:
        q = d[p]
        print(f"  {p:8} {q['steps']:>7} {100 * q['time_share']:>6.1f} {q['mean_step_ms']:>8.2f} "
              f"{q['mean_tokens_per_step']:>9.1f} {q['mean_batch']:>7.1f}  "
              + " ".join(f"{100 * v:>11.1f}%" for v in q["terms_share"].values()))
    print(f"  level set by: compute rate {100 * d['compute_share']:.1f} %, DRAM rate {100 * d['memory_share']:.1f} %, "
          f"collectives {100 * d['comm_share']:.1f} %, launches {100 * d['launch_share']:.1f} % of engine time")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", default=None, help="comma-separated row numbers (default: all)")
    ap.add_argument("--requests", type=int, default=None, help="simulated requests per run (default the bench's)")
    args = ap.parse_args(argv)
    bench = _bench()
    df = bench.load_rows()
    rows = [int(x) for x in args.rows.split(",")] if args.rows else list(df.index)
    out, errs = [], []
    for i in rows:
        row = df.loc[i]
        d = breakdown_row(bench, row, args.requests)
        err = 100.0 * (d["predicted"] - row["value"]) / row["value"]
        errs.append(abs(err))
        print_row(i, row, d, err)
        out.append({"row": i, "system": row["chiplab_system"], "model": row["model"], "scenario": row["scenario"],
                    "published": float(row["value"]), "error_pct": round(err, 1),
                    **d, "predicted": round(d["predicted"], 2)})
    print("\nsummary: share of engine time priced by the derated compute rate vs the derated DRAM rate")
    print(f"  {'#':>2} {'system':12} {'model':16} {'scenario':8} {'error%':>7} {'prefill%':>8} {'compute%':>8} "
          f"{'memory%':>8} {'comm%':>6} {'launch%':>7}")
    for r in out:
        print(f"  {r['row']:>2} {r['system']:12} {r['model']:16} {r['scenario']:8} {r['error_pct']:>+7.1f} "
              f"{100 * r['prefill']['time_share']:>8.1f} {100 * r['compute_share']:>8.1f} "
              f"{100 * r['memory_share']:>8.1f} {100 * r['comm_share']:>6.1f} {100 * r['launch_share']:>7.1f}")
    print(f"median |error| {statistics.median(errs):.1f} % over {len(errs)} rows")
    print(json.dumps({"median_abs_error": round(statistics.median(errs) / 100, 4), "rows": len(out), "results": out}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
