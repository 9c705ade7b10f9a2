"""The batch pricer (chiplab.perf.systolic_batch) equals chiplab.estimate per point, rel 1e-9."""
import random
from pathlib import Path

import pytest

import chiplab
from chiplab.errors import ChiplabError
from chiplab.capture.scalesim_csv import import_scalesim_csv
from chiplab.hw import load_chip
from chiplab.hw.edit import edit
from chiplab.perf.systolic_batch import BatchWorkload, price_many, unsupported

HERE = Path(__file__).parent
EDGE = {   # examples/space_edge.yaml's parameters (lanes tied to cols)
    "arch.rows": [8, 16, 32, 64, 128], "arch.cols": [8, 16, 32, 64, 128], "arch.dataflow": ["ws", "os", "is", "flexible"],
    "arch.ifmap_sram": ["32 KiB", "64 KiB", "128 KiB", "256 KiB", "512 KiB", "1 MiB", "2 MiB"],
    "arch.filter_sram": ["16 KiB", "32 KiB", "64 KiB", "128 KiB", "256 KiB"],
    "arch.ofmap_sram": ["16 KiB", "32 KiB", "64 KiB", "128 KiB"], "arch.clock": ["400 MHz", "600 MHz", "800 MHz", "1 GHz"],
    "memory.dram_bandwidth": ["8 GB/s", "16 GB/s", "32 GB/s"],
}
ODD = {    # the other branches: single buffering, psums that chunk, extreme DRAM, a TDP that bites, packed MACs
    "arch.rows": [4, 8, 32], "arch.cols": [4, 16, 64], "arch.dataflow": ["ws", "os", "is", "flexible"],
    "arch.ifmap_sram": ["1 KiB", "16 KiB", "64 KiB", "4 MiB"], "arch.filter_sram": ["1 KiB", "16 KiB", "1 MiB"],
    "arch.ofmap_sram": ["256 B", "1 KiB", "4 KiB", "64 KiB"], "arch.double_buffered": [True, False],
    "arch.clock": ["200 MHz", "1 GHz"], "memory.dram_bandwidth": ["1 MB/s", "100 MB/s", "16 GB/s", float("inf")],
    "arch.macs_per_pe.int8": [0.5, 1, 2, 3], "power.tdp": [None, "0.12 W", "0.3 W", "1 W"],
    "energy.static_power": ["0.01 W", "0.1 W"], "energy.dram_read_per_byte": ["20 pJ", "160 pJ"],
}


def _tiny_convnet():
    """A small ResNet/MobileNet-like net: stride-2 conv, depthwise conv, residual add, pools, linear."""
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
            self.dw = nn.Sequential(nn.Conv2d(16, 16, 3, 1, 1, groups=16), nn.ReLU6(), nn.Conv2d(16, 32, 1))
            self.skip = nn.Conv2d(16, 32, 1)
            self.body = nn.Sequential(nn.Conv2d(32, 32, 3, 1, 1), nn.BatchNorm2d(32))
            self.pool = nn.MaxPool2d(2)
            self.fc = nn.Linear(32, 10)

        def forward(self, x):
            x = self.stem(x)
            y = self.dw(x) + self.skip(x)
            y = torch.relu(self.body(y) + y)
            y = self.pool(y).mean((2, 3))
            return torch.softmax(self.fc(y), -1)

    from chiplab.capture.torch_export import capture

    torch.manual_seed(0)
    return capture(Net().eval(), (torch.randn(1, 3, 32, 32),), name="tinyconv")


CONV_JSON = HERE / "tinyconv_graph.json"   # _tiny_convnet() captured once (capture costs ~5 s; see the slow test)


@pytest.fixture(scope="module")
def graphs():
    from chiplab.ir.graph import Graph

    return [import_scalesim_csv(str(HERE / "mixed_gemm.csv")), import_scalesim_csv(str(HERE / "tiny_gemm.csv")),
            Graph.from_json(CONV_JSON.read_text())]


@pytest.mark.slow
def test_saved_conv_graph_is_the_capture():
    assert _tiny_convnet().to_json() == CONV_JSON.read_text()


@pytest.mark.slow
def test_batch_equals_estimate_on_resnet50_and_mobilenet_v2():
    from chiplab.capture.workloads import load_graph

    chips = _points(EDGE, 40, seed=5) + _points(ODD, 40, seed=6)
    for name in ("resnet50", "mobilenet_v2"):
        _check(load_graph(name), chips)


