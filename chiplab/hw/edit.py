"""One validated way to change a chip: ``edit(spec, {"arch.rows": 64}) -> ChipSpec``.

Every change goes back through the pydantic model, so a bad value is refused with a
one-line :class:`EditError` naming the field (``arch.rows: Input should be greater
than 0``), an unknown path is refused with a did-you-mean, and the result satisfies every
cross-field check a chip file does (native precision supported, MAC energy per precision,
sources). Values are SI floats or strings with units (``"2 MiB"``, ``"800 MHz"``).

An edited figure no longer carries its old citation: ``cite`` (an ``[A]`` assumption by
default) replaces the citation of each edited key and of any key below it.
"""
from __future__ import annotations

import difflib
from typing import Any, Mapping

from pydantic import BaseModel, ValidationError

from chiplab.errors import ChiplabError
from chiplab.hw.spec import ChipSpec

DEFAULT_CITE = "[A] design point set by chiplab.hw.edit"


class EditError(ChiplabError):
    """A change to a chip that names no field or gives a value the chip format refuses."""


def _fields_at(spec: ChipSpec, parts: list[str]) -> list[str]:
    obj: Any = spec
    for p in parts:
        obj = obj.get(p) if isinstance(obj, dict) else getattr(obj, p, None)
    if isinstance(obj, BaseModel):
        return list(type(obj).model_fields)
    return list(obj) if isinstance(obj, dict) else []


def _check_path(spec: ChipSpec, dotted: str) -> None:
    """Refuse a path that does not name a field (or a dict key under a dict field) of ``spec``."""
    parts = dotted.split(".")
    obj: Any = spec
    for i, part in enumerate(parts):
        if isinstance(obj, BaseModel) and part in type(obj).model_fields:
            obj = getattr(obj, part)
        elif isinstance(obj, dict) and i == len(parts) - 1:
            return   # a new or existing key in a dict field (energy.mac.bf16); validation checks it
        elif isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            known = _fields_at(spec, parts[:i])
            close = difflib.get_close_matches(part, known, n=1)
            hint = f" (did you mean {'.'.join(parts[:i] + [close[0]])!r}?)" if close else ""
            raise EditError(f"{dotted}: not a field of chip {spec.name!r}{hint}")


def _set(d: dict, parts: list[str], value: Any) -> None:
    for p in parts[:-1]:
        nxt = d.get(p)
        if not isinstance(nxt, dict):
            nxt = {}
            d[p] = nxt
        d = nxt
    d[parts[-1]] = value


def edit(spec: ChipSpec, changes: Mapping[str, Any], *, name: str | None = None,
         cite: str | None = DEFAULT_CITE) -> ChipSpec:
    """A re-validated copy of ``spec`` with the dotted fields in ``changes`` replaced.

    ``name``: the new chip's name (default: unchanged). ``cite``: the citation written for each
    edited figure (``None`` keeps the sources as they are, for callers that rewrite them).
    """
    if not changes and name is None:
        return spec
    for dotted in changes:
        _check_path(spec, dotted)
    data = spec.model_dump(exclude_unset=True)
    data["arch"]["kind"] = spec.arch.kind   # the union tag, even when the file left it implicit
    for dotted, value in changes.items():
        _set(data, dotted.split("."), value)
    if name is not None:
        data["name"] = name
    if cite is not None and changes:
        src = {k: v for k, v in data.get("sources", {}).items()
               if not any(k == c or k.startswith(c + ".") for c in changes)}
        src.update({c: cite for c in changes})
        data["sources"] = src
    try:
        return ChipSpec.model_validate(data)
    except ValidationError as err:
        from chiplab.hw.loader import _format_error

        raise EditError(_format_error(err, f"edit of {spec.name}")) from None
