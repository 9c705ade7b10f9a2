"""Systolic performance model: fold mapping, both cycle conventions, memory bounds, energy."""
import math

import pytest

from chiplab.hw import load_chip
from chiplab.hw.arch.base import CapabilityError
from chiplab.hw.scalesim_cfg import chip_from_scalesim
from chiplab.ir.graph import ConvShape, GemmShape, Graph, Node, OpKind, Role, TensorSpec
from chiplab.perf.estimate import estimate
from chiplab.perf.registry import EstimateOptions, model_for
from chiplab.perf.result import Bound
from chiplab.perf.systolic_map import map_gemm, pipelined_cycles, scalesim_cycles


def gemm(M, N, K, name="g", batch=1):
    g = GemmShape(M, N, K, batch)
    return Node(name, OpKind.GEMM, gemm=g, macs=g.macs)


def conv(C, H, W, K, R, S, stride=1, pad=0, name="c"):
    c = ConvShape(1, C, H, W, K, R, S, (stride, stride), (pad, pad))
    g = c.as_gemm()
    return Node(name, OpKind.CONV, gemm=g, conv=c, macs=g.macs)


def model(rows=32, cols=32, df="ws", compat="default", mode="CALC", bw=(10, 10, 10), kb=(64, 64, 64)):
    chip = chip_from_scalesim(name="t", rows=rows, cols=cols, dataflow=df, sram_kb=kb, mode=mode, bandwidths=bw)
    return model_for(chip, EstimateOptions(precision="int8", compat=compat))


# Figures from tests/data/README.md (SCALE-Sim v3 runs on the peer machine)
@pytest.mark.parametrize("node,arr,df,cycles", [
    (gemm(256, 128, 256), 32, "os", 10175), (gemm(256, 128, 256), 32, "ws", 11199),
    (gemm(1024, 1024, 1024), 128, "os", 81791), (gemm(1024, 1024, 1024), 128, "ws", 89983),
    (conv(64, 56, 56, 64, 3, 3), 32, "os", 117391), (conv(64, 56, 56, 64, 3, 3), 32, "ws", 108359),
    (conv(64, 56, 56, 64, 3, 3), 128, "os", 19089), (conv(64, 56, 56, 64, 3, 3), 128, "ws", 16489)])
def test_peer_readme_figures(node, arr, df, cycles):
    est = model(arr, arr, df, compat="scalesim").layer(node)
    assert est.compute_cycles == cycles and est.stall_cycles == 0


def test_fold_mapping():
    m = map_gemm(100, 70, 300, 32, 16, "ws")
    assert (m.Sr, m.Sc, m.T, m.row_folds, m.col_folds) == (300, 70, 100, 10, 5)
    m = map_gemm(100, 70, 300, 32, 16, "is")
    assert (m.Sr, m.Sc, m.T, m.row_folds, m.col_folds) == (300, 100, 70, 10, 7)
    m = map_gemm(100, 70, 300, 32, 16, "os")
    assert (m.Sr, m.Sc, m.T) == (100, 70, 300)
    assert scalesim_cycles(m) == 4 * 5 * (300 + 32 + 16 - 2) - 1
    assert map_gemm(10, 10, 10, 4, 4, "ws", macs_per_pe=2).T == 5
    with pytest.raises(ValueError, match="dataflow"):
        map_gemm(1, 1, 1, 4, 4, "rs")


@pytest.mark.parametrize("df", ["os", "ws", "is"])
def test_default_pipelines_folds(df):
    """Hardware mode pays fill/drain once; per fold max(T, R); never below MACs / PEs."""
    m = map_gemm(512, 300, 700, 32, 32, df)
    assert pipelined_cycles(m) == m.folds * max(m.T, 32) + 2 * 32 + 32 - 2
    node = gemm(512, 300, 700)
    d, s = model(df=df).layer(node), model(df=df, compat="scalesim").layer(node)
    assert node.macs / 1024 <= d.compute_cycles < s.compute_cycles


def test_scalesim_ceil_output_size():
    """SCALE-Sim's ofmap is ceil((H-R+s)/s): one row/col more than torch when s does not divide H-R."""
    n = conv(4, 16, 16, 9, 3, 2, stride=3)     # torch: 5x5 outputs, SCALE-Sim: 6x6
    assert n.conv.P == 5
    est = model(8, 8, "os", compat="scalesim").layer(n)
    assert est.compute_cycles == math.ceil(36 / 8) * math.ceil(9 / 8) * (24 + 8 + 8 - 2) - 1
    assert model(8, 8, "os").layer(n).compute_cycles < est.compute_cycles


