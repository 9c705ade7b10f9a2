"""Joint hardware/model co-design (issue #15 item 6): a small CNN's per-layer channel widths and a
systolic chip's parameters optimised together by torch autograd, with an accuracy term.

* **The network**: :class:`CNN`, three 3x3 convolutions and a linear classifier, trained on
  scikit-learn's digits (8x8 images, 1,797 of them, shipped inside scikit-learn: nothing is
  downloaded). :class:`MaskedCNN` relaxes each layer's width FBNetV2-style (Wan et al., "FBNetV2:
  Differentiable Neural Architecture Search for Spatial and Channel Dimensions", CVPR 2020): the
  layer has its maximum width and a softmax over a few candidate widths; its output channels are
  multiplied by the mask ``sum_i p_i * [c < w_i]``, so the task loss and the *effective* width
  ``sum_i p_i * w_i`` are both differentiable in the logits.
* **The hardware**: :class:`JointProblem` prices the network with
  :class:`~chiplab.explore.relax.Relaxation` with its layer shapes given as tensors of the effective
  widths. Each captured quantity (GEMM ``M``, ``N``, ``K``, unique ifmap elements, bias bytes, MACs,
  each non-matrix layer's ops) is a monomial in the widths; its exponents are *measured* by
  capturing the network once at full width and once per layer with that layer's width halved
  (a quantity that is not a monomial is refused). What is not re-derived: which operands stay on
  chip between layers (the residency plan of the full-width network is kept while training; the
  snapped network is re-captured and priced exactly).
* **The objective**: ``cross-entropy + lam * mean over dataflows and starts of penalised(log EDP)``
  (:func:`~chiplab.explore.relax.penalised`: the space's area/power limits as quadratic penalties),
  Adam on network weights, width logits and hardware log-parameters together.
* **Snapping**: widths to the most probable candidate, the pruned network keeps the first channels
  and is fine-tuned; hardware rows are snapped to legal designs and verified by the exact model on
  the pruned network's captured graph (:func:`~chiplab.explore.relax.snap_and_verify`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from chiplab.explore.relax import (
    DT,
    RELAXED,
    SHAPE_KEYS,
    Relaxation,
    RelaxError,
    penalised,
    snap_and_verify,
)
from chiplab.explore.space import Space, parse_space

WORKLOAD = "digits_cnn"
MAX_WIDTHS = (16, 32, 32)
FRACTIONS = (0.25, 0.5, 0.75, 1.0)

# The hardware space: small arrays and buffers for an 8x8-image network (batch 1). The limits are
# this experiment's choices, set so that both bind on some designs of the space.
SPACE: dict[str, Any] = {
    "chiplab_space": 1, "name": "digits-joint", "base": "systolic-32", "node_nm": 28,
    "parameters": {
        "arch.rows": {"choices": [4, 8, 16, 32]}, "arch.cols": {"choices": [4, 8, 16, 32]},
        "arch.dataflow": {"choices": ["ws", "os", "is"]},
        "arch.ifmap_sram": {"choices": ["4 KiB", "16 KiB", "64 KiB"]},
        "arch.filter_sram": {"choices": ["4 KiB", "16 KiB", "64 KiB"]},
        "arch.ofmap_sram": {"choices": ["4 KiB", "16 KiB", "64 KiB"]},
        "arch.clock": {"choices": ["200 MHz", "500 MHz", "1 GHz"]},
        "memory.dram_bandwidth": {"float": ["1 GB/s", "16 GB/s"], "log": True},
    },
    "tied": {"vector.lanes": "arch.cols"},
    "constraints": {"area_mm2": 4.5, "power_w": 0.25},
    "workloads": [{"name": WORKLOAD}],
    "objectives": ["edp"],
}


def digits_space() -> Space:
    return parse_space(SPACE, origin="chiplab.explore.joint.SPACE")


def digits_split(seed: int, test_size: float = 0.25):
    """scikit-learn's digits (bundled with the package), pixels / 16, a stratified held-out split."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = torch.tensor(d.images / 16.0, dtype=torch.float32)[:, None]
    y = torch.tensor(d.target, dtype=torch.long)
    i_tr, i_te = train_test_split(range(len(y)), test_size=test_size, random_state=seed, stratify=d.target)
    return x[i_tr], y[i_tr], x[i_te], y[i_te]


