"""Systolic presets load, cite their figures, and SCALE-Sim configs import with clear errors."""
from pathlib import Path

import pytest

from chiplab.hw import load_chip
from chiplab.hw.loader import ChipFileError, load_chip_file

PEERS = Path(__file__).resolve().parents[1] / "data" / "scalesim"   # copies of public SCALE-Sim configs (data/README.md)


@pytest.mark.parametrize("name,rows,cols,df,peak", [
    ("tpu-v1", 256, 256, "ws", 65536 * 700e6), ("systolic-32", 32, 32, "ws", 1024e9),
    ("systolic-128", 128, 128, "ws", 16384e9)])
def test_presets(name, rows, cols, df, peak):
    c = load_chip(name)
    assert (c.arch.rows, c.arch.cols, c.arch.dataflow) == (rows, cols, df)
    assert c.peak_macs_per_s() == pytest.approx(peak)
    for f in ("arch.rows", "arch.cols", "arch.clock", "arch.ifmap_sram", "energy.mac", "memory.dram_bandwidth"):
        assert c.citation(f), f"{name}: {f} has no source"


def test_tpu_v1_figures_from_chips_md():
    c = load_chip("tpu-v1")
    assert 2 * c.peak_macs_per_s() == pytest.approx(92e12, rel=0.005)   # "92 TOPS"
    assert c.arch.ifmap_sram == 24 * 2**20 and c.arch.ofmap_sram == 4 * 2**20
    assert c.memory.dram_bandwidth == 34e9 and c.power.tdp == 75


def test_systolic_32_matches_scalesim_config():
    ours, theirs = load_chip("systolic-32"), load_chip_file(f"{PEERS}/ss_32_ws.cfg")
    for f in ("rows", "cols", "dataflow", "ifmap_sram", "filter_sram", "ofmap_sram"):
        assert getattr(ours.arch, f) == getattr(theirs.arch, f), f


def test_cfg_import():
    c = load_chip(f"{PEERS}/ss_128_os.cfg")
    assert (c.arch.rows, c.arch.cols, c.arch.dataflow, c.arch.ifmap_sram) == (128, 128, "os", 65536)
    assert c.memory.dram_bandwidth == float("inf")        # CALC: stall-free


def _cfg(tmp_path, text):
    p = tmp_path / "x.cfg"
    p.write_text(text)
    return p


BASE = """[general]
run_name = t
[architecture_presets]
ArrayHeight: 16
ArrayWidth: 8
IfmapSramSzkB: 8
FilterSramSzkB: 8
OfmapSramSzkB: 8
Bandwidth : 4
Dataflow : {df}
[layout]
IfmapSRAMBankBandwidth: 2
FilterSRAMBankBandwidth: 3
[run_presets]
InterfaceBandwidth: {mode}
"""


def test_cfg_user_bandwidths(tmp_path):
    c = load_chip(_cfg(tmp_path, BASE.format(df="is", mode="USER")))
    a = c.arch
    assert (a.ifmap_dram_bandwidth, a.filter_dram_bandwidth, a.ofmap_dram_bandwidth) == (2, 3, 4)
    assert a.dataflow == "is" and a.rows == 16 and a.cols == 8


@pytest.mark.parametrize("text,msg", [
    (BASE.format(df="rs", mode="CALC"), "Dataflow: must be os, ws or is"),
    (BASE.format(df="ws", mode="FAST"), "InterfaceBandwidth: must be CALC or USER"),
    (BASE.format(df="ws", mode="CALC").replace("ArrayWidth: 8", "ArrayWidth: eight"), "ArrayWidth: expected an integer"),
    (BASE.format(df="ws", mode="CALC").replace("ArrayHeight: 16\n", ""), "ArrayHeight: missing required key"),
    (BASE.format(df="ws", mode="CALC").replace("IfmapSramSzkB: 8", "IfmapSramSzkB: 0"), "IfmapSramSzkB: must be > 0"),
    (BASE.format(df="ws", mode="USER").replace("Bandwidth : 4", "Bandwidth : lots"), "Bandwidth: expected an integer"),
    ("no sections here", "not a SCALE-Sim config"),
    ("[general]\nrun_name = t\n", "architecture_presets"),
    # found by fuzzing: each was a traceback or an absurd chip before
    (BASE.format(df="ws", mode="CALC").replace("run_name = t", "run_name = %(x)s"), None),   # InterpolationMissingOptionError
    (BASE.format(df="ws", mode="CALC").replace("ArrayHeight: 16", "ArrayHeight: 99999999999"), "ArrayHeight: must be <= 10,000,000"),
    (BASE.format(df="ws", mode="USER").replace("Bandwidth : 4", "Bandwidth : 9999999"), "memory.dram_bandwidth: must be < 1 PB/s"),
    (BASE.format(df="ws", mode="USER").replace("Bandwidth : 4", "Bandwidth : -4"), "Bandwidth: must be > 0"),
])
def test_cfg_errors_are_one_line(tmp_path, text, msg):
    if msg is None:      # '%' is data: the name is taken as written
        assert load_chip(_cfg(tmp_path, text)).name == "%(x)s"
        return
    with pytest.raises(ChipFileError, match=msg) as e:
        load_chip(_cfg(tmp_path, text))
    assert "\n" not in str(e.value)


def test_cfg_that_is_a_directory_fifo_or_empty(tmp_path):
    import os

    (tmp_path / "d.cfg").mkdir()
    with pytest.raises(ChipFileError, match="is a directory"):
        load_chip(tmp_path / "d.cfg")
    os.mkfifo(tmp_path / "f.cfg")        # before: blocked forever in read_text()
    with pytest.raises(ChipFileError, match="not a regular file"):
        load_chip(tmp_path / "f.cfg")
    with pytest.raises(ChipFileError, match="empty SCALE-Sim config"):
        load_chip(_cfg(tmp_path, ""))


def test_malformed_preset_yaml(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text((__import__("chiplab.hw.loader", fromlist=["PRESET_DIR"]).PRESET_DIR / "tpu-v1.yaml")
                 .read_text().replace("dataflow: ws", "dataflow: rs"))
    with pytest.raises(ChipFileError, match="arch.dataflow"):
        load_chip(p)


def test_estimate_from_cfg_path():
    """The public API takes a SCALE-Sim .cfg as the chip (tests/data/README.md: SCALE-Sim WS, 11,199 cycles)."""
    from chiplab.ir.graph import GemmShape, Graph, Node, OpKind
    from chiplab.perf.estimate import estimate

    g = GemmShape(256, 128, 256)
    est = estimate(Graph("t", [Node("g", OpKind.GEMM, gemm=g, macs=g.macs)]), f"{PEERS}/ss_32_ws.cfg",
                   compat="scalesim")
    assert est.layers[0].compute_cycles == 11199 and est.layers[0].stall_cycles == 0
