"""The timeline: latency of one batch, steady-state throughput, trace-event export."""
import json
import sys
from collections import defaultdict
from pathlib import Path

import pytest

import chiplab
from chiplab.perf.timeline import trace_events, write_trace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from estimate_speed import resnet50_ir  # noqa: E402

GRAPH = resnet50_ir(batch=64)


def test_throughput_overlaps_host_transfers_latency_stays_one_batch():
    est = chiplab.estimate(GRAPH, "a100-sxm4-40gb", precision="int8")
    tl = est.meta["timeline"]
    rows = {r.node: r for r in est.layers}
    h2d, d2h = rows["host:inputs"].latency_s, rows["host:outputs"].latency_s
    device = est.latency_s - h2d - d2h
    assert tl["latency_s"] == est.latency_s == pytest.approx(sum(r.latency_s for r in est.layers))
    assert tl["period_s"] == pytest.approx(max(h2d, device, d2h))
    t = est.total()
    assert t["throughput_per_s"] == pytest.approx(64 / max(h2d, device, d2h))
    assert t["serial_throughput_per_s"] == pytest.approx(64 / est.latency_s)
    assert t["serial_throughput_per_s"] < t["throughput_per_s"]
    assert t["latency_s"] == est.latency_s


def test_host_side_chip_has_no_link_and_serial_throughput():
    est = chiplab.estimate(resnet50_ir(batch=1), "xeon-e5-2699v3")
    assert est.total()["throughput_per_s"] == pytest.approx(est.total()["serial_throughput_per_s"])


def test_trace_is_valid_one_track_per_resource_no_overlap(tmp_path):
    est = chiplab.estimate(GRAPH, "a100-sxm4-40gb", precision="int8")
    path = write_trace(est, tmp_path / "t.json", batches=3)
    doc = json.loads(path.read_text())
    evs = doc["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in evs if e["ph"] == "M" and e["name"] == "thread_name"}
    assert len(set(names.values())) == len(names)                   # one tid per resource
    assert {"link.h2d", "link.d2h", "matrix", "dram"} <= set(names.values())
    per_tid = defaultdict(list)
    for e in evs:
        if e["ph"] == "X":
            assert e["dur"] > 0 and e["ts"] >= 0 and e["tid"] in names and e["pid"] == 1
            per_tid[e["tid"]].append((e["ts"], e["ts"] + e["dur"]))
    for spans in per_tid.values():
        spans.sort()
        for (a0, a1), (b0, b1) in zip(spans, spans[1:]):
            assert b0 >= a1 - 1e-6 * max(1.0, a1)                   # no overlap on a resource
    # batch 1's input transfer runs while the device works on batch 0
    h2d = next(t for t, n in names.items() if n == "link.h2d")
    mat = next(t for t, n in names.items() if n == "matrix")
    b1_in = next(e for e in evs if e["ph"] == "X" and e["tid"] == h2d and e["args"]["batch"] == 1)
    b0_mat = [e for e in evs if e["ph"] == "X" and e["tid"] == mat and e["args"]["batch"] == 0]
    assert b1_in["ts"] < b0_mat[-1]["ts"]


def test_reprice_keeps_a_timeline():
    est = chiplab.estimate(GRAPH, "a100-sxm4-40gb", precision="int8")
    again = est.reprice(chiplab.load_chip("a100-sxm4-40gb"))
    assert again.meta["timeline"]["throughput_per_s"] == pytest.approx(est.meta["timeline"]["throughput_per_s"])
    assert trace_events(again)["traceEvents"]


def test_cli_estimate_trace_no_fuse_and_range(tmp_path):
    from typer.testing import CliRunner

    from chiplab.cli import app

    out = tmp_path / "trace.json"
    res = CliRunner().invoke(app, ["estimate", "resnet18", "--chip", "a100-sxm4-40gb", "--batch", "2",
                                   "--trace", str(out), "--no-fuse"])
    assert res.exit_code == 0, res.output
    assert "passes: none" in res.output and "range:" in res.output and "steady state" in res.output
    assert any(e["ph"] == "X" for e in json.loads(out.read_text())["traceEvents"])
    bad = CliRunner().invoke(app, ["estimate", "resnet18", "--chip", "a100-sxm4-40gb", "--passes", "fold-all"])
    assert bad.exit_code == 2 and "unknown pass" in bad.output
