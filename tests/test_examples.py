"""The examples in examples/ run (the tour is the README's promise)."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script,expect", [
    ("tour.py", "camera pipeline on one bill"),
    ("isp_tuning.py", "camera + network on tesla-fsd-npu"),
])
def test_example_runs(script, expect, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CHIPLAB_CACHE_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, str(ROOT / "examples" / script)], capture_output=True, text=True, env=env,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert expect in r.stdout
