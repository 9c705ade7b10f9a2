"""Hand-computed transfer, latency and overlap figures of the partition cost model."""
import pytest

from chiplab.partition import evaluate, greedy, min_block, optimal

from partition_helpers import dag, table


def test_two_stage_pipeline_latency_is_the_sum_and_throughput_the_slowest_stage():
    # a runs on the host (2 ms), b on the accelerator (3 ms); a's output (250,000 float32 = 1 MB)
    # crosses a 1 GB/s link with 10 us latency: 1e6 / 1e9 + 10e-6 = 1.01 ms. b is the graph
    # output: 4 bytes back, 10 us + 4 ns.
    g = dag({"a": [], "b": ["a"]}, sizes={"a": 250_000, "b": 1})
    t = table(host={"a": 2e-3, "b": 9e-3}, acc={"a": 9e-3, "b": 3e-3}, bw=1e9, lat=10e-6)
    r = evaluate(g, t, {"a": "host", "b": "acc"})
    link = (10e-6 + 1e6 / 1e9) + (10e-6 + 4 / 1e9)
    assert r.link_busy_s == pytest.approx(link)
    assert r.latency_s == pytest.approx(2e-3 + link + 3e-3)
    assert r.throughput_per_s == pytest.approx(1 / (2e-3 + link + 3e-3))
    assert r.pipelined_throughput_per_s == pytest.approx(1 / 3e-3)     # the accelerator stage is the slowest
    assert (r.bytes_moved, r.cuts) == (1_000_000 + 4, 2)


def test_pipelined_bound_scales_with_batch_and_can_be_the_link():
    g = dag({"a": [], "b": ["a"]}, sizes={"a": 1_000_000})
    t = table(host={"a": 1e-3, "b": 1e-3}, acc={"a": 1e-3, "b": 1e-3}, bw=1e9, lat=0.0, batch=4)
    r = evaluate(g, t, {"a": "host", "b": "acc"})      # link: 4 MB / 1 GB/s = 4 ms (+ 4 B out) > 1 ms
    assert r.pipelined_throughput_per_s == pytest.approx(4 / (4e-3 + 4e-9))
    assert r.throughput_per_s == pytest.approx(4 / (2e-3 + 4e-3 + 4e-9))


def test_a_tensor_read_by_two_accelerator_nodes_moves_once():
    g = dag({"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"]}, sizes={"a": 100})
    t = table(host=dict.fromkeys("abcd", 1.0), acc=dict.fromkeys("abcd", 1.0), lat=1e-3)
    r = evaluate(g, t, {"a": "host", "b": "acc", "c": "acc", "d": "acc"})
    assert r.cuts == 2     # a's output once, d's output back to the host
    assert r.bytes_moved == 400 + 4


def test_all_host_moves_nothing():
    g = dag({"a": [], "b": ["a"]})
    r = evaluate(g, table(host={"a": 1.0, "b": 2.0}, acc={"a": 0.1, "b": 0.1}), {"a": "host", "b": "host"})
    assert (r.cuts, r.bytes_moved, r.link_busy_s, r.latency_s) == (0, 0, 0.0, 3.0)


def test_min_block_sends_short_accelerator_blocks_back():
    # chain a..g; c is host-only: accelerator runs {a,b} (2 ops) and {d,e,f,g} (4 ops)
    chain = {"a": [], "b": ["a"], "c": ["b"], "d": ["c"], "e": ["d"], "f": ["e"], "g": ["f"]}
    g = dag(chain)
    t = table(host=dict.fromkeys(chain, 1.0), acc=dict.fromkeys(chain, 0.1), host_only=("c",))
    assert [greedy(g, t)[k] for k in chain] == ["acc", "acc", "host", "acc", "acc", "acc", "acc"]
    assert [min_block(g, t, 3)[k] for k in chain] == ["host", "host", "host", "acc", "acc", "acc", "acc"]
    assert set(min_block(g, t, 5).values()) == {"host"}


def test_optimal_keeps_a_cheap_op_on_the_host_when_the_link_costs_more():
    # b would save 0.5 s on the accelerator but its two transfers cost 1 s each
    g = dag({"a": [], "b": ["a"], "c": ["b"]})
    t = table(host={"a": 1.0, "b": 1.0, "c": 1.0}, acc={"a": 5.0, "b": 0.5, "c": 5.0}, lat=1.0)
    assert optimal(g, t) == {"a": "host", "b": "host", "c": "host"}
    assert greedy(g, t) == {"a": "acc", "b": "acc", "c": "acc"}


def test_a_host_only_node_on_the_accelerator_is_refused():
    from chiplab.errors import ChiplabError

    g = dag({"a": [], "b": ["a"]})
    t = table(host={"a": 1.0, "b": 1.0}, acc={"a": 1.0, "b": 1.0}, host_only=("b",))
    with pytest.raises(ChiplabError, match="node 'b' cannot run"):
        evaluate(g, t, {"a": "host", "b": "acc"})
