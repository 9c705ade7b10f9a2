"""Planted faults: the debugger must rank the planted layer first (seeded cases)."""
import pytest
import torch
import torch.nn as nn

from chiplab.debugger import debug
from chiplab.emu.spec import AccumulatorNumerics, MatmulNumerics, TensorNumerics, default_numerics

INT8 = default_numerics("int8")


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv_a, self.conv_b, self.relu = nn.Conv2d(c, c, 3, padding=1), nn.Conv2d(c, c, 3, padding=1), nn.ReLU()

    def forward(self, x):
        return self.relu(x + self.conv_b(self.relu(self.conv_a(x))))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem, self.conv1, self.conv2 = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 16, 3, padding=1), \
            nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.r1, self.r2, self.r3 = nn.ReLU(), nn.ReLU(), nn.ReLU()
        self.block = Block(32)
        self.pool, self.fc = nn.AdaptiveAvgPool2d(1), nn.Linear(32, 10)

    def forward(self, x):
        x = self.r3(self.conv2(self.r2(self.conv1(self.r1(self.stem(x))))))
        return self.fc(self.pool(self.block(x)).flatten(1))


def _setup(seed):
    torch.manual_seed(seed)
    return Net().eval(), torch.randn(8, 3, 16, 16)


def _plant_outlier(m, seed):
    """Make one input channel of the target 300x larger (function preserved in fp32 through ReLU)."""
    g = torch.Generator().manual_seed(seed)
    target, producer = [("conv1", m.stem), ("conv2", m.conv1)][seed % 2]
    c = int(torch.randint(16, (1,), generator=g))
    with torch.no_grad():
        producer.weight[c] *= 300.0
        producer.bias[c] *= 300.0
        getattr(m, target).weight[:, c] /= 300.0
    return target


LAYERS = ["stem", "conv1", "conv2", "block.conv_a", "block.conv_b", "fc"]


def _narrow():
    return MatmulNumerics(weight=TensorNumerics(format="int4"), activation=TensorNumerics(format="int4", symmetric=False))


def _narrow_acc():
    return INT8.conv.model_copy(update={"accumulator": AccumulatorNumerics(width=16, overflow="wrap")})


def _rank_first(rep, target):
    assert rep.culprits and rep.culprits[0] == target, (target, rep.culprits, rep.summary())


@pytest.mark.parametrize("seed", range(8))
def test_outlier_channel_per_tensor_int8(seed):
    m, x = _setup(seed)
    target = _plant_outlier(m, seed)
    assert torch.allclose(m(x), _setup(seed)[0](x), rtol=1e-3, atol=1e-4)     # fp32 function unchanged
    _rank_first(debug(m, INT8, x, fixes=False), target)


@pytest.mark.parametrize("seed", range(8))
def test_too_narrow_format(seed):
    m, x = _setup(seed)
    target = LAYERS[seed % 5]          # convs (the random-init fc output is mostly bias: int4 barely hurts it)
    _rank_first(debug(m, INT8, x, overrides={target: _narrow()}, fixes=False), target)


@pytest.mark.parametrize("seed", range(8))
def test_accumulator_overflow(seed):
    m, x = _setup(seed)
    target = LAYERS[1 + seed % 4]
    rep = debug(m, INT8, x, overrides={target: _narrow_acc()}, fixes=False)
    _rank_first(rep, target)
    assert rep.layer(target)["acc_overflow_frac"] > 0


@pytest.mark.parametrize("seed,fault", [(0, "acc"), (1, "narrow"), (2, "acc"), (3, "narrow")])
def test_hidden_by_residual(seed, fault):
    m, x = _setup(seed)
    with torch.no_grad():
        m.block.conv_b.weight *= 0.02             # the branch adds little to the skip path
        m.block.conv_b.bias *= 0.02
    target = ["block.conv_a", "block.conv_b"][seed % 2]
    clean = debug(m, INT8, x, fixes=False)
    ov = _narrow_acc() if fault == "acc" else _narrow()
    rep = debug(m, INT8, x, overrides={target: ov}, fixes=False)
    assert rep.final["sqnr_db"] > 25 and rep.final["sqnr_db"] > clean.final["sqnr_db"] - 6   # output looks healthy
    _rank_first(rep, target)
    assert rep.layer(target)["propagated"]["sqnr_db"] < clean.layer(target)["propagated"]["sqnr_db"] - 10


def test_resnet18_planted_layer_named_by_module_path():
    import torchvision
    torch.manual_seed(0)
    m = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(2, 3, 32, 32)
    rep = debug(m, "tpu-v1", x, overrides={"layer2.0.conv1": _narrow_acc()}, fixes=False)
    _rank_first(rep, "layer2.0.conv1")
