import pytest
import torch
from torch import nn

from chiplab.capture import CaptureError, UnsupportedOpError, build, capture
from chiplab.hwblock import HwCost
from chiplab.ir import OpKind, Role


def test_resnet_nodes_keep_module_paths_sources_and_edges():
    model, inputs = build("resnet50", batch=1)
    g = capture(model, inputs, name="resnet50")
    conv = next(n for n in g.nodes if n.module_path == "layer1.0.conv1")
    assert conv.op is OpKind.CONV and conv.conv.K == 64 and conv.conv.C == 64 and conv.conv.R == 1
    assert conv.source.endswith(".py:" + conv.source.rsplit(":", 1)[1]) and "resnet.py" in conv.source
    assert conv.inputs[0].producer is not None and conv.inputs[1].role is Role.WEIGHT
    assert conv.bytes_by_role(Role.WEIGHT) == 64 * 64 * 4
    fc = next(n for n in g.nodes if n.module_path == "fc")
    assert fc.gemm.M == 1 and fc.gemm.K == 2048 and fc.gemm.N == 1000 and fc.gemm.b_is_weight
    assert g.inputs[0].shape == (1, 3, 224, 224)
    kinds = {n.op for n in g.nodes}
    assert {OpKind.CONV, OpKind.GEMM, OpKind.NORM, OpKind.ELEMENTWISE, OpKind.POOL} <= kinds
    assert abs(g.macs - 4.09e9) / 4.09e9 < 0.01        # ResNet-50: ~4.1 GMACs per 224x224 image


def test_grouped_strided_conv_and_matmul_shapes():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.dw = nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8)
            self.lin = nn.Linear(5, 7)

        def forward(self, x, a, b):
            return self.dw(x).sum() + (a @ b).sum() + self.lin(a).sum()

    g = capture(M(), (torch.randn(2, 8, 9, 9), torch.randn(3, 4, 6, 5), torch.randn(5, 6)), name="m")
    dw = next(n for n in g.nodes if n.module_path == "dw")
    assert (dw.conv.P, dw.conv.Q, dw.conv.groups) == (5, 5, 8)
    assert dw.macs == 2 * 8 * 5 * 5 * 9
    mm = [n for n in g.nodes if n.op is OpKind.GEMM and n.module_path == ""]
    assert mm[0].gemm.M == 3 * 4 * 6 and mm[0].gemm.K == 5 and mm[0].gemm.N == 6 and not mm[0].gemm.b_is_weight


def test_unsupported_op_names_op_and_layer():
    class Inv(nn.Module):
        def __init__(self):
            super().__init__()
            self.proj = nn.Linear(4, 4)

        def forward(self, x):
            return torch.linalg.inv(self.proj(x))

    with pytest.raises(UnsupportedOpError, match=r"unsupported op 'aten\.linalg_inv.*'"):
        capture(Inv(), (torch.randn(4, 4),), name="inv")


def test_export_failure_is_one_line():
    class Bad(nn.Module):
        def forward(self, x):
            return x.reshape(7, -1)      # 10 elements cannot be 7 rows

    with pytest.raises(CaptureError) as e:
        capture(Bad(), (torch.randn(10),), name="bad")
    assert str(e.value).startswith("bad: torch.export failed") and "\n" not in str(e.value)


class TinyIsp(nn.Module):
    """A stand-in fixed-function block: 1 pixel per clock, 1 pJ per pixel."""
    hw_block_name = "tiny-isp"

    def __init__(self):
        super().__init__()
        self.gain = nn.Parameter(torch.tensor(2.0))

    def forward(self, raw):
        rgb = raw.repeat(1, 3, 1, 1) * self.gain      # internals the capture must not see
        return torch.tanh(rgb)

    def hw_cost(self, input_shapes):
        n = input_shapes[0][0] * input_shapes[0][2] * input_shapes[0][3]
        return HwCost(cycles=float(n), clock_hz=5e8, energy_j=n * 1e-12)


def test_hardware_block_becomes_one_node_with_its_cost():
    class Camera(nn.Module):
        def __init__(self):
            super().__init__()
            self.isp = TinyIsp()
            self.conv = nn.Conv2d(3, 4, 3)

        def forward(self, raw):
            return self.conv(self.isp(raw))

    model = Camera()
    g = capture(model, (torch.randn(2, 1, 16, 16),), name="camera")
    hw = [n for n in g.nodes if n.op is OpKind.HW_BLOCK]
    assert len(hw) == 1 and hw[0].module_path == "isp" and hw[0].attrs["block"] == "tiny-isp"
    assert hw[0].attrs["cost"]["cycles"] == 2 * 16 * 16 and hw[0].outputs[0].shape == (2, 3, 16, 16)
    assert not any(n.attrs.get("fn") == "tanh" for n in g.nodes)       # not traced through
    conv = next(n for n in g.nodes if n.op is OpKind.CONV)
    assert conv.inputs[0].producer == hw[0].name
    assert isinstance(model.isp, TinyIsp)                              # the user's model is restored
    from chiplab import estimate
    est = estimate(g, "systolic-128")
    row = next(r for r in est.layers if r.op == "hw_block")
    assert row.latency_s == pytest.approx(512 / 5e8) and row.energy_j == pytest.approx(512e-12)
