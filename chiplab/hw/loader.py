"""Strict chip-file loader: YAML → :class:`ChipSpec`, with one-line errors.

Refused, each with the offending field named: unknown keys, duplicate keys (PyYAML
would silently keep the last one), missing or wrong units, quantities out of their
physical range (see :mod:`chiplab.hw.quantity`), unsupported format versions, and
values of the wrong type. Unsafe YAML tags are refused (a SafeLoader); so are files
over :data:`MAX_FILE_BYTES`, more than :data:`MAX_ALIASES` aliases (an alias bomb,
"billion laughs", would otherwise expand into gigabytes) and nesting deeper than
:data:`MAX_DEPTH`. No error message echoes more than a few dozen characters of a value.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from chiplab.files import MiB, check_input_file, read_text
from chiplab.hw.spec import SCHEMA_VERSION, ChipSpec
from chiplab.units import short

PRESET_DIR = Path(__file__).parent / "presets"
MAX_FILE_BYTES = 1 * MiB   # the largest preset is 3.5 kB
MAX_ALIASES = 100          # YAML aliases (*name) in one file
MAX_DEPTH = 20             # nesting of mappings and lists; a chip file needs 4
MAX_NODES = 20_000         # values after expanding aliases; the largest preset has 127
MAX_MESSAGE = 300          # characters of a one-line error


class ChipFileError(ChiplabError):
    """A chip file that cannot be read or does not validate. The message is one line."""


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases and nesting while composing, before anything expands."""

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise ChipFileError(f"line {mark.line + 1}: more than {MAX_ALIASES} YAML aliases (*name); "
                                    "write the values out")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise ChipFileError(f"line {mark.line + 1}: nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self):  # type: ignore[override]
        node = super().compose_document()
        _expanded_size(node, {})
        return node


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Number of values ``node`` stands for once aliases are expanded (each shared node counted
    at every use), refusing recursive aliases and more than MAX_NODES values."""
    key = id(node)
    if key in memo:
        if memo[key] < 0:
            raise ChipFileError(f"line {node.start_mark.line + 1}: a YAML alias refers to itself")
        return memo[key]
    memo[key] = -1
    children = [c for pair in node.value for c in pair] if isinstance(node, yaml.MappingNode) else \
        node.value if isinstance(node, yaml.SequenceNode) else []
    n = 1 + sum(_expanded_size(c, memo) for c in children)
    if n > MAX_NODES:
        raise ChipFileError(f"line {node.start_mark.line + 1}: expands to more than {MAX_NODES:,} values "
                            "(YAML aliases nested in aliases?)")
    memo[key] = n
    return n


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            raise ChipFileError(f"line {key_node.start_mark.line + 1}: a key must be a plain name, "
                                f"got a {type(key).__name__}")
        if key in seen:
            raise ChipFileError(f"duplicate key {short(repr(key))} at line {key_node.start_mark.line + 1} "
                                f"(first at line {seen[key] + 1})")
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def _loc(e: dict) -> list[str]:
    parts = [short(str(p), 40) for p in e["loc"]]
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
    loc = ".".join(parts) if parts else ("" if ": " in msg else "(top level)")   # a model check names its field
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return short(f"{origin}: {loc + ': ' if loc else ''}{msg}{more}", MAX_MESSAGE)


def check_header(data: Any, key: str, version: int, origin: str, error: type[Exception]) -> None:
    """A file's top level is a mapping that names its format and version (``chiplab_chip: 1``)."""
    if not isinstance(data, dict):
        raise error(f"{origin}: expected a mapping at top level, got {type(data).__name__}")
    found = data.get(key)
    if found is None:
        raise error(f"{origin}: {key}: missing format version (write '{key}: {version}')")
    if found != version:
        raise error(f"{origin}: {key}: unsupported format version {short(repr(found))} (this chiplab reads {version})")


def parse_chip(data: Any, origin: str = "chip") -> ChipSpec:
    """Validate a mapping read from a chip file (units required)."""
    check_header(data, "chiplab_chip", SCHEMA_VERSION, origin, ChipFileError)
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
        raise ChipFileError(short(f"{origin}: numerics.{loc}: {e['msg'].removeprefix('Value error, ')}", MAX_MESSAGE)) from None


def load_chip_file(path: str | Path) -> ChipSpec:
    p = Path(path)
    if p.suffix == ".cfg":
        from chiplab.hw.scalesim_cfg import load_scalesim_cfg

        return load_scalesim_cfg(p)
    return parse_chip(read_strict_yaml(p, "chip file", ChipFileError), origin=str(p))


def read_strict_yaml(p: Path, kind: str, error: type[Exception]) -> Any:
    """The data of a YAML input file (chip, system, ...), read with the strict loader: the file is
    checked before it is opened, unknown tags, duplicate keys and alias bombs are refused, and
    every failure is one ``error`` naming the file (and the line where YAML knows it)."""
    check_input_file(p, kind, error, max_bytes=MAX_FILE_BYTES)
    text = read_text(p, kind, error)
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
    except ChipFileError as e:
        raise error(f"{p}: {e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise error(short(f"{p}:{where}: not valid YAML ({getattr(e, 'problem', e)})", MAX_MESSAGE)) from None
    except RecursionError:
        raise error(f"{p}: nested too deeply") from None


def _exists(s: str) -> bool:
    try:
        return Path(s).exists()
    except (OSError, ValueError):   # a name too long for a path, or with a NUL byte
        return False


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
    if s in list_presets():
        return load_chip_file(PRESET_DIR / f"{s}.yaml")
    if Path(s).suffix in (".yaml", ".yml", ".cfg") or _exists(s):
        return load_chip_file(s)
    raise ChipFileError(f"unknown chip {short(repr(s))}: not a preset ({', '.join(list_presets())}, "
                        "host (this machine, detected)) nor a chip file")
