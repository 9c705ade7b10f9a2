"""The relaxation of the systolic model (chiplab/explore/relax.py): agreement with the exact model on
random legal designs, gradients, and gradient co-design verified by the exact model."""
from __future__ import annotations

import math
import random
import statistics
from pathlib import Path

import pytest
import torch
from scipy.stats import spearmanr

from chiplab.explore.evaluate import Evaluator
from chiplab.explore.relax import (
    RELAXED,
    Relaxation,
    RelaxError,
    gradient_search,
    penalised,
    st_ceil,
)
from chiplab.explore.space import parse_space

HERE = Path(__file__).parent
SPACE = {
    "chiplab_space": 1, "name": "relax", "base": "systolic-32", "node_nm": 28,
    "parameters": {
        "arch.rows": {"choices": [8, 16, 32, 64, 128]}, "arch.cols": {"choices": [8, 16, 32, 64, 128]},
        "arch.dataflow": {"choices": ["ws", "os", "is"]},
        "arch.ifmap_sram": {"choices": ["16 KiB", "64 KiB", "256 KiB", "1 MiB"]},
        "arch.filter_sram": {"choices": ["16 KiB", "64 KiB", "256 KiB"]},
        "arch.ofmap_sram": {"choices": ["16 KiB", "64 KiB", "128 KiB"]},
        "arch.clock": {"choices": ["400 MHz", "1 GHz"]},
        "memory.dram_bandwidth": {"float": ["4 GB/s", "32 GB/s"], "log": True},
    },
    "tied": {"vector.lanes": "arch.cols"},
    "constraints": {"area_mm2": 8, "power_w": 2},
    "workloads": [{"name": "mixed_gemm.csv"}, {"name": "tiny_gemm.csv", "weight": 2}],
    "objectives": ["edp"],
}


@pytest.fixture(scope="module")
def setup():
    sp = parse_space(SPACE, root=HERE)
    ev = Evaluator(sp, fast=False)
    return sp, ev, Relaxation(sp, ev.graphs)


def _random(sp, rng):
    out = {}
    for k, p in sp.spec.parameters.items():
        if p.choices is not None:
            out[k] = rng.choice(p.choices)
        else:
            lo, hi = sp.bounds[k]
            out[k] = math.exp(rng.uniform(math.log(lo), math.log(hi)))
    return out


def test_relaxed_metrics_agree_with_the_exact_model(setup):
    """Measured on 40 random designs of this space: latency and energy within 1 % in median, every
    design within 25 %, EDP ranking Spearman > 0.95 (docs/explore.md has the figures on
    space_edge.yaml's ResNet-50 + MobileNetV2)."""
    sp, ev, rel = setup
    rng = random.Random(0)
    exact, relaxed = [], []
    for _ in range(40):
        p = _random(sp, rng)
        exact.append(ev.compute(p))
        with torch.no_grad():
            m = rel.metrics(rel.encode(p), p["arch.dataflow"])
        relaxed.append({k: float(v[0]) for k, v in m.items()})
    for k in ("latency", "energy", "edp", "power_w", "area_mm2"):
        ratios = [r[k] / e[k] for e, r in zip(exact, relaxed)]
        assert abs(statistics.median(ratios) - 1) < 0.01, (k, ratios)
        assert max(abs(q - 1) for q in ratios) < 0.25, (k, ratios)
    assert spearmanr([e["edp"] for e in exact], [r["edp"] for r in relaxed])[0] > 0.95


def test_gradients_are_finite_and_move_every_parameter_of_the_space(setup):
    sp, _, rel = setup
    rng = random.Random(1)
    x = torch.stack([rel.encode(_random(sp, rng)) for _ in range(8)]).requires_grad_()
    for df in rel.dataflows:
        x.grad = None
        penalised(rel, rel.metrics(x, df)).sum().backward()
        assert torch.isfinite(x.grad).all()
        for i, path in enumerate(RELAXED):   # every relaxed parameter of this space has a gradient somewhere
            assert x.grad[:, i].abs().max() > 0, (df, path)


def test_straight_through_ceil_is_exact_forward_and_smooth_backward():
    x = torch.tensor([0.3, 1.0, 2.0001, 7.5], dtype=torch.float64, requires_grad=True)
    y = st_ceil(x)
    assert y.tolist() == [1.0, 1.0, 3.0, 8.0]
    y.sum().backward()
    assert (x.grad > 0).all() and (x.grad <= 1).all()


def test_gradient_search_snaps_to_legal_designs_verified_by_the_exact_model(setup):
    sp, _, rel = setup
    ev = Evaluator(sp, graphs=setup[1].graphs)
    res = gradient_search(sp, ev, budget=6, seed=0, starts=2, steps=20, relax=rel)
    assert len(res.evaluated) == 6 and res.surrogate_evals > 0
    assert len({tuple(sorted(p.items())) for p, _ in res.evaluated}) == 6   # distinct designs only
    for params, m in res.evaluated:
        assert sp.spec.parameters["arch.rows"].choices.count(params["arch.rows"]) == 1
        chip = sp.chip(params)                                  # a legal design: it loads
        assert chip.arch.rows == params["arch.rows"]
        assert m == Evaluator(sp, graphs=ev.graphs, fast=False).compute(params)   # exact metrics
    assert res.feasible(ev), "no feasible design among the snapped ones"


def test_uncovered_parameters_are_refused(setup):
    data = {**SPACE, "parameters": {**SPACE["parameters"], "energy.static_power": {"choices": ["0.1 W", "0.2 W"]}}}
    sp = parse_space(data, root=HERE)
    with pytest.raises(RelaxError, match="energy.static_power"):
        Relaxation(sp, setup[1].graphs)


def test_smooth_max_and_min_have_finite_gradients_at_zero():
    """No DRAM bytes (every operand on chip) is a zero inside a p-norm: its gradient was NaN
    (found on ResNet-50 with a 512 KiB ifmap buffer)."""
    from chiplab.explore.relax import smax, smin

    a = torch.tensor([0.0, 3.0], dtype=torch.float64, requires_grad=True)
    (smax(a, 2.0, 20) + smin(a, 2.0, 20)).sum().backward()
    assert torch.isfinite(a.grad).all()


def test_codesign_bench_prints_all_three_methods(load_script, capsys):
    import json

    bench = load_script("bench/codesign.py")
    out = bench.main(["--trials", "4", "--seeds", "0", "--space", str(HERE / "tiny_space.yaml"),
                      "--starts", "1", "--steps", "5"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert last == json.loads(json.dumps(out))
    assert all(math.isfinite(last[k]) and last[k] > 0 for k in ("gradient", "tpe", "random"))
