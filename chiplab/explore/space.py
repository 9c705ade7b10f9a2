"""Design-space files: a base chip, the parameters to vary, budgets, workloads, objectives.

    chiplab_space: 1
    name: edge
    base: systolic-32              # preset or chip file (relative to this file)
    node_nm: 28                    # process node, for area and cost
    parameters:                    # dotted chip fields; one of choices / int / float each
      arch.rows: {choices: [8, 16, 32, 64]}
      arch.ifmap_sram: {float: ["16 KiB", "2 MiB"], log: true}
      arch.clock: {int: [200000000, 1000000000], step: 100000000}
    tied: {vector.lanes: arch.cols}  # a field that follows a parameter
    constraints: {area_mm2: 20, power_w: 5, price_usd: 30}
    workloads: [{name: resnet50, weight: 1}, {name: mobilenet_v2, weight: 1, batch: 1}]
    objectives: [latency, energy]  # latency throughput energy edp perf_per_watt perf_per_dollar area
    search: {sampler: nsga2, trials: 200, seed: 0, batch: 50}

Strict like chip files: unknown and duplicate keys are refused with one line naming the field;
every parameter's bounds and choices are checked against the base chip through
:func:`chiplab.hw.edit.edit` when the file is read, so a bad value fails before any trial runs.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from chiplab.errors import ChiplabError
from chiplab.hw import ChipSpec, load_chip
from chiplab.hw.edit import EditError, edit

OBJECTIVES = {   # name -> direction
    "latency": "minimize", "throughput": "maximize", "energy": "minimize", "edp": "minimize",
    "perf_per_watt": "maximize", "perf_per_dollar": "maximize", "area": "minimize",
}


class SpaceFileError(ChiplabError):
    """A design-space file that cannot be read or does not validate. One line."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Param(_Strict):
    choices: list[Any] | None = None
    irange: tuple[Any, Any] | None = Field(default=None, alias="int")
    frange: tuple[Any, Any] | None = Field(default=None, alias="float")
    log: bool = False
    step: Any | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "Param":
        kinds = [k for k, f in (("choices", "choices"), ("int", "irange"), ("float", "frange")) if getattr(self, f) is not None]
        if len(kinds) != 1:
            raise ValueError(f"give exactly one of choices, int, float (got {', '.join(kinds) or 'none'})")
        if self.choices is not None and not self.choices:
            raise ValueError("choices: empty")
        return self


class Workload(_Strict):
    name: str
    weight: float = Field(default=1.0, gt=0)
    batch: int = Field(default=1, ge=1)
    seq_len: int | None = None


class Constraints(_Strict):
    area_mm2: float | None = Field(default=None, gt=0)
    power_w: float | None = Field(default=None, gt=0)
    price_usd: float | None = Field(default=None, gt=0)


class Search(_Strict):
    sampler: Literal["nsga2", "tpe", "random"] = "nsga2"
    trials: int = Field(default=100, ge=1)
    seed: int = 0
    batch: int = Field(default=32, ge=1)      # trials asked and told together
    population: int = Field(default=32, ge=2)  # NSGA-II population


class SpaceSpec(_Strict):
    chiplab_space: Literal[1]
    name: str = Field(min_length=1)
    description: str = ""
    base: str
    node_nm: float = Field(gt=0)
    overhead: float | None = Field(default=None, gt=0)   # area integration overhead; default: fitted
    parameters: dict[str, Param] = Field(min_length=1)
    tied: dict[str, str] = Field(default_factory=dict)
    constraints: Constraints = Constraints()
    workloads: list[Workload] = Field(min_length=1)
    objectives: list[str] = Field(min_length=1)
    search: Search = Search()

    @model_validator(mode="after")
    def _check(self) -> "SpaceSpec":
        for o in self.objectives:
            if o not in OBJECTIVES:
                raise ValueError(f"objectives: unknown {o!r} (known: {', '.join(OBJECTIVES)})")
        for k, v in self.tied.items():
            if v not in self.parameters:
                raise ValueError(f"tied.{k}: {v!r} is not a parameter")
        return self


