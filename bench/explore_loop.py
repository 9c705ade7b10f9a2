"""Loop overhead of `chiplab explore`: everything but the evaluation, at 2,000 / 10,000 / 20,000 trials.

The evaluator here is a STUB, for this measurement only: a deterministic cheap function of the
design point's parameters that returns a metrics dict of the shape ``Evaluator.compute``
returns (latency, energy, power_w, area_mm2...). Its numbers mean nothing about chips; they
only give NSGA-II a trade-off (bigger arrays: faster, more area and power) to work on, so the
sampler, the journal, the Pareto front and the plot run as they do in a real run of
examples/space_edge.yaml (same space, same NSGA-II settings, same batch).

Per trial count it reports (wall and CPU seconds; CPU is steadier on a shared machine):
  loop      search.run with the journal (ask, suggest, stub, tell, journal writes)
  no-journal  search.run without storage: the journal's share is the difference
  stub      time inside the stub evaluator (not overhead)
  resume    search.run on the finished journal: read back n trials, run none
  pareto    Result.pareto();  plot: the Pareto PNG;  outputs: write_outputs (table data, plot, 5 chips)
``--profile`` adds optuna's and the journal's cumulative times (cProfile) at the largest count.
Ends with one JSON line.

    python bench/explore_loop.py [--trials 2000 10000 20000] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_NUM_THREADS", "1")

from chiplab.explore.search import run  # noqa: E402
from chiplab.explore.space import load_space  # noqa: E402

SPACE = Path(__file__).resolve().parents[1] / "examples" / "space_edge.yaml"
_UNIT = {"KiB": 1024, "MiB": 1024 ** 2, "MHz": 1e6, "GHz": 1e9, "GB/s": 1e9}


def _num(v) -> float:
    if isinstance(v, (int, float)):
        return float(v)
    x, u = str(v).split()
    return float(x) * _UNIT[u]


class StubEvaluator:
    """STUB for the loop-overhead measurement only: not a chip model. Same interface as
    ``chiplab.explore.evaluate.Evaluator`` as ``search.run`` uses it (call, violations,
    objectives, hits/misses)."""

    def __init__(self, space) -> None:
        self.space = space
        self.hits = self.misses = 0
        self.seconds = 0.0

    def __call__(self, p: dict) -> dict:
        t = time.perf_counter()
        self.misses += 1
        m = self.compute(p)
        self.seconds += time.perf_counter() - t
        return m

    def compute(self, p: dict) -> dict:
        g = lambda k, d: _num(p.get(k, d))  # noqa: E731
        macs = g("arch.rows", 32) * g("arch.cols", 32)
        clk, bw = g("arch.clock", 1e9), g("memory.dram_bandwidth", 16e9)
        sram = g("arch.ifmap_sram", 65536) + g("arch.filter_sram", 32768) + g("arch.ofmap_sram", 32768)
        flow = {"ws": 1.0, "os": 1.1, "is": 1.25}.get(p.get("arch.dataflow", "ws"), 1.0)
        lat = flow * (4e9 / (macs * clk) + 2e7 / bw * (1 + 2e5 / sram))
        energy = 1e-12 * (4e9 * (1 + sram / 4e6) + 3e8 * 2e5 / sram) * (1 + clk / 4e9)
        area = 1.5 + macs * 8e-4 + sram / 2 ** 20 * 1.2 + bw / 16e9 * 3
        power = energy / lat
        price = 5.0 + area * 0.4
        return {"latency": lat, "energy": energy, "edp": lat * energy, "throughput": 1 / lat,
                "perf_per_watt": 1 / energy, "perf_per_dollar": 1 / (lat * price), "area": area,
                "power_w": power, "area_mm2": area, "price_usd": price}

    def violations(self, m: dict) -> list[float]:
        c = self.space.spec.constraints
        return [m[k] - lim for k, lim in (("area_mm2", c.area_mm2), ("power_w", c.power_w),
                                          ("price_usd", c.price_usd)) if lim is not None]

    def objectives(self, m: dict) -> list[float]:
        return [m[o] for o in self.space.spec.objectives]


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def measure(n: int, workdir: Path, profile: bool = False) -> dict:
    from chiplab.explore.cli import _plot, write_outputs

    space = load_space(SPACE)
    stub = StubEvaluator(space)
    prof = cProfile.Profile() if profile else None
    if prof:
        prof.enable()
    res, loop_w, loop_c = _timed(lambda: run(space, trials=n, storage=workdir / f"s{n}.log", evaluator=stub))
    if prof:
        prof.disable()
    resumed, resume_w, _ = _timed(lambda: run(load_space(SPACE), trials=n, storage=workdir / f"s{n}.log",
                                              evaluator=StubEvaluator(space)))
    assert resumed.resumed == n and resumed.new == 0
    _, bare_w, bare_c = _timed(lambda: run(load_space(SPACE), trials=n, evaluator=StubEvaluator(space)))
    front, par_w, _ = _timed(res.pareto)
    _, plot_w, _ = _timed(lambda: _plot(res, space, workdir / f"p{n}.png"))
    _, out_w, _ = _timed(lambda: write_outputs(res, space, workdir / f"out{n}"))
    row = {"trials": n, "loop_s": loop_w, "loop_cpu_s": loop_c, "no_journal_s": bare_w, "no_journal_cpu_s": bare_c,
           "stub_s": stub.seconds, "resume_s": resume_w, "pareto_s": par_w, "plot_s": plot_w, "outputs_s": out_w, "front": len(front),
           "overhead_ms_per_trial": 1e3 * (loop_c - stub.seconds) / n}
    if prof:
        st = pstats.Stats(prof)
        want = {"ask": "study.py:ask", "suggest": "space.py:suggest", "tell": "study.py:tell",
                "journal": "search.py:write", "add_trial": "study.py:add_trial", "sampler relative": "_sampler.py:sample_relative",
                "search space": "search.py:infer_relative_search_space"}
        cum = {}
        for (file, line, func), (_, _, _, ct, _) in st.stats.items():
            for lab, key in want.items():
                f, name = key.split(":")
                if Path(file).name == f and func == name:
                    cum[lab] = cum.get(lab, 0.0) + ct
        row["profile_cum_s"] = cum
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, nargs="+", default=[2000, 10000, 20000])
    ap.add_argument("--profile", action="store_true", help="cProfile the largest count (slower)")
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for n in a.trials:
            rows.append(measure(n, Path(d), profile=a.profile and n == max(a.trials)))
    print(f"{'trials':>7} {'loop s':>7} {'cpu s':>7} {'no-jnl s':>8} {'stub s':>7} {'trials/s':>8} "
          f"{'ms/trial':>8} {'resume s':>8} {'pareto s':>8} {'plot s':>7} {'outputs s':>9}")
    for r in rows:
        print(f"{r['trials']:>7} {r['loop_s']:>7.2f} {r['loop_cpu_s']:>7.2f} {r['no_journal_s']:>8.2f} "
              f"{r['stub_s']:>7.2f} {r['trials'] / r['loop_s']:>8.0f} {r['overhead_ms_per_trial']:>8.3f} {r['resume_s']:>8.2f} "
              f"{r['pareto_s']:>8.3f} {r['plot_s']:>7.2f} {r['outputs_s']:>9.2f}")
        if "profile_cum_s" in r:
            print("  cProfile cumulative s: " + ", ".join(f"{k} {v:.2f}" for k, v in r["profile_cum_s"].items()))
    print(json.dumps({"bench": "explore_loop", "stub_evaluator": True, "rows": rows}))


if __name__ == "__main__":
    main()
