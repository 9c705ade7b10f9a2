"""Run SCALE-Sim v3 itself and record its per-layer results as golden data.

Runs under the *peer* venv, never chiplab's (SCALE-Sim pins nothing and needs
``numpy<2.4``)::

    python3 -m venv .peers && .peers/bin/pip install scalesim==3.0.0 "numpy<2.4" six
    OMP_NUM_THREADS=1 .peers/bin/python tools/scalesim_golden.py            # -> tests/data/scalesim_golden.json
    .peers/bin/python tools/scalesim_golden.py --one '<json job>'          # one job, JSON on stdout (bench)

This file imports nothing from chiplab: it describes each case as SCALE-Sim's own
inputs (a config and a topology CSV, conv or GEMM), drives ``scalesim.scale_sim.
scalesim(save_disk_space=True)`` in-process (no traces written), and reads the
per-layer report items from its layer objects. The JSON holds the inputs of every
case (so tests can rebuild the same layers for chiplab), the outputs, and the
provenance (SCALE-Sim version, numpy version, host, date, command).
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "scalesim_golden.json"

CFG = """[general]
run_name = {name}

[architecture_presets]
ArrayHeight: {rows}
ArrayWidth: {cols}
IfmapSramSzkB: {ifmap_kb}
FilterSramSzkB: {filter_kb}
OfmapSramSzkB: {ofmap_kb}
IfmapOffset: 0
FilterOffset: 10000000
OfmapOffset: 20000000
Bandwidth : {bw}
Dataflow : {dataflow}
MemoryBanks: 1
ReadRequestBuffer: 32
WriteRequestBuffer: 32

[layout]
IfmapCustomLayout: False
IfmapSRAMBankBandwidth: {ifmap_bw}
IfmapSRAMBankNum: 1
IfmapSRAMBankPort: 2
FilterCustomLayout: False
FilterSRAMBankBandwidth: {filter_bw}
FilterSRAMBankNum: 1
FilterSRAMBankPort: 2

[sparsity]
SparsitySupport : false
SparseRep : ellpack_block
OptimizedMapping : false
BlockSize : 8
RandomNumberGeneratorSeed : 40

