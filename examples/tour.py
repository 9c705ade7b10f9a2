"""A five-minute tour of chiplab (CI runs this file).

1. capture an unmodified PyTorch model to chiplab's IR (on the meta device: no weights);
2. estimate it on a described chip, layer by layer, and see what bounds each layer;
3. compare chips side by side;
4. describe your own chip in a few lines and sweep one parameter;
5. price a fixed-function hardware block on the same bill as the network.
"""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402

import chiplab  # noqa: E402
from chiplab.capture import build, capture  # noqa: E402
from chiplab.hwblock import HwCost  # noqa: E402

torch.set_num_threads(1)

# 1. capture: ResNet-18 from torchvision, built on the meta device
model, inputs = build("resnet18", batch=4)
graph = capture(model, inputs, name="resnet18", batch=4)
conv = next(n for n in graph.nodes if n.module_path == "layer2.0.conv1")
print(f"captured {len(graph)} nodes, {graph.macs / 1e9:.2f} GMACs; e.g. {conv.module_path} at {conv.source}: "
      f"{conv.gemm}")

# 2. estimate on TPU v1 (a preset: a data file citing its sources)
est = chiplab.estimate(graph, "tpu-v1")
tot = est.total()
print(f"tpu-v1: {tot['latency_s'] * 1e3:.3f} ms per batch of 4, {tot['throughput_per_s']:.0f} images/s, "
      f"utilization {tot['utilization']:.1%}, {tot['energy_per_inference_j'] * 1e3:.2f} mJ/image")
df = est.to_dataframe()
print(df.groupby("bound").latency_s.sum().sort_values(ascending=False).to_string())

# 3. compare chips on the same captured graph
for chip in ("tpu-v1", "systolic-128", "systolic-32"):
    e = chiplab.estimate(graph, chip)
    print(f"{chip:14s} {e.latency_s * 1e3:8.3f} ms  util {e.utilization:6.1%}  {e.energy_per_inference_j * 1e3:7.2f} mJ")

# 4. your own chip: start from a preset and change the structure (Python floats are SI units)
base = chiplab.load_chip("systolic-128")
for rows in (32, 64, 128, 256):
    chip = base.model_copy(update={"name": f"sys-{rows}", "arch": base.arch.model_copy(update={"rows": rows, "cols": rows})})
    e = chiplab.estimate(graph, chip)
    print(f"{rows:4d}x{rows:<4d} array: {e.latency_s * 1e3:8.3f} ms, utilization {e.utilization:6.1%}")


# 5. a fixed-function block (here a toy camera ISP) is one node priced by its own model
class ToyIsp(nn.Module):
    hw_block_name = "toy-isp"

    def forward(self, raw):
        return raw.repeat(1, 3, 1, 1)

    def hw_cost(self, input_shapes):
        b, _, h, w = input_shapes[0]
        return HwCost(cycles=b * h * w / 2, clock_hz=6e8, energy_j=b * h * w * 2e-12)   # 2 pixels/clock


class Camera(nn.Module):
    def __init__(self):
        super().__init__()
        self.isp = ToyIsp()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2), nn.ReLU(), nn.Flatten(), nn.LazyLinear(10))

    def forward(self, raw):
        return self.net(self.isp(raw))


cam = Camera()
cam(torch.randn(1, 1, 64, 64))   # materialise the lazy layer
e = chiplab.estimate(capture(cam, (torch.randn(1, 1, 64, 64),), name="camera"), "systolic-32")
isp_row = next(r for r in e.layers if r.op == "hw_block")
print(f"camera pipeline on one bill: ISP {isp_row.latency_s * 1e6:.1f} us of {e.latency_s * 1e6:.1f} us total")
