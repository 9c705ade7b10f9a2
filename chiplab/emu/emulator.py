"""Emulated execution of a PyTorch model with a chip's numerics, keyed by module path.

The user's model is deep-copied (its weights, parameters and train/eval mode are never
modified); in the copy every leaf module gets an :class:`~chiplab.emu.layers.EmuLayer` installed
as its ``forward`` (named by its module path, e.g. ``layer2.0.conv1``). ``nn.MultiheadAttention``
and transformers' ``Conv1D`` are rewritten first (:mod:`chiplab.emu.units`). An
:class:`~chiplab.emu.functional.EmuMode` is active around every forward: it routes functional
calls of a layer's weight (``F.linear(x, self.qkv.weight)``) to that layer and rounds functional
arithmetic outside leaf modules (``out += identity``, ``F.relu``) to the vector format when that is
not fp32, on full runs only (the debugger's subset runs attribute error to layers). Layers that
calibration never reaches (modules the forward does not call) are left out quietly
(``Emulator.unused``).
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

import torch
import torch.nn as nn
from torch.utils import _pytree as pytree

from chiplab.emu.fold import fold_batchnorm
from chiplab.emu.functional import EmuMode
from chiplab.emu.layers import EmuLayer, _clone, op_class  # noqa: F401  (_clone: used by the debugger)
from chiplab.emu.observers import Observer
from chiplab.emu.resolve import resolve_chip
from chiplab.emu.spec import MatmulNumerics, NumericsSpec
from chiplab.emu.units import rewrite
from chiplab.errors import ChiplabError

Override = MatmulNumerics | str   # a MatmulNumerics, or "host"


class EmulationError(ChiplabError):
    """Bad input to the emulator (inputs, overrides, observer), or a layer it cannot prepare (named)."""


class NonFiniteWarning(RuntimeWarning):
    """A layer of the emulated (or fp32 reference) run produced NaN or inf."""


def as_tuple(inputs: Any, what: str = "inputs") -> tuple:
    """A tuple of tensors; floating tensors other than fp32 (fp16, bf16, fp64) are cast to fp32,
    the emulator's working precision (the chip's formats are applied by the layers)."""
    if isinstance(inputs, torch.Tensor):
        inputs = (inputs,)
    if not (isinstance(inputs, (tuple, list)) and all(isinstance(t, torch.Tensor) for t in inputs)):
        raise EmulationError(f"{what}: expected a tensor or a tuple of tensors, got {type(inputs).__name__}")
    return tuple(t.float() if t.is_floating_point() and t.dtype != torch.float32 else t for t in inputs)


def check_finite(inputs: tuple, what: str = "inputs") -> None:
    """One-line error naming the first input that holds NaN or inf."""
    for i, t in enumerate(inputs):
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            n = int((~torch.isfinite(t)).sum())
            raise EmulationError(f"{what}[{i}]: {n} of {t.numel()} values are NaN or inf; the emulator needs finite inputs")


def _batches(calibration: Any) -> list[tuple]:
    if isinstance(calibration, torch.Tensor) or (isinstance(calibration, tuple) and calibration
                                                 and all(isinstance(t, torch.Tensor) for t in calibration)):
        return [as_tuple(calibration, "calibration")]
    if isinstance(calibration, Iterable):
        return [as_tuple(b, "calibration batch") for b in calibration]
    raise EmulationError(f"calibration: expected tensors or an iterable of batches, got {type(calibration).__name__}")


@contextlib.contextmanager
def eval_mode(model: nn.Module):
    """Put ``model`` in eval mode for the block, then restore every module's own train flag."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for m, t in flags:
            m.training = t


def leaves(out: Any) -> list[tuple[str, torch.Tensor]]:
    """(key path, tensor) for every floating tensor leaf of a pytree output (tuple, dict, ModelOutput)."""
    flat, _ = pytree.tree_flatten_with_path(out)
    return [(pytree.keystr(k) or "output", v) for k, v in flat if isinstance(v, torch.Tensor) and v.is_floating_point()]


def summarize(out: Any) -> dict:
    """Shape and mean of the output: one tensor as {shape, mean}, a pytree as {"leaves": {path: {...}}}."""
    if isinstance(out, torch.Tensor):
        return {"shape": list(out.shape), "mean": float(out.float().mean())}
    return {"leaves": {k: {"shape": list(v.shape), "mean": float(v.float().mean())} for k, v in leaves(out)}}


