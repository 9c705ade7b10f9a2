"""Design points per second on ONE layer: ZigZag's per-design mapping search vs chiplab's pricing.

The layer is ResNet-50 CB2a_2 (56x56x64 input, 3x3, 64 filters, stride 1, unpadded: SCALE-Sim's
topology, ../shared/peers/zigzag/conv_r50_CB2a_2_nopad.yaml). ZigZag (zigzag-dse 3.9.1) evaluates
one design per call, searching its temporal mapping (LOMA) each time; it runs in its own virtual
environment in a subprocess (``--zigzag-python``, default .peers/bin/python) on the peers' 128x128
tpu_like accelerator, with its shipped 64 bit/cycle DRAM port and with the high-bandwidth variant.
chiplab prices the same layer (captured once) across ``--points`` random design points (array shape,
the three buffers, dataflow os/ws/is/flexible, DRAM bandwidth, clock) with the batch pricer
(chiplab/perf/systolic_batch.py) and, on a subset, with the scalar model (chiplab.estimate).
Also prints the cycles both tools give for the shared design (tpu_like 128x128 ws) as a sanity check.

Install ZigZag (../shared/peers/README.md):
    python3 -m venv .peers && .peers/bin/pip install zigzag-dse==3.9.1 "numpy<2.4" six
Without it the bench prints that and reports "zigzag": null (exit 0).

    OMP_NUM_THREADS=1 python bench/explore_vs_zigzag.py [--points 1000] [--scalar 100] [--repeats 3]
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PEERS = Path(os.environ.get("CHIPLAB_PEERS", "/work/shared/peers")) / "zigzag"
INSTALL = 'python3 -m venv .peers && .peers/bin/pip install zigzag-dse==3.9.1 "numpy<2.4" six'
# CB2a_2 in SCALE-Sim's conv topology format (pre-padded input, as the ZigZag workload file has it)
CB2A_2 = "Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n" \
         "CB2a_2, 56, 56, 3, 3, 64, 64, 1,\n"
ZZ_PEERS_CYCLES = 17_681   # ../shared/peers/README.md: ZigZag WS, CB2a_2 on 128x128 (high-bandwidth variant)

PEER_SCRIPT = r"""
import json, logging, sys, tempfile, time
logging.disable(logging.CRITICAL)
t0 = time.perf_counter()
from zigzag import api
imp = time.perf_counter() - t0
d, repeats = sys.argv[1], int(sys.argv[2])
out = {"import_s": imp, "runs": {}}
for hw in ("tpu_like_128.yaml", "tpu_like_128_hibw.yaml"):
    secs = []
    for _ in range(repeats):
        tmp = tempfile.mkdtemp()
        t = time.perf_counter()
        r = api.get_hardware_performance_zigzag(workload=d + "/conv_r50_CB2a_2_nopad.yaml", accelerator=d + "/" + hw,
                                                mapping=d + "/map_ws_128.yaml", opt="latency", dump_folder=tmp,
                                                pickle_filename=tmp + "/cme.pickle", loma_show_progress_bar=False)
        secs.append(time.perf_counter() - t)
    out["runs"][hw] = {"cycles": r[1], "energy_pj": r[0], "seconds": secs}
