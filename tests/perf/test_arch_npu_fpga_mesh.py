"""NPU, FPGA-overlay and many-core mesh models, and the roofline over every preset."""
import dataclasses
import math

import pytest

from chiplab.perf.result import EstimateError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import chiplab
from chiplab.hw import list_presets, load_chip
from chiplab.ir import ConvShape, GemmShape, Graph, Node, OpKind, Role, TensorSpec
from chiplab.perf.common import graph_outputs, precision_bytes, tensor_bytes
from chiplab.perf.counts import Level, cycles
from chiplab.perf.registry import EstimateOptions, model_for
from chiplab.perf.result import Bound

PRESETS = [p for p in list_presets()]


def conv_node(N, C, H, K, R, stride=1):
    c = ConvShape(N, C, H, H, K, R, R, (stride, stride), (R // 2, R // 2))
    g = c.as_gemm()
    return Node("conv", OpKind.CONV, inputs=(TensorSpec((N, C, H, H)), TensorSpec((K, C, R, R), role=Role.WEIGHT)),
                outputs=(TensorSpec((N, K, c.P, c.Q), role=Role.OUTPUT),), macs=g.macs, gemm=g, conv=c)


def gemm_node(M, N, K, bias=False):
    g = GemmShape(M, N, K)
    b = (TensorSpec((N,), role=Role.WEIGHT),) if bias else ()
    return Node("mm", OpKind.GEMM, inputs=(TensorSpec((M, K)), TensorSpec((K, N), role=Role.WEIGHT), *b),
                outputs=(TensorSpec((M, N), role=Role.OUTPUT),), macs=g.macs, gemm=g)


def compulsory_dram_bytes(model, node, graph):
    """Bytes a matrix layer must move between the chip and DRAM whatever its schedule: its weights,
    read once (none when the model keeps the graph's weights resident on chip: ``weights_resident``),
    its inputs that are graph inputs, read once (a strided conv's skipped pixels excepted: at most its
    im2col matrix), and its outputs that are graph outputs, written once. A model that keeps a layer's
    activations on chip says how many bytes it has for them (``activation_capacity``)."""
    p, g = model.precision, node.gemm
    outputs = graph_outputs(graph)
    weights = sum(tensor_bytes(t, p) for t in node.inputs if t.role is Role.WEIGHT)
    if getattr(model, "weights_resident", False):
        weights = 0.0
    acts_in = sum(tensor_bytes(t, p) for t in node.inputs if t.role is not Role.WEIGHT and t.producer is None)
    acts_in = min(acts_in, g.batch * g.M * g.K * precision_bytes(p))
    acts_out = sum(tensor_bytes(t, p) for t in node.outputs if any(t is o for o in outputs))
    if acts_in + acts_out <= getattr(model, "activation_capacity", 0.0):
        acts_in = acts_out = 0.0
    return weights + acts_in + acts_out


def check_roofline(chip, node):
    """One matrix layer alone on ``chip``: DRAM bytes >= compulsory bytes, and latency >=
    max(MACs / peak, compulsory bytes / DRAM bandwidth). Returns the layer's row."""
    p = chip.native_precision
    graph = Graph("g", [node])
    row = next(r for r in chiplab.estimate(graph, chip, host_transfers=False).layers if r.node == node.name)
    model = model_for(chip, EstimateOptions(p, host_transfers=False))
    getattr(model, "prepare", lambda g: None)(graph)          # whole-graph decisions (weight residency)
    need = compulsory_dram_bytes(model, node, graph)
    assert row.dram_bytes >= need * (1 - 1e-9), f"{chip.name}: dram_bytes {row.dram_bytes:.0f} < compulsory {need:.0f}"
    roof = max(node.macs / chip.peak_macs_per_s(p), need / chip.memory.dram_bandwidth)
    assert row.latency_s >= roof * (1 - 1e-9), f"{chip.name}: latency {row.latency_s:.3g} s < roofline {roof:.3g} s"
    assert 0 <= row.utilization <= 1 + 1e-9 and row.energy_j > 0
    return row


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chip=st.sampled_from(PRESETS), N=st.integers(1, 4), C=st.integers(1, 256), H=st.integers(4, 56),
       K=st.integers(1, 256), R=st.sampled_from([1, 3, 5]), stride=st.sampled_from([1, 2]))
def test_no_preset_beats_its_roofline_on_convs(chip, N, C, H, K, R, stride):
    check_roofline(load_chip(chip), conv_node(N, C, H, K, R, stride))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chip=st.sampled_from(PRESETS), M=st.integers(1, 4096), N=st.integers(1, 2048), K=st.integers(1, 2048),
       bias=st.booleans())
def test_no_preset_beats_its_roofline_on_gemms(chip, M, N, K, bias):
    check_roofline(load_chip(chip), gemm_node(M, N, K, bias))


