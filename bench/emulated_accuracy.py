"""Real accuracy under each preset's numerics: models trained here, on data installed packages ship.

* digits: scikit-learn's 8x8 handwritten digits (1797 images, 10 classes), small CNN.
* textures: 24x24 grayscale patches of 8 scikit-image sample images (brick, grass, gravel,
  camera, moon, coins, clock, cell); classify which image a patch comes from. Training patches
  come from the left 60 % of each image, test patches from the right 40 % (no overlap).

Each model is trained in fp32 (seeded, one thread), then evaluated in fp32 and with the
numerics of every numerics preset and every chip preset (activation ranges calibrated on 256
training samples with the min/max observer). Prints a table of top-1 accuracy (%).

    OMP_NUM_THREADS=1 python bench/emulated_accuracy.py [--json out/accuracy.json]
"""
from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

from chiplab.emu import Emulator  # noqa: E402

NUMERICS = ["int8", "fp8", "bf16", "fp16", "int4", "mxint8", "mxfp8", "mxfp6", "mxfp4"]


def digits_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target)
    xtr, xte, ytr, yte = train_test_split(x, y, test_size=0.3, random_state=0, stratify=y)
    return xtr, ytr, xte, yte


def texture_data(per_class: int = 300, size: int = 24):
    import skimage.data as sd

    names = ["brick", "grass", "gravel", "camera", "moon", "coins", "clock", "cell"]
    rng = np.random.default_rng(0)
    sets = {"train": ([], []), "test": ([], [])}
    for label, n in enumerate(names):
        im = getattr(sd, n)().astype(np.float32) / 255.0
        h, w = im.shape
        cut = int(w * 0.6)
        for split, (lo, hi), k in (("train", (0, cut - size), per_class), ("test", (cut, w - size), per_class // 3)):
            ys, xs = rng.integers(0, h - size, k), rng.integers(lo, hi, k)
            sets[split][0].extend(im[a:a + size, b:b + size] for a, b in zip(ys, xs))
            sets[split][1].extend([label] * k)
    out = []
    for split in ("train", "test"):
        x = torch.tensor(np.stack(sets[split][0])).unsqueeze(1)
        out += [(x - 0.5) / 0.25, torch.tensor(sets[split][1])]
    return out


def digits_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(32, 10))


def texture_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(32, 8))


def train(model: nn.Module, x, y, epochs: int, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
    return model.eval()


def top1(fn, x, y) -> float:
    with torch.no_grad():
        return 100.0 * float((fn(x).argmax(1) == y).float().mean())


def evaluate(model, xtr, xte, yte, chips) -> dict:
    res = {"fp32": top1(model, xte, yte)}
    calib = xtr[:256]
    for c in chips:
        res[c] = top1(Emulator(model, c, calib), xte, yte)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    torch.set_num_threads(1)
    try:
        from chiplab.hw import list_presets
        chip_presets = list(list_presets())
    except ImportError:
        chip_presets = []
    chips = NUMERICS + [c for c in chip_presets if c not in NUMERICS]
    results = {}
    torch.manual_seed(0)
    xtr, ytr, xte, yte = digits_data()
    results["digits"] = evaluate(train(digits_net(), xtr, ytr, 30), xtr, xte, yte, chips)
    torch.manual_seed(0)
    xtr, ytr, xte, yte = texture_data()
    results["textures"] = evaluate(train(texture_net(), xtr, ytr, 15), xtr, xte, yte, chips)
    cols = ["fp32"] + chips
    print(f"{'top-1 %':10s}" + "".join(f"{c:>13s}" for c in cols))
    for task, r in results.items():
        print(f"{task:10s}" + "".join(f"{r[c]:13.1f}" for c in cols))
    if a.json:
        os.makedirs(os.path.dirname(a.json) or ".", exist_ok=True)
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
