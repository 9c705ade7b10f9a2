"""Emulator: accumulator semantics vs hand-computed cases, exact vs fast path, fallbacks, errors."""
import pytest
import torch
import torch.nn as nn

from chiplab.emu import AccumulatorNumerics, Emulator, MatmulNumerics, NumericsSpec, TensorNumerics, emulate
from chiplab.emu import reference as ref
from chiplab.emu.kernels import accumulate
from chiplab.emu.spec import default_numerics, preset_numerics
from chiplab.errors import ChiplabError
from chiplab.formats import FLOAT_FORMATS


def _acc(**kw):
    return AccumulatorNumerics(**kw)


@pytest.mark.parametrize("products,acc,expect", [
    ([100, 100], dict(width=8, overflow="wrap"), -56),                    # 200 wraps to 200-256
    ([100, 100], dict(width=8, overflow="saturate"), 127),
    ([-100, -100], dict(width=8, overflow="saturate"), -128),
    # saturation depends on chunk order: forward 100+100 -> 127, -50 -> 77; reverse -50+100 = 50, +100 = 127
    ([100, 100, -50], dict(width=8, overflow="saturate", chunk=1, order="forward"), 77),
    ([100, 100, -50], dict(width=8, overflow="saturate", chunk=1, order="reverse"), 127),
    # pairwise: (100+100)->127, then 127 + (-50) -> 77
    ([100, 100, -50], dict(width=8, overflow="saturate", chunk=1, order="pairwise"), 77),
    # chunks of 2 summed exactly: [100+100=200 -> sat 127], [-50]; forward 127-50 = 77
    ([100, 100, -50], dict(width=8, overflow="saturate", chunk=2), 77),
    # one chunk: 150 exactly, then saturate once
    ([100, 100, -50], dict(width=8, overflow="saturate", chunk=0), 127),
    # wrap is order-independent
    ([100, 100, -50], dict(width=8, overflow="wrap", chunk=1, order="reverse"), 150 - 256),
])
def test_int_accumulator_hand_cases(products, acc, expect):
    a = _acc(**acc)
    assert ref.accumulate(products, a) == expect
    size = a.chunk or len(products)
    parts = torch.tensor([sum(products[i:i + size]) for i in range(0, len(products), size)])
    assert int(accumulate(parts.reshape(1, -1), a)) == expect


def test_float_accumulator_chunk_order_hand_case():
    # fp16 accumulator: 2048 + 1 + 1 sequentially stays 2048 (ulp 2 at 2048, ties to even);
    # chunk 2 -> (2048+1) rounds to 2048, then +1 -> 2048; reverse: 1+1=2, +2048 = 2050
    a_fwd = _acc(format="fp16", chunk=1, order="forward")
    a_rev = _acc(format="fp16", chunk=1, order="reverse")
    p = torch.tensor([[2048.0, 1.0, 1.0]])
    assert float(accumulate(p, a_fwd)) == 2048.0 == ref.accumulate([2048.0, 1.0, 1.0], a_fwd, 0.0, FLOAT_FORMATS["fp16"])
    assert float(accumulate(p, a_rev)) == 2050.0 == ref.accumulate([2048.0, 1.0, 1.0], a_rev, 0.0, FLOAT_FORMATS["fp16"])


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False)
        self.relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 5)

    def forward(self, x):
        return self.fc(self.pool(self.relu(self.dw(self.conv(x)))).flatten(1))


@pytest.mark.parametrize("preset", ["int8", "fp8", "mxfp4", "int4"])
def test_fast_path_equals_exact_path(preset):
    m, x = Net().eval(), torch.randn(2, 3, 8, 8)
    emu = Emulator(m, preset, x)
    assert all(l.exact_fast for l in emu.layers.values() if l.op_class in ("conv", "linear"))
    fast = emu(x)
    for l in emu.layers.values():
        l.fast = False
    assert torch.equal(emu(x), fast)


def test_int_layer_equals_reference_matmul_with_overflow():
    torch.manual_seed(3)
    lin = nn.Linear(16, 4)
    acc = _acc(width=16, overflow="saturate", chunk=4, order="reverse")
    mm = MatmulNumerics(weight=TensorNumerics(format="int8", granularity="per_channel"),
                        activation=TensorNumerics(format="int8", symmetric=False), accumulator=acc)
    x = torch.randn(3, 16) * 4
    emu = Emulator(nn.Sequential(lin), NumericsSpec(linear=mm), x)
    layer = emu.layers["0"]
    assert not layer.fast                                 # a 16-bit accumulator can overflow here
    y = emu(x)
    from chiplab.emu.kernels import act_quant
    xq = act_quant(x, mm.activation, layer.a_qp, -1).int().tolist()
    acc_ref = ref.int_matmul(xq, layer.w.int().tolist(), layer.bias_q.int().tolist(), acc)
    expect = torch.tensor(acc_ref, dtype=torch.float32) * layer.out_scale
    assert torch.equal(y, expect)
    assert layer.stats["acc_overflow_frac"] > 0


def test_fallbacks_reported_and_run_in_fp32():
    m = nn.Sequential(nn.Linear(4, 4), nn.Softmax(dim=-1))
    x = torch.randn(2, 4)
    n = default_numerics("int8").model_copy(update={"host": ("softmax",)})
    r = emulate(m, n, x)
    assert [f["layer"] for f in r.fallbacks] == ["1"]
    n2 = NumericsSpec(conv=default_numerics("int8").conv)            # no linear support
    r2 = emulate(m, n2, x)
    assert r2.fallbacks[0]["layer"] == "0" and "linear" in r2.fallbacks[0]["reason"]
    assert torch.equal(r2.output, m(x))                  # host fallback = fp32
    assert not torch.equal(emulate(m, "int8", x).output, m(x))
    r3 = emulate(nn.Sequential(nn.LSTMCell(4, 4)), "int8", x)
    assert "LSTMCell is not an op" in r3.fallbacks[0]["reason"]


