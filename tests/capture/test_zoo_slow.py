"""torchvision's whole classification zoo captures, with MACs within 1% of FlopCounterMode
(the same check tools/zoo_macs.py makes for the table in docs/capture.md)."""
import pytest
import torchvision


@pytest.mark.slow
@pytest.mark.parametrize("name", torchvision.models.list_models(module=torchvision.models))
def test_classification_zoo_macs(name, load_script):
    zoo = load_script("tools/zoo_macs.py")
    ours, ref, _ = zoo.measure(name)
    assert ref > 0 and abs(ours / ref - 1) <= 0.01, (name, ours, ref)
