"""Every preset loads, and every figure in it cites a source ([C]/[D]/[U]/[A])."""
import pytest
import yaml

from chiplab.hw import list_presets, load_chip
from chiplab.hw.loader import PRESET_DIR

CITED_SECTIONS = ("arch", "memory", "host_link", "vector", "energy", "power")


def _leaves(d, prefix=""):
    for k, v in d.items():
        path = f"{prefix}.{k}" if prefix else k
        if isinstance(v, dict) and k not in ("mac", "macs_per_pe", "tensor_macs_per_sm", "simd_macs_per_core"):
            yield from _leaves(v, path)
        else:
            yield path


@pytest.mark.parametrize("name", list_presets())
def test_preset_loads_and_cites_every_figure(name):
    chip = load_chip(name)
    assert chip.name == name, f"{name}.yaml has name {chip.name!r}"
    raw = yaml.safe_load((PRESET_DIR / f"{name}.yaml").read_text())
    uncited = [p for s in CITED_SECTIONS if s in raw for p in _leaves(raw[s], s)
               if p not in ("arch.kind", "arch.dataflow", "arch.double_buffered") and chip.citation(p) is None]
    assert not uncited, f"{name}: figures without a source: {uncited}"
    assert chip.peak_macs_per_s() > 0


def test_issue_presets_present():
    have = set(list_presets())
    for name in ("tpu-v1", "systolic-32", "systolic-128", "eyeriss", "a100-sxm4-40gb", "a100-pcie-40gb", "h100-sxm",
                 "t4", "v100-sxm2", "xeon-e5-2699v3"):
        assert name in have


def test_host_is_detected():
    h = load_chip("host")
    assert h.arch.kind == "cpu" and h.arch.cores >= 1 and h.clock_hz > 1e8
    assert h.citation("memory.dram_bandwidth").startswith("[A]")
