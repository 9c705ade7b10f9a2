"""System files: presets load; bad files give one-line errors naming the field."""
import copy

import pytest
import yaml

from chiplab.errors import ChiplabError
from chiplab.system import SystemFileError, list_systems, load_system, parse_system
from chiplab.system.spec import SYSTEM_DIR

BASE = yaml.safe_load((SYSTEM_DIR / "dgx-h100.yaml").read_text())


def test_presets_load_with_chips():
    assert {"dgx-a100", "dgx-h100", "tpu-v4-8", "pcie-8x-l40s"} <= set(list_systems())
    h = load_system("dgx-h100")
    assert h.count == 8 and h.link.bandwidth == 450e9 and h.link.latency == pytest.approx(5e-6) and h.chip().name == "h100-sxm"
    t = load_system("tpu-v4-8")
    assert t.count == 4 and t.link.dims == (2, 2, 1)
    assert load_system("pcie-8x-l40s").chip().memory.dram_capacity == 48e9


def test_every_system_figure_is_cited():
    for name in list_systems():
        s = load_system(name)
        for key in ("chips.count", "link.bandwidth", "link.latency"):
            assert key in s.sources, f"{name}: {key} uncited"


def _err(mutate) -> str:
    d = copy.deepcopy(BASE)
    mutate(d)
    with pytest.raises(SystemFileError) as e:
        parse_system(d, origin="s.yaml")
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("s.yaml: ")
    return msg


@pytest.mark.parametrize("mutate,expected", [
    (lambda d: d["link"].__setitem__("bandwidth", 450), "link.bandwidth: missing unit"),
    (lambda d: d["link"].__setitem__("bandwidth", "-1 GB/s"), "link.bandwidth:"),
    (lambda d: d["link"].__setitem__("kind", "carrier-pigeon"), "link.kind:"),
    (lambda d: d["link"].__setitem__("colour", "red"), "link.colour: unknown key"),
    (lambda d: d["chips"].__setitem__("count", 0), "chips.count:"),
    (lambda d: d["chips"].__setitem__("chip", "no-such-chip"), "chips.chip: unknown chip"),
    (lambda d: d.pop("chiplab_system"), "missing format version"),
    (lambda d: d["link"].update(topology="torus"), "dims"),
    (lambda d: d["link"].update(topology="torus", dims=[2, 2, 1]), "link.dims"),
    (lambda d: d["sources"].__setitem__("link", "[C] a section"), "sources.link"),
    (lambda d: d["sources"].__setitem__("link.speed", "[C] x"), "does not name a field"),
])
def test_bad_system_files(mutate, expected):
    assert expected in _err(mutate)


def test_unknown_system_and_duplicate_keys(tmp_path):
    with pytest.raises(ChiplabError, match="unknown system"):
        load_system("dgx-z9000")
    p = tmp_path / "dup.yaml"
    p.write_text((SYSTEM_DIR / "dgx-h100.yaml").read_text() + "name: again\n")
    with pytest.raises(SystemFileError, match="duplicate key 'name'"):
        load_system(str(p))
