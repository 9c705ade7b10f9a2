"""torchvision's whole classification zoo captures, with MACs within 1% of FlopCounterMode
(the same check tools/zoo_macs.py makes for the table in docs/capture.md)."""
import pytest
import torchvision


@pytest.mark.slow
@pytest.mark.parametrize("name", torchvision.models.list_models(module=torchvision.models))
def test_classification_zoo_macs(name):
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("zoo_macs", Path(__file__).parents[2] / "tools" / "zoo_macs.py")
    zoo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(zoo)
    ours, ref, _ = zoo.measure(name)
    assert ref > 0 and abs(ours / ref - 1) <= 0.01, (name, ours, ref)
