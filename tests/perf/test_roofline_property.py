"""Property: no layer is ever reported faster than its roofline, on random shapes and chips.

roofline = max(MACs / peak MACs per cycle, compulsory DRAM bytes / DRAM bytes per cycle),
where compulsory bytes are A, B and C once at the estimate's precision (for a
convolution the input feature map, or the im2col matrix when smaller).
"""
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import ConvShape, GemmShape, Node, OpKind, TensorSpec
from chiplab.perf.registry import EstimateOptions, model_for

PREC_BYTES = {"int8": 1, "fp16": 2, "fp32": 4}


@st.composite
def chips(draw):
    prec = draw(st.sampled_from(sorted(PREC_BYTES)))
    arch = {"kind": "systolic", "rows": draw(st.integers(1, 300)), "cols": draw(st.integers(1, 300)),
            "dataflow": draw(st.sampled_from(["os", "ws", "is"])), "clock": draw(st.floats(1e8, 3e9)),
            "macs_per_pe": {prec: draw(st.sampled_from([0.25, 0.5, 1.0, 2.0, 4.0]))},
            "ifmap_sram": draw(st.integers(64, 2**25)), "filter_sram": draw(st.integers(64, 2**25)),
            "ofmap_sram": draw(st.integers(64, 2**25)), "double_buffered": draw(st.booleans())}
    if draw(st.booleans()):
        arch.update(ifmap_dram_bandwidth=draw(st.floats(0.5, 256)), filter_dram_bandwidth=draw(st.floats(0.5, 256)),
                    ofmap_dram_bandwidth=draw(st.floats(0.5, 256)))
    if draw(st.booleans()):
        arch["ifmap_sram_bandwidth"] = draw(st.floats(1, 1024))
    return ChipSpec.model_validate({
        "chiplab_chip": 1, "name": "rand", "native_precision": prec, "arch": arch,
        "memory": {"dram_bandwidth": draw(st.floats(1e8, 2e12))}, "vector": {"lanes": draw(st.integers(1, 512))},
        "energy": {"mac": {prec: 1e-12}, "sram_read_per_byte": 1e-12, "sram_write_per_byte": 1e-12,
                   "dram_read_per_byte": 1e-10, "dram_write_per_byte": 1e-10, "vector_op": 1e-12}})


@st.composite
def nodes(draw):
    if draw(st.booleans()):
        g = GemmShape(draw(st.integers(1, 5000)), draw(st.integers(1, 5000)), draw(st.integers(1, 5000)),
                      draw(st.integers(1, 4)))
        return Node("g", OpKind.GEMM, gemm=g, macs=g.macs), g.batch * (g.M * g.K + g.K * g.N + g.M * g.N)
    groups = draw(st.sampled_from([1, 1, 2, 4]))
    C, K = groups * draw(st.integers(1, 64)), groups * draw(st.integers(1, 64))
    R, S, s = draw(st.integers(1, 7)), draw(st.integers(1, 7)), draw(st.integers(1, 3))
    H, W, p = draw(st.integers(R, 80)), draw(st.integers(S, 80)), draw(st.integers(0, 3))
    c = ConvShape(draw(st.integers(1, 4)), C, H, W, K, R, S, (s, s), (p, p), groups=groups)
    g = c.as_gemm()
    compulsory = g.batch * min(c.N * (C // groups) * H * W, g.M * g.K) + g.batch * g.K * g.N + g.batch * g.M * g.N
    return Node("c", OpKind.CONV, gemm=g, conv=c, macs=g.macs), compulsory


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chip=chips(), nc=nodes(), compat=st.sampled_from(["default", "scalesim"]))
def test_no_layer_beats_its_roofline(chip, nc, compat):
    node, compulsory = nc
    prec = chip.native_precision
    m = model_for(chip, EstimateOptions(prec, compat=compat))
    est = m.layer(node)
    a = chip.arch
    ports = (a.ifmap_dram_bandwidth, a.filter_dram_bandwidth, a.ofmap_dram_bandwidth)
    bpc = sum(ports) if all(p is not None for p in ports) else chip.memory.dram_bandwidth / chip.clock_hz
    roof = max(node.macs / m.peak_macs_per_cycle, compulsory * PREC_BYTES[prec] / bpc)
    assert est.cycles >= roof * (1 - 1e-9), (est.cycles, roof, est.bound)
    assert est.latency_s >= roof / chip.clock_hz * (1 - 1e-9)
    assert est.dram_bytes >= compulsory * PREC_BYTES[prec] * (1 - 1e-9) or compat == "scalesim"
    assert 0 <= est.utilization <= 1 + 1e-9
    assert est.stall_cycles >= 0 and est.compute_cycles > 0


@settings(max_examples=100, deadline=None)
@given(chip=chips(), n=st.integers(1, 10**7), ops_per=st.integers(0, 8))
def test_vector_ops_respect_roofline(chip, n, ops_per):
    prec = chip.native_precision
    x = TensorSpec((n,), "float32")
    node = Node("v", OpKind.ELEMENTWISE, inputs=(x,), outputs=(TensorSpec((n,), "float32"),), vector_ops=n * ops_per)
    m = model_for(chip, EstimateOptions(prec))
    est = m.layer(node)
    t_ops = node.vector_ops / (chip.vector.lanes * chip.vector_clock_hz)
    assert est.latency_s >= t_ops * (1 - 1e-9)
    assert est.latency_s > 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chip=chips(), n=st.integers(1, 6), ch=st.integers(1, 96), hw=st.integers(3, 40),
       compat=st.sampled_from(["default", "scalesim"]))
def test_whole_graph_rows_respect_roofline(chip, n, ch, hw, compat):
    """Through run() (residency planning, vector rows, host rows): every row is at least
    as slow as its MACs at peak and as its own DRAM traffic at full DRAM bandwidth."""
    from chiplab.ir.graph import Graph, Role

    prec = chip.native_precision
    x = TensorSpec((1, ch, hw, hw), "float32")
    nodes, prev = [], x
    for i in range(n):
        c = ConvShape(1, ch, hw, hw, ch, 3, 3, (1, 1), (1, 1))
        y = TensorSpec((1, ch, hw, hw), "float32", Role.OUTPUT, f"conv{i}")
        nodes.append(Node(f"conv{i}", OpKind.CONV, inputs=(prev, TensorSpec((ch, ch, 3, 3), "float32", Role.WEIGHT)),
                          outputs=(y,), gemm=c.as_gemm(), conv=c, macs=c.macs))
        z = TensorSpec(y.shape, "float32", Role.OUTPUT, f"relu{i}")
        nodes.append(Node(f"relu{i}", OpKind.ELEMENTWISE, inputs=(y,), outputs=(z,), vector_ops=y.numel))
        prev = z
    m = model_for(chip, EstimateOptions(prec, compat=compat))
    a = chip.arch
    shared = not all(p is not None for p in (a.ifmap_dram_bandwidth, a.filter_dram_bandwidth, a.ofmap_dram_bandwidth))
    for row in m.run(Graph("chain", nodes, inputs=(x,))):
        assert row.latency_s >= row.macs / (m.peak_macs_per_cycle * chip.clock_hz) * (1 - 1e-9)
        if shared:
            assert row.latency_s >= row.dram_bytes / chip.memory.dram_bandwidth * (1 - 1e-9), row
        assert row.cycles >= 0 and row.energy_j >= 0