[run_presets]
InterfaceBandwidth: {mode}
UseRamulatorTrace: False
"""

LAYOUT = ("Layer name, IFMAP Height Intraline Factor, IFMAP Width Intraline Factor, Filter Height Intraline Factor, "
          "Filter Width Intraline Factor, Channel Intraline Factor, Num Filter Intraline Factor, "
          "IFMAP Height Intraline Order, IFMAP Width Intraline Order, Channel Intraline Order, "
          "IFMAP Height Interline Order, IFMAP Width Interline Order, Channel Interline Order, "
          "Num Filter Intraline Order, Channel Intraline Order, Filter Height Intraline Order, "
          "Filter Width Intraline Order, Num Filter Interline Order, Channel Interline Order, "
          "Filter Height Interline Order, Filter Width Interline Order,\n"
          "L0, 1, 1, 1, 1, 1, 1, 0, 1, 2, 4, 5, 3, 3, 2, 1, 0, 4, 5, 6, 7,\n")

# --- the cases: (layers, arrays); kept small so the whole run takes a few minutes on one core.
# conv layer: [name, H, W, R, S, C, K, stride] (pre-padded, SCALE-Sim's CSV); gemm: [name, M, N, K]
CONV_SYNTH = [
    ["odd_3x3", 9, 11, 3, 3, 5, 7, 1],
    ["s2_5x5", 17, 13, 5, 5, 3, 20, 2],
    ["s3_ceil", 16, 16, 3, 2, 4, 9, 3],        # (H-R) not a multiple of the stride: ceil convention
    ["pw_1x1", 7, 7, 1, 1, 40, 33, 1],
    ["wide_k", 5, 5, 3, 3, 70, 3, 1],
    ["one_px", 3, 3, 3, 3, 8, 16, 1],
]
GEMM_SYNTH = [["g_tiny", 1, 1, 1], ["g_skinny", 1, 300, 17], ["g_tall", 200, 3, 40], ["g_odd", 37, 41, 43]]
R50_SMALL = [["CB2a_1", 56, 56, 1, 1, 64, 64, 1], ["CB5a_2", 9, 9, 3, 3, 512, 512, 1],
             ["FC1000", 1, 1, 1, 1, 2048, 1000, 1]]
CB2A_2 = [["CB2a_2", 56, 56, 3, 3, 64, 64, 1]]
PEER_GEMMS = [["Test 1", 256, 128, 256]]

ARRAYS_SMALL = [(8, 8), (16, 64), (32, 32)]


def _calc_jobs() -> list[dict]:
    jobs = []
    for df in ("os", "ws", "is"):
        for rows, cols in ARRAYS_SMALL:
            jobs.append(dict(kind="conv", layers=CONV_SYNTH, rows=rows, cols=cols, dataflow=df))
            jobs.append(dict(kind="gemm", layers=GEMM_SYNTH, rows=rows, cols=cols, dataflow=df))
        jobs.append(dict(kind="conv", layers=R50_SMALL, rows=128, cols=128, dataflow=df))
        jobs.append(dict(kind="conv", layers=CB2A_2 + R50_SMALL[:1], rows=32, cols=32, dataflow=df))
        jobs.append(dict(kind="gemm", layers=PEER_GEMMS, rows=32, cols=32, dataflow=df))
    jobs.append(dict(kind="conv", layers=CB2A_2, rows=128, cols=128, dataflow="ws"))
    jobs.append(dict(kind="conv", layers=CB2A_2, rows=128, cols=128, dataflow="os"))
    for j in jobs:
        j.update(mode="CALC", sram_kb=[64, 64, 64], bw=[10, 10, 10])
    return jobs


def _user_jobs() -> list[dict]:
    """Finite DRAM bandwidth (InterfaceBandwidth: USER): words/cycle for ifmap, filter, ofmap."""
    layers = [["u_3x3", 12, 12, 3, 3, 16, 24, 1], ["u_1x1", 10, 10, 1, 1, 64, 40, 1],
              ["u_s2", 15, 15, 3, 3, 8, 32, 2], ["u_fc", 1, 1, 1, 1, 256, 64, 1]]
    jobs = []
    for df in ("os", "ws", "is"):
        for (rows, cols), bw, kb in [((16, 16), [2, 2, 2], [4, 4, 4]), ((32, 32), [8, 4, 8], [64, 64, 64]),
                                     ((8, 8), [1, 1, 1], [2, 2, 2]), ((32, 32), [4, 4, 4], [16, 16, 16]),
                                     ((16, 64), [4, 2, 8], [8, 8, 8])]:
            jobs.append(dict(kind="conv", layers=layers, rows=rows, cols=cols, dataflow=df, mode="USER",
                             sram_kb=kb, bw=bw))
    return jobs


def run_job(job: dict, workdir: str) -> dict:
    """Run one SCALE-Sim job (one config, one topology) and return per-layer results."""
    from scalesim.scale_sim import scalesim

    name = f"{job['kind']}_{job['rows']}x{job['cols']}_{job['dataflow']}_{job['mode']}"
    ifmap_kb, filter_kb, ofmap_kb = job["sram_kb"]
    ifmap_bw, filter_bw, ofmap_bw = job["bw"]
    cfg = Path(workdir) / f"{name}.cfg"
    cfg.write_text(CFG.format(name=name, rows=job["rows"], cols=job["cols"], ifmap_kb=ifmap_kb, filter_kb=filter_kb,
                              ofmap_kb=ofmap_kb, bw=ofmap_bw, ifmap_bw=ifmap_bw, filter_bw=filter_bw,
                              dataflow=job["dataflow"], mode=job["mode"]))
    topo = Path(workdir) / f"{name}.csv"
    if job["kind"] == "gemm":
        lines = ["Layer Name, M, N, K,"] + [f"{l[0]}, {l[1]}, {l[2]}, {l[3]}," for l in job["layers"]]
    else:
        lines = ["Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,"]
        lines += [", ".join(str(x) for x in l) + "," for l in job["layers"]]
    topo.write_text("\n".join(lines) + "\n")
    layout = Path(workdir) / "layout.csv"   # required by its loader; unused (custom layouts off)
    layout.write_text(LAYOUT)
    t0 = time.process_time()
    with contextlib.redirect_stdout(io.StringIO()):
        sim = scalesim(save_disk_space=True, verbose=False, config=str(cfg), topology=str(topo),
                       layout=str(layout), input_type_gemm=job["kind"] == "gemm")
        sim.run_scale(top_path=str(Path(workdir) / "out"))
    cpu = time.process_time() - t0
    results = []
    # a "DP" (depthwise) row becomes one SCALE-Sim layer per channel: report every simulated layer
    names = [row[0] for row in sim.topo.topo_arrays]
    for name, obj in zip(names, sim.runner.single_layer_sim_object_list):
        total_incl, total, stalls, util, map_eff, comp_util = obj.get_compute_report_items()
        d = obj.get_detail_report_items()
        results.append({"layer": name, "total_cycles_incl_prefetch": int(total_incl), "total_cycles": int(total),
                        "stall_cycles": int(stalls), "overall_util_pct": float(util),
                        "mapping_eff_pct": float(map_eff),
                        "sram_reads": {"ifmap": int(d[2]), "filter": int(d[5])}, "sram_writes_ofmap": int(d[8]),
                        "dram_reads": {"ifmap": int(d[11]), "filter": int(d[14])}, "dram_writes_ofmap": int(d[17])})
    return {**job, "results": results, "cpu_s": round(cpu, 3)}


def provenance(argv: list[str]) -> dict:
    import numpy
    from importlib.metadata import version

    return {"tool": "SCALE-Sim v3 (PyPI scalesim)", "scalesim_version": version("scalesim"),
            "numpy_version": numpy.__version__, "python": platform.python_version(), "host": platform.node(),
            "machine": platform.machine(), "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join([os.path.relpath(sys.executable, ROOT)] + argv), "script": "tools/scalesim_golden.py",
            "driver": "scalesim.scale_sim.scalesim(save_disk_space=True, verbose=False), in-process",
            "word_size_bytes": 1, "sram_kb_is_1024_bytes": True}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--one", help="run one job given as JSON and print its result as JSON")
    ap.add_argument("--only", choices=("calc", "user"), help="run only one group of cases")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="scalesim_") as tmp:
        if args.one:
            print(json.dumps(run_job(json.loads(args.one), tmp)))
            return 0
        jobs = ([] if args.only == "user" else _calc_jobs()) + ([] if args.only == "calc" else _user_jobs())
        t0 = time.time()
        done = []
        for i, job in enumerate(jobs):
            done.append(run_job(job, tmp))
            print(f"[{i + 1}/{len(jobs)}] {job['kind']} {job['rows']}x{job['cols']} {job['dataflow']} {job['mode']}: "
                  f"{done[-1]['cpu_s']:.1f} CPU-s", file=sys.stderr)
    data = {"provenance": {**provenance(sys.argv if argv is None else ["tools/scalesim_golden.py"] + argv),
                           "wall_s": round(time.time() - t0, 1)}, "jobs": done}
    Path(args.out).write_text(json.dumps(data, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}: {sum(len(j['results']) for j in done)} layer results in {len(done)} jobs", file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    sys.exit(main())
