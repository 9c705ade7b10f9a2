"""NPU, FPGA-overlay and many-core mesh models, and the roofline over every preset."""
import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chiplab
from chiplab.hw import list_presets, load_chip
from chiplab.ir import ConvShape, GemmShape, Graph, Node, OpKind, Role, TensorSpec
from chiplab.perf.common import precision_bytes
from chiplab.perf.registry import EstimateOptions, model_for

PRESETS = [p for p in list_presets()]


def conv_node(N, C, H, K, R, stride=1):
    c = ConvShape(N, C, H, H, K, R, R, (stride, stride), (R // 2, R // 2))
    g = c.as_gemm()
    return Node("conv", OpKind.CONV, inputs=(TensorSpec((N, C, H, H)), TensorSpec((K, C, R, R), role=Role.WEIGHT)),
                outputs=(TensorSpec((N, K, c.P, c.Q), role=Role.OUTPUT),), macs=g.macs, gemm=g, conv=c)


def gemm_node(M, N, K):
    g = GemmShape(M, N, K)
    return Node("mm", OpKind.GEMM, inputs=(TensorSpec((M, K)), TensorSpec((K, N), role=Role.WEIGHT)),
                outputs=(TensorSpec((M, N), role=Role.OUTPUT),), macs=g.macs, gemm=g)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chip=st.sampled_from(PRESETS), N=st.integers(1, 4), C=st.integers(1, 256), H=st.integers(4, 56),
       K=st.integers(1, 256), R=st.sampled_from([1, 3, 5]))
def test_no_preset_beats_its_roofline_on_convs(chip, N, C, H, K, R):
    c = load_chip(chip)
    p = c.native_precision
    node = conv_node(N, C, H, K, R)
    row = next(r for r in chiplab.estimate(Graph("g", [node]), c, host_transfers=False).layers if r.op == "conv")
    e = precision_bytes(p)
    compulsory_min = (node.conv.N * C * H * H * 0 + K * C * R * R) * e       # weights must at least be read once
    roof_compute = node.macs / c.peak_macs_per_s(p)
    assert row.latency_s >= roof_compute * (1 - 1e-9), (chip, row)
    if c.arch.kind not in ("mesh",):          # a mesh may keep weights resident in its cores' SRAM
        assert row.latency_s >= compulsory_min / c.memory.dram_bandwidth * (1 - 1e-9) or row.dram_bytes == 0
    assert 0 <= row.utilization <= 1 + 1e-9 and row.energy_j > 0


def test_fpga_parallelism_quantization_wastes_thin_layers():
    """A 3-channel first layer on a 32-channel-wide DPU uses 3/32 of the input lanes."""
    m = model_for(load_chip("vck5000-dpu"), EstimateOptions("int8"))
    thin, wide = m.matrix_layer(conv_node(1, 3, 56, 64, 3)), m.matrix_layer(conv_node(1, 32, 56, 64, 3))
    assert thin.compute_cycles == pytest.approx(wide.compute_cycles)        # same cycles ...
    assert wide.macs == pytest.approx(thin.macs * 32 / 3)                    # ... for 32/3 x the work


def test_npu_engines_split_the_work():
    one = load_chip("tpu-v4")
    single = one.model_copy(update={"arch": one.arch.model_copy(update={"arrays": 1})})
    node = gemm_node(4096, 1024, 1024)
    t8 = chiplab.estimate(Graph("g", [node]), one, host_transfers=False).latency_s
    t1 = chiplab.estimate(Graph("g", [node]), single, host_transfers=False).latency_s
    assert t1 / 8 * 0.95 <= t8 < t1 / 4


def test_mesh_noc_bound_when_links_are_slow():
    d1 = load_chip("tesla-d1")
    slow = d1.model_copy(update={"arch": d1.arch.model_copy(update={"noc_link_bandwidth": 1e9})})
    node = gemm_node(2048, 2048, 2048)
    fast_row = model_for(d1, EstimateOptions("bf16")).matrix_layer(node)
    slow_row = model_for(slow, EstimateOptions("bf16")).matrix_layer(node)
    assert slow_row.bound.value == "noc" and slow_row.latency_s > fast_row.latency_s
    # NoC bytes: every A block to the other 19 columns, every B block to the other 17 rows
    expected = (2048 * 2048 * 19 + 2048 * 2048 * 17) * 2
    assert f"NoC {expected / 1e6:.2f} MB" in slow_row.notes[0]


@pytest.mark.parametrize("chip", PRESETS)
def test_every_preset_estimates_resnet18(chip, tmp_cache):
    est = chiplab.estimate("resnet18", chip, batch=2)
    t = est.total()
    assert t["latency_s"] > 0 and t["energy_j"] > 0 and 0 < t["utilization"] <= 1
    assert t["throughput_per_s"] == pytest.approx(2 / t["latency_s"])


def test_row_stationary_mapping_by_hand():
    """3x3 conv, 4 -> 8 channels, 16x16 output on 12x14 PEs: PE sets of 3 rows x 14 output rows,
    replicated 12 // 3 = 4 times; 2 strips x ceil(32 triples / 4) x (16 outputs x 3 taps) = 768."""
    from chiplab.perf.arch_rs import rs_cycles

    node = conv_node(1, 4, 16, 8, 3)
    assert rs_cycles(node, 12, 14, 1.0) == 2 * 8 * 16 * 3
    assert node.macs / (12 * 14) <= rs_cycles(node, 12, 14, 1.0)     # never beats the array's peak
    row = model_for(load_chip("eyeriss"), EstimateOptions("fp16")).matrix_layer(node)
    assert row.compute_cycles == 768 and row.cycles >= 768
    # a filter taller than the array folds its rows
    tall = conv_node(1, 2, 20, 2, 13)
    assert rs_cycles(tall, 12, 14, 1.0) == math.ceil(20 / 14) * math.ceil(4 / 1) * 2 * 20 * 13