@dataclass
class EmulationResult:
    """What :func:`emulate` returns: the chip's output, where each layer ran, fallbacks, warnings."""

    output: Any
    chip: str
    layers: list[dict]
    fallbacks: list[dict] = field(default_factory=list)
    folded: list[tuple[str, str]] = field(default_factory=list)
    unused: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"chip": self.chip, "output": summarize(self.output), "warnings": self.warnings,
                "fallbacks": self.fallbacks, "unused_layers": self.unused,
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
            raise EmulationError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
        self.chip_name, self.numerics = resolve_chip(chip)
        if observer is not None:
            if observer not in ("minmax", "percentile", "mse"):
                raise EmulationError(f"observer: {observer!r} is not minmax, percentile or mse")
            self.numerics = _with_observer(self.numerics, observer)
        batches = _batches(calibration)
        if not batches:
            raise EmulationError("calibration: no batches given")
        for i, b in enumerate(batches):
            check_finite(b, "calibration" if len(batches) == 1 else f"calibration batch {i}: inputs")
        self.model = copy.deepcopy(model).eval()
        if any(p.is_floating_point() and p.dtype != torch.float32 for p in self.model.parameters()):
            self.model.float()                 # fp16/bf16 weights: fp32 working copy, the formats come from the chip
        self.folded: list[tuple[str, str]] = []
        self.fold_note = None
        if fold_bn:
            self.folded, self.fold_note = fold_batchnorm(self.model)
        self.fallbacks: list[dict] = rewrite(self.model)
        vec = self.numerics.vector.format
        self.mode = EmuMode(vec if vec != "fp32" and not self.numerics.on_host("elementwise") else None)
        self.layers: dict[str, EmuLayer] = {}
        self._build(overrides or {})
        for layer in self.layers.values():
            layer.mode = self.mode
            layer.module.forward = layer      # instance attribute: hooks keep working
        self.mode.by_weight = {id(l.module.weight): l for l in self.layers.values() if l.op_class in ("conv", "linear")}
        self._calibrate(batches)
        self.unused = [p for p, l in self.layers.items() if not l.reached]
        for p in self.unused:                 # never called in forward: nothing to emulate, nothing to report
            layer = self.layers.pop(p)
            del layer.module.forward
            self.mode.by_weight.pop(id(getattr(layer.module, "weight", None)), None)
        self.fallbacks = [f for f in self.fallbacks if f["layer"] not in self.unused]
        for p, layer in self.layers.items():
            try:
                layer.prepare()
            except ChiplabError as e:
                raise EmulationError(f"layer {p} ({type(layer.module).__name__}): {e}") from None
        self.functional_enabled = True
        self.nonfinite: str | None = None

    @property
    def functional(self) -> EmuMode | None:
        """The mode when it rounds functional ops (vector format not fp32), else None."""
        return self.mode if self.mode.fmt is not None else None

    # ------------------------------------------------------------ setup
    def _build(self, overrides: Mapping[str, Override]) -> None:
        known = {n for n, _ in self.model.named_modules()}
        for path in overrides:
            if path not in known:
                raise EmulationError(f"overrides: no module named {path!r} in the model")
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
                    raise EmulationError(f"overrides[{path!r}]: expected MatmulNumerics or 'host', got {ov!r}")
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
        self.mode.calibrating, self.mode.rounding = True, False
        try:
            with torch.no_grad(), self.mode:
                for b in batches:
                    self.model(*b)       # layers feed their observers and run fp32 reference arithmetic
        finally:
            self.mode.calibrating = False

    # ------------------------------------------------------------ running
    def enable(self, paths: Iterable[str] | None) -> None:
        """Emulate only ``paths`` (None: all layers); the rest run in fp32."""
        sel = None if paths is None else set(paths)
        self.functional_enabled = sel is None      # functional ops belong to no layer: on only for a full run
        for p, layer in self.layers.items():
            layer.enabled = sel is None or p in sel

    def __call__(self, *inputs: torch.Tensor) -> Any:
        inputs = as_tuple(inputs)
        mode = self.mode
        mode.rounding = mode.fmt is not None and self.functional_enabled
        mode.watch, mode.nonfinite = True, None
        try:
            with torch.no_grad(), mode:
                return self.model(*inputs)
        finally:
            mode.watch = False
            self.nonfinite = mode.nonfinite

    def run_capture(self, inputs: tuple, paths: Iterable[str], *, inputs_too: bool = False) -> tuple:
        """Run and record the outputs (and with ``inputs_too`` the inputs) of the named layers,
        whether they are called as modules or functionally: (output, outs[, ins])."""
        mode = self.mode
        mode.capture, mode.capture_out = set(paths), {}
        mode.capture_in = {} if inputs_too else None
        try:
            out = self(*inputs)
            got, got_in = mode.capture_out, mode.capture_in
        finally:
            mode.capture = mode.capture_in = mode.capture_out = None
        return (out, got, got_in) if inputs_too else (out, got)

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
    ``model`` is not modified (it is copied; its train/eval mode is kept). NaN/inf in ``inputs``
    is an error; NaN/inf appearing in a layer's output is a warning naming the first such layer.
    """
    inputs = as_tuple(inputs)
    check_finite(inputs)
    emu = Emulator(model, chip, calibration if calibration is not None else inputs, observer=observer,
                   overrides=overrides, fold_bn=fold_bn)
    out = emu(*inputs)
    notes = []
    if emu.nonfinite is not None:
        notes.append(nonfinite_warning(emu.nonfinite, "emulated"))
    return EmulationResult(out, emu.chip_name, emu.describe(), emu.fallbacks, emu.folded, emu.unused, notes)


def nonfinite_warning(path: str, run: str) -> str:
    """The warning for a run whose layer ``path`` was the first to output NaN/inf (also warned via ``warnings``)."""
    msg = f"layer {path}: output holds NaN or inf in the {run} run (first such layer)"
    warnings.warn(msg, NonFiniteWarning, stacklevel=3)
    return msg
