import pytest

from chiplab.ir import ConvShape, GemmShape, Graph, GraphError, Node, OpKind, Role, TensorSpec


def _conv_node(name="c", producer=None):
    cs = ConvShape(N=2, C=8, H=10, W=10, K=16, R=3, S=3, stride=(1, 1), padding=(1, 1))
    g = cs.as_gemm()
    return Node(name=name, op=OpKind.CONV, module_path="layer1.0.conv1",
                inputs=(TensorSpec((2, 8, 10, 10), producer=producer), TensorSpec((16, 8, 3, 3), role=Role.WEIGHT)),
                outputs=(TensorSpec((2, 16, 10, 10), role=Role.OUTPUT),), macs=g.macs, gemm=g, conv=cs)


def test_conv_as_gemm_matches_direct_count():
    cs = ConvShape(N=2, C=8, H=10, W=10, K=16, R=3, S=3, stride=(2, 2), padding=(1, 1), groups=2)
    assert (cs.P, cs.Q) == (5, 5)
    g = cs.as_gemm()
    # direct count: every output element needs C/groups*R*S MACs
    assert g.macs == 2 * 16 * 5 * 5 * (8 // 2) * 3 * 3
    assert (g.M, g.N, g.K, g.batch) == (2 * 25, 8, 4 * 9, 2)


def test_roundtrip_json_preserves_everything():
    n1 = _conv_node("c1")
    n2 = Node(name="r", op=OpKind.ELEMENTWISE, inputs=(TensorSpec((2, 16, 10, 10), producer="c1"),),
              outputs=(TensorSpec((2, 16, 10, 10), role=Role.OUTPUT),), vector_ops=3200, attrs={"fn": "relu"})
    g = Graph("t", [n1, n2], inputs=(TensorSpec((2, 8, 10, 10)),), meta={"batch": 2}).validate()
    g2 = Graph.from_json(g.to_json()).validate()
    assert g2.nodes == g.nodes and g2.inputs == g.inputs and g2.meta == g.meta
    assert g2.macs == g.macs and g2.flops == 2 * g.macs
    assert g.consumers() == {"c1": ["r"], "r": []}
    assert n1.bytes_by_role(Role.WEIGHT) == 16 * 8 * 9 * 4


def test_validate_rejects_bad_graphs():
    with pytest.raises(GraphError, match="duplicate node name"):
        Graph("t", [_conv_node("a"), _conv_node("a")]).validate()
    with pytest.raises(GraphError, match="not an earlier node"):
        Graph("t", [_conv_node("a", producer="zz")]).validate()
    with pytest.raises(GraphError, match="no GemmShape"):
        Graph("t", [Node(name="m", op=OpKind.GEMM, macs=5)]).validate()


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="negative"):
        TensorSpec((2, -1))
    with pytest.raises(ValueError, match="dtype"):
        TensorSpec((2,), dtype="float7")
    with pytest.raises(ValueError, match=">= 1"):
        GemmShape(M=0, N=1, K=1)
