"""``chiplab serve`` end to end: JSON fields, one-line errors."""
import json

from typer.testing import CliRunner

from chiplab.cli import app

runner = CliRunner()


def test_serve_json_has_the_promised_fields():
    r = runner.invoke(app, ["serve", "llama-3.1-8b", "--system", "dgx-h100", "--tp", "1", "--qps", "4", "-n", "200",
                            "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    for k in ("ttft_s", "tpot_s"):
        assert set(d[k]) == {"p50", "p90", "p99"} and d[k]["p50"] <= d[k]["p99"]
    assert d["tokens_per_s"] > 0 and d["tokens_per_s_per_chip"] * 8 == d["tokens_per_s"] or \
        abs(d["tokens_per_s_per_chip"] * 8 - d["tokens_per_s"]) < 1e-6 * d["tokens_per_s"]
    assert "max_qps_meeting_constraints" in d and d["max_qps_meeting_constraints"] is None


def test_serve_out_of_memory_and_unknowns_are_one_line():
    for args, text in ((["llama-2-70b", "--system", "tpu-v4-8"], "short by"),
                       (["llama-9", "--system", "dgx-h100"], "unknown LLM"),
                       (["llama-2-70b", "--system", "dgx-z"], "unknown system"),
                       (["llama-2-70b", "--system", "dgx-h100", "--tp", "3"], "attention heads")):
        r = runner.invoke(app, ["serve", *args, "--qps", "1", "-n", "10"])
        assert r.exit_code == 2 and text in r.output and r.output.count("\n") == 1, r.output
