from pathlib import Path

import pytest
import torch
from onnx import TensorProto, helper

from chiplab.capture import OnnxImportError, TopologyError, UnsupportedOpError, capture, import_onnx, import_scalesim_csv
from chiplab.ir import OpKind

PEERS = Path(__file__).resolve().parents[1] / "data" / "scalesim"   # copies of public SCALE-Sim inputs (data/README.md)


def _onnx_conv_relu_gemm():
    w = helper.make_tensor("w", TensorProto.FLOAT, [16, 3, 3, 3], [0.0] * 16 * 27)
    fw = helper.make_tensor("fw", TensorProto.FLOAT, [10, 16 * 30 * 30], [0.0] * 10 * 16 * 900)
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv1", pads=[0, 0, 0, 0]),
             helper.make_node("Relu", ["c"], ["r"], name="relu1"),
             helper.make_node("Flatten", ["r"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "fw"], ["y"], name="fc", transB=1)]
    g = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, 32, 32])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", 10])], [w, fw])
    return helper.make_model(g)


def test_onnx_hand_built_macs():
    g = import_onnx(_onnx_conv_relu_gemm(), batch=2, name="tiny")
    conv, relu, flat, fc = g.nodes
    assert conv.op is OpKind.CONV and conv.macs == 2 * 16 * 30 * 30 * 27
    assert relu.op is OpKind.ELEMENTWISE and relu.inputs[0].producer == "conv1"
    assert flat.op is OpKind.VIEW
    assert fc.gemm.M == 2 and fc.gemm.N == 10 and fc.gemm.K == 16 * 900 and fc.gemm.b_is_weight
    assert g.meta["batch"] == 2


def test_onnx_matches_torch_export(tmp_path):
    import torchvision

    m = torchvision.models.resnet18(weights=None).eval()
    p = tmp_path / "r18.onnx"
    torch.onnx.export(m, (torch.randn(1, 3, 224, 224),), str(p), dynamo=False, input_names=["x"],
                      dynamic_axes={"x": {0: "b"}})
    assert import_onnx(p, batch=2).macs == capture(m, (torch.randn(2, 3, 224, 224),), name="r18").macs


def test_onnx_errors(tmp_path):
    with pytest.raises(OnnxImportError, match="no such ONNX file"):
        import_onnx(tmp_path / "x.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx at all")
    with pytest.raises(OnnxImportError, match="not a readable ONNX model"):
        import_onnx(bad)
    g = helper.make_graph([helper.make_node("Det", ["x"], ["y"], name="det")], "d",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [])])
    with pytest.raises(UnsupportedOpError, match="unsupported ONNX op 'Det' in node 'det'"):
        import_onnx(helper.make_model(g))


def test_scalesim_conv_and_gemm(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
                 "c1, 10, 12, 3, 3, 4, 8, 1,\nDP_c2, 8, 10, 3, 3, 8, 1, 1,\n")
    g = import_scalesim_csv(p)
    c1, dp = g.nodes
    assert c1.macs == 8 * 10 * 8 * 4 * 9 and c1.inputs[0].dtype == "int8" and c1.source == "t.csv:2"
    assert dp.conv.groups == 8 and dp.macs == 6 * 8 * 8 * 9          # depthwise: one filter per channel
    q = tmp_path / "g.csv"
    q.write_text("Layer Name, M, N, K,\ng1, 64, 32, 16,\n")
    (g1,) = import_scalesim_csv(q).nodes
    assert (g1.gemm.M, g1.gemm.N, g1.gemm.K) == (64, 32, 16)


def test_scalesim_resnet50_topology():
    g = import_scalesim_csv(PEERS / "resnet50_scalesim_mlperf.csv")
    assert len(g) == 54 and g.nodes[0].module_path == "Conv1"


@pytest.mark.parametrize("text,msg", [
    ("Layer name, IFMAP Height\n", "header must start with"),
    ("Layer Name, M, N, K,\ng, 4, x, 2,\n", "t.csv:2: column 'N': expected an integer, got 'x'"),
    ("Layer Name, M, N, K,\ng, 4, 3,\n", "t.csv:2: missing column 'K'"),
    ("Layer Name, M, N, K,\ng, 4, 0, 2,\n", "column 'N': must be >= 1"),
    ("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, Num Filter, Strides,\n"
     "c, 2, 2, 3, 3, 1, 1, 1,\n", "filter 3x3 is larger than the ifmap 2x2"),
    ("Layer Name, M, N, K,\n", "no layers"),
    ("Layer Name, M, N, K,\ng, 4, 99999999999999999999, 2,\n", "column 'N': must be <= 2,147,483,647"),
    ("Layer Name, M, N, K,\ng, 4, " + "9" * 5000 + ", 2,\n", "column 'N': expected an integer, got '99999"),
    ("", "empty topology file"),
])
def test_scalesim_errors_name_line_and_column(tmp_path, text, msg):
    p = tmp_path / "t.csv"
    p.write_text(text)
    with pytest.raises(TopologyError, match=msg.replace("(", r"\(").replace(")", r"\)")) as e:
        import_scalesim_csv(p)
    assert len(str(e.value)) < 300


