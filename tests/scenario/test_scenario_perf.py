"""The scenario service on the new perf runner: one capture re-batched on the IR, Offline at
the steady-state rate and stopped by device memory, and measured jitter."""
from pathlib import Path

import numpy as np
import pytest

import chiplab.hw
from chiplab.errors import ChiplabError
from chiplab.hw import load_chip
from chiplab.perf.estimate import estimate
from chiplab.scenario.jitter import Jitter, sigmas_from_csv, SOURCES
from chiplab.scenario.scenarios import best_offline_batch, run
from chiplab.scenario.service import ConstantService, EstimateService, SteadyState

CHIP = "tpu-v4"


@pytest.fixture(scope="module")
def r18():
    return EstimateService("resnet18", CHIP)


def test_rebatched_latency_equals_a_fresh_capture(r18):
    for b in (1, 2, 3, 4):
        fresh = estimate("resnet18", CHIP, batch=b)           # captured at batch b
        assert r18.point(b, None) == pytest.approx(fresh.latency_s, rel=1e-12)
        assert r18.steady_point(b, None) == pytest.approx(b / fresh.total()["throughput_per_s"], rel=1e-12)
    assert r18.captures == 1 and r18.calls == 4


def test_offline_runs_at_the_steady_state_rate(r18):
    res = run("offline", r18, "resnet18", quick=True, batch=4)
    tp = estimate("resnet18", CHIP, batch=4).total()
    assert res.policy["batch"] == 4 and res.policy["pipelined"]
    assert res.value == pytest.approx(tp["throughput_per_s"], rel=1e-3)          # many batches: the period wins
    assert res.value > tp["serial_throughput_per_s"]        # transfers overlapped: above batch / latency


def test_offline_best_batch_stops_at_the_largest_batch_that_fits(tmp_path):
    # the A100 preset with 1 GiB of DRAM: ResNet-18's throughput still rises when it runs out
    text = (Path(chiplab.hw.__file__).parent / "presets" / "a100-sxm4-40gb.yaml").read_text()
    assert "dram_capacity: 40 GiB" in text
    chip = tmp_path / "a100-1gib.yaml"
    chip.write_text(text.replace("dram_capacity: 40 GiB", "dram_capacity: 1 GiB"))
    assert load_chip(chip).memory.dram_capacity == 2 ** 30
    svc = EstimateService("resnet18", str(chip))
    b, notes = best_offline_batch(SteadyState(svc), None)
    assert svc.fits(b) and not svc.fits(b + 1) and b < 1024
    assert "largest that fits the device memory" in notes[-1] and f"batch {b + 1} does not fit" in notes[-1]
    assert svc.captures == 1


def test_jitter_spreads_single_stream_and_without_it_p99_is_p50():
    plain = run("single-stream", ConstantService(1e-3), "resnet50", quick=True)
    assert plain.latency_s["p99"] == plain.latency_s["p50"]
    jit = run("single-stream", ConstantService(1e-3), "resnet50", quick=True, jitter="cpu")
    assert jit.latency_s["p99"] > jit.latency_s["p90"] > jit.latency_s["p50"]
    assert jit.latency_s["p50"] == pytest.approx(1e-3, rel=0.05)          # factors have median 1
    again = run("single-stream", ConstantService(1e-3), "resnet50", quick=True, jitter="cpu")
    assert again.latency_s == jit.latency_s                                # seeded
    assert any("jitter" in n for n in jit.notes)


def test_jitter_sigmas_fit_the_measured_p10_p90():
    s = sigmas_from_csv(SOURCES["cpu"])
    assert len(s) == 35 and np.all(s >= 0) and np.median(s) > 0
    f = Jitter(np.array([0.1])).factors(200_000, seed=1)
    # the fitted log-normal reproduces the row's p90/p10 ratio: exp(2 * 1.2816 * sigma)
    assert np.percentile(f, 90) / np.percentile(f, 10) == pytest.approx(np.exp(2 * 1.2815516 * 0.1), rel=0.01)


def test_jitter_bad_name_and_bad_file(tmp_path):
    with pytest.raises(ChiplabError, match="--jitter"):
        Jitter.named("gpu")
    bad = tmp_path / "m.csv"
    bad.write_text("kind,name,median_s\ngemm,x,1e-3\n")
    with pytest.raises(ChiplabError, match="p10_s"):
        sigmas_from_csv(bad)
