"""The chip-file loader: strict, versioned, one-line errors naming the field."""
import copy
from pathlib import Path

import pytest
import yaml

from chiplab.hw import CapabilityError, ChipFileError, ChipSpec, list_presets, load_chip, parse_chip
from chiplab.hw.loader import PRESET_DIR

BASE = yaml.safe_load((PRESET_DIR / "systolic-128.yaml").read_text())


def _err(mutate) -> str:
    d = copy.deepcopy(BASE)
    mutate(d)
    with pytest.raises(ChipFileError) as e:
        parse_chip(d, origin="my_chip.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("my_chip.yaml: ")
    return msg


def test_systolic_128_loads_with_si_units():
    c = load_chip("systolic-128")
    assert isinstance(c, ChipSpec) and c.arch.rows == 128 and c.clock_hz == 1e9
    assert c.arch.ifmap_sram == 65536 and c.energy.mac["int8"] == pytest.approx(0.23e-12)
    assert c.peak_macs_per_s("int8") == 128 * 128 * 1e9
    assert c.citation("energy.mac.int8").startswith("[D]")


@pytest.mark.parametrize("mutate,expected", [
    (lambda d: d["arch"].__setitem__("clock", 700), "arch.clock: missing unit"),
    (lambda d: d["arch"].__setitem__("clock", "700 GB"), "arch.clock: wrong unit 'GB'"),
    (lambda d: d["arch"].__setitem__("colour", "red"), "arch.colour: unknown key"),
    (lambda d: d.pop("energy"), "energy: missing required field"),
    (lambda d: d["arch"].__setitem__("rows", 0), "arch.rows:"),
    (lambda d: d["arch"].__setitem__("dataflow", "rs"), "arch.dataflow:"),
    (lambda d: d["arch"].__setitem__("kind", "quantum"), "arch:"),
    (lambda d: d.__setitem__("native_precision", "fp8"), "native_precision"),
    (lambda d: d["energy"]["mac"].__setitem__("int9", "1 pJ"), "energy.mac"),
    (lambda d: d.__setitem__("chiplab_chip", 7), "unsupported format version 7"),
    (lambda d: d.pop("chiplab_chip"), "missing format version"),
    (lambda d: d["sources"].__setitem__("arch.rows", "trust me"), "sources.arch.rows: citation must start with a tag"),
    (lambda d: d["sources"].__setitem__("arch.nonsense", "[C] x"), "does not name a field"),
])
def test_malformed_chip_gives_one_line_error(mutate, expected):
    assert expected in _err(mutate)


def test_duplicate_key_is_an_error(tmp_path: Path):
    text = (PRESET_DIR / "systolic-128.yaml").read_text().replace("  rows: 128\n", "  rows: 128\n  rows: 64\n")
    p = tmp_path / "dup.yaml"
    p.write_text(text)
    with pytest.raises(ChipFileError, match=r"dup.yaml: duplicate key 'rows' at line \d+"):
        load_chip(p)


def test_bad_yaml_and_missing_file(tmp_path: Path):
    p = tmp_path / "bad.yaml"
    p.write_text("name: [unclosed\n")
    with pytest.raises(ChipFileError, match="not valid YAML"):
        load_chip(p)
    with pytest.raises(ChipFileError, match="no such chip file"):
        load_chip(tmp_path / "nope.yaml")
    with pytest.raises(ChipFileError, match="unknown chip 'nope'"):
        load_chip("nope")


def test_python_construction_takes_si_floats_and_is_frozen():
    c = load_chip("systolic-128")
    c2 = c.model_copy(update={"arch": c.arch.model_copy(update={"rows": 64})})
    assert c2.arch.rows == 64 and c.arch.rows == 128
    d = c.model_dump()
    d["arch"]["clock"] = 2e9           # bare float is SI in Python
    assert ChipSpec.model_validate(d).clock_hz == 2e9
    with pytest.raises(Exception):
        c.arch.rows = 3


def test_capability_error_for_missing_precision():
    c = load_chip("systolic-128")
    with pytest.raises(CapabilityError, match="no fp8 support"):
        c.peak_macs_per_s("fp8")


def test_presets_listed():
    assert "systolic-128" in list_presets()
