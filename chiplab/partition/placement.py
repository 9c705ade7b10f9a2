"""A placement as data: IR node name -> device (``host`` or ``acc``), saved as YAML or JSON.

A placement file is a mapping ``{node name: host|acc}``, or ``{"placement": {...}}`` (the
form ``chiplab partition --save-placement`` writes, with the policy and chips beside it).
Loading checks it against the graph: an unknown node, a missing node or a device other than
``host`` / ``acc`` is a one-line :class:`PlacementError` naming the node.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

import yaml

from chiplab.errors import ChiplabError
from chiplab.ir.graph import Graph

DEVICES = ("host", "acc")


class PlacementError(ChiplabError):
    """A placement that does not match the graph or the chip (unknown or missing node, bad device)."""


def validate(graph: Graph, placement: Mapping[str, str], where: str = "placement") -> dict[str, str]:
    """``placement`` as a plain dict in graph order, or a :class:`PlacementError` naming the first bad node."""
    names = [n.name for n in graph.nodes]
    known = set(names)
    for k, v in placement.items():
        if k not in known:
            raise PlacementError(f"{where}: unknown node {k!r} (not in graph {graph.name!r})")
        if v not in DEVICES:
            raise PlacementError(f"{where}: node {k!r}: device {v!r} is not one of {', '.join(DEVICES)}")
    for k in names:
        if k not in placement:
            raise PlacementError(f"{where}: node {k!r} of graph {graph.name!r} has no device")
    return {k: placement[k] for k in names}


def load_placement(path: str | Path, graph: Graph) -> dict[str, str]:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise PlacementError(f"placement file {p}: {e.strerror or e}") from None
    try:
        data: Any = json.loads(text) if p.suffix.lower() == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as e:
        raise PlacementError(f"placement file {p}: not valid {p.suffix.lstrip('.') or 'YAML'}: "
                             f"{str(e).splitlines()[0]}") from None
    if isinstance(data, dict) and isinstance(data.get("placement"), dict):
        data = data["placement"]
    if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
        raise PlacementError(f"placement file {p}: expected a mapping of node name to host|acc")
    return validate(graph, data, where=f"placement file {p}")


def save_placement(path: str | Path, placement: Mapping[str, str], **meta: Any) -> Path:
    """Write ``{**meta, "placement": {...}}`` as JSON (``.json``) or YAML (any other suffix)."""
    p = Path(path)
    doc = {**meta, "placement": dict(placement)}
    p.write_text(json.dumps(doc, indent=1) + "\n" if p.suffix.lower() == ".json" else
                 yaml.safe_dump(doc, sort_keys=False))
    return p