def test_scalesim_csv_directory_or_fifo_is_refused_before_opening(tmp_path):
    import os

    (tmp_path / "d.csv").mkdir()
    with pytest.raises(TopologyError, match="is a directory"):
        import_scalesim_csv(tmp_path / "d.csv")      # before: IsADirectoryError traceback
    os.mkfifo(tmp_path / "f.csv")
    with pytest.raises(TopologyError, match="not a regular file"):
        import_scalesim_csv(tmp_path / "f.csv")      # before: blocked forever


def _conv_model(**conv_attrs):
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 4 * 27)
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1", **conv_attrs)], "c",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    return helper.make_model(g)


@pytest.mark.parametrize("attrs,msg", [
    (dict(pads=[1]), "conv1'?: pads must be 4 integers >= 0, got \\[1\\]"),           # was IndexError
    (dict(group=0), "conv1'?: group=0 does not fit"),                                # was ZeroDivisionError
    (dict(strides=[0, 0]), "conv1'?: strides must be 2 integers >= 1"),              # was ZeroDivisionError
    (dict(dilations=[1]), "dilations must be 2 integers"),
    (dict(group=2), "group=2 does not fit 3 input channels"),
])
def test_onnx_conv_with_bad_attributes_is_one_line(attrs, msg):
    with pytest.raises(OnnxImportError, match=msg):
        import_onnx(_conv_model(**attrs), name="m")


def test_onnx_conv_auto_pad_same_pads_the_input():
    (conv,) = import_onnx(_conv_model(auto_pad="SAME_UPPER"), name="m").nodes
    assert (conv.conv.P, conv.conv.Q) == (8, 8) and conv.macs == 4 * 64 * 27


def test_onnx_empty_directory_fifo_files(tmp_path):
    import os

    (tmp_path / "e.onnx").write_bytes(b"")
    with pytest.raises(OnnxImportError, match="empty ONNX file"):      # before: latency 0, infinite throughput
        import_onnx(tmp_path / "e.onnx")
    (tmp_path / "d.onnx").mkdir()
    with pytest.raises(OnnxImportError, match="is a directory"):
        import_onnx(tmp_path / "d.onnx")
    os.mkfifo(tmp_path / "f.onnx")
    with pytest.raises(OnnxImportError, match="not a regular file"):
        import_onnx(tmp_path / "f.onnx")
    with pytest.raises(OnnxImportError, match="no operators"):
        import_onnx(helper.make_model(helper.make_graph([], "empty", [], [])))


def _matmul_model(a_shape, b_shape, nodes=None):
    g = helper.make_graph(nodes or [helper.make_node("MatMul", ["a", "b"], ["y"], name="mm")], "mm",
                          [helper.make_tensor_value_info("a", TensorProto.FLOAT, a_shape),
                           helper.make_tensor_value_info("b", TensorProto.FLOAT, b_shape)],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    return helper.make_model(g)


def test_onnx_matmul_inner_dimensions_must_agree():
    with pytest.raises(OnnxImportError, match="MatMul 'mm': inner dimensions differ"):
        import_onnx(_matmul_model([4, 5], [6, 7]))                        # before: K=5 taken silently
    with pytest.raises(OnnxImportError, match="batch dimensions do not broadcast"):
        import_onnx(_matmul_model([2, 4, 5], [3, 5, 7]))
    assert import_onnx(_matmul_model([2, 4, 5], [1, 5, 7])).macs == 2 * 4 * 5 * 7


def test_onnx_cyclic_graph_is_an_error():
    nodes = [helper.make_node("Add", ["a", "z"], ["y"], name="n1"), helper.make_node("Relu", ["y"], ["z"], name="n2")]
    with pytest.raises(OnnxImportError, match="has a cycle"):
        import_onnx(_matmul_model([4, 4], [4, 4], nodes))
    # an acyclic graph listed out of order is taken in dependency order
    nodes = [helper.make_node("Relu", ["y"], ["z"], name="n2"), helper.make_node("Add", ["a", "b"], ["y"], name="n1")]
    g = import_onnx(_matmul_model([4, 4], [4, 4], nodes))
    assert [n.name for n in g.nodes] == ["n1", "n2"] and g.nodes[1].inputs[0].producer == "n1"


def test_onnx_symbolic_dimension_is_an_error_naming_the_input():
    # before: the symbolic height became 1, a silently wrong MAC count
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 3, 3, 3], [0.0] * 4 * 27)
    g = helper.make_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv1")], "c",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", 3, "h", 8])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [w])
    with pytest.raises(OnnxImportError, match="input 'x' dimension 2 is 'h'.*static shapes"):
        import_onnx(helper.make_model(g), batch=2)


def test_onnx_asymmetric_pads_give_the_onnx_output_size():
    # pads (begin_h, begin_w, end_h, end_w) = (0, 0, 1, 1), stride 2: ONNX's output is 4x4 on an 8x8 input;
    # before, only the begin pads were read and the output taken as 3x3 (a silently wrong MAC count)
    (conv,) = import_onnx(_conv_model(pads=[0, 0, 1, 1], strides=[2, 2]), name="m").nodes
    assert (conv.conv.P, conv.conv.Q) == (4, 4) == tuple(conv.outputs[0].shape[2:])
    with pytest.raises(UnsupportedOpError, match="cannot be modelled as symmetric padding"):
        import_onnx(_conv_model(pads=[0, 0, 1, 1]), name="m")     # stride 1: no symmetric equivalent
