"""The rasterizer as a hardware block: protocol, scaling with faces and pixels, errors."""
import pytest

from chiplab.diff.raster import MeshRenderer, RasterHwError, RasterHwModel, RenderSettings
from chiplab.hwblock import HardwareBlock, HwCost


def test_protocol_and_cost_fields():
    r = MeshRenderer(RenderSettings(image_size=(64, 64), soft=False))
    assert isinstance(r, HardwareBlock) and r.hw_block_name == "rasterizer"
    c = r.hw_cost([(1, 100, 3), (200, 3), (1, 3, 3), (1, 3)])
    assert isinstance(c, HwCost) and c.cycles > 0 and c.energy_j > 0 and c.latency_s > 0
    assert c.energy_j == pytest.approx(sum(c.breakdown.values()))
    assert any("Horowitz" in n for n in c.notes)


def test_cost_scales_with_faces_pixels_and_batch():
    hw = RasterHwModel()
    small = hw.cost(1, 100, 64, 64)
    assert hw.cost(1, 200, 64, 64).breakdown["triangle_setup"] == pytest.approx(2 * small.breakdown["triangle_setup"])
    assert hw.cost(1, 100, 128, 128).breakdown["fragments"] == pytest.approx(4 * small.breakdown["fragments"])
    assert hw.cost(2, 100, 64, 64).energy_j == pytest.approx(2 * small.energy_j)
    # setup-bound with many faces, fill-bound with many pixels
    assert hw.cost(1, 1_000_000, 64, 64).cycles == pytest.approx(1_000_000 + hw.pipeline_latency)
    assert hw.cost(1, 10, 1024, 1024).cycles == pytest.approx(1024 * 1024 * hw.overdraw / hw.fill_rate + hw.pipeline_latency)
    soft = MeshRenderer(RenderSettings(image_size=(64, 64), soft=True, faces_per_pixel=4))
    hard = MeshRenderer(RenderSettings(image_size=(64, 64), soft=False))
    shapes = [(100, 3), (200, 3)]
    assert soft.hw_cost(shapes).energy_j > hard.hw_cost(shapes).energy_j


def test_cost_errors():
    with pytest.raises(RasterHwError, match="fill_rate"):
        RasterHwModel(fill_rate=0)
    with pytest.raises(RasterHwError, match="faces"):
        RasterHwModel().cost(1, -1, 8, 8)
    with pytest.raises(RasterHwError, match="faces"):
        MeshRenderer().hw_cost([(10, 3), (5, 4)])
