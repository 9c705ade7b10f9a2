"""Design-space files are strict: one-line errors naming the field."""
from pathlib import Path

import pytest
import yaml

from chiplab.explore.space import SpaceFileError, load_space

TINY = Path(__file__).with_name("tiny_space.yaml")


def _write(tmp_path, text=None, **change):
    data = yaml.safe_load(TINY.read_text())
    params = {**data["parameters"], **change.pop("parameters", {})}
    data.update(change, parameters=params)
    p = tmp_path / "s.yaml"
    p.write_text(text if text is not None else yaml.safe_dump(data))
    (tmp_path / "tiny_gemm.csv").write_text(TINY.with_name("tiny_gemm.csv").read_text())
    return p


def test_tiny_space_loads_with_si_bounds():
    s = load_space(TINY)
    assert s.bounds["memory.dram_bandwidth"] == (4e9, 32e9)
    assert s.directions() == ["minimize", "minimize"]
    assert s.chip({"arch.rows": 8, "arch.cols": 16, "arch.ifmap_sram": "16 KiB",
                   "memory.dram_bandwidth": 8e9}).vector.lanes == 16   # tied


@pytest.mark.parametrize("change, words", [
    ({"objectivs": ["latency"]}, "objectivs: unknown key"),
    ({"objectives": ["speed"]}, "unknown 'speed'"),
    ({"parameters": {"arch.rowz": {"choices": [8]}}}, "parameters.arch.rowz: not a field"),
    ({"parameters": {"arch.rows": {"choices": [0, 8]}}}, "parameters.arch.rows: arch.rows: must be a whole number >= 1"),
    ({"parameters": {"arch.rows": {"int": [8, 64], "choices": [8]}}}, "exactly one of choices, int, float"),
    ({"parameters": {"memory.dram_bandwidth": {"float": ["4 GHz", "8 GB/s"]}}}, "wrong unit"),
    ({"parameters": {"arch.rows": {"int": [64, 8]}}}, "lower bound"),
    ({"base": "no-such-chip"}, "base: unknown chip"),
    ({"tied": {"vector.lanes": "arch.foo"}}, "tied.vector.lanes"),
])
def test_bad_space_is_one_line_error_naming_the_field(tmp_path, change, words):
    with pytest.raises(SpaceFileError) as e:
        load_space(_write(tmp_path, **change))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_duplicate_key_refused(tmp_path):
    text = TINY.read_text().replace("node_nm: 28", "node_nm: 28\nnode_nm: 7")
    with pytest.raises(SpaceFileError, match="duplicate key 'node_nm'"):
        load_space(_write(tmp_path, text=text))
