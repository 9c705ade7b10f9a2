"""The simulator against closed forms (constant-service models, no chiplab.perf)."""
import numpy as np
import pytest

from chiplab.errors import CapacityError
from chiplab.scenario import sim
from chiplab.scenario.scenarios import Rules, best_offline_batch, offline, run, server_search
from chiplab.scenario.service import AffineService, ConstantService, EstimateService
from chiplab.scenario.workloads import BERT, RESNET50, squad_seq_lens


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_md1_mean_wait_matches_pollaczek_khinchine(rho):
    mu = 1000.0                                    # service 1 ms, deterministic
    wq = rho / (2 * mu * (1 - rho))                # Pollaczek-Khinchine for M/D/1
    got = np.mean([sim.server(ConstantService(1 / mu), sim.poisson_arrivals(rho * mu, 100_000, seed)).wait_s.mean()
                   for seed in range(3)])
    assert got == pytest.approx(wq, rel=0.04)


def test_deterministic_model_has_no_spread_without_queueing():
    r = sim.closed_loop(ConstantService(2e-3), 500)
    assert r.percentile(50) == r.percentile(99) == pytest.approx(2e-3)
    assert r.duration_s == pytest.approx(1.0)
    # the same service under Poisson arrivals: spread comes from queueing alone
    s = sim.server(ConstantService(2e-3), sim.poisson_arrivals(400, 20_000, 1))
    assert s.percentile(99) > 2 * s.percentile(50) > 4e-3 - 1e-12


def test_batching_with_timeout_hand_worked():
    # service 10 ms per batch, max batch 3, timeout 5 ms; arrivals (ms): 0, 1, 2, 3, 20, 40, 41
    # b1: opened by t=0, full at t=2 (3rd arrival) -> runs 2..12: latencies 12, 11, 10
    # b2: opened by t=3, closes at 3+5=8, device busy until 12 -> starts 12 with {3} only
    #     (next arrival is at 20) -> 12..22: latency 19
    # b3: opened by t=20, timeout 25 -> 25..35 with {20}: latency 15
    # b4: opened by 40, timeout 45, only 2 arrive -> 45..55: latencies 15, 14
    arr = np.array([0, 1, 2, 3, 20, 40, 41]) * 1e-3
    r = sim.server(ConstantService(10e-3), arr, max_batch=3, timeout_s=5e-3)
    assert list(r.batch_sizes) == [3, 1, 1, 2]
    assert np.allclose(r.latency_s * 1e3, [12, 11, 10, 19, 15, 15, 14])


def test_batch_padded_to_longest_sample():
    svc = AffineService(0.0, 1e-3, ref_len=100)
    r = sim.closed_loop(svc, 2, samples_per_query=2, lens=np.array([50, 100, 10, 20]))
    assert np.allclose(r.latency_s, [2e-3 * 100 / 100, 2e-3 * 20 / 100])


def test_offline_sorts_by_length_and_counts_samples():
    svc = AffineService(1e-3, 0.0, ref_len=100)
    lens = np.array([100, 10, 100, 10])
    srt = sim.offline(svc, 4, 2, lens)
    raw = sim.offline(svc, 4, 2, lens, sort=False)
    assert srt.n_samples == 4 and list(srt.batch_sizes) == [2, 2]
    assert srt.duration_s == raw.duration_s == pytest.approx(2e-3)  # fixed cost: order does not matter here
    svc2 = AffineService(0.0, 1e-3, ref_len=100)
    assert sim.offline(svc2, 4, 2, lens).duration_s < sim.offline(svc2, 4, 2, lens, sort=False).duration_s


def test_offline_best_batch_stops_at_capacity():
    svc = AffineService(1e-3, 1e-5, max_batch=16)      # throughput rises with batch until it no longer fits
    b, notes = best_offline_batch(svc, None)
    assert b == 16 and "largest that fits" in notes[-1] and "batch 17 does not fit" in notes[-1]
    b, notes = best_offline_batch(AffineService(1e-3, 1e-5, max_batch=23), None)   # between powers of two
    assert b == 23 and "batch 24 does not fit" in notes[-1]
    with pytest.raises(CapacityError):
        best_offline_batch(ConstantService(1e-3, max_batch=0), None)


