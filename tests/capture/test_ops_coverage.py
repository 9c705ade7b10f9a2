"""Ops beyond conv/linear/attention: MACs equal torch's FlopCounterMode (FLOPs / 2);
unsupported ops fail in one line or, when allowed, are priced as memory-bound."""
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from chiplab.capture import UnsupportedOpError, capture, load_graph
from chiplab.ir import OpKind


def _ref_macs(model, inputs):
    # oneDNN's fused LSTM kernel is invisible to FlopCounterMode: count the composite (per-step matmul) path
    with torch.backends.mkldnn.flags(enabled=False), FlopCounterMode(display=False) as fc, torch.no_grad():
        model(*inputs)
    return fc.get_total_flops() // 2


class Einsums(nn.Module):
    def forward(self, x, w, v):
        a = torch.einsum("bij,bjk->bik", x, x.transpose(1, 2))          # batched matmul
        b = torch.einsum("...ij,jk,kl->...il", x, w, v)                 # ellipsis, three operands
        return a.sum() + b.sum() + torch.einsum("bii->b", a).sum()      # one-operand trace: vector work


class Fn(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, *x):
        return self.fn(*x)


CASES = {
    "einsum": (Einsums(), (torch.randn(2, 5, 16), torch.randn(16, 3), torch.randn(3, 7))),
    "lstm": (nn.LSTM(16, 32, num_layers=2, batch_first=True, bidirectional=True), (torch.randn(2, 5, 16),)),
    "lstm_proj": (nn.LSTM(16, 32, proj_size=8), (torch.randn(5, 2, 16),)),
    "gru": (nn.GRU(16, 24, num_layers=2), (torch.randn(7, 3, 16),)),
    "rnn": (nn.RNN(8, 8, nonlinearity="relu", batch_first=True), (torch.randn(2, 4, 8),)),
    "depthwise": (nn.Conv2d(8, 8, 3, groups=8, padding=1), (torch.randn(2, 8, 10, 10),)),
    "grouped": (nn.Conv2d(8, 16, 3, groups=4, stride=2), (torch.randn(1, 8, 11, 11),)),
    "conv1d": (nn.Conv1d(4, 6, 5, groups=2, dilation=2), (torch.randn(3, 4, 20),)),
    "conv3d": (nn.Conv3d(2, 4, 3, stride=(1, 2, 2)), (torch.randn(1, 2, 6, 8, 8),)),
    "conv_transpose2d": (nn.ConvTranspose2d(4, 8, 3, stride=2, groups=2), (torch.randn(2, 4, 8, 8),)),
    "conv_transpose1d": (nn.ConvTranspose1d(4, 6, 4, stride=2), (torch.randn(1, 4, 9),)),
    "conv_transpose3d": (nn.ConvTranspose3d(2, 3, 2, stride=2), (torch.randn(1, 2, 3, 4, 4),)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_macs_match_flop_counter(name):
    model, inputs = CASES[name]
    g = capture(model.eval(), inputs, name=name)
    assert g.macs == _ref_macs(model, inputs) > 0


def test_rnn_is_unrolled_per_step():
    model, inputs = CASES["gru"]
    g = capture(model.eval(), inputs, name="gru")
    hh = [n for n in g.nodes if n.attrs.get("part") == "recurrent projection"]
    assert len(hh) == 2 and all(n.gemm.batch == 7 and n.gemm.M == 3 and n.attrs["sequential"] for n in hh)
    gates = [n for n in g.nodes if n.attrs.get("part") == "gates"]
    assert len(gates) == 2 and all(n.vector_ops > 0 for n in gates)


def test_embedding_bag_and_interpolate_are_priced():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.bag = nn.EmbeddingBag(100, 16, mode="mean")

        def forward(self, idx, offsets, img):
            up = nn.functional.interpolate(img, scale_factor=2, mode="bilinear")
            near = nn.functional.interpolate(img, scale_factor=2, mode="nearest")
            return self.bag(idx, offsets), up, near

    ins = (torch.randint(0, 100, (10,)), torch.tensor([0, 4]), torch.randn(1, 3, 8, 8))
    g = capture(M().eval(), ins)
    bag = [n for n in g.nodes if n.op is OpKind.EMBEDDING]
    assert len(bag) == 1 and bag[0].vector_ops == 10 * 16 and bag[0].outputs[0].shape == (2, 16)
    fns = {n.attrs.get("fn"): n for n in g.nodes}
    assert fns["upsample_bilinear2d"].vector_ops == 9 * 3 * 16 * 16
    assert fns["upsample_nearest2d"].op is OpKind.DATA_MOVEMENT


def test_unsupported_op_is_one_line_or_priced_as_memory_bound():
    model = Fn(lambda x: torch.linalg.det(x) * 2)
    with pytest.raises(UnsupportedOpError) as e:
        capture(model, (torch.randn(4, 3, 3),), name="m")
    msg = str(e.value)
    assert "\n" not in msg and "linalg_det" in msg and "test_ops_coverage.py:" in msg and "allow-unsupported" in msg
    g = capture(model, (torch.randn(4, 3, 3),), name="m", allow_unsupported=True)
    n = next(n for n in g.nodes if n.attrs.get("unsupported"))
    assert n.op is OpKind.DATA_MOVEMENT and n.input_bytes == 4 * 9 * 4
    assert any("linalg_det" in s and "memory-bound" in s for s in g.meta["notes"])


def test_hugging_face_causal_lm_captures_without_its_cache():
    import transformers as tf

    cfg = tf.GPT2Config(n_embd=32, n_layer=2, n_head=2, vocab_size=64, n_positions=32, bos_token_id=0,
                        eos_token_id=0)
    model = tf.GPT2LMHeadModel(cfg).eval()          # returns a DynamicCache unless use_cache=False
    g = capture(model, (torch.zeros(1, 8, dtype=torch.long),), name="tiny-gpt2")
    assert g.macs > 0 and any("use_cache=False" in s for s in g.meta["notes"])
    assert model.config.use_cache is True           # restored afterwards


@pytest.mark.parametrize("name,note", [("torchvision:ssdlite320_mobilenet_v3_large", "post-processing"),
                                       ("torchvision:lraspp_mobilenet_v3_large", None)])
def test_detection_and_segmentation_models(name, note, tmp_cache, capfd):
    import chiplab

    est = chiplab.estimate(name, "tpu-v1")
    assert est.macs > 1e8
    if note:
        assert any(note in s for s in est.notes)
    assert len(capfd.readouterr().err.splitlines()) < 20     # no graph dump from torch.export's logging


def test_two_stage_detector_says_why(tmp_cache):
    from chiplab.capture import WorkloadError

    with pytest.raises(WorkloadError, match="two-stage detectors"):
        load_graph("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
