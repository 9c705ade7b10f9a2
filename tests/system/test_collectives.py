"""Collective costs against hand computation (Thakur, Rabenseifner & Gropp 2005 formulas)."""
import pytest

from chiplab.errors import ChiplabError
from chiplab.system import collectives as c

N, B, A = 8e6, 100e9, 5e-6       # 8 MB, 100 GB/s, 5 us


def test_ring_all_reduce_by_hand():
    # p = 8: 2*7 steps of 5 us = 70 us; 2*7/8 * 8e6 / 1e11 = 140 us
    assert c.all_reduce_ring(N, 8, B, A) == pytest.approx(70e-6 + 140e-6)


def test_tree_all_reduce_by_hand():
    # p = 8: 2*3 rounds of (5 us + 80 us) = 510 us; p = 5 rounds up to 3 levels too
    assert c.all_reduce_tree(N, 8, B, A) == pytest.approx(6 * 85e-6)
    assert c.all_reduce_tree(N, 5, B, A) == pytest.approx(6 * 85e-6)
    # small messages: tree beats ring (fewer latency terms)
    assert c.all_reduce(8.0, 8, B, A) == c.all_reduce_tree(8.0, 8, B, A) < c.all_reduce_ring(8.0, 8, B, A)


def test_rabenseifner_by_hand():
    assert c.all_reduce_rabenseifner(N, 8, B, A) == pytest.approx(6 * 5e-6 + 140e-6)


def test_all_gather_and_reduce_scatter_by_hand():
    # p = 4: 3 * 5 us + 3/4 * 80 us = 75 us; together they make a ring all-reduce
    assert c.all_gather(N, 4, B, A) == pytest.approx(75e-6)
    assert c.reduce_scatter(N, 4, B, A) == pytest.approx(75e-6)
    assert c.all_gather(N, 4, B, A) + c.reduce_scatter(N, 4, B, A) == pytest.approx(c.all_reduce_ring(N, 4, B, A))


def test_all_to_all_by_hand():
    assert c.all_to_all(N, 8, B, A) == pytest.approx(7 * 5e-6 + 7 / 8 * 80e-6)
    # ring of 4: distances 1, 2, 1 -> mean 4/3 hops
    assert c.mean_hops(4, "ring") == pytest.approx(4 / 3)
    assert c.all_to_all(N, 4, B, A, "ring") == pytest.approx(3 * 5e-6 + 4 / 3 * 3 / 4 * 80e-6)
    # 2x2x1 torus: neighbours at 1 hop (2 of them), the diagonal at 2 -> 4/3
    assert c.mean_hops(4, "torus", (2, 2, 1)) == pytest.approx(4 / 3)


def test_point_to_point_and_single_chip():
    assert c.point_to_point(N, B, A) == pytest.approx(85e-6)
    for f in (c.all_reduce_ring, c.all_reduce_tree, c.all_gather, c.reduce_scatter, c.all_to_all):
        assert f(N, 1, B, A) == 0.0


def test_bad_arguments_are_one_line_errors():
    with pytest.raises(ChiplabError, match="group size"):
        c.all_reduce_ring(N, 0, B, A)
    with pytest.raises(ChiplabError, match="bandwidth > 0"):
        c.all_gather(N, 4, 0.0, A)
