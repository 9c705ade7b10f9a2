"""Test-wide settings: one thread (the machines are shared and noisy), seeded RNGs,
a private capture cache per test session, deterministic Hypothesis, and the `gpu`
marker skipping cleanly without CUDA."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from hypothesis import settings  # noqa: E402

torch.set_num_threads(1)

# Deterministic property tests: the same examples on every run and machine (CI must not flake
# on a fresh random draw), no per-example deadline (shared 2-core machines are noisy), and no
# example database (a local .hypothesis/ would make runs differ between checkouts).
# Another profile can still be picked with HYPOTHESIS_PROFILE=... (e.g. a "random" one below).
settings.register_profile("chiplab", derandomize=True, deadline=None, database=None)
settings.register_profile("random", derandomize=False, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "chiplab"))


@pytest.fixture(autouse=True, scope="session")
def _private_capture_cache(tmp_path_factory):
    """Every test session gets its own empty capture cache, so no test reads (or fills) the
    user's ~/.cache/chiplab, where a stale entry could hide a capture bug."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHIPLAB_CACHE_DIR", str(tmp_path_factory.mktemp("chiplab-cache")))
        yield


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture()
def tmp_cache(tmp_path, monkeypatch):
    """A private capture cache per test."""
    monkeypatch.setenv("CHIPLAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _load_script(relpath: str):
    """A repository script (``bench/x.py``, ``tools/x.py``) imported as a module by its path, registered in
    ``sys.modules`` while it runs (dataclasses look their module up there)."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[path.stem] = mod
    try:
        spec.loader.exec_module(mod)
    finally:
        sys.modules.pop(path.stem, None)
    return mod


@pytest.fixture(scope="session")
def load_script():
    """``load_script("bench/vs_zigzag.py")`` -> the script as a module (the benches are tested, not copied)."""
    return _load_script
