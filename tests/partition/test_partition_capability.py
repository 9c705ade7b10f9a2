"""What must run on the host is read from the chip spec alone (chiplab.partition.capabilities)."""
from chiplab.emu.spec import default_numerics
from chiplab.hw import load_chip
from chiplab.ir.graph import Node, OpKind, GemmShape
from chiplab.partition import capabilities, host_reason

SOFTMAX = Node(name="sm", op=OpKind.SOFTMAX, vector_ops=5)
GEMM = Node(name="fc", op=OpKind.GEMM, macs=8, gemm=GemmShape(2, 2, 2))
GELU = Node(name="act", op=OpKind.ELEMENTWISE, attrs={"fn": "gelu"})
ADD = Node(name="add", op=OpKind.ELEMENTWISE, attrs={"fn": "add"})
CUSTOM = Node(name="lut", op=OpKind.DATA_MOVEMENT, attrs={"fn": "my::lut", "unsupported": True})


def test_an_int8_chip_sends_fp32_matrix_ops_to_the_host_but_keeps_its_vector_ops():
    caps = capabilities(load_chip("tpu-v1"))
    assert caps.precisions == ("int8",) and caps.host == ()
    assert "fp32" in host_reason(GEMM, caps, "fp32")
    assert host_reason(GEMM, caps, "int8") is None
    assert host_reason(SOFTMAX, caps, "fp32") is None


def test_numerics_host_list_and_null_matrix_classes():
    spec = load_chip("tpu-v1")
    conv = default_numerics("int8").conv.model_dump()     # conv kept; linear null: left to the host
    spec = spec.model_copy(update={"numerics": {"host": ["softmax", "activation"], "conv": conv, "linear": None}})
    caps = capabilities(spec)
    assert set(caps.host) == {"softmax", "activation", "linear"}
    assert OpKind.SOFTMAX not in caps.op_kinds and OpKind.GEMM not in caps.op_kinds
    assert "softmax" in host_reason(SOFTMAX, caps, "int8")
    assert "linear" in host_reason(GEMM, caps, "int8")
    assert "activation" in host_reason(GELU, caps, "int8")
    assert host_reason(ADD, caps, "int8") is None


def test_a_custom_op_runs_on_the_host():
    assert "custom op" in host_reason(CUSTOM, capabilities(load_chip("tpu-v1")), "int8")