@pytest.mark.parametrize("chip,cls", [("tpu-v1", "SystolicModel"), ("tpu-v4", "NpuModel"), ("eyeriss", "RowStationaryModel"),
                                      ("a100-sxm4-40gb", "GpuModel"), ("xeon-e5-2699v3", "CpuModel"),
                                      ("vck5000-dpu", "FpgaOverlayModel"), ("tesla-d1", "MeshModel")])
@pytest.mark.parametrize("forgets", ["dram_bytes", "dram_time"])
def test_roofline_check_catches_a_model_that_forgets_dram(chip, cls, forgets, monkeypatch):
    """Planted regressions: a model reporting no DRAM traffic, or not waiting for it, fails the check
    (the layers are DRAM-bound: a thin GEMM on its weights; on the mesh, activations beyond its SRAM)."""
    import importlib

    mod = {"SystolicModel": "arch_systolic", "NpuModel": "arch_npu", "RowStationaryModel": "arch_rs", "GpuModel": "arch_gpu",
           "CpuModel": "arch_cpu", "FpgaOverlayModel": "arch_fpga", "MeshModel": "arch_mesh"}[cls]
    model_cls = getattr(importlib.import_module(f"chiplab.perf.{mod}"), cls)
    orig = model_cls.matrix_counts
    node = gemm_node(8, 2048, 2048) if cls != "MeshModel" else gemm_node(2**21, 64, 64)
    check_roofline(load_chip(chip), node)                        # the model as it is passes

    def forgetful(self, n, *a, **k):
        c = orig(self, n, *a, **k)
        if forgets == "dram_bytes":
            return dataclasses.replace(c, traffic={k: v for k, v in c.traffic.items() if k[0] is not Level.DRAM})
        return dataclasses.replace(c, time=cycles(Bound.COMPUTE, n.macs / self.peak_macs_per_cycle))

    monkeypatch.setattr(model_cls, "matrix_counts", forgetful)
    # caught by the roofline check, or earlier by the estimate's own sanity check (a negative stall)
    with pytest.raises((AssertionError, EstimateError),
                       match="dram_bytes 0 < compulsory" if forgets == "dram_bytes" else "< roofline|stall_cycles is -"):
        check_roofline(load_chip(chip), node)


def test_mesh_streams_activations_that_do_not_fit_its_sram():
    """tesla-d1 holds activations in its cores' SRAM (half of 360 x 1.25 MB); a GEMM whose input and
    output (2 x 268 MB bf16) do not fit there reads and writes them through DRAM."""
    d1 = load_chip("tesla-d1")
    row = check_roofline(d1, gemm_node(65536, 2048, 2048))
    assert row.dram_bytes >= 2 * 65536 * 2048 * 2


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
    from chiplab.capture.workloads import load_graph

    est = chiplab.estimate("resnet18", chip, batch=2)
    t = est.total()
    assert t["latency_s"] > 0 and t["energy_j"] > 0 and 0 < t["utilization"] <= 1
    assert t["serial_throughput_per_s"] == pytest.approx(2 / t["latency_s"])
    assert t["throughput_per_s"] >= t["serial_throughput_per_s"] * (1 - 1e-12)   # transfers overlap in steady state
    # every conv / linear layer moves at least its compulsory bytes (weights; the graph's input and output)
    c = load_chip(chip)
    graph = load_graph("resnet18", batch=2)
    model = model_for(c, EstimateOptions(c.native_precision, batch=2))
    getattr(model, "prepare", lambda g: None)(graph)
    rows = {r.node: r for r in est.layers}
    matrix = [n for n in graph.nodes if n.op.is_matrix]
    assert len(matrix) == 21
    for n in matrix:
        need = compulsory_dram_bytes(model, n, graph)
        assert rows[n.name].dram_bytes >= need * (1 - 1e-9), (chip, n.name, rows[n.name].dram_bytes, need)


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


def test_npu_keeps_psums_on_chip_when_spilling_buys_no_time():
    """ResNet-50's layer1 3x3 conv at batch 2048 on TPU v3: 5 row folds whose psums do not
    fit the ofmap buffer. Chunking the streamed pixels keeps them in the accumulators at the
    same compute time, so the fp32 psums must not round-trip through HBM (they did: 6.4 MB
    per image, the layer DRAM-bound over the engines sharing HBM)."""
    from chiplab.perf.counts import Operand

    m = model_for(load_chip("tpu-v3"), EstimateOptions("bf16"))
    c = m.matrix_counts(conv_node(2048, 64, 56, 64, 3))
    spilled = sum(v for (lv, op, _), v in c.traffic.items() if lv is Level.DRAM and op is Operand.PSUM)
    assert spilled == 0
    assert any("chunked" in n for n in c.notes)
