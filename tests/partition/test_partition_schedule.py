"""The placement on a timeline: SingleStream is the serial sum; Offline is a schedule of pipelined
batches on host, link and accelerator (events never overlap on a resource, each batch's stages run
in order), whose throughput reaches the overlapped bound on a plain pipeline and never beats it."""
import pytest

from chiplab.partition import evaluate, schedule, stages
from chiplab.partition.schedule import figures

from partition_helpers import dag, table


def _check_schedule(events, chain, batches):
    by_res = {}
    for e in events:
        by_res.setdefault(e["resource"], []).append((e["start_s"], e["start_s"] + e["dur_s"]))
        assert e["resource"] == chain[e["stage"]].resource and e["dur_s"] == chain[e["stage"]].dur_s
    for spans in by_res.values():
        spans.sort()
        assert all(a_end <= b_start + 1e-15 for (_, a_end), (b_start, _) in zip(spans, spans[1:]))
    for b in range(batches):
        mine = sorted((e for e in events if e["batch"] == b), key=lambda e: e["stage"])
        assert [e["stage"] for e in mine] == list(range(len(chain)))
        assert all(p["start_s"] + p["dur_s"] <= q["start_s"] + 1e-15 for p, q in zip(mine, mine[1:]))


def test_two_stage_pipeline_stages_latency_and_throughput():
    # a on the host (2 ms); its 1 MB output crosses a 1 GB/s, 10 us link (1.01 ms); b on the
    # accelerator (3 ms); b's 4-byte output returns (10.004 us). Slowest resource: acc, 3 ms.
    g = dag({"a": [], "b": ["a"]}, sizes={"a": 250_000, "b": 1})
    t = table(host={"a": 2e-3, "b": 9e-3}, acc={"a": 9e-3, "b": 3e-3}, bw=1e9, lat=10e-6)
    place = {"a": "host", "b": "acc"}
    chain = stages(g, t, place)
    assert [(s.resource, s.names) for s in chain] == [("host", ("a",)), ("link", ("a",)), ("acc", ("b",)),
                                                      ("link", ("b",))]
    r = evaluate(g, t, place)
    fig = figures(chain, 1)
    assert fig["single_stream_latency_s"] == pytest.approx(r.latency_s)
    assert fig["offline_throughput_per_s"] == pytest.approx(1 / 3e-3)
    _check_schedule(schedule(chain, 6), chain, 6)


def test_a_resource_visited_twice_can_fall_short_of_the_bound_but_never_beats_it():
    # host -> acc -> host: host busy 2 per batch (bound: 1/2 per s)
    g = dag({"a": [], "b": ["a"], "c": ["b"]})
    t = table(host={"a": 1.0, "b": 9.0, "c": 1.0}, acc={"a": 9.0, "b": 1.0, "c": 9.0}, bw=1e30, lat=0.0, batch=2)
    place = {"a": "host", "b": "acc", "c": "host"}
    chain = stages(g, t, place)
    r = evaluate(g, t, place)
    fig = figures(chain, t.batch)
    assert fig["single_stream_latency_s"] == pytest.approx(r.latency_s) == pytest.approx(3.0)
    assert r.throughput_per_s <= fig["offline_throughput_per_s"] <= r.pipelined_throughput_per_s * (1 + 1e-12)
    assert fig["offline_throughput_per_s"] == pytest.approx(2 / 2.0)     # host-bound: 2 s of host per batch
    _check_schedule(schedule(chain, 10), chain, 10)


def test_the_link_sets_the_pace_when_it_is_the_slowest():
    g = dag({"a": [], "b": ["a"]}, sizes={"a": 1_000_000})
    t = table(host={"a": 1e-3, "b": 1e-3}, acc={"a": 1e-3, "b": 1e-3}, bw=1e9, lat=0.0, batch=4)
    chain = stages(g, t, {"a": "host", "b": "acc"})
    assert figures(chain, 4)["offline_throughput_per_s"] == pytest.approx(4 / (4e-3 + 4e-9))


def test_a_tensor_moves_before_its_first_consumer_on_the_other_device():
    g = dag({"a": [], "b": ["a"], "c": ["b"], "d": ["a", "c"]}, sizes={"a": 100})
    t = table(host=dict.fromkeys("abcd", 1.0), acc=dict.fromkeys("abcd", 1.0), lat=1e-3)
    chain = stages(g, t, {"a": "host", "b": "host", "c": "host", "d": "acc"})
    assert [s.resource for s in chain] == ["host", "link", "acc", "link"]
    assert chain[1].names == ("a", "c") and chain[0].names == ("a", "b", "c")


def test_all_host_is_one_stage():
    g = dag({"a": [], "b": ["a"]})
    chain = stages(g, table(host={"a": 1.0, "b": 2.0}, acc={"a": 0.1, "b": 0.1}), {"a": "host", "b": "host"})
    assert [(s.resource, s.dur_s) for s in chain] == [("host", 3.0)]
    assert figures(chain, 1) == {"single_stream_latency_s": 3.0, "offline_throughput_per_s": pytest.approx(1 / 3.0),
                                 "offline_period_s": pytest.approx(3.0), "stages": 1}


def test_offline_lies_between_serial_and_the_bound_on_random_graphs():
    from hypothesis import given, settings

    from test_partition_optimal_property import problems

    @settings(max_examples=40, deadline=None, derandomize=True)
    @given(problems())
    def check(problem):
        g, t = problem
        place = {n.name: ("host" if n.name in t.host_only or i % 3 == 0 else "acc") for i, n in enumerate(g.nodes)}
        r = evaluate(g, t, place)
        chain = stages(g, t, place)
        fig = figures(chain, t.batch)
        assert fig["single_stream_latency_s"] == pytest.approx(r.latency_s, rel=1e-9, abs=1e-12)
        if r.latency_s > 0:
            assert r.throughput_per_s * (1 - 1e-9) <= fig["offline_throughput_per_s"]
            assert fig["offline_throughput_per_s"] <= r.pipelined_throughput_per_s * (1 + 1e-9)
        _check_schedule(schedule(chain, 5), chain, 5)

    check()
