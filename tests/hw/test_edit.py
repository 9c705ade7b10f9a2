"""The validated chip editor: a changed chip is re-validated, bad values name the field."""
import pytest

from chiplab.hw import load_chip
from chiplab.hw.dump import save_chip
from chiplab.hw.edit import EditError, edit


def test_edit_changes_fields_and_recites_them(tmp_path):
    base = load_chip("systolic-32")
    chip = edit(base, {"arch.rows": 64, "arch.ifmap_sram": "2 MiB", "memory.dram_bandwidth": 3.2e10}, name="s64")
    assert (chip.arch.rows, chip.arch.ifmap_sram, chip.memory.dram_bandwidth) == (64, 2 * 2**20, 3.2e10)
    assert chip.name == "s64" and base.arch.rows == 32
    assert chip.sources["arch.rows"].startswith("[A]") and "SCALE-Sim" in base.sources["arch.rows"]
    assert chip.uncited() == []
    again = load_chip(save_chip(chip, tmp_path / "s64.yaml"))   # the edited chip writes a file that loads
    # (hw/dump.py writes 6 significant digits: 2 MiB comes back as 2097150 B)
    assert again.arch.rows == 64 and again.arch.ifmap_sram == pytest.approx(chip.arch.ifmap_sram, rel=1e-5)


@pytest.mark.parametrize("change, words", [
    ({"arch.rows": 0}, "arch.rows: must be a whole number >= 1"),
    ({"arch.rowz": 3}, "did you mean 'arch.rows'"),
    ({"arch.ifmap_sram": "2 MHz"}, "arch.ifmap_sram: wrong unit"),
    ({"native_precision": "fp16"}, "native_precision"),
    ({"arch.dataflow": "xs"}, "arch.dataflow"),
])
def test_bad_edits_are_one_line_errors_naming_the_field(change, words):
    with pytest.raises(EditError) as e:
        edit(load_chip("systolic-32"), change)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_model_copy_would_have_accepted_the_bad_value():
    """Why the editor exists: pydantic's model_copy skips validation."""
    base = load_chip("systolic-32")
    assert base.model_copy(update={"arch": base.arch.model_copy(update={"rows": -1})}).arch.rows == -1
    with pytest.raises(EditError):
        edit(base, {"arch.rows": -1})
