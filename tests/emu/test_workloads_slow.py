"""Done-when of issue 9 (numerics part): run and debug succeed on every built-in workload that fits
in this machine's memory, on tpu-v1, h100-sxm and fp8; the rest end in one line naming the
memory needed, decided on the meta device before anything is allocated. Slow: minutes each."""
import pytest
from typer.testing import CliRunner

from chiplab.capture.workloads import list_workloads
from chiplab.cli import app


@pytest.mark.slow
@pytest.mark.parametrize("chip", ["tpu-v1", "h100-sxm", "fp8"])
@pytest.mark.parametrize("workload", list(list_workloads()))
@pytest.mark.parametrize("cmd", ["run", "debug"])
def test_every_workload(cmd, workload, chip):
    r = CliRunner().invoke(app, [cmd, workload, "--chip", chip])
    if r.exit_code == 2 and "needs about" in r.output:
        assert len(r.output.strip().splitlines()) == 1 and "GiB available" in r.output
        return
    assert r.exit_code == 0, r.output[-2000:]
    assert "Traceback" not in r.output and "host fallback" not in r.output
