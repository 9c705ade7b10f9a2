"""No estimate leaves chiplab with a NaN, infinite or negative figure, and --json is strict JSON."""
import json

import pytest

from chiplab.errors import ChiplabError
from chiplab.hw import load_chip
from chiplab.ir import GemmShape, Graph, Node, OpKind
from chiplab.perf.estimate import estimate
from chiplab.perf.result import Bound, Estimate, EstimateError, LayerEstimate


def _gemm_graph():
    g = GemmShape(M=64, N=32, K=16)
    return Graph("g", [Node("g1", OpKind.GEMM, gemm=g, macs=g.macs)])


def test_a_degenerate_spec_that_bypassed_validation_gives_an_error_not_nan():
    c = load_chip("systolic-128")
    # model_copy does not validate: this is how a NaN can still reach a performance model
    bad = c.model_copy(update={"energy": c.energy.model_copy(update={"mac": {"int8": float("nan")}})})
    with pytest.raises(EstimateError, match=r"systolic-128 / g: layer 'g1': energy_j is nan") as e:
        estimate(_gemm_graph(), bad)          # before: returned energy_j = nan silently
    assert isinstance(e.value, ChiplabError) and "\n" not in str(e.value)
    neg = c.model_copy(update={"energy": c.energy.model_copy(update={"dram_read_per_byte": -1e-9})})
    with pytest.raises(EstimateError, match="is -"):
        estimate(_gemm_graph(), neg)


def test_a_workload_that_takes_no_time_is_an_error_not_infinite_throughput():
    g = Graph("views", [Node("v", OpKind.VIEW)])
    with pytest.raises(EstimateError, match="takes no time"):
        estimate(g, "systolic-128")           # before: latency 0, throughput inf


def test_json_is_strict():
    est = estimate(_gemm_graph(), "systolic-128")
    d = json.loads(est.to_json(), parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))
    assert d["total"]["latency_s"] > 0
    layer = LayerEstimate(name="x", node="x", op="gemm", macs=1, cycles=0.0, latency_s=0.0, energy_j=0.0,
                          bound=Bound.NONE, utilization=0.0)
    zero = Estimate(chip="c", workload="w", batch=1, precision="int8", clock_hz=1e9, peak_macs_per_cycle=1,
                    layers=[layer])
    with pytest.raises(ValueError, match="not JSON compliant"):
        zero.to_json()                        # before: printed 'Infinity' (throughput of a zero latency)