print(json.dumps(out))
"""


def run_zigzag(python: Path, repeats: int) -> dict | None:
    if not python.exists():
        print(f"ZigZag is not installed ({python} missing); to compare, install it with:\n    {INSTALL}")
        return None
    r = subprocess.run([str(python), "-c", PEER_SCRIPT, str(PEERS), str(repeats)], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    if r.returncode != 0:
        tail = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode
        print(f"ZigZag failed: {tail}")
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def shared_chip(dram_bandwidth):
    """ZigZag's tpu_like (chiplab/hw/presets/zigzag-tpu-like.yaml) grown to 128x128 as the peers' file is, with
    im2col rows and no SRAM port limits (the batch pricer's domain); ``dram_bandwidth`` 8 GB/s at 1 GHz is its
    64 bit/cycle DRAM port, inf stands for the high-bandwidth variant."""
    from chiplab.hw import load_chip
    from chiplab.hw.edit import edit

    return edit(load_chip("zigzag-tpu-like"), {
        "arch.rows": 128, "arch.cols": 128, "vector.lanes": 128, "arch.conv_rows": "im2col",
        "arch.filter_sram": "2 MiB",   # rf_128B (1,024 bits of weights) per PE x 16,384 PEs
        "arch.ifmap_sram_bandwidth": None, "arch.filter_sram_bandwidth": None, "arch.ofmap_sram_bandwidth": None,
        "memory.dram_bandwidth": dram_bandwidth})


def random_chips(base, n: int, seed: int) -> list:
    from chiplab.hw.edit import edit

    rng = random.Random(seed)
    pick = rng.choice
    out = []
    for _ in range(n):
        cols = pick([16, 32, 64, 128, 256])
        out.append(edit(base, {
            "arch.rows": pick([16, 32, 64, 128, 256]), "arch.cols": cols, "vector.lanes": cols,
            "arch.dataflow": pick(["os", "ws", "is", "flexible"]),
            "arch.ifmap_sram": pick(["64 KiB", "256 KiB", "1 MiB", "4 MiB"]),
            "arch.filter_sram": pick(["16 KiB", "64 KiB", "256 KiB", "2 MiB"]),
            "arch.ofmap_sram": pick(["16 KiB", "64 KiB", "256 KiB", "1 MiB"]),
            "arch.clock": pick(["500 MHz", "1 GHz"]), "memory.dram_bandwidth": pick(["8 GB/s", "32 GB/s", "128 GB/s"])}))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--zigzag-python", default=str(ROOT / ".peers" / "bin" / "python"))
    ap.add_argument("--points", type=int, default=1000, help="random design points for the batch pricer")
    ap.add_argument("--scalar", type=int, default=100, help="of which priced by the scalar model")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--zigzag-repeats", type=int, default=2)
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    import chiplab
    from chiplab.capture.scalesim_csv import import_scalesim_csv
    from chiplab.perf.systolic_batch import BatchWorkload, price_many

    with tempfile.TemporaryDirectory() as d:
        csv = Path(d) / "cb2a_2.csv"
        csv.write_text(CB2A_2)
        graph = import_scalesim_csv(str(csv))

    # the shared design
    share = {}
    for label, bw in (("64 bit/cycle DRAM", "8 GB/s"), ("high-bandwidth", float("inf"))):
        for df in ("ws", "flexible"):
            from chiplab.hw.edit import edit

            est = chiplab.estimate(graph, edit(shared_chip(bw), {"arch.dataflow": df}))
            lay = [x for x in est.layers if x.unit == "array"][0]
            share[(label, df)] = (lay.cycles, lay.compute_cycles, lay.notes[-1] if df == "flexible" else "")

    chips = random_chips(shared_chip("8 GB/s"), args.points, seed=0)
    batch_s, scalar_s = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        work = BatchWorkload(graph)        # capture once per run; the layer's arrays built here
        got = price_many(work, chips)
        batch_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        for c in chips[:args.scalar]:
            chiplab.estimate(graph, c)
        scalar_s.append(time.perf_counter() - t)
    assert all(g is not None for g in got), "a point fell back to the scalar path"
    for c, g in zip(chips[:5], got):          # the batch is exact (tests/explore/test_batch_exact.py)
        assert abs(g.latency_s / chiplab.estimate(graph, c).latency_s - 1) < 1e-9
    batch_rate = args.points / statistics.median(batch_s)
    scalar_rate = args.scalar / statistics.median(scalar_s)

    zz = run_zigzag(Path(args.zigzag_python), args.zigzag_repeats)
    zz_rate = None
    if zz is not None:
        secs = [s for r in zz["runs"].values() for s in r["seconds"]]
        zz_rate = 1.0 / statistics.median(secs)

    print("ResNet-50 CB2a_2 (unpadded, 3x3, 64->64, 54x54 out), one layer\n")
    print(f"{'shared design: tpu_like 128x128':<44}{'chiplab cycles':>16}{'ZigZag cycles':>16}")
    zz_cyc = {"64 bit/cycle DRAM": "tpu_like_128.yaml", "high-bandwidth": "tpu_like_128_hibw.yaml"}
    for (label, df), (cyc, comp, _) in share.items():
        z = f"{zz['runs'][zz_cyc[label]]['cycles']:,.0f}" if zz is not None and df == "ws" else "-"
        print(f"  {df + ', ' + label:<42}{cyc:>16,.0f}{z:>16}")
    print(f"  (peers README, ZigZag ws high-bandwidth: {ZZ_PEERS_CYCLES:,} cycles; chiplab ws compute "
          f"{share[('high-bandwidth', 'ws')][1]:,.0f})")
    for label in ("64 bit/cycle DRAM", "high-bandwidth"):
        print(f"  flexible, {label}: {share[(label, 'flexible')][2]}")
    print()
    print(f"{'evaluator':<52}{'points/s':>12}")
    print(f"  {'chiplab batch pricer (' + str(args.points) + ' random designs)':<50}{batch_rate:>12,.0f}")
    print(f"  {'chiplab scalar model (' + str(args.scalar) + ' of them)':<50}{scalar_rate:>12,.1f}")
    print(f"  {'ZigZag 3.9.1 (LOMA mapping search per design)':<50}"
          f"{(f'{zz_rate:>12,.3f}' if zz_rate else '  not installed')}")
    if zz_rate:
        print(f"\nbatch / ZigZag: {batch_rate / zz_rate:,.0f}x; scalar / ZigZag: {scalar_rate / zz_rate:,.0f}x "
              f"(ZigZag import {zz['import_s']:.1f} s not counted)")
    print(json.dumps({
        "bench": "explore_vs_zigzag", "layer": "resnet50 CB2a_2", "points": args.points,
        "batch_points_per_s": round(batch_rate, 1), "scalar_points_per_s": round(scalar_rate, 2),
        "zigzag_points_per_s": round(zz_rate, 4) if zz_rate else None,
        "batch_vs_zigzag": round(batch_rate / zz_rate, 1) if zz_rate else None,
        "scalar_vs_zigzag": round(scalar_rate / zz_rate, 1) if zz_rate else None,
        "chiplab_cycles": {f"{df} {label}": c for (label, df), (c, _, _) in share.items()},
        "zigzag": None if zz is None else {k: v["cycles"] for k, v in zz["runs"].items()},
        "zigzag_peers_readme_cycles": ZZ_PEERS_CYCLES}))


if __name__ == "__main__":
    main()