class CNN(nn.Module):
    """conv3x3 -> relu -> conv3x3 -> relu -> maxpool2 -> conv3x3 -> relu -> mean -> linear(10)."""

    def __init__(self, widths: tuple[int, ...] = MAX_WIDTHS) -> None:
        super().__init__()
        w1, w2, w3 = widths
        self.widths = tuple(int(w) for w in widths)
        self.c1 = nn.Conv2d(1, w1, 3, padding=1)
        self.c2 = nn.Conv2d(w1, w2, 3, padding=1)
        self.c3 = nn.Conv2d(w2, w3, 3, padding=1)
        self.fc = nn.Linear(w3, 10)

    def masks(self) -> list[torch.Tensor | None]:
        return [None, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m1, m2, m3 = self.masks()
        x = _masked(torch.relu(self.c1(x)), m1)
        x = _masked(torch.relu(self.c2(x)), m2)
        x = torch.max_pool2d(x, 2)
        x = _masked(torch.relu(self.c3(x)), m3)
        return self.fc(x.mean((2, 3)))


def _masked(x: torch.Tensor, m: torch.Tensor | None) -> torch.Tensor:
    return x if m is None else x * m[None, :, None, None]


class MaskedCNN(CNN):
    """:class:`CNN` at its maximum widths with a soft channel mask per layer (FBNetV2)."""

    def __init__(self, widths: tuple[int, ...] = MAX_WIDTHS, fractions: tuple[float, ...] = FRACTIONS,
                 tau: float = 1.0) -> None:
        super().__init__(widths)
        self.cands = [[max(1, round(f * w)) for f in fractions] for w in self.widths]
        self.alpha = nn.Parameter(torch.zeros(len(self.widths), len(fractions)))
        self.tau = tau
        self.hard = False
        self.straight_through = False

    def probs(self) -> torch.Tensor:
        """[layers, candidates]: the softmax; with ``hard`` the one-hot argmax, with
        ``straight_through`` the one-hot argmax forward and the softmax's gradient backward."""
        if self.hard:
            return F.one_hot(self.alpha.argmax(1), self.alpha.shape[1]).to(self.alpha.dtype)
        soft = torch.softmax(self.alpha / self.tau, 1)
        if self.straight_through:
            one = F.one_hot(soft.argmax(1), soft.shape[1]).to(soft.dtype)
            return soft + (one - soft).detach()
        return soft

    def masks(self) -> list[torch.Tensor]:
        p = self.probs()
        out = []
        for j, (w, cands) in enumerate(zip(self.widths, self.cands)):
            keep = (torch.arange(w)[None, :] < torch.tensor(cands)[:, None]).to(p.dtype)    # [cands, w]
            out.append(p[j] @ keep)
        return out

    def effective_widths(self) -> torch.Tensor:
        """[layers]: ``sum_i p_i * w_i`` (the mask's sum), differentiable in the logits."""
        return (self.probs() * torch.tensor(self.cands, dtype=self.alpha.dtype)).sum(1)

    def snapped_widths(self) -> tuple[int, ...]:
        return tuple(c[int(i)] for c, i in zip(self.cands, self.alpha.argmax(1)))

    def pruned(self) -> CNN:
        """The plain network at the snapped widths, keeping each layer's first channels (the ones
        every candidate's mask keeps)."""
        w = self.snapped_widths()
        net = CNN(w)
        with torch.no_grad():
            pairs = [(net.c1, self.c1, 1, w[0]), (net.c2, self.c2, w[0], w[1]), (net.c3, self.c3, w[1], w[2])]
            for new, old, cin, cout in pairs:
                new.weight.copy_(old.weight[:cout, :cin])
                new.bias.copy_(old.bias[:cout])
            net.fc.weight.copy_(self.fc.weight[:, :w[2]])
            net.fc.bias.copy_(self.fc.bias)
        return net


def capture_graph(net: nn.Module):
    from chiplab.capture.torch_export import capture

    return capture(net.eval(), torch.zeros(1, 1, 8, 8), name=WORKLOAD)


@dataclass
class JointProblem:
    """The relaxation of ``space`` on the full-width network, and each captured shape's exponents in
    the per-layer widths (measured, see the module docstring)."""

    space: Space
    widths: tuple[int, ...] = MAX_WIDTHS
    rel: Relaxation = field(init=False)
    base: dict[str, torch.Tensor] = field(init=False)         # full-width values per key
    exps: dict[str, torch.Tensor] = field(init=False)         # [layers of the key, widths]

    def __post_init__(self) -> None:
        full = capture_graph(CNN(self.widths))
        self.rel = Relaxation(self.space, {WORKLOAD: full})
        wl = self.rel.workloads[0]
        self.base = {k: wl.mat[k] for k in SHAPE_KEYS} | {"vec": wl.vec["ops"]}
        cols: dict[str, list[torch.Tensor]] = {k: [] for k in self.base}
        for j, w in enumerate(self.widths):
            if w % 2:
                raise RelaxError(f"widths[{j}]: {w}: the exponents are measured at half width, give even widths")
            half = tuple(v // 2 if i == j else v for i, v in enumerate(self.widths))
            hw = self.rel._tabulate(WORKLOAD, 1.0, capture_graph(CNN(half)))
            for k in self.base:
                got = hw.mat[k] if k != "vec" else hw.vec["ops"]
                if got.shape != self.base[k].shape:
                    raise RelaxError(f"{WORKLOAD}: widths[{j}] halved changes the layers ({k})")
                cols[k].append(_exponent(self.base[k], got, f"{WORKLOAD}: {k} (width {j})"))
        self.exps = {k: torch.stack(c, 1) for k, c in cols.items()}

    def shapes(self, widths: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
        """The relaxation's ``shapes`` at continuous per-layer widths [layers]."""
        logr = torch.log(widths.to(DT) / torch.tensor(self.widths, dtype=DT))
        return {WORKLOAD: {k: self.base[k] * torch.exp(self.exps[k] @ logr) if k != "vec"
                           else torch.exp(self.exps[k] @ logr) for k in self.base}}

    def hardware_loss(self, xs: dict[str, torch.Tensor], widths: torch.Tensor) -> torch.Tensor:
        """Mean of :func:`penalised` over dataflows and rows of ``xs``."""
        sh = self.shapes(widths)
        return torch.stack([penalised(self.rel, self.rel.metrics(x, df, shapes=sh)).mean()
                            for df, x in xs.items()]).mean()


def _exponent(full: torch.Tensor, half: torch.Tensor, where: str) -> torch.Tensor:
    zero = (full == 0) & (half == 0)
    ratio = torch.where(zero, torch.ones_like(full), full / torch.where(half == 0, torch.ones_like(half), half))
    e = torch.log2(ratio)
    if ((half == 0) & ~zero).any() or not torch.allclose(e, e.round(), atol=1e-6):
        raise RelaxError(f"{where}: not a monomial in the widths (full/half ratios {ratio.tolist()})")
    return e.round()


def train(net: nn.Module, data, epochs: int, seed: int, lr: float = 3e-3, batch: int = 64,
          extra=None) -> None:
    """Adam on cross-entropy (plus ``extra(net)``, a scalar, when given) over the training split."""
    xtr, ytr = data[0], data[1]
    gen = torch.Generator().manual_seed(seed)
    params = [p for n, p in net.named_parameters() if n != "alpha"]
    opt = torch.optim.Adam(params, lr=lr)
    net.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(ytr), generator=gen).split(batch):
            loss = F.cross_entropy(net(xtr[idx]), ytr[idx])
            if extra is not None:
                loss = loss + extra(net)
            opt.zero_grad()
            loss.backward()
            opt.step()


def accuracy(net: nn.Module, data) -> float:
    net.eval()
    with torch.no_grad():
        return float((net(data[2]).argmax(1) == data[3]).float().mean())


@dataclass
class JointResult:
    widths: tuple[int, ...]
    net: CNN                               # pruned and fine-tuned
    rows: dict[str, torch.Tensor]          # hardware log-parameter rows per dataflow, after training
    history: list[tuple[float, float, list[float]]]   # per epoch: cross-entropy, hardware loss, widths


def joint_train(problem: JointProblem, data, seed: int, lam: float = 0.05, epochs: int = 12,
                finetune: int = 3, starts: int = 2, lr: float = 3e-3, lr_alpha: float = 0.05,
                lr_hw: float = 0.05, warmup: int = 1, batch: int = 64, tau: tuple[float, float] = (1.0, 0.1),
                hard_last: int = 0) -> JointResult:
    """Network weights, width logits and hardware rows (``starts`` per dataflow) trained together on
    ``cross-entropy + lam * hardware_loss``; the logits are frozen for the first ``warmup`` epochs,
    then the softmax temperature falls geometrically from ``tau[0]`` to ``tau[1]`` (so that the masks
    approach one candidate each, as FBNetV2's annealed Gumbel softmax does; no Gumbel noise here).
    For the last ``hard_last`` epochs the masks are straight-through one-hot (the network trains at
    the widths it will be snapped to; the logits still get the softmax's gradient).
    Then the widths are snapped, the pruned network fine-tuned ``finetune`` epochs (cross-entropy)."""
    torch.manual_seed(seed)
    net = MaskedCNN(problem.widths)
    rel = problem.rel
    gen = torch.Generator().manual_seed(seed)
    lo, hi = torch.tensor(rel.lo, dtype=DT), torch.tensor(rel.hi, dtype=DT)
    xs = {df: (lo + (hi - lo) * torch.rand(starts, len(RELAXED), generator=gen, dtype=DT)).requires_grad_()
          for df in rel.dataflows}
    weights = [p for n, p in net.named_parameters() if n != "alpha"]
    opt = torch.optim.Adam([{"params": weights, "lr": lr}, {"params": [net.alpha], "lr": lr_alpha},
                            {"params": list(xs.values()), "lr": lr_hw}])
    xtr, ytr = data[0], data[1]
    history = []
    for epoch in range(epochs):
        net.alpha.requires_grad_(epoch >= warmup)
        k = max(0, epoch - warmup) / max(1, epochs - warmup - 1)
        net.tau = tau[0] * (tau[1] / tau[0]) ** k
        net.straight_through = epoch >= epochs - hard_last
        net.train()
        ce_sum = hw_sum = 0.0
        n = 0
        for idx in torch.randperm(len(ytr), generator=gen).split(batch):
            ce = F.cross_entropy(net(xtr[idx]), ytr[idx])
            hw = problem.hardware_loss(xs, net.effective_widths())
            loss = ce + lam * hw.to(ce.dtype)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for x in xs.values():
                    x.copy_(torch.maximum(torch.minimum(x, hi), lo))
            ce_sum, hw_sum, n = ce_sum + float(ce.detach()), hw_sum + float(hw.detach()), n + 1
        history.append((ce_sum / n, hw_sum / n, [round(float(w), 2) for w in net.effective_widths().detach()]))
    pruned = net.pruned()
    train(pruned, data, finetune, seed + 1, lr=lr, batch=batch)
    return JointResult(net.snapped_widths(), pruned, {df: x.detach() for df, x in xs.items()}, history)


def price(space: Space, net: nn.Module, params: dict[str, Any]) -> dict[str, float]:
    """The exact metrics of ``net`` on the design ``params``: ``chiplab.estimate`` on the module."""
    import chiplab
    from chiplab.explore.evaluate import Evaluator

    chip = space.chip(params)
    est = chiplab.estimate(net.eval(), chip, inputs=torch.zeros(1, 1, 8, 8))
    return Evaluator(space, graphs={WORKLOAD: None}).metrics(chip, [est])


def best_hardware(space: Space, graph, rows: dict[str, torch.Tensor], budget: int):
    """Snap ``rows`` to legal designs, rank them by a relaxation of the captured ``graph`` and verify
    the best ``budget`` with the exact model; the best feasible ``(params, metrics)`` and the search."""
    from chiplab.explore.evaluate import Evaluator

    ev = Evaluator(space, graphs={WORKLOAD: graph}, fast=False)
    res = snap_and_verify(Relaxation(space, {WORKLOAD: graph}), ev, rows, budget)
    feas = res.feasible(ev)
    best = min(feas, key=lambda pm: pm[1]["edp"], default=None)
    return best, res


def edp_of(m: dict[str, float] | None) -> float:
    return m["edp"] if m is not None else math.inf
