"""The optimal policy is the exact minimum of the cost model: checked against every one of the
2^n placements of random DAGs (n <= 10), and never worse than greedy or min-block."""
import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chiplab.partition import evaluate, greedy, min_block, optimal, tensors

from partition_helpers import dag, table

times = st.floats(min_value=0.0, max_value=10.0, allow_nan=False)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 10))
    names = [f"n{i}" for i in range(n)]
    edges = {v: sorted(set(draw(st.lists(st.sampled_from(names[:i]), max_size=3)))) if i else []
             for i, v in enumerate(names)}
    sizes = {v: draw(st.integers(1, 10**6)) for v in names}
    inputs = [v for v in names if not edges[v]] or names[:1]
    g = dag(edges, sizes, inputs=inputs)
    host = {v: draw(times) for v in names}
    acc = {v: draw(times) for v in names}
    host_only = draw(st.lists(st.sampled_from(names), max_size=3, unique=True))
    t = table(host, acc, bw=draw(st.sampled_from([1e5, 1e6, 1e7])), lat=draw(st.sampled_from([0.0, 0.1, 1.0])),
              host_only=host_only)
    return g, t


@settings(max_examples=60, deadline=None, derandomize=True)
@given(problems())
def test_optimal_equals_brute_force_and_beats_the_heuristics(problem):
    g, t = problem
    moved = tensors(g)
    names = [n.name for n in g.nodes]
    free = [v for v in names if v not in t.host_only]
    best = min(evaluate(g, t, {**dict.fromkeys(names, "host"), **dict(zip(free, devs))}, moved=moved).latency_s
               for devs in itertools.product(("host", "acc"), repeat=len(free)))
    opt = evaluate(g, t, optimal(g, t, moved), moved=moved).latency_s
    assert opt == pytest.approx(best, rel=1e-9, abs=1e-12)
    assert opt <= evaluate(g, t, greedy(g, t), moved=moved).latency_s * (1 + 1e-12)
    for size in (1, 2, 5):
        assert opt <= evaluate(g, t, min_block(g, t, size), moved=moved).latency_s * (1 + 1e-12)
