"""Shared perf pieces: vector roofline, views, HW blocks, host transfers, energy pricing."""
import pytest

from chiplab.hw import load_chip
from chiplab.hwblock import HwCost
from chiplab.ir.graph import Graph, Node, OpKind, Role, TensorSpec
from chiplab.perf.common import (host_transfer_layers, hw_block_layer, node_bytes, vector_layer,
                                 view_layer)
from chiplab.perf.result import Bound

CHIP = load_chip("systolic-128")   # 128 lanes at 1 GHz, 64 GB/s DRAM, int8


def _relu(n: int, ops: int | None = None) -> Node:
    t = TensorSpec((n,), "float32")
    return Node("relu", OpKind.ELEMENTWISE, inputs=(t,), outputs=(TensorSpec((n,), "float32", Role.OUTPUT, None),),
                vector_ops=n if ops is None else ops)


def test_vector_layer_memory_bound():
    # 1e6 int8 elements in and out = 2e6 B at 64 GB/s = 31.25 us; ops 1e6/128 lanes = 7.8 us
    row = vector_layer(_relu(10**6), CHIP, "int8", CHIP.clock_hz, bandwidth_bytes_per_s=CHIP.memory.dram_bandwidth)
    assert row.bound is Bound.DRAM
    assert row.latency_s == pytest.approx(2e6 / 64e9)
    assert row.cycles == pytest.approx(row.latency_s * 1e9)
    assert row.dram_bytes == 2e6


def test_vector_layer_compute_bound():
    row = vector_layer(_relu(1000, ops=10**6), CHIP, "int8", CHIP.clock_hz, bandwidth_bytes_per_s=1e12)
    assert row.bound is Bound.VECTOR
    assert row.cycles == pytest.approx(10**6 / 128)
    assert row.energy_breakdown["vector"] == pytest.approx(10**6 * 0.9e-12)
    assert row.energy_j == pytest.approx(sum(row.energy_breakdown.values()))


def test_embedding_reads_rows_not_table():
    table = TensorSpec((50000, 64), "float32", Role.WEIGHT)
    idx = TensorSpec((8,), "int64")
    n = Node("emb", OpKind.EMBEDDING, inputs=(idx, table), outputs=(TensorSpec((8, 64), "float32", Role.OUTPUT),))
    assert node_bytes(n, "fp16") == (8 * 8 + 8 * 64 * 2, 8 * 64 * 2)


def test_view_is_free():
    row = view_layer(Node("v", OpKind.VIEW))
    assert row.cycles == 0 and row.latency_s == 0 and row.bound is Bound.NONE


def test_hw_block_uses_its_own_clock():
    n = Node("isp", OpKind.HW_BLOCK, attrs={"cost": HwCost(cycles=500, clock_hz=500e6, energy_j=2e-6)})
    row = hw_block_layer(n, clock_hz=1e9)
    assert row.latency_s == pytest.approx(1e-6) and row.cycles == pytest.approx(1000)
    assert row.energy_j == 2e-6 and row.bound is Bound.HW_BLOCK
    with pytest.raises(ValueError, match="attrs"):
        hw_block_layer(Node("isp2", OpKind.HW_BLOCK), clock_hz=1e9)
    with pytest.raises(ValueError, match="clock_hz"):
        hw_block_layer(Node("isp3", OpKind.HW_BLOCK, attrs={"cost": {"cycles": 1, "energy_j": 0}}), 1e9)


def test_host_transfers():
    x = TensorSpec((1, 3, 224, 224), "float32")
    n = Node("relu", OpKind.ELEMENTWISE, inputs=(x,), outputs=(TensorSpec((1, 3, 224, 224), "float32"),))
    g = Graph("g", [n], inputs=(x,))
    before, after = host_transfer_layers(g, CHIP, "int8", CHIP.clock_hz)
    nb = 3 * 224 * 224
    assert before[0].bound is Bound.HOST
    assert before[0].latency_s == pytest.approx(5e-6 + nb / 16e9)
    assert after[0].latency_s == pytest.approx(5e-6 + nb / 16e9)


def test_energy_of_counts():
    from chiplab.perf.counts import READ, WRITE, Counts, Level, Operand, zero
    from chiplab.perf.price import energy

    c = Counts(time=zero(), unit="array", macs=1e6)
    c.add(Level.SRAM, Operand.INPUT, READ, 100).add(Level.DRAM, Operand.OUTPUT, WRITE, 10)
    e, br = energy(c, CHIP, "int8")
    assert br["mac"] == pytest.approx(0.23e-6)
    assert e == pytest.approx(0.23e-6 + 100 * 1.25e-12 + 10 * 160e-12)
    with pytest.raises(ValueError, match="fp16"):
        energy(Counts(time=zero(), unit="array", macs=1), CHIP, "fp16")


def test_fusion_passes_absorb_single_consumer_tails_and_residual_adds():
    """conv -> bn -> relu fuse into conv; a tail whose producer has a second consumer does not;
    an add with two activation inputs fuses (with its relu) only with fuse-residual, reading
    its other operand (relu, index 1) once."""
    from chiplab.ir.graph import ConvShape, Graph, Node, OpKind, Role, TensorSpec
    from chiplab.perf.passes import run_passes

    x = TensorSpec((1, 8, 6, 6))
    c = ConvShape(1, 8, 6, 6, 8, 3, 3, (1, 1), (1, 1))
    w = TensorSpec((8, 8, 3, 3), role=Role.WEIGHT)

    def t(p):
        return TensorSpec((1, 8, 6, 6), role=Role.ACTIVATION, producer=p)

    nodes = [Node("conv", OpKind.CONV, inputs=(x, w), outputs=(t(None),), gemm=c.as_gemm(), conv=c, macs=c.macs),
             Node("bn", OpKind.NORM, inputs=(t("conv"), TensorSpec((8,), role=Role.WEIGHT)), outputs=(t(None),),
                  vector_ops=576),
             Node("relu", OpKind.ELEMENTWISE, inputs=(t("bn"),), outputs=(t(None),), vector_ops=288),
             Node("conv2", OpKind.CONV, inputs=(t("relu"), w), outputs=(t(None),), gemm=c.as_gemm(), conv=c,
                  macs=c.macs),
             Node("add", OpKind.ELEMENTWISE, inputs=(t("conv2"), t("relu")), outputs=(t(None),), vector_ops=288),
             Node("relu2", OpKind.ELEMENTWISE, inputs=(t("add"),), outputs=(t(None),), vector_ops=288)]
    g = Graph("g", nodes, inputs=(x,)).validate()
    assert run_passes(g, ("fuse-epilogue",)).fused == {"bn": "conv", "relu": "conv"}
    plan = run_passes(g)
    assert plan.fused == {"bn": "conv", "relu": "conv", "add": "conv2", "relu2": "conv2"}
    assert plan.side == {"bn": (), "relu": (), "add": (1,), "relu2": ()} and plan.chained["add"] == 0
    assert run_passes(g, ()).fused == {}
