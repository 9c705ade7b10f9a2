"""Strict chip-file loader: YAML → :class:`ChipSpec`, with one-line errors.

Refused, each with the offending field named: unknown keys, duplicate keys (PyYAML
would silently keep the last one), missing or wrong units, unsupported format
versions, and values of the wrong type.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from chiplab.hw.spec import SCHEMA_VERSION, ChipSpec

PRESET_DIR = Path(__file__).parent / "presets"


class ChipFileError(ChiplabError):
    """A chip file that cannot be read or does not validate. The message is one line."""


class _StrictLoader(yaml.SafeLoader):
    pass


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise ChipFileError(f"duplicate key {key!r} at line {key_node.start_mark.line + 1} "
                                f"(first at line {seen[key] + 1})")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _loc(e: dict) -> list[str]:
    parts = [str(p) for p in e["loc"]]
    # drop the discriminator tag pydantic inserts into union locations (arch.systolic.rows -> arch.rows)
    if len(parts) > 2 and parts[0] == "arch":
        parts = [parts[0]] + parts[2:]
    return parts


def _format_error(err: ValidationError, origin: str) -> str:
    """One line: unknown keys first (a typo also makes the intended key 'missing'),
    with a did-you-mean taken from the missing keys beside it."""
    import difflib

    errors = sorted(err.errors(), key=lambda e: e["type"] != "extra_forbidden")
    e = errors[0]
    parts = _loc(e)
    msg = e["msg"].removeprefix("Value error, ")
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
        missing = [_loc(x)[-1] for x in errors if x["type"] == "missing" and _loc(x)[:-1] == parts[:-1]]
        close = difflib.get_close_matches(parts[-1], missing, n=1)
        if close:
            msg += f" (did you mean {close[0]!r}?)"
            errors = [x for x in errors if not (x["type"] == "missing" and _loc(x)[:-1] == parts[:-1]
                                              and _loc(x)[-1] == close[0])]
    elif e["type"] == "missing":
        msg = "missing required field"
    loc = ".".join(parts) or "(top level)"
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{origin}: {loc}: {msg}{more}"


def parse_chip(data: Any, origin: str = "chip") -> ChipSpec:
    """Validate a mapping read from a chip file (units required)."""
    if not isinstance(data, dict):
        raise ChipFileError(f"{origin}: expected a mapping at top level, got {type(data).__name__}")
    version = data.get("chiplab_chip")
    if version is None:
        raise ChipFileError(f"{origin}: chiplab_chip: missing format version (write 'chiplab_chip: {SCHEMA_VERSION}')")
    if version != SCHEMA_VERSION:
        raise ChipFileError(f"{origin}: chiplab_chip: unsupported format version {version!r} (this chiplab reads {SCHEMA_VERSION})")
    try:
        spec = ChipSpec.model_validate(data, context={"strict_units": True})
    except ValidationError as err:
        raise ChipFileError(_format_error(err, origin)) from None
    if spec.numerics is not None:
        _check_numerics(spec, origin)
    return spec


def _check_numerics(spec: ChipSpec, origin: str) -> None:
    try:
        from chiplab.emu.spec import NumericsSpec  # the numerics schema lives with the emulator
    except ImportError:  # emulator not installed in this build
        return
    try:
        NumericsSpec.model_validate(spec.numerics)
    except ValidationError as err:
        e = err.errors()[0]
        loc = ".".join(str(p) for p in e["loc"])
        raise ChipFileError(f"{origin}: numerics.{loc}: {e['msg'].removeprefix('Value error, ')}") from None


def load_chip_file(path: str | Path) -> ChipSpec:
    p = Path(path)
    if not p.exists():
        raise ChipFileError(f"{p}: no such chip file")
    if p.suffix == ".cfg":
        from chiplab.hw.scalesim_cfg import load_scalesim_cfg

        return load_scalesim_cfg(p)
    try:
        data = yaml.load(p.read_text(), Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except ChipFileError as e:
        raise ChipFileError(f"{p}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ChipFileError(f"{p}:{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    return parse_chip(data, origin=str(p))


def list_presets(*, with_host: bool = False) -> list[str]:
    """Preset names (the shipped YAML files); ``with_host`` adds ``host``, this machine, detected at load time."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml")) + (["host"] if with_host else [])


def load_chip(name_or_path: "str | Path | ChipSpec") -> ChipSpec:
    """A preset name (``tpu-v1``), a chip YAML file, a SCALE-Sim ``.cfg``, or a ChipSpec."""
    if isinstance(name_or_path, ChipSpec):
        return name_or_path
    s = str(name_or_path)
    if s == "host":
        from chiplab.hw.host import detect_host  # provided by the CPU architecture class

        return detect_host()
    preset = PRESET_DIR / f"{s}.yaml"
    if preset.exists():
        return load_chip_file(preset)
    if Path(s).suffix in (".yaml", ".yml", ".cfg") or Path(s).exists():
        return load_chip_file(s)
    raise ChipFileError(f"unknown chip {s!r}: not a preset ({', '.join(list_presets())}, host (this machine, detected)) nor a chip file")
