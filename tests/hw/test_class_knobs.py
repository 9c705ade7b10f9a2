"""Class efficiency knobs: one cited data file, inherited by every chip of the class."""
import shutil

import pytest

from chiplab.errors import ChiplabError
from chiplab.hw import load_chip
from chiplab.hw.arch.cpu import CpuArch
from chiplab.hw.arch.fpga import FpgaOverlayArch
from chiplab.hw.arch.gpu import GpuArch
from chiplab.hw.arch.mesh import MeshArch
from chiplab.hw.class_knobs import (DEFAULT_PATH, ClassKnobError, fitted_knobs, knob_default, load_class_knobs,
                                    write_knobs)
from chiplab.hw.loader import list_presets

ARCH = {"gpu": GpuArch, "cpu": CpuArch, "mesh": MeshArch, "fpga_overlay": FpgaOverlayArch}


def test_every_knob_is_cited_and_is_the_arch_default():
    knobs = load_class_knobs()
    assert set(knobs) == set(ARCH)
    for kind, ks in knobs.items():
        for name, k in ks.items():
            assert k.source[:3] in ("[C]", "[D]", "[U]", "[A]"), (kind, name)
            assert ARCH[kind].model_fields[name].default == k.value, (kind, name)


def test_presets_inherit_unless_they_cite_their_own():
    """A preset that sets a class knob cites it; one that does not gets the class figure."""
    knobs = load_class_knobs()
    for name in list_presets():
        chip = load_chip(name)
        for kname, k in knobs.get(chip.arch.kind, {}).items():
            if kname in chip.arch.model_fields_set:
                assert chip.citation(f"arch.{kname}") is not None, (name, kname)
            else:
                assert getattr(chip.arch, kname) == k.value, (name, kname)


def test_gpu_fits_its_efficiencies_only():
    assert [k.name for k in fitted_knobs("gpu")] == ["tensor_efficiency", "dram_efficiency"]
    assert fitted_knobs("npu") == []


def _copy(tmp_path):
    p = tmp_path / "knobs.yaml"
    shutil.copy(DEFAULT_PATH, p)
    return p


@pytest.mark.parametrize("old,new,msg", [
    ('    value: 0.7\n    bounds: [0.05, 1.0]\n    fit: false\n    source: "[A] fraction of SIMD',
     '    value: 1.5\n    bounds: [0.05, 1.0]\n    fit: false\n    source: "[A] fraction of SIMD', "outside bounds"),
    ('source: "[A] fraction of SIMD', 'source: "fraction of SIMD', "must start with a tag"),
    ("    value: 4 us\n", "    value: 4 GHz\n", "wrong unit"),
    ("    fit: false\n", "    fit: maybe\n", "fit: expected true or false"),
    ("    value: 0.7\n", "    value: 0.7\n    extra: 1\n", "fields must be exactly"),
])
def test_malformed_file_is_one_line_error_naming_the_knob(tmp_path, old, new, msg):
    p = _copy(tmp_path)
    text = p.read_text()
    assert old in text
    p.write_text(text.replace(old, new, 1))
    with pytest.raises(ClassKnobError, match=msg) as e:
        load_class_knobs(p)
    assert isinstance(e.value, ChiplabError) and "\n" not in str(e.value)


def test_write_knobs_rewrites_value_and_source_only(tmp_path):
    p = _copy(tmp_path)
    before = p.read_text()
    write_knobs({("gpu", "dram_efficiency"): (0.6123, '[D] fitted by a test "quoted"')}, p)
    k = load_class_knobs(p)["gpu"]["dram_efficiency"]
    assert k.value == pytest.approx(0.6123) and k.source == '[D] fitted by a test "quoted"'
    assert load_class_knobs(p)["gpu"]["tensor_efficiency"].value == knob_default("gpu", "tensor_efficiency")
    changed = [a for a, b in zip(before.splitlines(), p.read_text().splitlines()) if a != b]
    assert len(changed) == 2 and len(before.splitlines()) == len(p.read_text().splitlines())
    with pytest.raises(ClassKnobError, match="no entry for gpu.nope"):
        write_knobs({("gpu", "nope"): (0.5, "[D] x")}, p)
