"""Loading a user's ``file.py`` and knowing which source files its capture depends on.

A factory file often imports helpers from its own project (``from mynet.blocks import
Block``). The capture cache must be keyed by those too, or editing a helper would
serve a stale graph. After the file is executed, every module in ``sys.modules``
whose source lies under the factory's project (the nearest folder above it with a
``pyproject.toml``, ``setup.py``, ``setup.cfg`` or ``.git``; else the file's own
folder), outside any ``site-packages``, counts as a source of the capture.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

_PROJECT_MARKERS = ("pyproject.toml", "setup.py", "setup.cfg", ".git")
# path -> (module, {source file: sha256}) of the last load; reused while no source changed
_LOADED: dict[Path, tuple[ModuleType, dict[Path, str]]] = {}


def project_root(path: Path) -> Path:
    folder = path.resolve().parent
    for d in (folder, *folder.parents):
        if any((d / m).exists() for m in _PROJECT_MARKERS):
            return d
    return folder


def _digest(f: Path) -> str:
    try:
        return hashlib.sha256(f.read_bytes()).hexdigest()
    except OSError:
        return "missing"


def _is_third_party(f: Path) -> bool:
    return any(p in ("site-packages", "dist-packages") for p in f.parts)


def _project_modules(root: Path) -> dict[str, Path]:
    """Modules now in ``sys.modules`` whose source file is under ``root``."""
    out = {}
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None)
        if not f or not f.endswith(".py") or not Path(f).is_absolute():   # torch.ops/torch.classes: "_ops.py"
            continue
        p = Path(f).resolve()
        if not _is_third_party(p) and p.is_relative_to(root):
            out[name] = p
    return out


def load(path: Path) -> ModuleType:
    """Execute ``path`` as a module (its folder on ``sys.path`` while it runs) and record its sources.

    A second call returns the same module object while none of its recorded sources
    changed; otherwise the changed project modules are dropped from ``sys.modules`` and
    the file is executed again, so edited helpers are re-imported.
    """
    path = path.resolve()
    prev = _LOADED.get(path)
    if prev is not None:
        mod, sources = prev
        if all(_digest(f) == d for f, d in sources.items()):
            return mod
        for name, f in _project_modules(project_root(path)).items():
            if f in sources and not name.startswith("chiplab"):
                del sys.modules[name]
    spec = importlib.util.spec_from_file_location(f"chiplab_user_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a Python source file")
    mod = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(path.parent))
    try:
        with contextlib.redirect_stdout(sys.stderr):     # a print() at import time must not corrupt --json
            spec.loader.exec_module(mod)
    finally:
        try:
            sys.path.remove(str(path.parent))
        except ValueError:
            pass
    files = {path, *_project_modules(project_root(path)).values()}
    _LOADED[path] = (mod, {f: _digest(f) for f in sorted(files)})
    return mod


def source_files(path: Path) -> list[Path]:
    """The factory file and every project source file it imports (loads it if needed)."""
    path = path.resolve()
    load(path)
    return sorted(_LOADED[path][1])


@functools.lru_cache(maxsize=1)
def capture_code_digest() -> str:
    """One hash of chiplab's capture and IR code: a change to either invalidates cached graphs."""
    import chiplab

    here = Path(__file__).resolve().parent
    h = hashlib.sha256(chiplab.__version__.encode())
    for f in sorted([*here.glob("*.py"), *(here.parent / "ir").glob("*.py")]):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()
