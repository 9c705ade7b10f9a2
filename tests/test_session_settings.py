"""The test session's own settings (tests/conftest.py): a private capture cache, deterministic Hypothesis."""
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from chiplab.capture import cache


def test_capture_cache_is_private_to_the_session():
    d = Path(os.environ["CHIPLAB_CACHE_DIR"])
    assert d != Path.home() / ".cache" / "chiplab"
    assert cache.cache_dir().is_relative_to(d)            # the code under test uses it


def test_hypothesis_profile_is_deterministic():
    assert settings.default.derandomize is True and settings.default.deadline is None
    seen = []

    @given(st.integers(0, 10**9))
    def draw(x):
        seen.append(x)

    draw()
    first, seen[:] = list(seen), []
    draw()
    assert seen == first                                   # the same examples, run after run