def test_dram_bound_and_stalls():
    node = gemm(4096, 4096, 64)           # big output, little reuse
    fast = model(mode="USER", bw=(1000, 1000, 1000)).layer(node)
    slow = model(mode="USER", bw=(1, 1, 1)).layer(node)
    assert fast.bound is Bound.COMPUTE and slow.bound is Bound.DRAM
    assert slow.stall_cycles > 0 and slow.cycles == slow.compute_cycles + slow.stall_cycles
    assert slow.cycles >= slow.dram_bytes / 3          # three 1 B/cycle ports
    assert slow.utilization < fast.utilization <= 1


def test_double_buffering_overlaps_dram():
    chip = load_chip("systolic-32")
    node = gemm(2048, 256, 512)
    db = model_for(chip, EstimateOptions("int8")).layer(node)
    arch = chip.arch.model_copy(update={"double_buffered": False})
    sb = model_for(chip.model_copy(update={"arch": arch}), EstimateOptions("int8")).layer(node)
    assert sb.cycles > db.cycles
    assert sb.cycles == pytest.approx(sb.compute_cycles + sb.dram_bytes / (16e9 / 1e9), rel=0.02)


def test_sram_bandwidth_bound():
    chip = load_chip("systolic-32")
    arch = chip.arch.model_copy(update={"ifmap_sram_bandwidth": 1.0})
    est = model_for(chip.model_copy(update={"arch": arch}), EstimateOptions("int8")).layer(gemm(512, 32, 32))
    assert est.bound is Bound.SRAM and est.cycles >= 512 * 32


def test_energy_is_counts_times_table():
    chip = load_chip("systolic-32")
    est = model_for(chip, EstimateOptions("int8")).layer(gemm(128, 64, 96))
    br = est.energy_breakdown
    assert br["mac"] == pytest.approx(128 * 64 * 96 * 0.23e-12)
    assert est.energy_j == pytest.approx(sum(br.values()))
    dram_j = br.get("dram_read", 0) + br.get("dram_write", 0)
    assert dram_j == pytest.approx(est.dram_bytes * 160e-12)
    # compulsory traffic at least: inputs, weights, outputs once
    assert est.dram_bytes >= 128 * 96 + 96 * 64 + 128 * 64


def test_grouped_conv_and_batch():
    c = ConvShape(1, 32, 14, 14, 32, 3, 3, (1, 1), (1, 1), groups=32)    # depthwise
    g = c.as_gemm()
    n = Node("dw", OpKind.CONV, gemm=g, conv=c, macs=g.macs)
    est = model(compat="scalesim").layer(n)
    assert est.compute_cycles == 32 * scalesim_cycles(map_gemm(196, 1, 9, 32, 32, "ws"))
    assert model().layer(n).compute_cycles >= g.macs / 1024


def test_full_graph_with_vector_view_and_host():
    x = TensorSpec((1, 64, 28, 28), "float32")
    w = TensorSpec((64, 64, 3, 3), "float32", Role.WEIGHT)
    y = TensorSpec((1, 64, 28, 28), "float32", Role.OUTPUT, "conv")
    c = ConvShape(1, 64, 28, 28, 64, 3, 3, (1, 1), (1, 1))
    nodes = [Node("conv", OpKind.CONV, inputs=(x, w), outputs=(y,), gemm=c.as_gemm(), conv=c, macs=c.macs),
             Node("relu", OpKind.ELEMENTWISE, inputs=(y,), outputs=(TensorSpec(y.shape, "float32", Role.OUTPUT, "relu"),),
                  vector_ops=y.numel),
             Node("flat", OpKind.VIEW, inputs=(TensorSpec(y.shape, producer="relu"),),
                  outputs=(TensorSpec((1, 64 * 784), "float32", Role.OUTPUT, "flat"),))]
    est = estimate(Graph("tiny", nodes, inputs=(x,)), "systolic-128")
    kinds = [(l.node, l.bound) for l in est.layers]
    assert kinds[0] == ("host:inputs", Bound.HOST) and kinds[-1][1] is Bound.HOST
    by = {l.node: l for l in est.layers}
    assert by["flat"].cycles == 0 and by["relu"].unit == "vector" and by["conv"].unit == "array"
    assert 0 < est.utilization < 1 and est.energy_j > est.dynamic_energy_j


def test_capability_and_bad_input():
    with pytest.raises(CapabilityError, match="fp16"):
        model_for(load_chip("systolic-32"), EstimateOptions("fp16"))
    with pytest.raises(ValueError, match="no systolic cost model|GemmShape"):
        model().layer(Node("bad", OpKind.CONV))


