"""SCALE-Sim v3 and chiplab on the same ResNet-50 layers and arrays, in one run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/vs_scalesim.py --layers 3
    OMP_NUM_THREADS=1 .venv/bin/python bench/vs_scalesim.py --layers 54 --arrays 128x128:ws   # all (minutes)
    .venv/bin/python bench/vs_scalesim.py --user-stalls     # finite-bandwidth stalls vs the golden data

SCALE-Sim runs in the peer venv (``.peers``, see tools/scalesim_golden.py), driven
in-process there with save_disk_space=True; its CPU time is measured inside that
process (interpreter start-up excluded). chiplab runs ``--compat scalesim`` on a chip
imported from the same configuration; its time is the median of repeated runs over
the same layers. Prints per-layer compute cycles of both, their agreement, and the
speed ratio (SCALE-Sim CPU time / chiplab time for the same work).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chiplab.hw.scalesim_cfg import chip_from_scalesim  # noqa: E402
from chiplab.ir.graph import ConvShape, Graph, Node, OpKind  # noqa: E402
from chiplab.perf.registry import EstimateOptions, model_for  # noqa: E402

TOPO = Path("/work/shared/peers/scalesim/resnet50_scalesim_mlperf.csv")
PEER_PY = ROOT / ".peers" / "bin" / "python"


def read_topology(path: Path) -> list[list]:
    """SCALE-Sim conv topology rows: [name, H, W, R, S, C, K, stride]."""
    rows = []
    for line in path.read_text().splitlines()[1:]:
        parts = [p.strip() for p in line.split(",") if p.strip()]
        if parts:
            rows.append([parts[0]] + [int(p) for p in parts[1:8]])
    return rows


def graph_of(layers: list[list]) -> Graph:
    nodes = []
    for i, (name, H, W, R, S, C, K, s) in enumerate(layers):
        c = ConvShape(1, C, H, W, K, R, S, (s, s))
        g = c.as_gemm()
        nodes.append(Node(f"{i}_{name}", OpKind.CONV, module_path=name, gemm=g, conv=c, macs=g.macs))
    return Graph("resnet50_scalesim", nodes)


def run_scalesim(layers, rows, cols, df) -> dict:
    job = dict(kind="conv", layers=layers, rows=rows, cols=cols, dataflow=df, mode="CALC", sram_kb=[64, 64, 64],
               bw=[10, 10, 10])
    if not PEER_PY.exists():
        sys.exit(f"no SCALE-Sim peer at {PEER_PY}: python3 -m venv .peers && "
                 ".peers/bin/pip install scalesim==3.0.0 'numpy<2.4' six")
    out = subprocess.run([str(PEER_PY), str(ROOT / "tools" / "scalesim_golden.py"), "--one", json.dumps(job)],
                         capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return json.loads(out.stdout)


def run_chiplab(layers, rows, cols, df, repeats: int) -> tuple[list, float]:
    chip = chip_from_scalesim(name=f"ss_{rows}x{cols}_{df}", rows=rows, cols=cols, dataflow=df, sram_kb=(64, 64, 64))
    graph = graph_of(layers)
    times, est = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        model = model_for(chip, EstimateOptions("int8", compat="scalesim", host_transfers=False))
        est = model.run(graph)
        times.append(time.perf_counter() - t0)
    return est, statistics.median(times)


def user_stalls() -> int:
    """Finite DRAM bandwidth (SCALE-Sim USER mode): our stalls vs SCALE-Sim's, from the
    golden data that tools/scalesim_golden.py recorded (no SCALE-Sim run needed)."""
    from chiplab.ir.graph import GemmShape

    data = json.loads((ROOT / "tests" / "data" / "scalesim_golden.json").read_text())
    print(f"golden data: {data['provenance']['tool']} {data['provenance']['scalesim_version']}, "
          f"{data['provenance']['date_utc']}")
    print(f"{'array':7s} {'df':3s} {'bw i/f/o':9s} {'SRAM kB':8s} {'layer':7s} {'compute':>8s} "
          f"{'stall SS':>9s} {'stall ours':>10s} {'total err':>9s}")
    errs = []
    for job in data["jobs"]:
        if job["mode"] != "USER":
            continue
        chip = chip_from_scalesim(name="u", rows=job["rows"], cols=job["cols"], dataflow=job["dataflow"],
                                  sram_kb=tuple(job["sram_kb"]), mode="USER", bandwidths=tuple(job["bw"]))
        model = model_for(chip, EstimateOptions("int8", compat="scalesim"))
        for lay, res in zip(job["layers"], job["results"]):
            if job["kind"] == "gemm":
                g = GemmShape(*lay[1:4])
                node = Node(lay[0], OpKind.GEMM, gemm=g, macs=g.macs)
            else:
                node = graph_of([lay]).nodes[0]
            est = model.layer(node)
            theirs = res["total_cycles"]          # USER mode: SCALE-Sim's Total Cycles include its stalls
            err = abs(est.compute_cycles + est.stall_cycles - theirs) / theirs
            errs.append(err)
            print(f"{job['rows']}x{job['cols']:<4d} {job['dataflow']:3s} {'/'.join(map(str, job['bw'])):9s} "
                  f"{'/'.join(map(str, job['sram_kb'])):8s} {lay[0]:7s} {est.compute_cycles:8.0f} "
                  f"{res['stall_cycles']:9d} {est.stall_cycles:10.0f} {err:9.1%}")
    print(f"{len(errs)} layers: median |total cycles error| {statistics.median(errs):.1%}, "
          f"mean {statistics.mean(errs):.1%}, within 10%: {sum(e <= 0.1 for e in errs)}")
    return 0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--layers", type=int, default=3, help="first N layers of ResNet-50 (default 3; 54 = all)")
    ap.add_argument("--arrays", default="128x128:ws,128x128:os", help="comma list of RxC:dataflow")
    ap.add_argument("--repeats", type=int, default=200)
    ap.add_argument("--user-stalls", action="store_true",
                    help="print finite-bandwidth stall agreement from the golden data and exit")
    args = ap.parse_args(argv)
    if args.user_stalls:
        return user_stalls()
    layers = read_topology(TOPO)[: args.layers]
    total_ss = total_cl = 0.0
    worst = 0.0
    for spec in args.arrays.split(","):
        shape, df = spec.split(":")
        rows, cols = (int(x) for x in shape.split("x"))
        ss = run_scalesim(layers, rows, cols, df)
        est, t_cl = run_chiplab(layers, rows, cols, df, args.repeats)
        print(f"\n{rows}x{cols} {df}: {len(layers)} layers")
        print(f"{'layer':10s} {'SCALE-Sim':>12s} {'chiplab':>12s} {'diff':>6s}")
        for lay, res, ours in zip(layers, ss["results"], est):
            diff = ours.compute_cycles - res["total_cycles"]
            worst = max(worst, abs(diff))
            print(f"{lay[0]:10s} {res['total_cycles']:12d} {ours.compute_cycles:12.0f} {diff:6.0f}")
        ratio = ss["cpu_s"] / t_cl
        print(f"time: SCALE-Sim {ss['cpu_s']:.2f} CPU-s, chiplab {t_cl * 1e3:.3f} ms (median of {args.repeats}) "
              f"-> chiplab {ratio:,.0f}x faster")
        total_ss += ss["cpu_s"]
        total_cl += t_cl
    print(f"\nall: max |cycle difference| = {worst:.0f}; SCALE-Sim {total_ss:.1f} CPU-s vs chiplab "
          f"{total_cl * 1e3:.2f} ms -> {total_ss / total_cl:,.0f}x")
    return 0 if worst <= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
