"""Golden test against ZigZag: its committed per-layer result for ResNet-18 on its tpu_like
accelerator (data/peers/zigzag_resnet18_tpu_like.json, zigzag-dse 3.9.1; provenance inside)
versus chiplab's default-mode estimate on the zigzag-tpu-like preset; and bench/vs_zigzag.py's
verdict and exit code."""
import json
from pathlib import Path

import pytest

import chiplab
from chiplab.capture import import_onnx

ROOT = Path(__file__).resolve().parents[2]
ZIGZAG = json.loads((ROOT / "data" / "peers" / "zigzag_resnet18_tpu_like.json").read_text())


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench/vs_zigzag.py")


@pytest.fixture(scope="module")
def onnx_path(bench, tmp_path_factory):
    # ZigZag read its shipped resnet18.onnx (torchvision's ResNet-18 through the TorchScript
    # exporter); we export the same network the same way. The per-layer MAC check below proves
    # the two graphs have the same layers.
    return bench.export_resnet18(tmp_path_factory.mktemp("onnx") / "resnet18.onnx")


@pytest.fixture(scope="module")
def est(onnx_path):
    return chiplab.estimate(import_onnx(onnx_path, batch=1), "zigzag-tpu-like", host_transfers=False)


def test_every_zigzag_layer_matches_a_chiplab_layer(est):
    ours = {r.name: r for r in est.layers if r.op in ("conv", "gemm")}
    assert len(ZIGZAG["layers"]) == 21                      # 20 convs + the fc of ResNet-18
    for L in ZIGZAG["layers"]:
        assert L["name"] in ours, f"ZigZag layer {L['name']} has no chiplab layer"
        assert ours[L["name"]].macs == int(L["macs"]), L["name"]
    assert set(ours) == {L["name"] for L in ZIGZAG["layers"]}   # and no chiplab matrix layer is left over


def test_totals_agree_with_zigzag(est):
    """Totals over the 21 layers: chiplab latency -6.8% and energy +4.0% against ZigZag when
    this test was written; the test allows 10% either way."""
    ours = {r.name: r for r in est.layers}
    zc = sum(L["cycles"] for L in ZIGZAG["layers"])
    ze = sum(L["energy_pj"] for L in ZIGZAG["layers"])
    assert zc == ZIGZAG["cycles"] and ze == pytest.approx(ZIGZAG["energy_pj"], rel=1e-12)   # the file is consistent
    cc = sum(ours[L["name"]].cycles for L in ZIGZAG["layers"])
    ce = sum(ours[L["name"]].energy_j * 1e12 for L in ZIGZAG["layers"])
    assert cc / zc - 1 == pytest.approx(-0.068, abs=0.10)
    assert ce / ze - 1 == pytest.approx(0.040, abs=0.10)


def test_per_layer_agreement(est):
    """Per layer (when written): cycles 0.35-1.01 of ZigZag's, energy 0.19-1.16; 18 of 21 layers
    within 20% on cycles and within 25% on energy. The three outliers, where chiplab is lower than
    ZigZag on both, are stride-2 layers: /layer2/layer2.0/conv1 (0.70, 0.65) and the 1x1 downsample
    convs of stages 2 and 3 (0.35, 0.19 and 0.64, 0.48). Why they differ is not established here."""
    ours = {r.name: r for r in est.layers}
    cyc = {L["name"]: ours[L["name"]].cycles / L["cycles"] for L in ZIGZAG["layers"]}
    en = {L["name"]: ours[L["name"]].energy_j * 1e12 / L["energy_pj"] for L in ZIGZAG["layers"]}
    assert all(0.3 <= v <= 1.1 for v in cyc.values()), cyc
    assert all(0.15 <= v <= 1.25 for v in en.values()), en
    assert sum(abs(v - 1) <= 0.20 for v in cyc.values()) >= 18, cyc
    assert sum(abs(v - 1) <= 0.25 for v in en.values()) >= 18, en


def test_bench_verdict_pass_on_committed_result(bench, est):
    res = bench.compare(ZIGZAG, est)
    assert res["ok"] and not res["unmatched"] and len(res["rows"]) == 21
    assert bench.verdict_line(res).startswith("verdict: PASS")


def test_bench_fails_on_an_unmatched_layer(bench, est):
    zz = dict(ZIGZAG, layers=ZIGZAG["layers"] + [dict(ZIGZAG["layers"][0], name="/extra/Conv")])
    res = bench.compare(zz, est)
    assert not res["ok"] and res["unmatched"] == ["/extra/Conv"]
    assert bench.verdict_line(res).startswith("verdict: FAIL: 1 of 22 ZigZag layers unmatched: /extra/Conv")
    # a layer of the right name but another MAC count is a different workload: unmatched too
    zz = dict(ZIGZAG, layers=[dict(ZIGZAG["layers"][0], macs=1.0)] + ZIGZAG["layers"][1:])
    assert not bench.compare(zz, est)["ok"]


def test_bench_fails_beyond_its_tolerance(bench, est):
    res = bench.compare(ZIGZAG, est, tolerance=0.05)        # latency is -6.8% off
    assert not res["ok"] and "latency -6.8% beyond ±5%" in bench.verdict_line(res)


def test_bench_main_exit_code(bench, onnx_path, tmp_path, capsys):
    args = ["--zigzag-json", str(ROOT / "data" / "peers" / "zigzag_resnet18_tpu_like.json"), "--onnx", str(onnx_path)]
    assert bench.main(args) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("verdict: PASS")
    bad = tmp_path / "zz.json"
    bad.write_text(json.dumps(dict(ZIGZAG, layers=ZIGZAG["layers"] + [dict(ZIGZAG["layers"][0], name="/x/Conv")])))
    assert bench.main(["--zigzag-json", str(bad), "--onnx", str(onnx_path)]) == 1
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("verdict: FAIL")