def test_psums_kept_on_chip_when_cheaper():
    """ws with many K folds and a small ofmap buffer: chunk M instead of spilling psums."""
    chip = load_chip("systolic-128")
    est = model_for(chip, EstimateOptions("int8")).layer(conv(64, 58, 58, 64, 3, 3))
    assert any("chunked" in n for n in est.notes)
    # psums never leave the chip; rows of 64 psums (4 B each) that fit in half of the
    # 64 KiB ofmap buffer: 128, so M=3136 is streamed in ceil(3136/128) = 25 chunks and the
    # 36 KB of weights (more than half the filter buffer) are fetched once per chunk
    rows = int(chip.arch.ofmap_sram // 2) // (64 * 4)
    chunks = math.ceil(56 * 56 / rows)
    assert (rows, chunks) == (128, 25)
    assert est.dram_bytes == pytest.approx(64 * 58 * 58 + chunks * 64 * 64 * 9 + 64 * 56 * 56)


def _chain(hw=28, ch=64):
    """conv -> relu -> conv, with tensors wired by producer names."""
    x = TensorSpec((1, ch, hw, hw), "float32")
    c = ConvShape(1, ch, hw, hw, ch, 3, 3, (1, 1), (1, 1))
    w = TensorSpec((ch, ch, 3, 3), "float32", Role.WEIGHT)
    y1 = TensorSpec((1, ch, hw, hw), "float32", Role.OUTPUT, "conv1")
    y2 = TensorSpec((1, ch, hw, hw), "float32", Role.OUTPUT, "relu")
    y3 = TensorSpec((1, ch, hw, hw), "float32", Role.OUTPUT, "conv2")
    nodes = [Node("conv1", OpKind.CONV, inputs=(x, w), outputs=(y1,), gemm=c.as_gemm(), conv=c, macs=c.macs),
             Node("relu", OpKind.ELEMENTWISE, inputs=(y1,), outputs=(y2,), vector_ops=y1.numel),
             Node("conv2", OpKind.CONV, inputs=(y2, w), outputs=(y3,), gemm=c.as_gemm(), conv=c, macs=c.macs)]
    return Graph("chain", nodes, inputs=(x,))


def test_activations_stay_on_chip_when_they_fit():
    from chiplab.perf.systolic_residency import plan_residency

    g = _chain()                                   # 50 kB int8 activations
    plan = plan_residency(g, capacity=12 * 2**20, precision="int8")
    assert plan["conv1"].output_on_chip and plan["relu"].inputs_on_chip == (True,)
    assert plan["conv2"].inputs_on_chip == (True, False) and not plan["conv2"].output_on_chip   # graph output
    assert not plan_residency(g, capacity=10_000, precision="int8")["conv1"].output_on_chip

    by = {l.node: l for l in estimate(g, "tpu-v1", host_transfers=False).layers}
    assert by["conv2"].dram_bytes == 64 * 64 * 9 + 64 * 28 * 28   # weights in, output out; input on chip
    assert by["relu"].dram_bytes == 0 and by["relu"].bound in (Bound.VECTOR, Bound.SRAM)
    # SCALE-Sim convention: every layer reads its ifmap from DRAM
    compat = {l.node: l for l in estimate(g, "tpu-v1", compat="scalesim", host_transfers=False).layers}
    assert compat["conv2"].dram_bytes > by["conv2"].dram_bytes


def test_channels_only_rows_step_filter_taps_in_time():
    """conv_rows: channels (ZigZag's tpu_like K x C mapping): a 3-channel 7x7 conv uses 3 of
    32 rows and steps its 49 taps in time: ~ceil(64/32) x 49 x 112*112 cycles; a 1x1 conv is
    unchanged."""
    from chiplab.hw import load_chip
    from chiplab.ir.graph import ConvShape, Node, OpKind, Role, TensorSpec

    chip = load_chip("zigzag-tpu-like")
    im2col = chip.model_copy(update={"arch": chip.arch.model_copy(update={"conv_rows": "im2col"})})

    def conv(C, K, H, R, s):
        c = ConvShape(1, C, H, H, K, R, R, (s, s), (R // 2, R // 2))
        return Node("c", OpKind.CONV, inputs=(TensorSpec((1, C, H, H)), TensorSpec((K, C, R, R), role=Role.WEIGHT)),
                    outputs=(TensorSpec((1, K, c.P, c.Q), role=Role.OUTPUT),), macs=c.macs, gemm=c.as_gemm(), conv=c)

    m_ch, m_i2c = model_for(chip, EstimateOptions("int8")), model_for(im2col, EstimateOptions("int8"))
    first = conv(3, 64, 224, 7, 2)
    ideal = 2 * 49 * 112 * 112
    assert m_ch.matrix_layer(first).cycles == pytest.approx(ideal, rel=0.01)
    assert m_i2c.matrix_layer(first).cycles < ideal / 5          # im2col packs 147 taps x channels on the rows
    pw = conv(64, 64, 56, 1, 1)
    assert m_ch.matrix_layer(pw).cycles == m_i2c.matrix_layer(pw).cycles
