"""The Isp pipeline: unprocessing round trip, differentiable gates, noise, hardware cost,
and the ISP on the same bill as a network."""
import numpy as np
import pytest
import torch
from torch import nn

from chiplab.diff.isp import Isp, IspHardware, IspParams, NoiseModel, inverse_smoothstep, isp_hw_cost, psnr, unprocess
from chiplab.diff.isp.functional import smoothstep


def _astronaut(size=96, blur=1.5):
    from skimage import data, filters, transform

    img = transform.resize(data.astronaut().astype(np.float32) / 255, (size, size), anti_aliasing=True)
    if blur:
        img = filters.gaussian(img, sigma=blur, channel_axis=-1)
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().clamp(0, 1)


def test_inverse_smoothstep_inverts():
    y = torch.linspace(0, 1, 1001, dtype=torch.float64)
    torch.testing.assert_close(smoothstep(inverse_smoothstep(y)), y, atol=1e-12, rtol=0)


@pytest.mark.parametrize("pattern", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_unprocess_then_expert_isp_returns_the_image(pattern):
    """Band-limited input (sigma 1.5 px, like an optical low-pass filter): > 40 dB without noise.
    The loss that remains is demosaicing's; unblurred photos give ~28 dB (docs/isp.md)."""
    img = _astronaut()
    params = IspParams(pattern=pattern)
    with torch.no_grad():
        out = Isp(params, demosaic="malvar")(unprocess(img, params))
    c = slice(4, -4)
    assert float(psnr(out[..., c, c], img[..., c, c])) > 40.0


def test_gates_switch_stages_off_differentiably():
    img = _astronaut(48)
    raw = unprocess(img)
    on = Isp(sharpen=1.0)
    off = Isp(sharpen=1.0, gates={"sharpen": 1e-4})
    with torch.no_grad():
        assert (on(raw) - off(raw)).abs().max() > 1e-3
    out = off(raw)
    out.mean().backward()
    assert off.gate_logits["sharpen"].grad is not None and off.gate_logits["sharpen"].grad.abs() > 0
    with pytest.raises(ValueError, match="unknown gated stage"):
        Isp(gates={"demosaic": 0.5})


def test_noise_model_variance():
    g = torch.Generator().manual_seed(0)
    shot, read = NoiseModel().sample(g)
    assert 1e-4 <= shot <= 1.2e-2 and read > 0
    x = torch.full((1, 1, 200, 200), 0.5)
    noisy = NoiseModel.add(x, 0.01, 0.0004, g)
    assert float((noisy - x).var()) == pytest.approx(0.01 * 0.5 + 0.0004, rel=0.05)


def test_hw_cost_scales_with_pixels_and_rate():
    c1 = isp_hw_cost([(1, 1, 480, 640)])
    c2 = isp_hw_cost([(2, 1, 480, 640)])
    assert c2.energy_j == pytest.approx(2 * c1.energy_j)
    assert c2.cycles == pytest.approx(2 * c1.cycles)
    fast = isp_hw_cost([(1, 1, 480, 640)], hw=IspHardware(pixels_per_clock=4))
    assert fast.cycles < c1.cycles / 1.9
    assert c1.cycles >= 480 * 640 / 2                                    # never faster than its pixel rate
    # line buffers: Malvar's 5x5 needs 4 lines of 1 channel, denoise 5x5 4 lines of 3, sharpen 3x3 2 lines of 3
    from chiplab.diff.isp import line_buffer_bytes

    assert line_buffer_bytes(640) == (4 * 1 + 4 * 3 + 2 * 3) * 640 * 2
    with pytest.raises(ValueError, match="expected one RAW input"):
        isp_hw_cost([(1, 3, 8, 8)])


def test_isp_and_network_on_one_bill():
    import chiplab
    from chiplab.capture import capture

    class Camera(nn.Module):
        def __init__(self):
            super().__init__()
            self.isp = Isp()
            self.net = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 31 * 31, 10))

        def forward(self, raw):
            return self.net(self.isp(raw))

    g = capture(Camera(), (torch.rand(1, 1, 64, 64),), name="camera")
    est = chiplab.estimate(g, "systolic-32")
    isp_row = next(r for r in est.layers if r.op == "hw_block")
    assert isp_row.name == "isp"
    expect = isp_hw_cost([(1, 1, 64, 64)])
    assert isp_row.latency_s == pytest.approx(expect.latency_s) and isp_row.energy_j == pytest.approx(expect.energy_j)
    assert any(r.op == "conv" for r in est.layers) and est.latency_s > isp_row.latency_s
