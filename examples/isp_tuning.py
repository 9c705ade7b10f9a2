"""The ISP as a trainable, priced graph node (about 20 s on one CPU thread).

1. make RAW from a photo that ships with scikit-image (unprocessing, Brooks et al. 2019),
   darken it and add sensor noise;
2. develop it with the expert ISP (the exact inverse), then tune the ISP by gradient for
   PSNR against the clean image;
3. put the ISP in front of a small network and price both on one bill.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from skimage import data, filters, transform  # noqa: E402
from torch import nn  # noqa: E402

import chiplab  # noqa: E402
from chiplab.capture import capture  # noqa: E402
from chiplab.diff.isp import Isp, IspParams, NoiseModel, low_light, psnr, unprocess  # noqa: E402

torch.set_num_threads(1)
img = transform.resize(data.coffee().astype(np.float32) / 255, (128, 192), anti_aliasing=True)
img = filters.gaussian(img, sigma=1.0, channel_axis=-1)
srgb = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float().clamp(0, 1)

exposure = 1 / 8
raw = NoiseModel.add(low_light(unprocess(srgb), exposure), shot=4e-3, read=2e-5, generator=torch.Generator().manual_seed(0))
isp = Isp(IspParams(digital_gain=1 / exposure), gates={"denoise": 0.5, "sharpen": 0.5})
with torch.no_grad():
    print(f"expert ISP on the noisy low-light RAW: {float(psnr(isp(raw), srgb)):.2f} dB")

tuned = [p for n, p in isp.named_parameters() if n.startswith(("denoise", "sharpen", "gate_logits", "gamma"))]
opt = torch.optim.Adam(tuned, lr=0.05)
for step in range(60):
    loss = -psnr(isp(raw), srgb)
    opt.zero_grad()
    loss.backward()
    opt.step()
with torch.no_grad():
    print(f"after 60 gradient steps on the ISP's denoise/sharpen/gamma/gates: {float(psnr(isp(raw), srgb)):.2f} dB "
          f"(denoise gate {float(isp.gate('denoise')):.2f}, strength {float(torch.sigmoid(isp.denoise.strength_logit)):.2f})")


class Camera(nn.Module):
    def __init__(self, isp):
        super().__init__()
        self.isp = isp
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                 nn.Linear(16, 10))

    def forward(self, raw):
        return self.net(self.isp(raw))


est = chiplab.estimate(capture(Camera(isp), (raw,), name="camera"), "tesla-fsd-npu")
for r in est.layers:
    if r.op in ("hw_block", "conv"):
        print(f"  {r.name:8s} {r.op:9s} {r.latency_s * 1e6:8.1f} us {r.energy_j * 1e6:8.2f} uJ")
print(f"camera + network on tesla-fsd-npu: {est.latency_s * 1e6:.1f} us, {est.energy_j * 1e6:.1f} uJ per frame")
