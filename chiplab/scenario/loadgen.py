"""Running the real MLPerf LoadGen (``mlperf_loadgen``, pip ``mlcommons-loadgen``) and reading its summary.

LoadGen is optional (the test extras install it); the module is passed in, so importing this file
never needs it. Used by ``bench/scenarios_vs_loadgen.py`` and ``tests/scenario/test_vs_loadgen.py``."""
from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any


def run_summary(lg: Any, sut: Any, qsl: Any, settings: Any) -> str:
    """Run one LoadGen test of ``sut`` on ``qsl`` with ``settings`` (a ``lg.TestSettings``), its logs in a
    temporary folder, and return the text of its ``mlperf_log_summary.txt``."""
    with tempfile.TemporaryDirectory() as d:
        ls = lg.LogSettings()
        ls.log_output.outdir = d
        ls.log_output.copy_summary_to_stdout = False
        lg.StartTestWithLogSettings(sut, qsl, settings, ls)
        return (Path(d) / "mlperf_log_summary.txt").read_text()
