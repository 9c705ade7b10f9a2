"""Repro bundle: everything needed to reproduce a debugger finding with one command. Data, not code.

    DIR/state_dict.pt    the model's weights (a dict of tensors; read with ``weights_only=True``)
    DIR/inputs.pt        inputs and calibration batches (tensors only; ``weights_only=True``)
    DIR/model.json       how to rebuild the module: {"workload": a built-in workload or torchvision
                         model name, or null; "factory_hint": the file.py:factory it came from, shown
                         to the user and never run; "class": the module's class, for information}
    DIR/chip.yaml        the chip's numerics (NumericsSpec dump), name and per-layer overrides
    DIR/finding.json     the report being reproduced
    DIR/model.pt2        torch.export program of the model (the graph of record; when export fails
                         the reason is in DIR/export_error.txt). Loading it unpickles, so the repro
                         reads it only with ``--check-export`` (a bundle you trust).
    DIR/README.txt       the command: python -m chiplab.debugger.repro DIR [--factory file.py:fn]

Nothing in a bundle is executed: a model that is not a built-in workload is rebuilt only by a
factory the user names on the command line (``--factory``), never by a path read from the bundle.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import torch
import yaml

from chiplab.emu.emulator import eval_mode
from chiplab.emu.spec import MatmulNumerics, NumericsSpec
from chiplab.errors import ChiplabError


class BundleError(ChiplabError):
    """A repro bundle that cannot be written or read (the message names the file)."""


def named_model(ref: str | None) -> bool:
    """True for references that name code chiplab ships (workloads, torchvision models), not a user file."""
    if not ref or ":" in ref or "/" in ref or ref.endswith(".py"):
        return False
    from chiplab.capture.workloads import WORKLOADS
    if ref in WORKLOADS:
        return True
    import torchvision
    return ref in torchvision.models.list_models()


def prepare_dir(directory: str | Path) -> Path:
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        raise BundleError(f"bundle: cannot create directory {d} ({type(e).__name__}: a file is in the way)") from None
    except OSError as e:
        raise BundleError(f"bundle: cannot create directory {d} ({e.strerror})") from None
    return d


def write_bundle(directory: str | Path, model: torch.nn.Module, inputs: tuple, numerics: NumericsSpec, chip_name: str,
                 overrides: Mapping[str, Any], report, *, factory: str | None = None, calibration: Any = None,
                 observer: str | None = None, fold_bn: bool = True) -> Path:
    d = prepare_dir(directory)
    try:
        with eval_mode(model):                      # the caller's train/eval flags are restored
            ep = torch.export.export(model, inputs)
        torch.export.save(ep, d / "model.pt2")
    except Exception as e:  # noqa: BLE001 - export is best effort; the reason is kept
        (d / "export_error.txt").write_text(f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}\n")
    builtin = named_model(factory)
    ref = {"workload": factory if builtin else None, "factory_hint": None if builtin else factory,
           "class": f"{type(model).__module__}.{type(model).__qualname__}"}
    (d / "model.json").write_text(json.dumps(ref, indent=2))
    torch.save(model.state_dict(), d / "state_dict.pt")
    cal = None if calibration is None else [list(b) for b in _cal_batches(calibration)]
    torch.save({"inputs": list(inputs), "calibration": cal}, d / "inputs.pt")
    ov = {p: (v if isinstance(v, str) else v.model_dump()) for p, v in overrides.items()}
    chip = {"name": chip_name, "numerics": numerics.model_dump(mode="json"), "overrides": ov, "observer": observer,
            "fold_bn": fold_bn}
    (d / "chip.yaml").write_text(yaml.safe_dump(chip, sort_keys=False))
    (d / "finding.json").write_text(report.to_json())
    how = "" if builtin else " --factory FILE.py:FN" + (f"   (the model came from {factory})" if factory else "")
    (d / "README.txt").write_text(f"Reproduce: python -m chiplab.debugger.repro {d}{how}\n")
    return d


def _cal_batches(calibration: Any) -> list[tuple]:
    from chiplab.emu.emulator import _batches
    return _batches(calibration)


def _load_tensors(path: Path) -> Any:
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise BundleError(f"{path}: missing from the bundle") from None
    except Exception as e:  # noqa: BLE001 - the unpickler refuses anything but tensors and containers
        raise BundleError(f"{path}: not plain tensor data ({type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''})") from None


def load_bundle(directory: str | Path, factory: str | None = None) -> dict:
    """Read a bundle back: model, inputs, calibration, numerics, overrides, finding.

    ``factory``: ``file.py:fn`` (returning ``(module, inputs)``) that builds the module, as named
    by the user; without it the bundle's ``workload`` must be a built-in workload or torchvision name.
    """
    d = Path(directory)
    if not (d / "chip.yaml").exists():
        raise BundleError(f"{d}: not a repro bundle (no chip.yaml)")
    try:
        chip = yaml.safe_load((d / "chip.yaml").read_text())
        numerics = NumericsSpec.model_validate(chip["numerics"])
        overrides = {p: (v if isinstance(v, str) else MatmulNumerics.model_validate(v))
                     for p, v in (chip.get("overrides") or {}).items()}
    except (yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise BundleError(f"{d / 'chip.yaml'}: {str(e).splitlines()[0]}") from None
    ref = json.loads((d / "model.json").read_text()) if (d / "model.json").exists() else {}
    model = _build(ref, factory, d)
    try:
        model.load_state_dict(_load_tensors(d / "state_dict.pt"))
    except RuntimeError as e:
        raise BundleError(f"{d / 'state_dict.pt'}: does not fit the rebuilt model ({str(e).splitlines()[0]})") from None
    data = _load_tensors(d / "inputs.pt")
    cal = data.get("calibration")
    finding = json.loads((d / "finding.json").read_text())
    return {"model": model.eval(), "inputs": tuple(data["inputs"]), "calibration": [tuple(b) for b in cal] if cal else None,
            "numerics": numerics, "overrides": overrides, "finding": finding, "observer": chip.get("observer"),
            "name": chip.get("name"), "fold_bn": chip.get("fold_bn", True)}


def _build(ref: dict, factory: str | None, d: Path) -> torch.nn.Module:
    from chiplab.emu.cli import _build as build_named

    if factory is not None:                       # named by the user on the command line
        from chiplab.capture.workloads import build
        return build(factory, batch=1, device="cpu")[0]
    name = ref.get("workload")
    if name is not None:
        if not named_model(name):
            raise BundleError(f"{d / 'model.json'}: workload {name!r} is not a built-in workload or torchvision model; "
                              "rebuild it with --factory FILE.py:FN")
        return build_named(name, 1, "cpu")[0]
    hint = ref.get("factory_hint")
    raise BundleError(f"{d}: the model is not a built-in workload; name the code that builds it: --factory FILE.py:FN"
                      + (f" (the bundle says it came from {hint}; check that file before running it)" if hint else ""))
