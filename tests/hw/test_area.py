"""Area and cost model: every figure cited, validated leave-one-out against published die areas."""
import math

import pytest

from chiplab.hw import load_chip
from chiplab.hw.area import (AreaModelError, area, die_cost_usd, dies_per_wafer, murphy_yield, poisson_yield,
                             tables, validate)


def test_every_figure_has_a_tagged_source():
    t = tables()
    assert t["mac_um2_45nm"]["int8"]["source"].startswith("[D] Horowitz")
    assert t["sram_bitcell_um2"]["28"]["value"] == 0.127


def test_leave_one_out_validation_on_three_real_dies():
    rows = {r["chip"]: r for r in validate()}
    assert set(rows) == {"tpu-v1", "diannao", "eyeriss"}
    for r in rows.values():
        assert -0.9 < r["raw_error"] < 0     # arithmetic + bit cells alone is a lower bound
        assert abs(r["loo_error"]) < 0.25    # measured: +2% (TPUv1), +15% (DianNao), -15% (Eyeriss)


def test_area_grows_with_array_and_sram():
    small, big = load_chip("systolic-32"), load_chip("systolic-128")
    a, b = area(small, 28), area(big, 28)
    assert b.mac_mm2 == pytest.approx(16 * a.mac_mm2)
    assert b.total_mm2 > a.total_mm2


def test_yield_and_cost():
    assert murphy_yield(100, 0.1) == pytest.approx(((1 - math.exp(-0.1)) / 0.1) ** 2)
    assert poisson_yield(100, 0.1) == pytest.approx(math.exp(-0.1))
    assert dies_per_wafer(100) == pytest.approx(math.pi * 150**2 / 100 - math.pi * 300 / math.sqrt(200))
    assert die_cost_usd(400, 7) > 4 * die_cost_usd(100, 7)    # yield falls with area


def test_unsupported_chip_and_node_are_one_line_errors():
    with pytest.raises(AreaModelError, match="a100"):
        area(load_chip("a100-sxm4-40gb"), 7)
    with pytest.raises(AreaModelError, match="3 nm"):
        area(load_chip("systolic-32"), 3)
