"""A Server rate is never above the system's saturated (Offline) throughput.

Before the cap, ``search_qps`` with 64 requests returned 1.1e12 QPS for llama-3.1-8b on dgx-h100:
64 requests fit in one batch at any arrival rate, so every short run met the latency limits."""
import numpy as np

from chiplab.serve.cost import LlmCost
from chiplab.serve.models import get_model
from chiplab.serve.run import saturation_qps, search_qps, steady_rate
from chiplab.system import load_system


def test_steady_rate_counts_requests_finished_before_the_queue_drained():
    first = np.array([0.1, 0.2, 5.0, 9.0])          # the last request got its first token at t = 9
    finish = np.array([3.0, 6.0, 10.0, 12.0])       # two finished by then
    assert steady_rate(first, finish) == 2 / 9.0
    # every request admitted at once: no window, so all of them over the span
    assert steady_rate(np.array([0.1, 0.1]), np.array([4.0, 8.0])) == 2 / 8.0


def test_short_search_cannot_exceed_saturation():
    cost = LlmCost(get_model("llama-3.1-8b"), load_system("dgx-h100"), tp=1)
    cap = saturation_qps(cost, 64)
    qps, res = search_qps(cost, 64)
    assert np.isfinite(cap) and 0 < cap < 1e4
    assert qps is not None and qps <= cap
    assert res["saturation_qps"] == cap and res["meets_constraints"]


def test_bench_server_rows_stay_below_saturation(load_script):
    """A GPT-J Server row was predicted at 308 samples/s against 283 for the same system's Offline
    (the run, ten 20 s limits long, hid the overload); the bench now refuses rates above saturation."""
    b = load_script("bench/llm_vs_published.py")
    df = b.load_rows()
    row = df[(df.chiplab_model == "gpt-j-6b") & (df.scenario == "Server") & (df.chiplab_system == "dgx-h100")].iloc[0]
    cost = b._cost(row)
    cap = b.saturation(row, cost)
    assert b.predict_server(row, cost, iters=6) <= cap
