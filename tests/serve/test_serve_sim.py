"""Serving simulator: timings by hand, M/D/1 queueing against Pollaczek-Khinchine, MLPerf search."""
import numpy as np
import pytest

from chiplab.serve.run import serve
from chiplab.serve.sim import Workload, poisson_workload, simulate


class Constant:
    """Every step takes D seconds, whatever it holds."""
    def __init__(self, d):
        self.d = d

    def step_time(self, n_tok, n_out, pairs, kv_read):
        return self.d


class Linear:
    """Step time = a + b x tokens in the step (records the calls)."""
    def __init__(self, a, b):
        self.a, self.b, self.calls = a, b, []

    def step_time(self, n_tok, n_out, pairs, kv_read):
        self.calls.append((n_tok, n_out, pairs, kv_read))
        return self.a + self.b * n_tok


def test_single_request_by_hand():
    c = Linear(0.01, 0.001)
    wl = Workload(np.array([1.0]), np.array([100]), np.array([4]))
    r = simulate(c, wl, kv_capacity=10_000)
    # prefill: 0.01 + 0.1 = 0.11 s -> first token at 1.11; 3 decode steps of 0.011 s
    assert r.ttft[0] == pytest.approx(0.11)
    assert r.tpot[0] == pytest.approx(0.011)
    assert r.e2e[0] == pytest.approx(0.11 + 3 * 0.011)
    # the decode steps attend to 101, 102, 103 tokens
    assert [call[3] for call in c.calls] == [0, 101, 102, 103]
    assert c.calls[0][2] == 100 * 101 / 2


def test_kv_capacity_holds_back_admission():
    wl = Workload(np.array([0.0, 0.0]), np.array([60, 60]), np.array([10, 10]))
    r = simulate(Constant(0.1), wl, kv_capacity=100)          # one request (70 tokens) at a time
    assert r.ttft[1] == pytest.approx(r.e2e[0] + 0.1)
    r2 = simulate(Constant(0.1), wl, kv_capacity=200)         # both fit: batched together
    assert r2.ttft[1] == pytest.approx(r2.ttft[0])


def test_md1_mean_wait_matches_pollaczek_khinchine():
    """One request per step (max_seqs=1, one output token), constant service D: an M/D/1 queue.
    P-K mean wait W = rho D / (2 (1 - rho)), rho = lambda D."""
    lam, d, n = 8.0, 0.1, 200_000
    wl = poisson_workload(lam, n, seed=3)
    wl.outputs[:] = 1
    r = simulate(Constant(d), wl, max_seqs=1, kv_capacity=1 << 30)
    rho = lam * d
    w_pk = rho * d / (2 * (1 - rho))                          # 0.2 s
    wait = r.ttft - d
    assert wait.mean() == pytest.approx(w_pk, rel=0.05)


def test_serve_meets_mlperf_and_search_is_monotone():
    out = serve("llama-3.1-8b", "dgx-h100", tp=1, qps=4.0, requests=300)
    assert out["replicas"] == 8 and out["meets_constraints"]
    assert set(out["ttft_s"]) == {"p50", "p90", "p99"} and out["tokens_per_s_per_chip"] * 8 == pytest.approx(out["tokens_per_s"])
    s = serve("llama-2-70b", "dgx-h100", tp=8, search=True, requests=300)
    q = s["max_qps_meeting_constraints"]
    assert q and s["meets_constraints"]
    over = serve("llama-2-70b", "dgx-h100", tp=8, qps=q * 1.5, requests=300)
    assert not over["meets_constraints"]


def test_beam_search_prefills_once_and_decodes_beams_as_batch_entries():
    c = Linear(0.01, 0.001)
    wl = Workload(np.array([0.0]), np.array([100]), np.array([3]), beams=np.array([4]))
    r = simulate(c, wl, kv_capacity=10_000)
    # one prefill of the 100-token prompt (not 4): 100 tokens, one LM-head output, 100 x 101 / 2 pairs
    assert c.calls[0] == (100, 1, 100 * 101 / 2, 0)
    # then 2 decode steps of 4 sequences, each beam attending to the shared prompt + its own tokens
    assert c.calls[1:] == [(4, 4, 4 * 101, 4 * 101), (4, 4, 4 * 102, 4 * 102)]
    assert r.ttft[0] == pytest.approx(0.11) and r.e2e[0] == pytest.approx(0.11 + 2 * 0.014)
    assert r.tokens == 3                                       # output tokens per sample (the kept beam)


def test_beams_reserve_kv_per_beam_but_count_one_request():
    # prompt 50 + 4 beams x 10 = 90 tokens of KV per request: two fit in 200, not in 150
    wl = Workload(np.zeros(2), np.array([50, 50]), np.array([10, 10]), beams=np.array([4, 4]))
    assert simulate(Constant(0.1), wl, kv_capacity=200).ttft[1] == pytest.approx(0.1)
    r = simulate(Constant(0.1), wl, kv_capacity=150)
    assert r.ttft[1] > r.e2e[0]
    # max_seqs counts requests: a cap of 2 admits both 4-beam requests together
    assert simulate(Constant(0.1), wl, kv_capacity=1000, max_seqs=2).ttft[1] == pytest.approx(0.1)
