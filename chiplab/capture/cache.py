"""Content-addressed capture cache: ``$CHIPLAB_CACHE_DIR`` (default ``~/.cache/chiplab``).

Keys hash the workload identity (name or file content, batch, sequence length,
chiplab and torch versions); values are :meth:`Graph.to_json`. A corrupt entry is
ignored and rewritten, never trusted.
"""
from __future__ import annotations

import os
from pathlib import Path

from chiplab.ir import Graph


def cache_dir() -> Path:
    return Path(os.environ.get("CHIPLAB_CACHE_DIR", Path.home() / ".cache" / "chiplab")) / "graphs"


def get(key: str) -> Graph | None:
    p = cache_dir() / f"{key}.json"
    if not p.exists():
        return None
    try:
        return Graph.from_json(p.read_text())
    except (ValueError, KeyError, TypeError):
        return None


def put(key: str, graph: Graph) -> None:
    d = cache_dir()
    try:
        d.mkdir(parents=True, exist_ok=True)
        tmp = d / f".{key}.{os.getpid()}.tmp"
        tmp.write_text(graph.to_json())
        tmp.replace(d / f"{key}.json")      # atomic: an interrupted write never leaves a half entry
    except OSError:
        pass    # a read-only home is not an error: capture just is not cached