def test_observers_and_presets_run():
    m, x = Net().eval(), torch.randn(4, 3, 8, 8)
    y = m(x)
    for obs in ("minmax", "percentile", "mse"):
        out = emulate(m, "int8", x, observer=obs).output
        assert 10 * torch.log10(y.pow(2).sum() / (out - y).pow(2).sum()) > 20
    assert emulate(m, preset_numerics("bf16"), x).output.shape == y.shape


def test_bad_input_errors():
    with pytest.raises(ChiplabError, match="inputs"):                  # was TypeError: now a ChiplabError
        emulate(Net(), "int8", [1, 2])
    with pytest.raises(ValueError, match="overrides: no module named 'nope'"):
        Emulator(Net(), "int8", torch.randn(1, 3, 8, 8), overrides={"nope": "host"})
    with pytest.raises(ValueError, match="accumulator.format"):
        MatmulNumerics(weight=TensorNumerics(format="int8"), activation=TensorNumerics(format="int8"),
                       accumulator=_acc(format="fp32"))
    with pytest.raises(ValueError, match="unknown number format"):
        TensorNumerics(format="int3")
    with pytest.raises(ChiplabError, match="chip"):
        emulate(Net(), "no-such-chip", torch.randn(1, 3, 8, 8))


def test_chip_spec_objects_accepted():
    from chiplab.hw import load_chip
    spec = load_chip("systolic-128")
    r = emulate(Net(), spec, torch.randn(1, 3, 8, 8))
    assert r.chip == "systolic-128" and r.layers


def test_split_fast_path_is_bit_exact_above_2_24():
    torch.manual_seed(1)
    m = nn.Sequential(nn.ReLU(), nn.Linear(4096, 8)).eval()
    x = torch.randn(4, 4096)
    emu = Emulator(m, "int8", x)
    layer = emu.layers["1"]
    assert layer.stats["acc_bound"] > 2 ** 24 and layer.split and layer.fast
    fast = emu(x)
    layer.fast = False
    assert torch.equal(emu(x), fast)


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x):
        out = self.conv(x)
        out += x * 1.001                      # functional ops, not modules
        return torch.relu(out)


def test_functional_ops_rounded_to_vector_format():
    m, x = Residual().eval(), torch.randn(2, 4, 6, 6)
    emu = Emulator(m, "bf16", x)
    y = emu(x)
    assert torch.equal(y, y.to(torch.bfloat16).float()) and emu.functional.count == 3
    emu.enable(set())                        # the fp32 reference run: no rounding at all
    assert torch.equal(emu(x), m(x))
    assert Emulator(m, "int8", x).functional is None        # fp32 vector unit: nothing to round


def test_batchnorm_folded_into_conv():
    import torchvision
    m = torchvision.models.resnet18(weights=None).eval()
    for mod in m.modules():                  # non-trivial BN statistics
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean.uniform_(-0.5, 0.5)
            mod.running_var.uniform_(0.5, 2.0)
    x = torch.randn(1, 3, 64, 64)
    emu = Emulator(m, "fp32", x)
    assert len(emu.folded) == 20 and ("conv1", "bn1") in emu.folded
    assert "bn1" not in emu.layers and isinstance(emu.model.bn1, nn.Identity) and isinstance(m.bn1, nn.BatchNorm2d)
    assert torch.allclose(emu(x), m(x), rtol=1e-4, atol=1e-4)
    assert len(Emulator(m, "fp32", x, fold_bn=False).folded) == 0


def test_observers_percentile_and_mse_clip_an_outlier():
    from chiplab.emu.observers import Observer
    x = torch.randn(100_000)
    x[0] = 500.0                                   # one outlier
    ranges = {}
    for obs in ("minmax", "percentile", "mse"):
        o = Observer(TensorNumerics(format="int8", observer=obs, percentile=99.9))
        o.update(x)
        ranges[obs] = float(o.range()[1])
    assert ranges["minmax"] == 500.0
    assert 2.5 < ranges["percentile"] < 4.0        # 99.9th percentile of N(0,1) is 3.09
    assert ranges["mse"] < 500.0


@pytest.mark.gpu
def test_cuda_emulation_matches_cpu():
    m, x = Net().eval(), torch.randn(2, 3, 8, 8)
    cpu = Emulator(m, "int8", x)(x)
    gpu = Emulator(m.cuda(), "int8", x.cuda())(x.cuda()).cpu()
    assert torch.allclose(cpu, gpu, rtol=1e-4, atol=1e-5)


def test_float_layer_chunked_fp16_accumulator_equals_reference():
    torch.manual_seed(5)
    lin = nn.Linear(12, 3)
    acc = _acc(format="fp16", chunk=1, order="forward")
    mm = MatmulNumerics(weight=TensorNumerics(format="bf16"), activation=TensorNumerics(format="bf16"), accumulator=acc)
    x = torch.randn(2, 12) * 30
    emu = Emulator(nn.Sequential(lin), NumericsSpec(linear=mm), x)
    layer = emu.layers["0"]
    assert not layer.fast
    y = emu(x)
    xb, wb = x.to(torch.bfloat16).float(), lin.weight.detach().to(torch.bfloat16).float()
    fp16 = FLOAT_FORMATS["fp16"]
    for n in range(2):
        for m in range(3):
            prods = [float(a) * float(b) for a, b in zip(xb[n], wb[m])]   # bf16 x bf16 is exact in fp32
            expect = torch.tensor(ref.accumulate(prods, acc, 0.0, fp16), dtype=torch.float32) + lin.bias[m].detach()
            assert float(y[n, m]) == float(expect)
