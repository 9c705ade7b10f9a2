"""CLI start-up time: this checkout against an earlier commit, measured in the same run.

Times two commands that need no torch, each as a fresh ``python -m chiplab`` process:

* ``presets``: list the chip presets;
* ``estimate topo.csv --chip x.cfg --compat scalesim``: a SCALE-Sim topology on a
  SCALE-Sim config (files written to a temporary folder by this script).

The earlier commit (``--base``, default the commit before the lazy imports) is checked
out with ``git worktree add --detach`` into a temporary folder and run from there
(``python -m chiplab`` run from a checkout's root imports that checkout's package).
Each command runs ``--runs`` times alternately on both trees (one thread,
``OMP_NUM_THREADS=1``); the table shows the median wall time and the ratio before/now,
and whether the command imported torch.

    OMP_NUM_THREADS=1 python bench/cli_startup.py [--base 5f14d84] [--runs 7]
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASE = "5f14d84"   # the commit before the lazy imports (h4-perfcli branch)

TOPO = ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
        "conv1, 56, 56, 3, 3, 64, 64, 1,\nconv2, 28, 28, 3, 3, 128, 128, 1,\n")
CFG = ("[general]\nrun_name = bench\n[architecture_presets]\nArrayHeight: 32\nArrayWidth: 32\nIfmapSramSzkB: 64\n"
       "FilterSramSzkB: 64\nOfmapSramSzkB: 64\nBandwidth : 10\nDataflow : os\n[run_presets]\nInterfaceBandwidth: CALC\n")

PROBE = ("import runpy, sys, atexit\n"
         "atexit.register(lambda: sys.stderr.write('\\nTORCH=%d\\n' % ('torch' in sys.modules)))\n"
         "sys.argv = ['chiplab'] + sys.argv[1:]\nrunpy.run_module('chiplab', run_name='__main__')\n")


def _env(cache: Path) -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "CHIPLAB_CACHE_DIR": str(cache)}


def run_once(tree: Path, args: list[str], env: dict[str, str]) -> tuple[float, bool]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PROBE, *args], cwd=tree, env=env, capture_output=True, text=True)
    dt = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{tree}: chiplab {' '.join(args)} failed:\n{r.stderr[-2000:]}")
    return dt, "TORCH=1" in r.stderr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--base", default=BASE, help="the earlier commit to compare with")
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="cli-startup-") as tmp:
        tmp = Path(tmp)
        before = tmp / "before"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(before), a.base], check=True)
        try:
            (tmp / "t.csv").write_text(TOPO)
            (tmp / "x.cfg").write_text(CFG)
            cmds = {"presets": ["presets"],
                    "estimate SCALE-Sim csv+cfg": ["estimate", str(tmp / "t.csv"), "--chip", str(tmp / "x.cfg"),
                                                   "--compat", "scalesim", "--json"]}
            env = _env(tmp / "cache")
            trees = {"before": before, "now": ROOT}
            for tree in trees.values():            # warm the OS file cache, write each tree's .pyc files
                run_once(tree, ["presets"], env)
            res: dict[tuple[str, str], list[float]] = {}
            torch_seen: dict[tuple[str, str], bool] = {}
            for _ in range(a.runs):
                for cname, args in cmds.items():
                    for tname, tree in trees.items():
                        dt, torch_in = run_once(tree, args, env)
                        res.setdefault((cname, tname), []).append(dt)
                        torch_seen[(cname, tname)] = torch_in
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(before)], check=False)
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                          text=True).stdout.strip()
    print(f"median wall time of {a.runs} runs each, one thread; before = {a.base}, now = {head} "
          f"(working tree), python {sys.version.split()[0]}")
    print(f"{'command':30s} {'before s':>9s} {'now s':>9s} {'ratio':>7s}  torch imported (before/now)")
    for cname in cmds:
        b, n = (statistics.median(res[(cname, t)]) for t in ("before", "now"))
        print(f"{cname:30s} {b:9.3f} {n:9.3f} {b / n:6.1f}x  {torch_seen[(cname, 'before')]}/{torch_seen[(cname, 'now')]}")


if __name__ == "__main__":
    main()
