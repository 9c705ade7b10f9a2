"""Live check against SCALE-Sim itself on random layers and arrays (slow; needs SCALE-Sim installed).

    CHIPLAB_SCALESIM_PYTHON=/path/to/venv/bin/python pytest -m slow tests/perf/test_systolic_scalesim_live.py

CHIPLAB_SCALESIM_PYTHON names a Python with `scalesim==3.0.0` (and numpy<2.4) installed; it is a
program, not a data file, so without it these two slow tests skip and say so.

Draws small random conv and GEMM layers, arrays (1..40 × 1..40, any aspect) and
dataflows, runs SCALE-Sim 3.0.0 through tools/scalesim_golden.py --one, and checks
that --compat scalesim gives the same stall-free compute cycles.
"""
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from test_systolic_scalesim import model_of, node_of

ROOT = Path(__file__).resolve().parents[2]
PEER = Path(os.environ.get("CHIPLAB_SCALESIM_PYTHON", "")).expanduser()


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CHIPLAB_SCALESIM_PYTHON") or not PEER.is_file(),
                    reason="set CHIPLAB_SCALESIM_PYTHON to a Python with scalesim==3.0.0 installed")
@pytest.mark.parametrize("seed", range(int(os.environ.get("CHIPLAB_LIVE_SEEDS", "12"))))
def test_random_layers_match_scalesim(seed):
    rng = random.Random(seed)
    rows, cols, df = rng.randint(1, 40), rng.randint(1, 40), rng.choice(["os", "ws", "is"])
    if seed % 2:
        kind = "gemm"
        layers = [[f"g{i}", rng.randint(1, 90), rng.randint(1, 90), rng.randint(1, 90)] for i in range(4)]
    else:
        kind = "conv"
        layers = []
        for i in range(4):
            R, S, s = rng.randint(1, 5), rng.randint(1, 5), rng.randint(1, 3)
            layers.append([f"c{i}", rng.randint(R, 20), rng.randint(S, 20), R, S, rng.randint(1, 12),
                           rng.randint(1, 40), s])
    job = dict(kind=kind, layers=layers, rows=rows, cols=cols, dataflow=df, mode="CALC", sram_kb=[64, 64, 64],
               bw=[10, 10, 10])
    out = subprocess.run([str(PEER), str(ROOT / "tools" / "scalesim_golden.py"), "--one", json.dumps(job)],
                         capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    res = json.loads(out.stdout)["results"]
    model = model_of(job)
    for layer, r in zip(layers, res):
        est = model.layer(node_of(kind, layer))
        assert est.compute_cycles == r["total_cycles"], (rows, cols, df, layer)


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CHIPLAB_SCALESIM_PYTHON") or not PEER.is_file(),
                    reason="set CHIPLAB_SCALESIM_PYTHON to a Python with scalesim==3.0.0 installed")
@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_depthwise_row_is_a_grouped_conv(df):
    """A SCALE-Sim "DP" row (C channels, F filters) runs as C layers of 1 channel × F filters:
    the grouped conv ConvShape(groups=C, K=C·F); compat prices its groups as separate layers."""
    from chiplab.ir.graph import ConvShape, Node, OpKind

    job = dict(kind="conv", layers=[["DP1", 14, 11, 3, 3, 6, 5, 2]], rows=8, cols=16, dataflow=df, mode="CALC",
               sram_kb=[64, 64, 64], bw=[10, 10, 10])
    out = subprocess.run([str(PEER), str(ROOT / "tools" / "scalesim_golden.py"), "--one", json.dumps(job)],
                         capture_output=True, text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    res = json.loads(out.stdout)["results"]
    assert len(res) == 6
    c = ConvShape(1, 6, 14, 11, 6 * 5, 3, 3, (2, 2), groups=6)
    g = c.as_gemm()
    est = model_of(job).layer(Node("dp", OpKind.CONV, gemm=g, conv=c, macs=g.macs))
    assert est.compute_cycles == sum(r["total_cycles"] for r in res)