def _points(choices: dict, n: int, seed: int, base: str = "systolic-32", extra: dict | None = None):
    rng = random.Random(seed)
    b = load_chip(base)
    if extra:
        b = edit(b, extra)
    chips = []
    for _ in range(n):
        p = {k: rng.choice(v) for k, v in choices.items()}
        p["vector.lanes"] = p["arch.cols"]
        chips.append(edit(b, p))
    return chips


def _check(graph, chips):
    work = BatchWorkload(graph)
    assert work.reason is None
    got = price_many(work, chips)
    n_batched = 0
    for chip, g in zip(chips, got):
        try:
            est = chiplab.estimate(graph, chip)
        except ChiplabError:
            assert g is None, "the batch priced a point the scalar estimate refuses"
            continue
        if g is None:
            assert unsupported(chip) is not None or chip.power.tdp is not None
            continue
        n_batched += 1
        assert g.batch == est.batch
        for f in ("latency_s", "energy_j", "power_w"):
            assert getattr(g, f) == pytest.approx(getattr(est, f), rel=1e-9, abs=0), (f, chip.arch, chip.memory)
    return n_batched


def test_batch_equals_estimate_on_the_edge_space(graphs):
    chips = _points(EDGE, 200, seed=1)
    for g in graphs:
        assert _check(g, chips) == len(chips)


def test_batch_equals_estimate_on_other_branches(graphs):
    chips = _points(ODD, 200, seed=2)
    counted = [_check(g, chips) for g in graphs]
    assert min(counted) >= 150          # almost every point batched (the rest: static power over the TDP)


def test_batch_equals_estimate_with_another_precision_and_no_host_link(graphs):
    extra = {"arch.macs_per_pe": {"int8": 1, "fp16": 0.5}, "energy.mac.fp16": "1 pJ", "native_precision": "fp16",
             "host_link": None}
    chips = _points({k: v for k, v in ODD.items() if k != "arch.macs_per_pe.int8"}, 60, seed=3, extra=extra)
    for g in graphs:
        assert _check(g, chips) >= 40


def test_batch_hits_the_psum_chunking_and_tdp_branches(graphs):
    """The ODD space really exercises the branches the batch mirrors (else the checks above prove little)."""
    chips = _points(ODD, 200, seed=2)
    ests = [chiplab.estimate(graphs[0], c) for c in chips if c.power.tdp is None or c.energy.static_power < c.power.tdp]
    notes = [n for e in ests for l in e.layers for n in l.notes]
    assert any("chunked so psums stay" in n for n in notes)
    assert any(n.startswith("power wall") for e in ests for n in e.notes)


def test_unsupported_points_come_back_none(graphs):
    chips = [load_chip("zigzag-tpu-like"), edit(load_chip("systolic-32"), {"arch.conv_rows": "channels"}),
             load_chip("tpu-v3")]
    assert all(unsupported(c) for c in chips)
    assert price_many(graphs[0], chips) == [None, None, None]


def test_capacity_error_falls_back(graphs):
    chip = edit(load_chip("tpu-v1"), {"memory.dram_capacity": "1 KiB"})
    assert price_many(graphs[0], [chip]) == [None]
    with pytest.raises(ChiplabError):
        chiplab.estimate(graphs[0], chip)
    ok = load_chip("tpu-v1")
    got = price_many(graphs[0], [ok])[0]
    assert got.latency_s == pytest.approx(chiplab.estimate(graphs[0], ok).latency_s, rel=1e-9)


def test_batch_follows_the_tie_rule(tmp_path):
    """A GEMM where both loop orders take exactly as long (DRAM-bound, equal DRAM bytes): the scalar model keeps
    the psum-spilling order (fewer-bytes rule, not met), and so must the batch (the orders' energies differ)."""
    csv = tmp_path / "tie.csv"
    csv.write_text("Layer Name, M, N, K,\ntie, 2, 8, 16,\n")
    g = import_scalesim_csv(str(csv))
    chip = edit(load_chip("systolic-32"), {"arch.rows": 8, "arch.cols": 8, "vector.lanes": 8, "arch.dataflow": "ws",
                                           "arch.ofmap_sram": "64 B", "arch.filter_sram": "64 B", "arch.clock": "1 GHz",
                                           "memory.dram_bandwidth": "1 GB/s", "energy.sram_write_per_byte": "3 pJ",
                                           "energy.dram_write_per_byte": "300 pJ"})   # reads and writes differ
    est = chiplab.estimate(g, chip)
    assert not any("chunked" in n for l in est.layers for n in l.notes)
    flipped = edit(chip, {"memory.dram_bandwidth": "0.5 GB/s"})    # same tie at another rate
    got = price_many(g, [chip, flipped])
    for c, r in zip((chip, flipped), got):
        e = chiplab.estimate(g, c)
        assert (r.latency_s, r.energy_j) == (pytest.approx(e.latency_s, rel=1e-12), pytest.approx(e.energy_j, rel=1e-12))


