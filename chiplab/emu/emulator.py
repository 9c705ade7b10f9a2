"""Emulated execution of a PyTorch model with a chip's numerics, keyed by module path.

The user's model is deep-copied; every leaf module gets an :class:`~chiplab.emu.layers.EmuLayer`
installed as its ``forward`` (named by its module path, e.g. ``layer2.0.conv1``). The original
model is never modified. Functional arithmetic outside leaf modules (``out += identity``,
``F.relu``) is rounded to the vector format when that is not fp32 (:mod:`chiplab.emu.functional`),
on full runs only (the debugger's subset runs attribute error to layers).
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import torch
import torch.nn as nn

from chiplab.emu.fold import fold_batchnorm
from chiplab.emu.functional import VectorRounding
from chiplab.emu.layers import EmuLayer, op_class
from chiplab.emu.observers import Observer
from chiplab.emu.resolve import resolve_chip
from chiplab.emu.spec import MatmulNumerics, NumericsSpec

Override = MatmulNumerics | str   # a MatmulNumerics, or "host"


def _clone(v: Any) -> Any:
    """Copy captured tensors: later in-place ops (ReLU(inplace=True)) would change them."""
    if isinstance(v, torch.Tensor):
        return v.detach().clone()
    if isinstance(v, (tuple, list)):
        return type(v)(_clone(t) for t in v)
    return v


def as_tuple(inputs: Any) -> tuple:
    if isinstance(inputs, torch.Tensor):
        return (inputs,)
    if isinstance(inputs, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in inputs):
        return tuple(inputs)
    raise TypeError(f"inputs: expected a tensor or a tuple of tensors, got {type(inputs).__name__}")


def _batches(calibration: Any) -> list[tuple]:
    if isinstance(calibration, torch.Tensor) or (isinstance(calibration, tuple) and calibration
                                                 and all(isinstance(t, torch.Tensor) for t in calibration)):
        return [as_tuple(calibration)]
    if isinstance(calibration, Iterable):
        return [as_tuple(b) for b in calibration]
    raise TypeError(f"calibration: expected tensors or an iterable of batches, got {type(calibration).__name__}")


@dataclass
class EmulationResult:
    """What :func:`emulate` returns: the chip's output, where each layer ran, and fallbacks."""

    output: Any
    chip: str
    layers: list[dict]
    fallbacks: list[dict] = field(default_factory=list)
    folded: list[tuple[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        out = self.output
        summary = {"shape": list(out.shape), "mean": float(out.float().mean())} if isinstance(out, torch.Tensor) else {}
        return {"chip": self.chip, "output": summary, "fallbacks": self.fallbacks,
                "folded_batchnorm": [{"conv": c, "bn": b} for c, b in self.folded], "layers": self.layers}


class Emulator:
    """A model prepared for a chip's numerics: calibrated once, run many times.

    ``fold_bn``: fold BatchNorm into the preceding conv first (as deployment compilers do).
    ``overrides`` maps module paths to a :class:`MatmulNumerics` or ``"host"`` (the debugger's
    fixes use this). ``observer`` replaces every activation observer (minmax|percentile|mse).
    """

    def __init__(self, model: nn.Module, chip: Any, calibration: Any, *, observer: str | None = None,
                 overrides: Mapping[str, Override] | None = None, fold_bn: bool = True):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        self.chip_name, self.numerics = resolve_chip(chip)
        if observer is not None:
            if observer not in ("minmax", "percentile", "mse"):
                raise ValueError(f"observer: {observer!r} is not minmax, percentile or mse")
            self.numerics = _with_observer(self.numerics, observer)
        self.reference = model.eval()
        self.model = copy.deepcopy(model).eval()
        self.folded: list[tuple[str, str]] = []
        self.fold_note = None
        if fold_bn:
            self.folded, self.fold_note = fold_batchnorm(self.model)
        self.layers: dict[str, EmuLayer] = {}
        self.fallbacks: list[dict] = []
        self._build(overrides or {})
        self._calibrate(_batches(calibration))
        for layer in self.layers.values():
            layer.prepare()
        for layer in self.layers.values():
            layer.module.forward = layer      # instance attribute: hooks keep working
        vec = self.numerics.vector.format
        self.functional = None
        if vec != "fp32" and not self.numerics.on_host("elementwise"):
            self.functional = VectorRounding(vec)
            for layer in self.layers.values():
                layer.mode = self.functional
        self.functional_enabled = True

    # ------------------------------------------------------------ setup
    def _build(self, overrides: Mapping[str, Override]) -> None:
        known = {n for n, _ in self.model.named_modules()}
        for path in overrides:
            if path not in known:
                raise ValueError(f"overrides: no module named {path!r} in the model")
        for path, mod in self.model.named_modules():
            if path == "" or any(True for _ in mod.children()):
                continue
            cls = op_class(mod)
            if cls is None:
                continue
            ov = overrides.get(path)
            if cls == "unknown":
                cfg, reason = None, f"{type(mod).__name__} is not an op the emulator models"
            elif ov == "host" or self.numerics.on_host(cls):
                cfg, reason = None, "forced to host" if ov == "host" else f"chip cannot run op class {cls!r}"
            elif cls in ("conv", "linear"):
                if isinstance(ov, MatmulNumerics):
                    cfg = ov
                elif ov is not None:
                    raise TypeError(f"overrides[{path!r}]: expected MatmulNumerics or 'host', got {ov!r}")
                else:
                    cfg = getattr(self.numerics, cls)
                reason = None
            else:
                cfg, reason = self.numerics.vector, None
            layer = EmuLayer(path, mod, cls, cfg)
            if reason is not None:
                self.fallbacks.append({"layer": path, "op": type(mod).__name__, "reason": reason + "; ran on host in fp32"})
            if isinstance(cfg, MatmulNumerics):
                layer.observer = Observer(cfg.activation)
            self.layers[path] = layer

    def _calibrate(self, batches: list[tuple]) -> None:
        if not batches:
            raise ValueError("calibration: no batches given")
        handles = []
        for layer in self.layers.values():
            if layer.observer is not None:
                handles.append(layer.module.register_forward_pre_hook(
                    lambda _m, args, obs=layer.observer: obs.update(args[0])))
        try:
            with torch.no_grad():
                for b in batches:
                    self.model(*b)       # forwards not installed yet: fp32 reference arithmetic
        finally:
            for h in handles:
                h.remove()

    # ------------------------------------------------------------ running
    def enable(self, paths: Iterable[str] | None) -> None:
        """Emulate only ``paths`` (None: all layers); the rest run in fp32."""
        sel = None if paths is None else set(paths)
        self.functional_enabled = sel is None      # functional ops belong to no layer: on only for a full run
        for p, layer in self.layers.items():
            layer.enabled = sel is None or p in sel

    def __call__(self, *inputs: torch.Tensor) -> Any:
        with torch.no_grad():
            if self.functional is not None and self.functional_enabled:
                with self.functional:
                    return self.model(*inputs)
            return self.model(*inputs)

    def run_capture(self, inputs: tuple, paths: Iterable[str]) -> tuple[Any, dict[str, torch.Tensor]]:
        """Run and record the outputs of the named layers."""
        got: dict[str, torch.Tensor] = {}
        handles = [self.layers[p].module.register_forward_hook(
            lambda _m, _a, out, p=p: got.__setitem__(p, _clone(out))) for p in paths]
        try:
            out = self(*inputs)
        finally:
            for h in handles:
                h.remove()
        return out, got

    def matrix_layers(self) -> list[str]:
        return [p for p, l in self.layers.items() if l.op_class in ("conv", "linear") and not l.on_host]

    def describe(self) -> list[dict]:
        return [l.describe() for l in self.layers.values()]


def _with_observer(n: NumericsSpec, observer: str) -> NumericsSpec:
    upd = {}
    for k in ("conv", "linear"):
        mm = getattr(n, k)
        if mm is not None:
            upd[k] = mm.model_copy(update={"activation": mm.activation.model_copy(update={"observer": observer})})
    return n.model_copy(update=upd)


def emulate(model: nn.Module, chip: Any, inputs: Any, *, calibration: Any = None, observer: str | None = None,
            overrides: Mapping[str, Override] | None = None, fold_bn: bool = True) -> EmulationResult:
    """Run ``model`` on ``inputs`` with the chip's arithmetic and return what the chip outputs.

    ``chip``: a preset name or chip-file path, a ChipSpec, or a NumericsSpec. ``calibration``:
    data for the activation observers (a batch or an iterable of batches; default: ``inputs``).
    """
    inputs = as_tuple(inputs)
    emu = Emulator(model, chip, calibration if calibration is not None else inputs, observer=observer,
                   overrides=overrides, fold_bn=fold_bn)
    out = emu(*inputs)
    return EmulationResult(out, emu.chip_name, emu.describe(), emu.fallbacks, emu.folded)