class Space:
    """A loaded design space: the spec, its base chip, parameter bounds in SI units."""

    def __init__(self, spec: SpaceSpec, base: ChipSpec, origin: str = "space", root: Path | None = None) -> None:
        self.spec, self.base, self.origin, self.root = spec, base, origin, root
        self.bounds: dict[str, tuple[float, float]] = {}
        for path, p in spec.parameters.items():
            where = f"{origin}: parameters.{path}"
            values = p.choices if p.choices is not None else list(p.irange or p.frange)
            si = [self._si(path, v, where) for v in values]
            if p.choices is None:
                if not si[0] < si[1]:
                    raise SpaceFileError(f"{where}: lower bound {values[0]!r} is not below the upper {values[1]!r}")
                self.bounds[path] = (si[0], si[1])
        self.overhead = spec.overhead
        if self.overhead is None:
            from chiplab.hw.area import fitted_overhead

            self.overhead = fitted_overhead()

    def _si(self, path: str, value: Any, where: str) -> Any:
        try:
            chip = edit(self.base, {path: value, **{t: value for t, s in self.spec.tied.items() if s == path}})
        except EditError as e:
            raise SpaceFileError(f"{where}: {str(e).split(': ', 1)[-1]}") from None
        obj: Any = chip
        for part in path.split("."):
            obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
        return obj

    @property
    def name(self) -> str:
        return self.spec.name

    def workload_ref(self, name: str) -> str:
        """A workload name, or a file path taken relative to the space file."""
        if self.root is not None and (self.root / name.split(":")[0]).exists():
            return str(self.root / name)
        return name

    def directions(self) -> list[str]:
        return [OBJECTIVES[o] for o in self.spec.objectives]

    def suggest(self, trial) -> dict[str, Any]:
        """The parameters of one optuna trial (ask interface)."""
        out: dict[str, Any] = {}
        for path, p in self.spec.parameters.items():
            if p.choices is not None:
                out[path] = trial.suggest_categorical(path, p.choices)
            elif p.irange is not None:
                lo, hi = self.bounds[path]
                step = int(p.step) if p.step is not None else 1
                out[path] = trial.suggest_int(path, int(lo), int(hi), step=step, log=p.log)
            else:
                lo, hi = self.bounds[path]
                out[path] = trial.suggest_float(path, lo, hi, log=p.log)
        return out

    def chip(self, params: dict[str, Any], name: str | None = None) -> ChipSpec:
        """The base chip with ``params`` (and the tied fields) set, re-validated."""
        changes = dict(params)
        for t, src in self.spec.tied.items():
            changes[t] = params[src]
        return edit(self.base, changes, name=name or self.base.name,
                    cite=f"[A] design point of space {self.name!r} (chiplab explore)")


def parse_space(data: Any, origin: str = "space", root: Path | None = None) -> Space:
    from chiplab.hw.loader import ChipFileError, _format_error

    if not isinstance(data, dict):
        raise SpaceFileError(f"{origin}: expected a mapping at top level")
    if data.get("chiplab_space") != 1:
        raise SpaceFileError(f"{origin}: chiplab_space: missing or unsupported format version (write 'chiplab_space: 1')")
    try:
        spec = SpaceSpec.model_validate(data)
    except ValidationError as err:
        raise SpaceFileError(_format_error(err, origin)) from None
    base_ref = spec.base
    if root is not None and (root / base_ref).exists():
        base_ref = str(root / base_ref)
    try:
        base = load_chip(base_ref)
    except ChipFileError as e:
        raise SpaceFileError(f"{origin}: base: {e}") from None
    return Space(spec, base, origin, root)


def load_space(path: "str | Path") -> Space:
    from chiplab.hw.loader import ChipFileError, _StrictLoader

    p = Path(path)
    if not p.exists():
        raise SpaceFileError(f"{p}: no such design-space file")
    try:
        data = yaml.load(p.read_text(), Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except ChipFileError as e:
        raise SpaceFileError(f"{p}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        raise SpaceFileError(f"{p}:{f' line {mark.line + 1}' if mark else ''}: not valid YAML") from None
    return parse_space(data, origin=str(p), root=p.parent)