def test_server_search_finds_the_md1_rate_for_the_bound():
    # M/D/1 with service 1 ms and bound 5 ms: the passing rate is well below 1000 QPS and above 500
    q = server_search(ConstantService(1e-3), 5e-3, 20_000, 1, 0.0, lambda n: None)
    assert 500 < q < 1000
    r = sim.server(ConstantService(1e-3), sim.poisson_arrivals(q, 20_000, 0))
    assert r.percentile(99) <= 5e-3
    r_hi = sim.server(ConstantService(1e-3), sim.poisson_arrivals(q * 1.05, 20_000, 0))
    assert r_hi.percentile(99) > 5e-3 * 0.95


def test_run_applies_loadgen_rules():
    svc = ConstantService(1e-3)
    ss = run("single-stream", svc, "resnet50", quick=True)
    assert ss.valid and ss.metric == "p90 latency" and ss.n_queries >= 10_000      # 10 s of 1 ms queries
    ms = run("multi-stream", svc, "resnet50", quick=True)
    assert ms.n_queries >= 662 and ms.n_samples == 8 * ms.n_queries
    off = offline(AffineService(1e-4, 1e-4, max_batch=64), RESNET50, Rules(10, RESNET50.offline_min_samples))
    assert off.n_samples >= 24576 and off.policy["batch"] == 64
    sv = run("server", AffineService(2e-3, 2e-4), "resnet50", quick=True)
    assert sv.valid and sv.latency_s["p99"] <= 0.015 and sv.qps > 0 and sv.bound_s == 0.015
    bad = run("server", ConstantService(0.02), "resnet50", quick=True)      # 20 ms > 15 ms bound
    assert not bad.valid and bad.value == 0


def test_squad_lengths_and_bert_rules():
    L = squad_seq_lens(20_000)
    assert L.max() == 384 and L.min() >= 32 and 0.03 < np.mean(L == 384) < 0.07
    assert BERT.server_bound_s == 0.130 and BERT.offline_min_samples == 10833


def test_estimate_service_interpolates_between_powers_of_two():
    calls = []

    class Est:
        def __init__(self, t):
            self.latency_s = t

    def fake(workload, chip, batch, seq_len, precision):
        calls.append((batch, seq_len))
        if batch > 40:
            raise CapacityError("too big")
        return Est(1e-3 * batch * (seq_len or 1))

    svc = EstimateService("w", "c", seq_grid=(64, 128, 384), estimate_fn=fake)
    assert svc.time(4, 128) == pytest.approx(4 * 128e-3)
    assert svc.time(6, 128) == pytest.approx(6 * 128e-3)                  # linear between 4 and 8
    assert svc.time(2, 256) == pytest.approx(2 * 256e-3)                  # linear between 128 and 384
    assert svc.time(2, 20) == pytest.approx(2 * 64e-3)                    # clamped below the grid
    n = len(calls)
    svc.time(6, 128)
    assert len(calls) == n                                               # memoised
    assert svc.time(33, 64) == pytest.approx(33 * 64e-3) and (33, 64) in calls   # 64 does not fit: exact 33
    assert not svc.fits(64, 64)
    with pytest.raises(CapacityError):
        svc.time(48, 64)


def test_server_search_is_not_capped_by_full_length_batches():
    # samples all 64 tokens, bound loose: the passing rate approaches the capacity at 64 tokens
    # (6000/s), far above what full 384-token batches would allow (1000/s)
    svc = AffineService(0.0, 1e-3, ref_len=384)
    q = server_search(svc, 1.0, 5000, 1, 0.0, lambda k: np.full(k, 64), lmax=384)
    assert q > 3000
