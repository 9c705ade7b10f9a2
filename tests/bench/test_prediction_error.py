"""bench/prediction_error.py fits the chip a CSV was measured on, never silently the host running it."""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CSV = ROOT / "data" / "measurements" / "cpu-epyc-2core-2026-11-24.csv"
CHIP = ROOT / "data" / "measurements" / "cpu-epyc-2core-2026-11-24.chip.yaml"


@pytest.fixture(scope="module")
def bench(load_script):
    return load_script("bench/prediction_error.py")


def _csv_from(tmp_path, device_name, ops_only=True):
    """A copy of the committed CSV (GEMM/conv/attention rows only, to stay fast) that claims another device."""
    lines = CSV.read_text().splitlines()
    out = []
    for l in lines:
        if l.startswith("# device_name:"):
            l = f"# device_name: {device_name}"
        if ops_only and l.startswith("model,"):
            continue
        out.append(l)
    p = tmp_path / "other-device.csv"
    p.write_text("\n".join(out) + "\n")
    return p


def test_refuses_a_csv_from_another_device(bench, tmp_path, capsys):
    p = _csv_from(tmp_path, "Imaginary CPU 9000")
    assert bench.main([str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "Imaginary CPU 9000" in err[0] and "--chip" in err[0]


def test_accepts_it_with_its_chip_file(bench, tmp_path, capsys):
    p = _csv_from(tmp_path, "Imaginary CPU 9000")
    assert bench.main([str(p), "--chip", str(CHIP)]) == 0
    out = capsys.readouterr().out
    assert "on chip cpu-epyc-2core-vm" in out and "gemm/conv (per operator)" in out


def test_committed_csv_uses_its_own_chip_file(bench):
    from chiplab.measure.sweep import read_csv

    df, prov = read_csv(CSV)
    assert bench.chip_file_for(CSV) == CHIP and CHIP.exists()
    chip = bench.base_chip(CSV, prov, None)
    assert chip.name == "cpu-epyc-2core-vm" and chip.arch.threads == 1


def test_host_only_when_measured_here(bench, tmp_path, monkeypatch):
    import platform

    from chiplab.hw import host

    monkeypatch.setattr(host, "_cpuinfo", lambda: {"model name": "Imaginary CPU 9000"})
    p = tmp_path / "here.csv"                          # no chip file next to it
    prov = {"device": "cpu", "device_name": "Imaginary CPU 9000", "host": platform.node(),
            "machine": platform.machine(), "threads": "1"}
    assert bench.base_chip(p, prov, None).name == "host"
