"""Tune the ISP for a downstream task under low light and noise, three ways, side by side.

Data: 10 classes = patches of 10 scikit-image sample images (band-limited, like an optical
low-pass filter), turned into RAW by unprocessing (Brooks et al. 2019) with the exact inverse
kept as the expert ISP setting, then darkened (exposure 1/8, undone by the expert's digital
gain) and given shot-and-read noise. A small CNN is trained on the clean sRGB patches. Then:

  expert               the exact inverse parameters (no denoising: a human tuning for clean light)
  psnr_tuned           ISP parameters tuned by gradient for PSNR against the clean image
  task_tuned           ISP parameters tuned by gradient for the classifier's loss (differentiable ISP)
  task_blackbox        the same parameters tuned with the real ISP in the loop by optuna (TPE), no gradients
  task_proxy           tuned through a neural proxy trained to mimic the ISP, evaluated on the real ISP
  classifier_finetuned the classifier fine-tuned on the expert ISP's outputs
  joint                ISP and classifier tuned together

Each ISP-tuning method gets the same budget of ISP evaluations. Prints a table (mean ± std over
seeds) and, as its last line, one JSON object with the mean accuracies.

    OMP_NUM_THREADS=1 python bench/isp_task_tuning.py --quick     # 3 seeds, a couple of minutes
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

from chiplab.diff.isp import Isp, IspParams, NoiseModel, low_light, psnr, unprocess  # noqa: E402

IMAGES = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry", "retina",  # shipped: no download
          "colorwheel", "brick", "gravel"]
EXPOSURE = 1 / 8
TUNED = ("white_balance.log_digital_gain", "denoise.strength_logit", "denoise.log_sigma", "gamma.log_g",
         "sharpen.amount", "gate_logits.denoise", "gate_logits.sharpen")


def load_images(size: int) -> list[np.ndarray]:
    from skimage import data, filters, transform

    out = []
    for name in IMAGES:
        img = getattr(data, name)()
        if img.ndim == 2:
            img = np.stack([img] * 3, -1)
        img = img[..., :3].astype(np.float32) / (255.0 if img.dtype == np.uint8 else float(img.max()))
        img = transform.resize(img, (size, size), anti_aliasing=True)
        out.append(filters.gaussian(img, sigma=1.0, channel_axis=-1).clip(0, 1).astype(np.float32))
    return out


def patches(images, n_per_class, patch, rng) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for c, img in enumerate(images):
        H, W, _ = img.shape
        for _ in range(n_per_class):
            i, j = rng.integers(0, H - patch), rng.integers(0, W - patch)
            xs.append(img[i:i + patch, j:j + patch])
            ys.append(c)
    x = torch.from_numpy(np.stack(xs)).permute(0, 3, 1, 2).contiguous()
    return x, torch.tensor(ys)


def make_raw(srgb, params, gen) -> torch.Tensor:
    raw = low_light(unprocess(srgb, params), EXPOSURE)
    out = torch.empty_like(raw)
    noise = NoiseModel(shot_min=2e-3, shot_max=8e-3)
    for i in range(raw.shape[0]):
        shot, read = noise.sample(gen)
        out[i] = NoiseModel.add(raw[i:i + 1], shot, read, gen)[0]
    return out


class Net(nn.Module):
    def __init__(self, classes=10):
        super().__init__()
        self.f = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                               nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                               nn.Linear(32, classes))

    def forward(self, x):
        return self.f(x)


def train(net, x, y, steps, lr=3e-3, batch=64, gen=None, isp=None, raw=None, params=None):
    """Train ``params`` (default: the net's) on x (sRGB) or on isp(raw)."""
    opt = torch.optim.Adam(params if params is not None else net.parameters(), lr=lr)
    n = (raw if raw is not None else x).shape[0]
    for _ in range(steps):
        idx = torch.randint(0, n, (batch,), generator=gen)
        inp = isp(raw[idx]) if isp is not None else x[idx]
        loss = F.cross_entropy(net(inp), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


@torch.no_grad()
def accuracy(net, isp, raw, y) -> float:
    return float((net(isp(raw)).argmax(1) == y).float().mean())


def tuned_params(isp):
    named = dict(isp.named_parameters())
    return [named[k] for k in TUNED]


def freeze_all_but_tuned(isp):
    for n, p in isp.named_parameters():
        p.requires_grad_(n in TUNED)


def grad_tune(isp, loss_fn, raw, steps, gen, batch=64, lr=0.05):
    freeze_all_but_tuned(isp)
    opt = torch.optim.Adam(tuned_params(isp), lr=lr)
    for _ in range(steps):
        idx = torch.randint(0, raw.shape[0], (batch,), generator=gen)
        loss = loss_fn(isp(raw[idx]), idx)
        opt.zero_grad()
        loss.backward()
        opt.step()


def blackbox_tune(isp, net, raw, y, trials, seed, batch=64):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    base = {k: float(v.detach()) for k, v in zip(TUNED, tuned_params(isp))}
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randint(0, raw.shape[0], (batch * 2,), generator=gen)

    def set_params(vals):
        with torch.no_grad():
            for p, k in zip(tuned_params(isp), TUNED):
                p.fill_(vals[k])

    def objective(trial):
        vals = {k: trial.suggest_float(k, base[k] - 2.0, base[k] + 2.0) for k in TUNED}
        set_params(vals)
        with torch.no_grad():
            return float(F.cross_entropy(net(isp(raw[idx])), y[idx]))

    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=seed))
    study.enqueue_trial(base)
    study.optimize(objective, n_trials=trials)
    set_params(study.best_params)


