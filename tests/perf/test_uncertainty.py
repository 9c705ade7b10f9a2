"""Say what is not known: ranges from the chip file's assumed ([A]/[U]) figures."""
import sys
from pathlib import Path

import pytest

import chiplab
from chiplab.hw import load_chip
from chiplab.perf.uncertainty import edit, prediction_range, with_range
from chiplab.report.tables import compare_rows, range_line

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from estimate_speed import resnet50_ir  # noqa: E402

GRAPH = resnet50_ir(batch=16)


def test_range_brackets_the_estimate_and_matches_fresh_estimates_at_its_ends():
    chip = load_chip("a100-sxm4-40gb")
    est = chiplab.estimate(GRAPH, chip)
    r = prediction_range(est, chip)
    assert r.latency_s[0] <= est.latency_s <= r.latency_s[1] and r.latency_s[0] < r.latency_s[1]
    assert r.throughput_per_s[0] <= est.total()["throughput_per_s"] <= r.throughput_per_s[1]
    l2 = next(v for v in r.varied if v.figure == "arch.l2_bandwidth")      # [A] in the preset
    assert chip.citation("arch.l2_bandwidth").startswith("[A]")
    slow = chiplab.estimate(GRAPH, edit(chip, "arch.l2_bandwidth", l2.low))
    assert l2.latency_s[1] == pytest.approx(slow.latency_s, rel=1e-9)     # re-pricing == a fresh estimate
    assert "arch.sm_count" not in [v.figure for v in r.varied]


def test_mapping_figures_are_listed_not_varied():
    chip = load_chip("tesla-d1")
    r = prediction_range(chiplab.estimate(GRAPH, chip), chip)
    assert {"arch.mesh_rows", "arch.mesh_cols", "arch.topology"} <= set(r.not_varied)
    assert "arch.noc_link_bandwidth" in [v.figure for v in r.varied]


def test_range_shows_in_estimate_and_compare_rows():
    chip = load_chip("tpu-v1")
    est = with_range(chiplab.estimate(GRAPH, chip), chip)
    assert range_line(est).startswith("range: varying each assumed")
    row = compare_rows([est])[0]
    assert row["throughput_lo_per_s"] <= row["throughput_per_s"] <= row["throughput_hi_per_s"]


def test_a_variation_the_chip_cannot_take_is_listed_not_fatal():
    """Doubling an assumed static power past the chip's TDP is not a chip (the power wall refuses it):
    the range skips that figure and says so instead of failing the estimate or the comparison."""
    from chiplab.hw.edit import edit as validated_edit

    base = load_chip("tpu-v4")
    chip = validated_edit(base, {"power.tdp": base.energy.static_power * 1.5},
                          cite="[A] test: a TDP just above the static power")
    assert chip.citation("energy.static_power").startswith("[A]")
    est = chiplab.estimate(GRAPH, chip)
    r = prediction_range(est, chip)
    assert "energy.static_power" in r.not_varied
    assert r.latency_s[0] <= est.latency_s <= r.latency_s[1]
