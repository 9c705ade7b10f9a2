"""GPU and CPU models: tile/wave quantization, rooflines, TDP cap, capabilities."""

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chiplab
from chiplab.hw import CapabilityError, load_chip
from chiplab.ir import GemmShape, Graph, Node, OpKind, Role, TensorSpec
from chiplab.perf.registry import EstimateOptions, model_for


def gemm_node(M, N, K, batch=1):
    g = GemmShape(M, N, K, batch)
    return Node("mm", OpKind.GEMM, inputs=(TensorSpec((batch, M, K)), TensorSpec((batch, K, N), role=Role.WEIGHT)),
                outputs=(TensorSpec((batch, M, N), role=Role.OUTPUT),), macs=g.macs, gemm=g)


def test_wave_quantization_a100():
    """108 tiles fit one wave on 108 SMs; 109 tiles need two (same per-tile time)."""
    chip = load_chip("a100-sxm4-40gb")
    m = model_for(chip, EstimateOptions("fp16"))
    one = m.matrix_layer(gemm_node(128 * 108, 128, 4096))
    two = m.matrix_layer(gemm_node(128 * 109, 128, 4096))
    assert "1 wave" in one.notes[0] and "2 wave" in two.notes[0]
    assert two.compute_cycles == pytest.approx(2 * one.compute_cycles)
    # tile quantization: 129 rows cost as much compute as 256
    assert m.matrix_layer(gemm_node(129, 128, 4096)).compute_cycles == m.matrix_layer(gemm_node(256, 128, 4096)).compute_cycles


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chip=st.sampled_from(["a100-sxm4-40gb", "h100-sxm", "t4", "v100-sxm2", "xeon-e5-2699v3", "host"]),
       M=st.integers(1, 5000), N=st.integers(1, 5000), K=st.integers(1, 5000), batch=st.integers(1, 16))
def test_no_gpu_or_cpu_layer_beats_its_roofline(chip, M, N, K, batch):
    c = load_chip(chip)
    p = c.native_precision
    m = model_for(c, EstimateOptions(p))
    row = m.matrix_layer(gemm_node(M, N, K, batch))
    e = {"int8": 1, "fp8": 1, "fp16": 2, "bf16": 2, "fp32": 4}[p]
    compulsory = (M * K + K * N + M * N) * batch * e
    roof = max(row.macs / c.peak_macs_per_s(p), compulsory / c.memory.dram_bandwidth)
    assert row.latency_s >= roof * (1 - 1e-9)
    assert 0 < row.utilization <= 1


def test_tdp_cap_engages_only_above_tdp():
    base = load_chip("a100-sxm4-40gb")
    est = chiplab.estimate("resnet18", base, batch=8)
    from chiplab.perf.power import chip_power_w

    assert chip_power_w(est) < base.power.tdp and not est.notes
    # the same chip with a budget halfway between its static power and this run's power hits
    # the power wall: slower, within budget, and it says so
    budget = (base.energy.static_power + chip_power_w(est)) / 2
    capped = base.model_copy(update={"power": base.power.model_copy(update={"tdp": budget})})
    low = chiplab.estimate("resnet18", capped, batch=8)
    assert chip_power_w(low) <= budget * (1 + 1e-6)
    assert low.latency_s > est.latency_s and low.energy_j > est.energy_j     # static energy over a longer run
    assert any("power wall" in n for n in low.notes) and 0 < low.meta["tdp_scale"] < 1
    # a budget below static power cannot be met by any clock: an error, not a number
    hopeless = base.model_copy(update={"power": base.power.model_copy(update={"tdp": base.energy.static_power / 2})})
    with pytest.raises(ValueError, match="static power .* exceeds the TDP"):
        chiplab.estimate("resnet18", hopeless, batch=8)


def test_missing_capability_is_an_error_not_a_number():
    with pytest.raises(CapabilityError, match="no fp8 support"):
        chiplab.estimate("resnet18", "t4", precision="fp8")
    with pytest.raises(CapabilityError, match="no int8 support"):
        chiplab.estimate("resnet18", "v100-sxm2", precision="int8")


def test_precision_changes_gpu_time():
    g = Graph("g", [gemm_node(4096, 4096, 4096)])
    kw = {"host_transfers": False}     # compare the kernels, not the PCIe copy of the result
    t8 = chiplab.estimate(g, "a100-sxm4-40gb", precision="int8", **kw).latency_s
    t16 = chiplab.estimate(g, "a100-sxm4-40gb", precision="fp16", **kw).latency_s
    t32 = chiplab.estimate(g, "a100-sxm4-40gb", precision="fp32", **kw).latency_s
    assert t8 < t16 < t32
    assert t32 / t16 == pytest.approx(1024 / 64, rel=0.2)     # tensor cores vs CUDA cores


def test_cpu_threads_limit_cores():
    h = load_chip("xeon-e5-2699v3")
    one = h.model_copy(update={"arch": h.arch.model_copy(update={"threads": 1})})
    g = Graph("g", [gemm_node(2048, 2048, 2048)])
    assert chiplab.estimate(g, one).latency_s == pytest.approx(18 * chiplab.estimate(g, h).latency_s, rel=0.05)


@pytest.mark.parametrize("chip", ["a100-sxm4-40gb", "xeon-e5-2699v3"])
def test_batched_activation_gemm_is_blocked_per_product(chip):
    """Attention's QK^T: 16384 independent 177x177x64 products (sequences x heads). Each
    product's operands fit in L2/LLC, so DRAM sees each byte once, even though all the
    products together are far larger than the cache (they never share a cache block)."""
    c = load_chip(chip)
    p = "int8" if chip.startswith("a100") else "fp32"
    e = {"int8": 1, "fp32": 4}[p]
    B, L, d = 16384, 177, 64
    g = GemmShape(L, L, d, B, b_is_weight=False)
    node = Node("qk", OpKind.GEMM, inputs=(TensorSpec((B, L, d)), TensorSpec((B, d, L))),
                outputs=(TensorSpec((B, L, L), role=Role.OUTPUT),), macs=g.macs, gemm=g)
    row = model_for(c, EstimateOptions(p)).matrix_layer(node)
    assert row.dram_bytes == pytest.approx((2 * L * d + L * L) * B * e)
