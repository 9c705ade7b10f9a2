"""Every preset loads, and every figure in it cites a source ([C]/[D]/[U]/[A])."""
import pytest
import yaml

from chiplab.hw import list_presets, load_chip
from chiplab.hw.loader import PRESET_DIR, ChipFileError, parse_chip

CITED_SECTIONS = ("arch", "memory", "host_link", "vector", "energy", "power")


def _leaves(d, prefix=""):
    """Every figure written in a preset section, down to one entry of a per-precision table."""
    for k, v in d.items():
        path = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict):
            yield from _leaves(v, path)
        else:
            yield path


@pytest.mark.parametrize("name", list_presets())
def test_preset_loads_and_cites_every_figure(name):
    """One citation per figure: its own key ([C]/[D]/[U]/[A]), or an [A] on its section -- never a
    [C]/[D]/[U] on a section (loading refuses that), so a blanket `arch: [C] ...` cites nothing."""
    chip = load_chip(name)
    assert chip.name == name, f"{name}.yaml has name {chip.name!r}"
    raw = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())
    written = [p for s in CITED_SECTIONS if s in raw for p in _leaves(raw[s], s) if p != "arch.kind"]
    assert set(written) <= set(chip.figures()), f"{name}: figures() misses {set(written) - set(chip.figures())}"
    uncited = [p for p in written if chip.citation(p) is None]
    assert not uncited, f"{name}: figures without a source of their own: {uncited}"
    assert chip.uncited() == []
    for key, cite in chip.sources.items():
        if key in CITED_SECTIONS:
            assert cite.startswith("[A]"), f"{name}: section key {key!r} carries {cite[:3]}, only [A] may"
    assert chip.peak_macs_per_s() > 0


def _chip(sources):
    d = yaml.safe_load((PRESET_DIR / "systolic-32.yaml").read_text())
    d["sources"] = sources
    return parse_chip(d, origin="x.yaml")


def test_citation_rule():
    """A figure is cited by its own key, by the key of the table holding it, or by an [A] on its section."""
    c = _chip({"arch.clock": "[C] datasheet p.3", "energy.mac": "[D] Horowitz 2014", "energy": "[A] guessed"})
    assert c.citation("arch.clock").startswith("[C]") and c.citation("arch.rows") is None
    assert c.citation("energy.mac.int8").startswith("[D]") and c.citation("energy.vector_op").startswith("[A]")
    assert "arch.rows" in c.uncited() and "arch.clock" not in c.uncited()
    for tag in ("C", "D", "U"):
        with pytest.raises(ChipFileError, match=rf"sources.memory: a whole section may carry only an \[A\]"):
            _chip({"memory": f"[{tag}] datasheet"})


def test_issue_presets_present():
    have = set(list_presets())
    for name in ("tpu-v1", "systolic-32", "systolic-128", "eyeriss", "a100-sxm4-40gb", "a100-pcie-40gb", "h100-sxm",
                 "t4", "v100-sxm2", "xeon-e5-2699v3"):
        assert name in have


def test_host_is_detected():
    h = load_chip("host")
    assert h.arch.kind == "cpu" and h.arch.cores >= 1 and h.clock_hz > 1e8
    assert h.citation("memory.dram_bandwidth").startswith("[A]")
    assert h.uncited() == [], f"host: figures without a source of their own: {h.uncited()}"
