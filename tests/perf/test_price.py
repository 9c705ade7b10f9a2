"""One runner, typed counts, one pricer: re-pricing equals a fresh estimate."""
import sys
from pathlib import Path

import pytest

import chiplab
from chiplab.hw import load_chip
from chiplab.perf.counts import Bound, Counts, Level, Max, Operand, Rates, Sum, Term, cycles, evaluate, over, seconds

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from estimate_speed import resnet50_ir  # noqa: E402

GRAPH = resnet50_ir(batch=2)


def edited(chip, *, clock=1.0, dram=1.0, dram_energy=1.0):
    arch = chip.arch.model_copy(update={"clock": chip.arch.clock * clock})
    mem = chip.memory.model_copy(update={"dram_bandwidth": chip.memory.dram_bandwidth * dram})
    en = chip.energy.model_copy(update={"dram_read_per_byte": chip.energy.dram_read_per_byte * dram_energy})
    return chip.model_copy(update={"arch": arch, "memory": mem, "energy": en, "name": chip.name + "-edited"})


@pytest.mark.parametrize("preset", ["a100-sxm4-40gb", "tpu-v1", "tpu-v4", "eyeriss", "tesla-d1", "xeon-e5-2699v3",
                                    "vck5000-dpu"])
@pytest.mark.parametrize("edit", [dict(dram_energy=1.7), dict(clock=0.8), dict(dram=0.5)])
def test_reprice_equals_a_fresh_estimate(preset, edit):
    chip = load_chip(preset)
    new = edited(chip, **edit)
    est = chiplab.estimate(GRAPH, chip)
    again, fresh = est.reprice(new), chiplab.estimate(GRAPH, new)
    assert again.latency_s == pytest.approx(fresh.latency_s, rel=1e-9)
    assert again.energy_j == pytest.approx(fresh.energy_j, rel=1e-9)
    assert [r.bound for r in again.layers] == [r.bound for r in fresh.layers]
    assert again.clock_hz == fresh.clock_hz


def test_rows_keep_their_counts():
    est = chiplab.estimate(GRAPH, "tpu-v1")
    conv = next(r for r in est.layers if r.op == "conv")
    assert conv.counts.macs == conv.macs
    assert conv.counts.bytes(Level.DRAM) == pytest.approx(conv.dram_bytes)
    assert "counts" not in conv.row()


def test_evaluate_max_sum_and_paths():
    class Chip:
        clock_hz = 1e9
        class memory:  # noqa: N801
            dram_bandwidth = 1e9
    r = Rates(Chip)
    assert evaluate(cycles(Bound.COMPUTE, 100), r) == (100, Bound.COMPUTE)
    assert evaluate(over(Bound.DRAM, 200, "memory.dram_bandwidth"), r) == (pytest.approx(200), Bound.DRAM)
    assert evaluate(Max((cycles(Bound.COMPUTE, 100), over(Bound.DRAM, 200, "memory.dram_bandwidth"))), r)[1] is Bound.DRAM
    t, b = evaluate(Sum((cycles(Bound.COMPUTE, 100), seconds(Bound.LAUNCH, 1e-6))), r)
    assert t == pytest.approx(1100) and b is Bound.LAUNCH
    assert evaluate(Max((Term(Bound.VECTOR, 0), Term(Bound.DRAM, 0))), r)[1] is Bound.DRAM   # all zero: the memory


def test_mesh_counts_noc_traffic_as_its_own_level():
    est = chiplab.estimate(GRAPH, "tesla-d1")
    conv = next(r for r in est.layers if r.op == "conv")
    assert conv.noc_bytes > 0 and conv.counts.bytes(Level.NOC) == conv.noc_bytes
    assert conv.energy_breakdown["noc"] > 0
