"""Every quantity in a chip file is checked against its physical range, once, in the pydantic
types (chiplab.hw.quantity, Count and Rates in chiplab.hw.arch.base): the error is one line
naming the field and echoing the value as written."""
import copy
import os
import time

import pytest
import yaml

from chiplab.hw import ChipFileError, load_chip, parse_chip
from chiplab.hw.loader import MAX_ALIASES, PRESET_DIR

BASE = yaml.safe_load((PRESET_DIR / "systolic-128.yaml").read_text())
DPU = yaml.safe_load((PRESET_DIR / "vck5000-dpu.yaml").read_text())


def _err(base, path, value) -> str:
    d = copy.deepcopy(base)
    o = d
    for k in path[:-1]:
        o = o.setdefault(k, {})
    o[path[-1]] = value
    with pytest.raises(ChipFileError) as e:
        parse_chip(d, origin="tpu.yaml")
    msg = str(e.value)
    assert "\n" not in msg and len(msg) < 320, msg
    return msg


@pytest.mark.parametrize("path,value,expected", [
    (("arch", "clock"), "0 GHz", "arch.clock: must be > 0, got 0 GHz"),            # was ZeroDivisionError
    (("arch", "clock"), "-1 GHz", "arch.clock: must be > 0, got -1 GHz"),
    (("arch", "clock"), "1e300 Hz", "arch.clock: must be < 100 GHz"),
    (("arch", "clock"), "1e400 Hz", "arch.clock:"),                                # overflows to inf
    (("arch", "clock"), "500 Hz", "arch.clock: must be >= 1 kHz"),
    (("memory", "dram_bandwidth"), "0 GB/s", "memory.dram_bandwidth: must be > 0"),
    (("memory", "dram_bandwidth"), "2000 TB/s", "memory.dram_bandwidth: must be < 1 PB/s"),
    (("arch", "ifmap_sram"), "1e-320 MiB", "arch.ifmap_sram: must be >= 1 B, got 1e-320 MiB"),  # was OverflowError
    (("arch", "ifmap_sram"), "0.5 B", "arch.ifmap_sram: must be >= 1 B"),
    (("energy", "vector_op"), "-1 pJ", "energy.vector_op: must be >= 0, got -1 pJ"),
    (("energy", "mac", "int8"), "2 J", "energy.mac.int8: must be < 1 J"),
    (("energy", "static_power"), "-3 W", "energy.static_power: must be >= 0"),
    (("power", "price"), "-1 USD", "power.price: must be >= 0, got -1 USD"),
    (("power", "tdp"), "0 W", "power.tdp: must be > 0"),
    (("power", "tdp"), "0.1 W", "tpu.yaml: energy.static_power: 500 mW is not below power.tdp 100 mW"),
    (("host_link", "latency"), "-5 us", "host_link.latency: must be >= 0"),
    (("arch", "macs_per_pe", "int8"), float("nan"), "arch.macs_per_pe: int8: must be > 0"),
    (("arch", "macs_per_pe", "int8"), float("inf"), "arch.macs_per_pe: int8: must be > 0"),
    (("arch", "macs_per_pe", "int8"), -1, "arch.macs_per_pe: int8: must be > 0"),
    (("arch", "rows"), 0, "arch.rows: must be a whole number >= 1, got 0"),
    (("arch", "rows"), 10**30, "arch.rows: must be a whole number in 1.."),
    (("arch", "rows"), 2.5, "arch.rows: must be a whole number >= 1, got 2.5"),
    (("arch", "rows"), True, "arch.rows: must be a whole number"),
    (("vector", "lanes"), -4, "vector.lanes: must be a whole number >= 1"),
    (("arch", "clock"), "x" * 10_000, "arch.clock: cannot read"),                 # not echoed whole
    (("name",), "n" * 10_000, "name: String should have at most 200 characters"),  # names appear in messages
])
def test_out_of_range_quantity_is_refused_naming_the_field(path, value, expected):
    assert expected in _err(BASE, path, value)


def test_fpga_macs_per_lane_is_checked_like_every_rate():
    assert "arch.macs_per_lane: int8: must be > 0" in _err(DPU, ("arch", "macs_per_lane", "int8"), -1)


def test_python_floats_are_range_checked_too_but_may_be_unlimited_bandwidth():
    c = load_chip("systolic-128")
    d = c.model_dump()
    d["arch"]["clock"] = -1.0
    with pytest.raises(ValueError, match="must be > 0"):
        type(c).model_validate(d)
    d["arch"]["clock"] = 1e9
    d["memory"]["dram_bandwidth"] = float("inf")     # SCALE-Sim CALC mode: stall-free, from Python only
    assert type(c).model_validate(d).memory.dram_bandwidth == float("inf")
    d["memory"]["dram_bandwidth"] = float("nan")
    with pytest.raises(ValueError, match="must be a number"):
        type(c).model_validate(d)


def test_every_preset_is_within_range():
    from chiplab.hw import list_presets

    for name in list_presets():
        load_chip(name)


def _bomb(tmp_path, levels=9):
    lines = ['  x0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"  x{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, levels + 1)]
    text = (PRESET_DIR / "systolic-128.yaml").read_text().replace("  clock: 1 GHz", f"  clock: *a{levels}")
    p = tmp_path / "bomb.yaml"
    p.write_text("bomb:\n" + "\n".join(lines) + "\n" + text)
    return p


def test_yaml_alias_bomb_is_refused_fast_and_not_echoed(tmp_path):
    # before: validation walked 9**9 shared values for minutes at ~9 GB
    t = time.perf_counter()
    with pytest.raises(ChipFileError, match="expands to more than") as e:
        load_chip(_bomb(tmp_path))
    assert time.perf_counter() - t < 2 and len(str(e.value)) < 200


def test_too_many_aliases_and_recursive_alias(tmp_path):
    p = tmp_path / "many.yaml"
    p.write_text("a: &x 1\nb: [" + ",".join(["*x"] * (MAX_ALIASES + 1)) + "]\n")
    with pytest.raises(ChipFileError, match="more than 100 YAML aliases"):
        load_chip(p)
    p.write_text("a: &x [1, *x]\n")
    with pytest.raises(ChipFileError, match="refers to itself|not valid YAML"):
        load_chip(p)
    p.write_text("a: " + "[" * 500 + "]" * 500 + "\n")
    with pytest.raises(ChipFileError, match="nested more than"):
        load_chip(p)


def test_unsafe_tag_still_refused(tmp_path):
    p = tmp_path / "evil.yaml"
    p.write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(ChipFileError, match="not valid YAML"):
        load_chip(p)


def test_oversized_directory_fifo_and_binary_chip_files(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text("# " + "x" * (2 * 2**20) + "\n")
    with pytest.raises(ChipFileError, match="more than the 1 MiB limit"):
        load_chip(big)
    d = tmp_path / "dir.yaml"
    d.mkdir()
    with pytest.raises(ChipFileError, match="is a directory"):
        load_chip(d)
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)                      # before: read_text() blocked forever
    with pytest.raises(ChipFileError, match="not a regular file"):
        load_chip(fifo)
    b = tmp_path / "bin.yaml"
    b.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ChipFileError, match="not a text chip file|not valid YAML"):
        load_chip(b)
    with pytest.raises(ChipFileError, match="unknown chip"):
        load_chip("y" * 5000)            # too long for a path: not an OSError traceback


def test_unhashable_key_is_one_line(tmp_path):
    p = tmp_path / "k.yaml"
    p.write_text("? [a, b]\n: 1\n")
    with pytest.raises(ChipFileError, match="a key must be a plain name"):
        load_chip(p)
