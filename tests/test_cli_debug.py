"""CHIPLAB_DEBUG=1 shows the traceback on the real CLI app; unset, a bad input is one `error:` line, exit 2."""
import pytest
from typer.testing import CliRunner

from chiplab.cli import app
from chiplab.errors import ChiplabError

runner = CliRunner()
ARGS = ["estimate", "resnet18", "--chip", "no-such-chip-xyz"]


def test_unknown_chip_is_one_error_line_without_debug(monkeypatch):
    monkeypatch.delenv("CHIPLAB_DEBUG", raising=False)
    r = runner.invoke(app, ARGS)
    assert r.exit_code == 2
    lines = [l for l in r.stderr.splitlines() if l.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "no-such-chip-xyz" in lines[0]
    assert "Traceback" not in r.output and isinstance(r.exception, SystemExit)   # a clean typer.Exit(2)


def test_chiplab_debug_lets_the_exception_propagate(monkeypatch):
    monkeypatch.setenv("CHIPLAB_DEBUG", "1")
    r = runner.invoke(app, ARGS)                       # CliRunner catches what escapes the app
    assert r.exit_code == 1 and isinstance(r.exception, ChiplabError), (r.exit_code, r.exception)
    assert "no-such-chip-xyz" in str(r.exception)
    assert "error:" not in r.stderr                    # not swallowed into the one-line message
    with pytest.raises(ChiplabError, match="no-such-chip-xyz"):
        runner.invoke(app, ARGS, catch_exceptions=False)   # the traceback a user would see
