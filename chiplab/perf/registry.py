"""Where architecture classes plug in: ``arch.kind`` → a performance model.

A performance model is built per (chip, options); it counts (one
:class:`~chiplab.perf.counts.Counts` per node, after a whole-graph ``plan`` such as
activation residency) and :func:`chiplab.perf.runner.run` prices the counts into one
:class:`~chiplab.perf.result.LayerEstimate` per node.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal, Protocol

from chiplab.errors import ChiplabError
from chiplab.hw.spec import ChipSpec
from chiplab.ir import Graph
from chiplab.perf.result import LayerEstimate


@dataclass(frozen=True)
class EstimateOptions:
    precision: str                      # resolved: the chip's native precision unless asked otherwise
    batch: int = 1
    compat: Literal["default", "scalesim"] = "default"
    host_transfers: bool = True         # charge graph inputs in and outputs out over the host link
    passes: tuple[str, ...] = ("fuse-epilogue", "fuse-residual")   # compiler passes (chiplab.perf.passes)


class PerfModel(Protocol):
    chip: ChipSpec
    options: EstimateOptions

    @property
    def clock_hz(self) -> float: ...

    @property
    def peak_macs_per_cycle(self) -> float: ...

    def run(self, graph: Graph) -> list[LayerEstimate]: ...


_MODELS: dict[str, Callable[[ChipSpec, EstimateOptions], PerfModel]] = {}


def register(kind: str) -> Callable:
    """Class decorator: ``@register("systolic")`` makes the class the model for that arch kind."""

    def deco(cls):
        _MODELS[kind] = cls
        return cls

    return deco


def model_for(chip: ChipSpec, options: EstimateOptions) -> PerfModel:
    _load_builtin_models()
    kind = chip.arch.kind
    if kind not in _MODELS:
        raise ChiplabError(f"{chip.name}: no performance model for arch kind {kind!r} (have {', '.join(sorted(_MODELS))})")
    return _MODELS[kind](chip, options)


def _load_builtin_models() -> None:
    import importlib
    import pkgutil

    import chiplab.perf as pkg

    for m in pkgutil.iter_modules(pkg.__path__):
        if m.name.startswith("arch_"):
            importlib.import_module(f"chiplab.perf.{m.name}")
