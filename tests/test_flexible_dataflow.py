"""``arch.dataflow: flexible``: a reconfigurable systolic array picks, per layer, the fastest of os/ws/is."""
from pathlib import Path

import pytest

import chiplab
from chiplab.capture.scalesim_csv import import_scalesim_csv
from chiplab.errors import ChiplabError
from chiplab.hw import load_chip
from chiplab.hw.edit import edit
from chiplab.ir.graph import Graph

EXPLORE = Path(__file__).parent / "explore"


def _chip(**fields):
    return edit(load_chip("systolic-32"), {"vector.lanes": 32, **fields})


def _gemm(tmp_path, m, n, k):
    csv = tmp_path / "g.csv"
    csv.write_text(f"Layer Name, M, N, K,\ng, {m}, {n}, {k},\n")
    return import_scalesim_csv(str(csv))


@pytest.mark.parametrize("mnk, winner", [((40, 32, 32), "ws"), ((32, 40, 32), "is"), ((32, 32, 40), "os")])
def test_flexible_picks_the_known_best_on_a_hand_picked_gemm(tmp_path, mnk, winner):
    """On a 32x32 array with stall-free DRAM, the extent that is 40 (not 32) should stream through time,
    where it costs max(40, 32) = 40 cycles in 1 fold; on the rows or columns it makes 2 folds of
    max(32, 32) cycles. Pipelined cycles = folds * max(T, R) + 2R + C - 2 (docs/systolic_model.md):
    the winner takes 40 + 94 = 134 cycles, the other two 2 * 32 + 94 = 158."""
    g = _gemm(tmp_path, *mnk)
    fixed = {d: chiplab.estimate(g, _chip(**{"arch.dataflow": d, "memory.dram_bandwidth": float("inf")}))
             for d in ("os", "ws", "is")}
    flex = chiplab.estimate(g, _chip(**{"arch.dataflow": "flexible", "memory.dram_bandwidth": float("inf")}))
    assert {d: e.layers[0].compute_cycles for d, e in fixed.items()} == {d: 134 if d == winner else 158 for d in fixed}
    lay = flex.layers[0]
    assert lay.compute_cycles == 134 and lay.cycles == fixed[winner].layers[0].cycles
    assert lay.energy_j == fixed[winner].layers[0].energy_j
    assert any(n.startswith(f"flexible array: {winner} chosen") for n in lay.notes), lay.notes


@pytest.mark.parametrize("fields", [
    {},
    {"arch.rows": 8, "arch.cols": 64, "vector.lanes": 64, "memory.dram_bandwidth": "2 GB/s"},
    {"arch.ofmap_sram": "1 KiB", "arch.filter_sram": "4 KiB", "arch.double_buffered": False},
    {"arch.rows": 128, "arch.cols": 16, "vector.lanes": 16, "arch.ifmap_sram": "16 KiB", "arch.macs_per_pe.int8": 2},
])
def test_flexible_is_never_slower_per_layer_than_any_fixed_dataflow(fields):
    graphs = [import_scalesim_csv(str(EXPLORE / "mixed_gemm.csv")),
              Graph.from_json((EXPLORE / "tinyconv_graph.json").read_text())]
    chosen = set()
    for g in graphs:
        flex = chiplab.estimate(g, _chip(**fields, **{"arch.dataflow": "flexible"}))
        fixed = [chiplab.estimate(g, _chip(**fields, **{"arch.dataflow": d})) for d in ("os", "ws", "is")]
        for i, lay in enumerate(flex.layers):
            if lay.unit != "array":
                continue
            best = min(f.layers[i].cycles for f in fixed)
            assert lay.cycles == best, (lay.name, lay.cycles, [f.layers[i].cycles for f in fixed])
            chosen |= {n.split()[2] for n in lay.notes if n.startswith("flexible array:")}
        assert flex.latency_s <= min(f.latency_s for f in fixed) * (1 + 1e-12)
    assert chosen, "no layer says which dataflow it chose"


def test_flexible_ties_go_to_fewer_dram_bytes_then_os_ws_is(tmp_path):
    """A 32x32x32 GEMM fits every dataflow in one fold: equal cycles in all three. With stall-free DRAM and
    large buffers their DRAM bytes are equal too, so the fixed order decides: os."""
    g = _gemm(tmp_path, 32, 32, 32)
    flex = chiplab.estimate(g, _chip(**{"arch.dataflow": "flexible", "memory.dram_bandwidth": float("inf")}))
    fixed = {d: chiplab.estimate(g, _chip(**{"arch.dataflow": d, "memory.dram_bandwidth": float("inf")})).layers[0]
             for d in ("os", "ws", "is")}
    assert len({(f.cycles, f.dram_bytes) for f in fixed.values()}) == 1
    assert any(n.startswith("flexible array: os chosen") for n in flex.layers[0].notes)


def test_flexible_in_an_explore_space_validates():
    from chiplab.explore.space import parse_space

    spec = {"chiplab_space": 1, "name": "df", "base": "systolic-32", "node_nm": 28,
            "parameters": {"arch.dataflow": {"choices": ["ws", "os", "is", "flexible"]}},
            "workloads": [{"name": "tiny_gemm.csv"}], "objectives": ["latency"]}
    space = parse_space(spec, root=EXPLORE)
    assert space.spec.parameters["arch.dataflow"].choices[-1] == "flexible"
    bad = {**spec, "parameters": {"arch.dataflow": {"choices": ["ws", "diagonal"]}}}
    with pytest.raises(ChiplabError, match="dataflow"):
        parse_space(bad, root=EXPLORE)


def test_the_relaxation_refuses_a_flexible_dataflow():
    """The gradient relaxation models one fixed dataflow per design: a flexible choice is refused with its
    one-line error (it raised KeyError: 'flexible' inside the relaxed metrics)."""
    from chiplab.explore.evaluate import Evaluator
    from chiplab.explore.relax import Relaxation, RelaxError
    from chiplab.explore.space import parse_space

    spec = {"chiplab_space": 1, "name": "df", "base": "systolic-32", "node_nm": 28,
            "parameters": {"arch.rows": {"choices": [8, 32]}, "arch.dataflow": {"choices": ["ws", "flexible"]}},
            "workloads": [{"name": "tiny_gemm.csv"}], "objectives": ["latency"]}
    sp = parse_space(spec, root=EXPLORE)
    with pytest.raises(RelaxError, match="arch.dataflow: flexible"):
        Relaxation(sp, Evaluator(sp, fast=False).graphs)


def test_explore_vs_zigzag_bench_runs_without_zigzag(load_script, capsys, monkeypatch, tmp_path):
    """bench/explore_vs_zigzag.py never breaks CI: with no ZigZag it says how to install it and reports null."""
    import json
    import sys

    bench = load_script("bench/explore_vs_zigzag.py")
    monkeypatch.setattr(sys, "argv", ["x", "--points", "40", "--scalar", "4", "--repeats", "1",
                                      "--zigzag-python", str(tmp_path / "none" / "python")])
    bench.main()
    out = capsys.readouterr().out
    assert "pip install zigzag-dse==3.9.1" in out
    res = json.loads(out.strip().splitlines()[-1])
    assert res["zigzag"] is None and res["zigzag_points_per_s"] is None and res["batch_points_per_s"] > 0
    assert res["chiplab_cycles"]["flexible high-bandwidth"] <= res["chiplab_cycles"]["ws high-bandwidth"]
