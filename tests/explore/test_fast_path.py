"""The explore fast path (group by mapping key, re-price the rest) equals a fresh estimate."""
import math
import random
from pathlib import Path

import pytest

import chiplab
from chiplab.capture.scalesim_csv import import_scalesim_csv
from chiplab.explore.evaluate import Evaluator
from chiplab.explore.space import parse_space

HERE = Path(__file__).parent
GEMMS = HERE / "mixed_gemm.csv"     # four GEMMs, some of which chunk psums at some DRAM rates

SPACE = {
    "chiplab_space": 1, "name": "fastpath", "base": "systolic-32", "node_nm": 28,
    "parameters": {
        "arch.rows": {"choices": [8, 16]}, "arch.cols": {"choices": [8, 16]},
        "arch.dataflow": {"choices": ["ws", "os"]},
        "arch.ifmap_sram": {"choices": ["64 KiB", "1 MiB"]}, "arch.ofmap_sram": {"choices": ["16 KiB", "64 KiB"]},
        "arch.clock": {"choices": ["400 MHz", "800 MHz"]},
        "memory.dram_bandwidth": {"choices": ["8 GB/s", "16 GB/s", "32 GB/s"]},
        "energy.dram_read_per_byte": {"choices": ["160 pJ", "80 pJ"]},
        "energy.static_power": {"choices": ["0.1 W", "0.5 W"]},
    },
    "tied": {"vector.lanes": "arch.cols"},
    "workloads": [{"name": "mixed_gemm.csv"}],
    "objectives": ["latency", "energy"],
}


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def test_fast_path_equals_a_fresh_estimate_on_random_points():
    space = parse_space(SPACE, root=HERE)
    fast = Evaluator(space)
    rng = random.Random(0)
    graph = import_scalesim_csv(str(GEMMS))
    for _ in range(120):
        p = {k: rng.choice(v.choices) for k, v in space.spec.parameters.items()}
        got = fast.compute(p)
        fresh = chiplab.estimate(graph, space.chip(p))
        want = Evaluator(space, graphs=fast.graphs, fast=False).compute(p)
        for k in want:
            assert _rel(got[k], want[k]) <= 1e-9, (k, p)
        assert _rel(got["latency"], fresh.latency_s / fresh.batch) <= 1e-9
        assert _rel(got["energy"], fresh.energy_j / fresh.batch) <= 1e-9
        assert _rel(got["throughput"], fresh.batch / fresh.latency_s) <= 1e-9
    assert fast.repriced > 40 and fast.full < 80      # the fast path was taken, and often


def test_the_dram_rate_per_cycle_is_part_of_the_mapping_key():
    """Clock and DRAM bandwidth decide a systolic mapping (psum chunking): re-pricing across
    bandwidth/clock ratios would be wrong, so such points must not share a group."""
    space = parse_space(SPACE, root=HERE)
    p = {"arch.rows": 8, "arch.cols": 8, "arch.dataflow": "ws", "arch.ifmap_sram": "64 KiB",
         "arch.ofmap_sram": "64 KiB", "arch.clock": "800 MHz", "memory.dram_bandwidth": "32 GB/s",
         "energy.dram_read_per_byte": "160 pJ", "energy.static_power": "0.1 W"}
    q = {**p, "arch.clock": "400 MHz"}
    graph = import_scalesim_csv(str(GEMMS))
    naive = chiplab.estimate(graph, space.chip(p)).reprice(space.chip(q))
    fresh = chiplab.estimate(graph, space.chip(q))
    assert _rel(naive.latency_s, fresh.latency_s) > 1e-3      # the hazard exists in this space
    ev = Evaluator(space)
    assert ev.mapping_key(p, space.chip(p)) != ev.mapping_key(q, space.chip(q))
    assert _rel(ev.compute(p)["latency"], chiplab.estimate(graph, space.chip(p)).latency_s) <= 1e-9
    assert _rel(ev.compute(q)["latency"], fresh.latency_s) <= 1e-9
    assert ev.repriced == 0
    # same ratio (16 GB/s at 400 MHz = 32 GB/s at 800 MHz): one group, re-priced, still exact
    r = {**q, "memory.dram_bandwidth": "16 GB/s", "energy.static_power": "0.5 W"}
    assert ev.mapping_key(r, space.chip(r)) == ev.mapping_key(p, space.chip(p))
    fr = chiplab.estimate(graph, space.chip(r))
    m = ev.compute(r)
    assert math.isclose(m["latency"], fr.latency_s, rel_tol=1e-9)
    assert math.isclose(m["energy"], fr.energy_j, rel_tol=1e-9)
    assert ev.repriced == 1


@pytest.mark.parametrize("path, only", [("energy.mac", True), ("power.tdp", True), ("arch.rows", False),
                                        ("arch.clock", False), ("memory.dram_bandwidth", False)])
def test_pricing_only_fields(path, only):
    from chiplab.perf.price import pricing_only

    assert pricing_only(path) is only


def test_the_group_cache_is_bounded():
    space = parse_space(SPACE, root=HERE)
    ev = Evaluator(space)
    ev.max_groups = 3
    rng = random.Random(1)
    for _ in range(20):
        ev.compute({k: rng.choice(v.choices) for k, v in space.spec.parameters.items()})
    assert len(ev.groups) == 3
