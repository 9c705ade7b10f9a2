"""The real MLPerf LoadGen against a sleeping SUT of known service time: its SingleStream
p90 and Server p99 should match the simulator's on the same constant-service model.
Skips when mlperf_loadgen (pip: mlcommons-loadgen) is not importable."""
import re
import threading
import time

import numpy as np
import pytest

lg = pytest.importorskip("mlperf_loadgen")

from chiplab.scenario import sim  # noqa: E402
from chiplab.scenario.loadgen import run_summary  # noqa: E402
from chiplab.scenario.service import ConstantService  # noqa: E402

SERVICE_S = 0.02


def _run(scenario, seen=None, service_s=SERVICE_S, **settings):
    lock = threading.Lock()          # one device: queries are served one at a time, FIFO
    state = {"out": 0}

    def issue(qs):
        state["out"] += 1
        if seen is not None:
            seen.append((len(qs), state["out"]))

        def work():
            with lock:
                time.sleep(service_s)
                state["out"] -= 1
                lg.QuerySamplesComplete([lg.QuerySampleResponse(q.id, 0, 0) for q in qs])
        threading.Thread(target=work, daemon=True).start()

    s = lg.TestSettings()
    s.scenario, s.mode = scenario, lg.TestMode.PerformanceOnly
    for k, v in settings.items():
        setattr(s, k, v)
    sut = lg.ConstructSUT(issue, lambda: None)
    qsl = lg.ConstructQSL(16, 16, lambda i: None, lambda i: None)
    text = run_summary(lg, sut, qsl, s)
    lg.DestroyQSL(qsl)
    lg.DestroySUT(sut)
    return {int(float(m.group(1))): float(m.group(2)) / 1e9
            for m in re.finditer(r"([\d.]+) percentile latency \(ns\)\s*:\s*(\d+)", text)}


@pytest.mark.parametrize("scenario,spq", [("SingleStream", 1), ("MultiStream", 8)])
def test_closed_loop_semantics_the_simulator_assumes(scenario, spq):
    """LoadGen issues the next query only when the previous one completed (never two
    outstanding), with 1 (SingleStream) or 8 (MultiStream) samples per query."""
    seen = []
    extra = ({"single_stream_expected_latency_ns": 2_000_000} if spq == 1
             else {"multi_stream_samples_per_query": 8, "multi_stream_expected_latency_ns": 2_000_000})
    _run(getattr(lg.TestScenario, scenario), seen, 0.002, min_duration_ms=100, min_query_count=10, **extra)
    assert len(seen) >= 10
    assert {n for n, _ in seen} == {spq} and max(o for _, o in seen) == 1


@pytest.mark.slow   # timing: a loaded machine delays the SUT thread's wake-ups by tens of ms
def test_single_stream_latency_is_the_service_time():
    got = _run(lg.TestScenario.SingleStream, min_duration_ms=600, min_query_count=20,
               single_stream_expected_latency_ns=int(SERVICE_S * 1e9))
    want = sim.closed_loop(ConstantService(SERVICE_S), 20).percentile(90)
    assert want == pytest.approx(SERVICE_S)
    assert want <= got[90] < want * 1.3          # LoadGen adds its own and the thread's wake-up overhead


@pytest.mark.slow   # timing, as above
def test_server_fifo_matches_md1_simulation():
    rho = 0.5
    got = _run(lg.TestScenario.Server, min_duration_ms=3000, min_query_count=60, server_target_qps=rho / SERVICE_S,
               server_target_latency_ns=int(1e9))
    r = sim.server(ConstantService(SERVICE_S), sim.poisson_arrivals(rho / SERVICE_S, 50_000, 0))
    assert got[50] == pytest.approx(r.percentile(50), rel=0.35)   # 75 queries: a noisy median
    assert got[50] >= SERVICE_S and np.isfinite(got[99])
