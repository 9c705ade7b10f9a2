"""Functionally called layers (MHA's projections, F.linear with a module's weight), unused modules,
no-op and layout modules, pytree outputs: emulated quietly and correctly (issue 9, items 1, 2, 4)."""
import copy

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import StochasticDepth
from torchvision.ops.misc import Permute

from chiplab.debugger import debug
from chiplab.emu import Emulator, emulate
from chiplab.emu.units import rewrite


@pytest.mark.parametrize("batch_first", [True, False])
@pytest.mark.parametrize("kind", ["self", "cross", "kv", "masks", "weights"])
def test_mha_rewrite_equals_pytorch_in_fp32(batch_first, kind):
    torch.manual_seed(0)
    mha = nn.MultiheadAttention(16, 4, batch_first=batch_first).eval()
    new = copy.deepcopy(mha)
    rewrite(nn.Sequential(new))
    shape = (2, 5, 16) if batch_first else (5, 2, 16)
    q = torch.randn(shape)
    kv = torch.randn((2, 7, 16) if batch_first else (7, 2, 16))
    kw, args = {"need_weights": False}, (q, q, q)
    if kind == "cross":
        args = (q, kv, torch.randn_like(kv))
    elif kind == "kv":
        args = (q, kv, kv)
    elif kind == "masks":
        kw = {"attn_mask": torch.rand(5, 5) > 0.7, "key_padding_mask": torch.tensor([[False] * 4 + [True], [False] * 5]),
              "need_weights": False}
    elif kind == "weights":
        kw = {"need_weights": True, "average_attn_weights": False}
    with torch.no_grad():
        want = mha(*args, **kw)
        got = new(*args, **kw)
    torch.testing.assert_close(got[0], want[0], rtol=1e-5, atol=1e-5)
    if kind == "weights":
        torch.testing.assert_close(got[1], want[1], rtol=1e-5, atol=1e-5)


class Tiny(nn.Module):
    """MHA (out_proj called functionally by PyTorch), an unused layer, StochasticDepth, Permute,
    Dropout, Identity, a functional F.linear on a module's weight, and a dict output."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 16)
        self.attn = nn.MultiheadAttention(16, 4, batch_first=True)
        self.sd = StochasticDepth(0.1, "row")
        self.perm = Permute([0, 2, 1])
        self.drop = nn.Dropout(0.1)
        self.ident = nn.Identity()
        self.qkv = nn.Linear(16, 16)           # only called functionally, as torchvision's Swin does
        self.unused = nn.Linear(16, 3)         # never called in forward
        self.head = nn.Linear(16, 4)

    def forward(self, x):
        h = self.embed(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        h = h + self.sd(self.drop(a))
        h = F.linear(h, self.qkv.weight, self.qkv.bias)
        h = self.ident(self.perm(self.perm(h)))
        return {"logits": self.head(h.mean(1)), "hidden": h}


def _tiny():
    torch.manual_seed(0)
    return Tiny().eval(), torch.randn(4, 6, 8)


@pytest.mark.parametrize("chip", ["int8", "fp8"])
def test_tiny_mha_unused_stochastic_depth_dict_output(chip):
    m, x = _tiny()
    res = emulate(m, chip, x)
    assert res.fallbacks == [], res.fallbacks                 # no host-fallback lines for no-op/layout modules
    assert res.unused == ["unused"]
    paths = {l["layer"] for l in res.layers}
    assert {"attn.in_proj", "attn.out_proj", "qkv", "embed", "head"} <= paths
    assert set(res.output) == {"logits", "hidden"}
    d = res.to_dict()["output"]["leaves"]
    assert set(d) == {"['logits']", "['hidden']"} and d["['logits']"]["shape"] == [4, 4]
    with torch.no_grad():
        ref = m(x)
    err = (res.output["logits"] - ref["logits"]).abs().max()
    assert 0 < err < 0.1 * ref["logits"].abs().max()           # emulated (not fp32), and close


def test_functional_linear_is_emulated_like_a_module_call():
    """F.linear(x, self.qkv.weight, self.qkv.bias) gives the same result as calling self.qkv(x)."""
    class Mod(nn.Module):
        def __init__(self, functional):
            super().__init__()
            self.qkv, self.functional = nn.Linear(8, 8), functional

        def forward(self, x):
            return F.linear(x, self.qkv.weight, self.qkv.bias) if self.functional else self.qkv(x)

    torch.manual_seed(0)
    a = Mod(True)
    b = copy.deepcopy(a)
    b.functional = False
    x = torch.randn(5, 8)
    ya, yb = emulate(a, "int8", x).output, emulate(b, "int8", x).output
    assert torch.equal(ya, yb) and not torch.equal(ya, a(x))


def test_debug_names_functional_layers_and_compares_dict_leaves():
    m, x = _tiny()
    rep = debug(m, "int8", x, fixes=False)
    rows = {r["layer"] for r in rep.layers}
    assert {"attn.in_proj", "attn.out_proj", "qkv"} <= rows and "unused" not in rows
    assert set(rep.final["leaves"]) == {"['logits']", "['hidden']"}
    assert rep.unused == ["unused"] and rep.fallbacks == []


def test_layer_errors_name_the_module_path(monkeypatch):
    """A layer the emulator cannot prepare is named by its module path (here: observers get no data)."""
    from chiplab.emu.observers import Observer
    from chiplab.errors import ChiplabError

    monkeypatch.setattr(Observer, "update", lambda self, x: None)
    m, x = _tiny()
    with pytest.raises(ChiplabError, match=r"layer embed \(Linear\): observer: no calibration data"):
        Emulator(m, "int8", x)


def test_runtime_error_inside_a_layer_names_it():
    class Bad(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x):
            return self.fc(x[..., :3] if x.shape[0] == 2 else x)     # wrong width on the second call

    emu = Emulator(Bad(), "int8", torch.randn(1, 4))
    with pytest.raises(RuntimeError) as ei:
        emu(torch.randn(2, 4))
    assert "in emulated layer fc (Linear)" in "\n".join(getattr(ei.value, "__notes__", []))
