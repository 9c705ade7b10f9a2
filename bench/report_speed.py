"""How fast and how big is ``chiplab report``? ResNet-50 and BERT-base (batch 1, 128 tokens) on 10 chips.

    OMP_NUM_THREADS=1 python bench/report_speed.py [--repeats 5] [--out /tmp/report.html]

Each capture is done once beforehand and excluded. Each repeat times the estimates on the
10 chips (``collect``: estimate + prediction range per chip), the report build after them
(``write_html``: the page and one Perfetto trace per chip) and the whole; the first repeat
also pays the imports (plotly, the perf models) and is printed on its own line. Targets
(issue 14), per model: report build < 3 s, page < 5 MB (5,000,000 bytes; the inlined
plotly.js alone is about 4.8 MB; the trace files beside it are not counted). Exit code 1
when a target is missed.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

CHIPS = ("tpu-v1", "tpu-v4", "systolic-128", "eyeriss", "a100-sxm4-40gb", "h100-sxm", "t4", "goya", "vck5000-dpu",
         "xeon-e5-2699v3")
MODELS = ("resnet50", "bert-base")
BUILD_TARGET_S = 3.0
SIZE_TARGET_B = 5_000_000


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("/tmp/chiplab-report-speed.html"))
    a = ap.parse_args(argv)

    ok = True
    for model in MODELS:
        ok &= run(model, a.repeats, a.out.with_name(f"{a.out.stem}-{model}{a.out.suffix}"))
    print("verdict:", "PASS" if ok else "FAIL")
    return 0 if ok else 1


def run(model: str, repeats: int, out: Path) -> bool:
    t0 = time.perf_counter()
    from chiplab.capture.workloads import load_graph

    graph = load_graph(model, batch=1)
    print(f"{model}: capture (excluded) {time.perf_counter() - t0:.2f} s, {len(graph.nodes)} nodes")
    from chiplab.report.build import collect
    from chiplab.report.html import write_html

    est_t, build_t, whole_t, size = [], [], [], 0
    for i in range(repeats):
        t1 = time.perf_counter()
        data = collect(model, CHIPS, graph=graph, progress=False)
        t2 = time.perf_counter()
        files = write_html(data, out)
        t3 = time.perf_counter()
        size = out.stat().st_size
        if i == 0:
            print(f"  first run (with imports): estimates {t2 - t1:.2f} s, report build {t3 - t2:.2f} s, whole {t3 - t1:.2f} s")
        est_t.append(t2 - t1)
        build_t.append(t3 - t2)
        whole_t.append(t3 - t1)
    med = statistics.median
    traces = sum(f.stat().st_size for f in files[1:])
    print(f"  {len(CHIPS)} chips x {model}, median of {repeats} runs (OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}):")
    print(f"  estimates     {med(est_t):6.2f} s   (min {min(est_t):.2f})")
    print(f"  report build  {med(build_t):6.2f} s   (min {min(build_t):.2f})   target < {BUILD_TARGET_S} s")
    print(f"  whole         {med(whole_t):6.2f} s   (min {min(whole_t):.2f})")
    print(f"  page size     {size:,} B = {size / 1e6:.2f} MB ({size / 2**20:.2f} MiB)   target < {SIZE_TARGET_B / 1e6:.0f} MB;"
          f" {out}")
    print(f"  trace files   {len(files) - 1} beside it, {traces:,} B in all")
    return med(build_t) < BUILD_TARGET_S and size < SIZE_TARGET_B


if __name__ == "__main__":
    raise SystemExit(main())