def test_evaluator_many_equals_point_by_point():
    from chiplab.explore.evaluate import Evaluator
    from chiplab.explore.space import parse_space

    spec = {"chiplab_space": 1, "name": "many", "base": "systolic-32", "node_nm": 28,
            "parameters": {"arch.rows": {"choices": [8, 16, 32]}, "arch.cols": {"choices": [8, 32]},
                           "arch.dataflow": {"choices": ["ws", "os", "is", "flexible"]},
                           "arch.ofmap_sram": {"choices": ["1 KiB", "64 KiB"]},
                           "arch.conv_rows": {"choices": ["im2col", "channels"]},     # channels: scalar path
                           "memory.dram_capacity": {"choices": ["1 KiB", "1 GiB"]},  # 1 KiB: CapacityError
                           "memory.dram_bandwidth": {"float": ["4 GB/s", "32 GB/s"], "log": True}},
            "tied": {"vector.lanes": "arch.cols"},
            "workloads": [{"name": "mixed_gemm.csv"}, {"name": "tiny_gemm.csv", "weight": 2}],
            "objectives": ["latency", "energy"]}
    space = parse_space(spec, root=HERE)
    rng = random.Random(4)
    pts = [{k: (rng.choice(p.choices) if p.choices else rng.uniform(*space.bounds[k]))
            for k, p in space.spec.parameters.items()} for _ in range(60)]
    pts += pts[:5] + [{**pts[0], "arch.rows": -1}]         # repeats (memo) and a point that does not validate
    fast = Evaluator(space)
    slow = Evaluator(space, graphs=fast.graphs, batched=False)
    got = fast.many(pts)
    assert fast.batch_priced > 0 and any(isinstance(g, str) for g in got)
    for p, g in zip(pts, got):
        try:
            want = slow(p)
        except ChiplabError as e:
            assert g == str(e).splitlines()[0]
            continue
        assert not isinstance(g, str), g
        assert g.keys() == want.keys()
        for k in want:
            assert g[k] == pytest.approx(want[k], rel=1e-9), k
    again = fast.outcomes(pts[:8])
    assert [o if isinstance(o, str) else o[0] for o in again] == got[:8] and fast.hits >= 5
    assert any(not isinstance(o, str) and o[2] == [o[0]["latency"], o[0]["energy"]] for o in again)


def test_zero_dram_bandwidth_is_a_chiplab_error_not_a_name_error():
    """A chip built without validation (model_copy) with no DRAM bandwidth: the scalar model's one-line
    ChiplabError (it raised NameError: ChiplabError was not imported), and the batch leaves it to it."""
    from chiplab.perf.registry import EstimateOptions, model_for

    c = load_chip("systolic-32")
    bad = c.model_copy(update={"memory": c.memory.model_copy(update={"dram_bandwidth": 0.0})})
    assert unsupported(bad)
    with pytest.raises(ChiplabError, match="dram_bandwidth"):
        model_for(bad, EstimateOptions(precision="int8"))


def test_batch_equals_estimate_on_flexible_arrays(graphs):
    """``dataflow: flexible`` (each layer in the fastest of os/ws/is): every point of the odd space equal,
    and the space really makes layers choose different dataflows and hit cycle ties (the DRAM-bytes rule)."""
    chips = _points({**ODD, "arch.dataflow": ["flexible"]}, 150, seed=7)
    assert min(_check(g, chips) for g in graphs) >= 100
    notes = [n for g in graphs for c in chips[:40] if c.power.tdp is None
             for l in chiplab.estimate(g, c).layers for n in l.notes if n.startswith("flexible array:")]
    assert {n.split()[2] for n in notes} == {"os", "ws", "is"}
    cyc = [[x.split()[-1] for x in n.split("cycles: ")[1].rstrip(")").split(", ")] for n in notes]
    assert any(len(set(c)) < 3 for c in cyc)
