"""Test-wide settings: one thread (the machines are shared and noisy), seeded RNGs,
and the `gpu` marker skipping cleanly without CUDA."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(1)


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
