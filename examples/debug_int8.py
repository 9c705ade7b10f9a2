"""Why does my model lose accuracy on an int8 chip? A worked debugger session (< 60 s, CPU).

A small CNN is trained on scikit-learn's digits. Its second conv then gets an input channel
with a 300x larger range (the fp32 function is unchanged: the producer's channel is scaled up,
the consumer's weights down). That is what a real outlier channel looks like to a per-tensor
int8 activation quantizer. `chiplab.debugger` finds it, proposes a fix, checks the fix, and
writes a repro bundle.

    OMP_NUM_THREADS=1 python examples/debug_int8.py
"""
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import torch  # noqa: E402

from chiplab.debugger import debug  # noqa: E402
from chiplab.emu import emulate  # noqa: E402
from emulated_accuracy import digits_data, digits_net, train  # noqa: E402

torch.set_num_threads(1)
torch.manual_seed(0)
xtr, ytr, xte, yte = digits_data()
model = train(digits_net(), xtr, ytr, epochs=15)

with torch.no_grad():                      # plant the outlier channel 5 at the input of layer "2"
    model[0].weight[5] *= 300.0
    model[0].bias[5] *= 300.0
    model[2].weight[:, 5] /= 300.0


def top1(out):
    return 100.0 * float((out.argmax(1) == yte).float().mean())


chip = "systolic-128"                      # an int8 chip preset
print(f"fp32 top-1 {top1(model(xte)):.1f} %, on {chip}: "
      f"{top1(emulate(model, chip, xte, calibration=xtr[:256]).output):.1f} %")
rep = debug(model, chip, xte, calibration=xtr[:256], metric=top1, bundle="out/debug_int8_bundle")
print(rep.summary())
for fix in rep.fixes:
    if "final_metric_after" in fix:
        print(f"{fix['layer']}: top-1 with the fix {fix['final_metric_before']:.1f} -> {fix['final_metric_after']:.1f} %")
    print(f"{fix['layer']}: tried " + ", ".join(f"{t['fix']} -> {t['isolated_db']} dB" for t in fix["tried"]))
