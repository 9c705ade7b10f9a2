"""Repro bundle: everything needed to reproduce a debugger finding with one command.

    DIR/model.pt2        torch.export program of the model (the graph of record; when export fails
                         the reason is written to DIR/export_error.txt)
    DIR/model.pt         the model itself (torch.save), used to re-run when no factory is given
    DIR/factory.json     optional: {"factory": "module:function" or workload name} + state_dict.pt
    DIR/inputs.pt        inputs (and calibration batches, if any)
    DIR/chip.yaml        the chip's numerics (NumericsSpec dump), name and per-layer overrides
    DIR/finding.json     the report being reproduced
    DIR/README.txt       the command: python -m chiplab.debugger.repro DIR
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
import yaml

from chiplab.emu.spec import MatmulNumerics, NumericsSpec


def write_bundle(directory: str | Path, model: torch.nn.Module, inputs: tuple, numerics: NumericsSpec, chip_name: str,
                 overrides: Mapping[str, Any], report, *, factory: str | None = None, calibration: Any = None,
                 observer: str | None = None, fold_bn: bool = True) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    try:
        ep = torch.export.export(model.eval(), inputs)
        torch.export.save(ep, d / "model.pt2")
    except Exception as e:  # noqa: BLE001 - export is best effort; the reason is kept
        (d / "export_error.txt").write_text(f"{type(e).__name__}: {e}\n")
    if factory is not None:
        (d / "factory.json").write_text(json.dumps({"factory": factory}))
        torch.save(model.state_dict(), d / "state_dict.pt")
    else:
        torch.save(model, d / "model.pt")
    torch.save({"inputs": inputs, "calibration": calibration}, d / "inputs.pt")
    ov = {p: (v if isinstance(v, str) else v.model_dump()) for p, v in overrides.items()}
    chip = {"name": chip_name, "numerics": numerics.model_dump(mode="json"), "overrides": ov, "observer": observer,
            "fold_bn": fold_bn}
    (d / "chip.yaml").write_text(yaml.safe_dump(chip, sort_keys=False))
    (d / "finding.json").write_text(report.to_json())
    (d / "README.txt").write_text(f"Reproduce: python -m chiplab.debugger.repro {d}\n")
    return d


def load_bundle(directory: str | Path) -> dict:
    """Read a bundle back: model, inputs, calibration, numerics, overrides, finding."""
    d = Path(directory)
    if not (d / "chip.yaml").exists():
        raise FileNotFoundError(f"{d}: not a repro bundle (no chip.yaml)")
    chip = yaml.safe_load((d / "chip.yaml").read_text())
    numerics = NumericsSpec.model_validate(chip["numerics"])
    overrides = {p: (v if isinstance(v, str) else MatmulNumerics.model_validate(v)) for p, v in (chip.get("overrides") or {}).items()}
    if (d / "factory.json").exists():
        ref = json.loads((d / "factory.json").read_text())["factory"]
        model = _build(ref)
        model.load_state_dict(torch.load(d / "state_dict.pt"))
    else:
        model = torch.load(d / "model.pt", weights_only=False)
    data = torch.load(d / "inputs.pt", weights_only=False)
    finding = json.loads((d / "finding.json").read_text())
    return {"model": model.eval(), "inputs": data["inputs"], "calibration": data["calibration"], "numerics": numerics,
            "overrides": overrides, "finding": finding, "observer": chip.get("observer"), "name": chip.get("name"),
            "fold_bn": chip.get("fold_bn", True)}


def _build(ref: str) -> torch.nn.Module:
    if ":" in ref and not ref.endswith(".py") and "/" not in ref.split(":")[0] and not ref.split(":")[0].endswith(".py"):
        import importlib
        mod, fn = ref.split(":", 1)
        return getattr(importlib.import_module(mod), fn)()
    try:
        from chiplab.capture.workloads import build   # the workload registry (names, file.py:factory)
    except ImportError:
        build = None
    if build is not None:
        return build(ref, batch=1, device="cpu")[0]
    import torchvision
    if hasattr(torchvision.models, ref):
        return getattr(torchvision.models, ref)(weights=None)
    raise ValueError(f"factory: cannot rebuild model {ref!r} (no workload registry, not a torchvision model)")
