"""NumericsSpec: YAML in a chip file (through the chip loader), the docs example, defaults, errors."""
import re
from pathlib import Path

import pytest
import yaml

from chiplab.emu.resolve import resolve_chip
from chiplab.emu.spec import NumericsSpec, default_numerics

ROOT = Path(__file__).resolve().parents[2]


def _docs_example() -> str:
    text = (ROOT / "docs" / "numerics.md").read_text()
    block = re.search(r"```yaml\n(numerics:.*?)```", text, re.S)
    assert block, "docs/numerics.md must hold a ```yaml numerics: example"
    return block.group(1)


def test_docs_example_validates_and_runs_through_chip_loader(tmp_path):
    from chiplab.hw import load_chip_file

    base = (ROOT / "chiplab" / "hw" / "presets" / "systolic-128.yaml").read_text()
    f = tmp_path / "chip.yaml"
    f.write_text(base + "\n" + _docs_example())
    spec = load_chip_file(f)
    name, n = resolve_chip(spec)
    assert name == "systolic-128" and n.conv.accumulator.chunk == 64 and "softmax" in n.host


def test_bad_numerics_in_chip_file_names_the_field(tmp_path):
    from chiplab.hw import ChipFileError, load_chip_file

    base = (ROOT / "chiplab" / "hw" / "presets" / "systolic-128.yaml").read_text()
    bad = _docs_example().replace("overflow: wrap", "overflow: explode")
    f = tmp_path / "chip.yaml"
    f.write_text(base + "\n" + bad)
    with pytest.raises(ChipFileError, match=r"numerics\.conv\.accumulator\.overflow"):
        load_chip_file(f)


def test_frozen_and_strict():
    n = default_numerics("int8")
    with pytest.raises(Exception):
        n.vector = None
    with pytest.raises(ValueError, match="extra"):
        NumericsSpec.model_validate({"conv": None, "colour": 1})
    with pytest.raises(ValueError, match="native_precision"):
        default_numerics("int3")


@pytest.mark.parametrize("p", ["int8", "fp8", "bf16", "fp16", "fp32"])
def test_defaults_round_trip_yaml(p):
    n = default_numerics(p)
    assert NumericsSpec.model_validate(yaml.safe_load(yaml.safe_dump(n.model_dump(mode="json")))) == n