class Proxy(nn.Module):
    """A CNN that mimics the ISP: (raw, tuned parameter values) -> sRGB."""

    def __init__(self, n_params):
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(1 + n_params, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3, padding=1),
                                 nn.ReLU(), nn.Conv2d(32, 3, 3, padding=1), nn.Sigmoid())

    def forward(self, raw, theta):
        t = theta.view(1, -1, 1, 1).expand(raw.shape[0], -1, *raw.shape[-2:])
        return self.net(torch.cat([raw, t], 1))


def proxy_tune(isp, net, raw, y, steps, gen, batch=32):
    freeze_all_but_tuned(isp)
    base = torch.stack([p.detach().clone() for p in tuned_params(isp)])
    proxy = Proxy(len(TUNED))
    opt = torch.optim.Adam(proxy.parameters(), lr=2e-3)
    for _ in range(steps * 3):                          # fit the proxy around the expert setting
        theta = base + torch.randn(len(TUNED), generator=gen)
        idx = torch.randint(0, raw.shape[0], (batch,), generator=gen)
        with torch.no_grad():
            for p, v in zip(tuned_params(isp), theta):
                p.fill_(float(v))
            target = isp(raw[idx])
        loss = F.mse_loss(proxy(raw[idx], theta), target)
        opt.zero_grad()
        loss.backward()
        opt.step()
    theta = base.clone().requires_grad_()
    opt = torch.optim.Adam([theta], lr=0.05)
    for _ in range(steps):
        idx = torch.randint(0, raw.shape[0], (batch,), generator=gen)
        loss = F.cross_entropy(net(proxy(raw[idx], theta)), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        for p, v in zip(tuned_params(isp), theta):
            p.fill_(float(v))


def run_seed(seed, images, args) -> dict[str, float]:
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    expert_params = IspParams(digital_gain=1 / EXPOSURE)   # the exact inverse, including the exposure
    x_tr, y_tr = patches(images, args.train, args.patch, rng)
    x_te, y_te = patches(images, args.test, args.patch, rng)
    params = IspParams()
    raw_tr, raw_te = make_raw(x_tr, params, gen), make_raw(x_te, params, gen)
    net = Net()
    train(net, x_tr, y_tr, args.net_steps, gen=gen)
    net.eval()
    for p in net.parameters():
        p.requires_grad_(False)

    def fresh():
        return Isp(expert_params, demosaic="malvar", gates={"denoise": 0.5, "sharpen": 0.5})

    res = {}
    res["clean"] = float((net(x_te).argmax(1) == y_te).float().mean())
    isp = fresh()
    res["expert"] = accuracy(net, isp, raw_te, y_te)

    isp = fresh()
    grad_tune(isp, lambda out, idx: -psnr(out, x_tr[idx]), raw_tr, args.budget, gen)
    res["psnr_tuned"] = accuracy(net, isp, raw_te, y_te)

    isp = fresh()
    grad_tune(isp, lambda out, idx: F.cross_entropy(net(out), y_tr[idx]), raw_tr, args.budget, gen)
    res["task_tuned"] = accuracy(net, isp, raw_te, y_te)

    isp = fresh()
    blackbox_tune(isp, net, raw_tr, y_tr, args.budget, seed)
    res["task_blackbox"] = accuracy(net, isp, raw_te, y_te)

    isp = fresh()
    proxy_tune(isp, net, raw_tr, y_tr, args.budget, gen)
    res["task_proxy"] = accuracy(net, isp, raw_te, y_te)

    isp = fresh()
    for p in isp.parameters():
        p.requires_grad_(False)
    ft = Net()
    ft.load_state_dict(net.state_dict())
    for p in ft.parameters():
        p.requires_grad_(True)
    ft.train()
    train(ft, None, y_tr, args.finetune_steps, lr=1e-3, gen=gen, isp=isp, raw=raw_tr)
    ft.eval()
    res["classifier_finetuned"] = accuracy(ft, isp, raw_te, y_te)

    isp = fresh()
    freeze_all_but_tuned(isp)
    jt = Net()
    jt.load_state_dict(net.state_dict())
    jt.train()
    train(jt, None, y_tr, args.finetune_steps, lr=1e-3, gen=gen, isp=isp, raw=raw_tr,
          params=list(jt.parameters()) + tuned_params(isp))
    jt.eval()
    res["joint"] = accuracy(jt, isp, raw_te, y_te)
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 seeds, fewer images (a couple of minutes)")
    ap.add_argument("--seeds", type=int, default=None)
    args = ap.parse_args()
    torch.set_num_threads(1)
    args.seeds = args.seeds or (3 if args.quick else 5)
    args.patch, args.train, args.test = 32, (40 if args.quick else 80), (30 if args.quick else 60)
    args.net_steps, args.budget, args.finetune_steps = (300 if args.quick else 600), (40 if args.quick else 80), \
        (150 if args.quick else 300)
    t0 = time.perf_counter()
    images = load_images(160)
    runs = []
    for s in range(args.seeds):
        r = run_seed(s, images, args)
        runs.append(r)
        print(f"seed {s}: " + ", ".join(f"{k} {v:.3f}" for k, v in r.items()), flush=True)
    keys = list(runs[0])
    print(f"\n{'condition':22s} {'accuracy (mean ± std over ' + str(args.seeds) + ' seeds)':>42s}")
    for k in keys:
        vals = [r[k] for r in runs]
        print(f"{k:22s} {statistics.mean(vals):>30.3f} ± {statistics.pstdev(vals):.3f}")
    beat = sum(r["task_tuned"] > r["expert"] for r in runs)
    print(f"task-tuned ISP beats the expert setting on {beat}/{len(runs)} seeds; "
          f"{time.perf_counter() - t0:.0f} s, one thread")
    out = {k: statistics.mean(r[k] for r in runs) for k in ("expert", "psnr_tuned", "task_tuned", "classifier_finetuned",
                                                           "joint", "task_blackbox", "task_proxy", "clean")}
    out["seeds"] = args.seeds
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
