"""`chiplab scenario`: the JSON promised by issue 11, on a closed-form service (fast) and,
marked slow, on chiplab's own estimates for every preset."""
import json

import pytest
from typer.testing import CliRunner

from chiplab.cli import app
from chiplab.scenario import cli as scli
from chiplab.scenario.scenarios import SCENARIOS
from chiplab.scenario.service import AffineService

runner = CliRunner()


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_json_has_the_promised_fields(monkeypatch, scenario):
    monkeypatch.setattr(scli, "service_for", lambda model, chip, precision: AffineService(1e-3, 1e-4, ref_len=384))
    r = runner.invoke(app, ["scenario", "bert-large", "--chip", "fake", "--scenario", scenario, "--quick", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("scenario", "metric", "value", "unit", "valid", "latency_s", "qps"):
        assert k in d
    assert d["scenario"] == scenario and d["valid"] is True and d["value"] > 0
    lat = d["latency_s"]
    assert 0 < lat["p50"] <= lat["p90"] <= lat["p99"]
    assert (d["qps"] is not None) == (scenario in ("server", "offline"))
    if scenario == "server":
        assert d["bound_s"] == 0.130 and lat["p99"] <= 0.130


def test_summary_text_and_bad_scenario(monkeypatch):
    monkeypatch.setattr(scli, "service_for", lambda model, chip, precision: AffineService(2e-3, 0.0))
    r = runner.invoke(app, ["scenario", "resnet50", "--scenario", "server", "--quick"])
    assert r.exit_code == 0, r.output
    assert "Result is : VALID" in r.stdout and "Scheduled samples per second" in r.stdout
    bad = runner.invoke(app, ["scenario", "resnet50", "--scenario", "batch"])
    assert bad.exit_code == 2 and "--scenario" in bad.output


@pytest.mark.slow
@pytest.mark.parametrize("model", ["resnet50", "bert-large"])
def test_every_preset_every_scenario(model):
    from chiplab.hw import list_presets

    for chip in list_presets():
        for sc in SCENARIOS:
            r = runner.invoke(app, ["scenario", model, "--chip", chip, "--scenario", sc, "--quick", "--json"])
            assert r.exit_code == 0, (chip, sc, r.output)
            d = json.loads(r.stdout)
            assert d["scenario"] == sc and d["latency_s"]["p99"] > 0
            assert d["valid"] or (sc == "server" and d["value"] == 0)   # only a bound nothing meets
