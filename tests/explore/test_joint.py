"""Joint hardware/model co-design (chiplab/explore/joint.py): gradients reach the width logits and
the hardware parameters, relaxed shapes at hard widths are the captured pruned network's, and a
snapped result is a legal chip and a network that runs."""
from __future__ import annotations

import math

import pytest
import torch

from chiplab.explore import joint as J
from chiplab.explore.relax import RELAXED, RelaxError


@pytest.fixture(scope="module")
def problem():
    torch.set_num_threads(1)
    return J.JointProblem(J.digits_space())


def _rows(problem, seed=0, n=2):
    rel = problem.rel
    lo, hi = torch.tensor(rel.lo, dtype=torch.float64), torch.tensor(rel.hi, dtype=torch.float64)
    gen = torch.Generator().manual_seed(seed)
    return {df: (lo + (hi - lo) * torch.rand(n, len(RELAXED), generator=gen, dtype=torch.float64)).requires_grad_()
            for df in rel.dataflows}


def test_joint_loss_gradients_are_finite_and_nonzero_for_width_logits_and_hardware(problem):
    torch.manual_seed(0)
    net = J.MaskedCNN()
    with torch.no_grad():
        net.alpha.normal_()
    xs = _rows(problem)
    data = J.digits_split(0)
    ce = torch.nn.functional.cross_entropy(net(data[0][:32]), data[1][:32])
    loss = ce + 0.1 * problem.hardware_loss(xs, net.effective_widths())
    loss.backward()
    assert torch.isfinite(net.alpha.grad).all() and (net.alpha.grad.abs().sum(1) > 0).all()   # every layer
    for df, x in xs.items():
        assert torch.isfinite(x.grad).all()
        assert (x.grad.abs().sum(0) > 0).sum() >= 5, (df, x.grad)   # most hardware parameters move
    # the hardware term alone also reaches every layer's logits (not only through the task loss)
    net.alpha.grad = None
    problem.hardware_loss(_rows(problem), net.effective_widths()).backward()
    assert (net.alpha.grad.abs().sum(1) > 0).all()


@pytest.mark.parametrize("pick", [(0, 1, 2), (3, 0, 1), (1, 3, 0)])
def test_relaxed_shapes_at_hard_widths_are_the_captured_pruned_networks(problem, pick):
    net = J.MaskedCNN()
    with torch.no_grad():
        net.alpha.zero_()
        for j, i in enumerate(pick):
            net.alpha[j, i] = 5.0
    net.hard = True
    sh = problem.shapes(net.effective_widths())[J.WORKLOAD]
    graph = J.capture_graph(net.pruned())
    mats = [n for n in graph.nodes if n.gemm is not None]
    # equal up to float rounding (the shapes are exp(exponents @ log width ratios))
    assert float(sh["macs"].sum()) == pytest.approx(sum(n.macs for n in mats), rel=1e-12)
    assert sh["macs"].tolist() == pytest.approx([float(n.macs) for n in mats], rel=1e-12)
    for k in ("M", "N", "K"):
        assert sh[k].tolist() == pytest.approx([float(getattr(n.gemm, k)) for n in mats], rel=1e-12), k
    # and the relaxed metrics at those shapes equal a relaxation tabulated on the pruned graph, up to
    # the residency plan (kept at full width): within 25 % on a fixed design
    x = problem.rel.encode({"arch.rows": 8, "arch.cols": 8, "arch.clock": "500 MHz"})
    with torch.no_grad():
        a = problem.rel.metrics(x, "ws", shapes=problem.shapes(net.effective_widths()))
        b = J.Relaxation(problem.space, {J.WORKLOAD: graph}).metrics(x, "ws")
    assert abs(float(a["edp"] / b["edp"]) - 1) < 0.25


def test_shapes_of_the_wrong_size_are_refused(problem):
    x = problem.rel.encode({})
    with pytest.raises(RelaxError, match="shapes.macs"):
        problem.rel.metrics(x, "ws", shapes={J.WORKLOAD: {"macs": torch.ones(2, dtype=torch.float64)}})
    with pytest.raises(RelaxError, match="shapes.bogus"):
        problem.rel.metrics(x, "ws", shapes={J.WORKLOAD: {"bogus": torch.ones(2)}})


def test_no_shapes_gives_the_captured_metrics(problem):
    x = problem.rel.encode({"arch.rows": 16})
    full = torch.tensor(J.MAX_WIDTHS, dtype=torch.float64)
    with torch.no_grad():
        a = problem.rel.metrics(x, "os")
        b = problem.rel.metrics(x, "os", shapes=problem.shapes(full))
    for k in a:
        assert torch.allclose(a[k], b[k], rtol=1e-12), k


def test_snapped_result_is_a_legal_chip_and_a_network_that_runs(problem):
    data = J.digits_split(0)
    r = J.joint_train(problem, data, seed=0, lam=0.3, epochs=2, warmup=1, finetune=1, starts=1)
    assert all(w in c for w, c in zip(r.widths, J.MaskedCNN().cands))
    assert r.net.widths == r.widths
    assert r.net(data[2][:5]).shape == (5, 10)
    acc = J.accuracy(r.net, data)
    assert 0.0 <= acc <= 1.0
    graph = J.capture_graph(r.net)
    best, res = J.best_hardware(problem.space, graph, r.rows, budget=3)
    assert len(res.evaluated) == 3
    params = (best or (res.evaluated[0][0], None))[0]
    chip = problem.space.chip(params)                       # loads: a legal design of the space
    assert chip.arch.rows in problem.space.spec.parameters["arch.rows"].choices
    m = J.price(problem.space, r.net, params)               # chiplab.estimate on the nn.Module
    exact = next(mm for p, mm in res.evaluated if p == params)
    assert math.isclose(m["edp"], exact["edp"], rel_tol=1e-9)


def test_non_monomial_shapes_are_refused():
    full, half = torch.tensor([8.0, 0.0, 6.0]), torch.tensor([4.0, 0.0, 5.0])
    with pytest.raises(RelaxError, match="not a monomial"):
        J._exponent(full, half, "x")
    assert J._exponent(torch.tensor([8.0, 0.0]), torch.tensor([4.0, 0.0]), "x").tolist() == [1.0, 0.0]


def test_codesign_joint_bench_runs_and_ends_with_one_json_line(load_script, capsys):
    import json

    bench = load_script("bench/codesign_joint.py")
    out = bench.main(["--seeds", "0", "--epochs", "2", "--warmup", "1", "--finetune", "1", "--budget", "2",
                      "--starts", "1", "--steps", "3", "--hard-last", "1"])
    last = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(last) >= {"joint", "hardware_only", "half_width"}
    for k in ("joint", "hardware_only", "half_width"):
        assert 0 <= last[k]["accuracy"] <= 1 and last[k]["accuracy"] == out[k]["accuracy"]
    assert last["joint"]["per_seed"][0]["widths"] != []
