"""ChipSpec → a chip file (YAML) that the strict loader reads back: every quantity is
written with its SI unit (``"2.45e+09 Hz"``), so a calibrated or generated chip can be
saved, diffed and reloaded."""
from __future__ import annotations

import typing
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel

from chiplab.hw.quantity import Dim
from chiplab.hw.spec import ChipSpec


def _dim(annotation: Any) -> Dim | None:
    for arg in typing.get_args(annotation) or ():
        if isinstance(arg, Dim):
            return arg
        found = _dim(arg)
        if found is not None:
            return found
    meta = getattr(annotation, "__metadata__", ())
    return next((m for m in meta if isinstance(m, Dim)), None)


def _plain(model: BaseModel) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        v = getattr(model, name)
        if v is None or (name in ("threads",) and v is None):
            continue
        d = next((m for m in info.metadata if isinstance(m, Dim)), None) or _dim(info.annotation)
        if isinstance(v, BaseModel):
            out[name] = _plain(v)
        elif d is not None and isinstance(v, dict):
            out[name] = {k: f"{x:.6g} {d.unit}" for k, x in v.items()}
        elif d is not None and isinstance(v, (int, float)):
            out[name] = f"{v:.6g} {d.unit}"
        elif name == "mac" and isinstance(v, dict):
            out[name] = {k: f"{x:.6g} J" for k, x in v.items()}
        else:
            out[name] = v
    return out


def chip_to_dict(chip: ChipSpec) -> dict[str, Any]:
    d = _plain(chip)
    return {"chiplab_chip": d.pop("chiplab_chip"), **d}


def save_chip(chip: ChipSpec, path: str | Path, header: str = "") -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(chip_to_dict(chip), sort_keys=False, width=120)
    p.write_text("".join(f"# {line}\n" for line in header.splitlines()) + text)
    return p
