"""Pipeline parallelism overlaps micro-batches (GPipe schedule, Huang et al. 2019; issue #12, item 2)."""
from dataclasses import replace

import pytest

from chiplab.serve.cost import LlmCost
from chiplab.serve.models import MODELS
from chiplab.system import collectives as coll
from chiplab.system import load_system

H100 = load_system("dgx-h100")
L8 = MODELS["llama-3.1-8b"]


def _no_launch(system):
    chip = system.chip()
    return chip.model_copy(update={"arch": chip.arch.model_copy(update={"launch_overhead": 0.0})})


def test_step_is_stage_sum_plus_m_minus_1_slowest_by_hand():
    # pp=2, 4 micro-batches of a quarter of the step each. Stage 1: 16 layers, then a hand-off; stage 2
    # (the slowest): 16 layers + LM head. Each is priced as a 16-layer model on one chip (n_out = 0: no
    # LM head). Makespan = t1 + t2 + 3 x max(t1, t2), i.e. 5 x t2 when t2 dominates.
    c = LlmCost(L8, H100, tp=1, pp=2, micro_batches=4)
    half = LlmCost(replace(L8, layers=16), H100, tp=1)
    args = (8 * 500 + 8, 16, 8 * 500 * 501 / 2, 0)          # 8 prompts of 500 tokens + 8 decodes
    q = [a / 4 for a in args]
    p2p = coll.point_to_point(q[0] * L8.hidden * 2, H100.link.bandwidth, H100.link.latency)
    t1 = half.time(half.work(q[0], 0, q[2], q[3])) + p2p
    t2 = half.time(half.work(*q))
    assert c.step_time(*args) == pytest.approx(t1 + t2 + 3 * max(t1, t2), rel=1e-12)
    # m = 1 is the old serial model: every layer in turn plus one hand-off
    serial = LlmCost(L8, H100, tp=1, pp=2, micro_batches=1)
    assert serial.step_time(*args) == pytest.approx(serial.time(serial.work(*args)), rel=1e-12)


def test_compute_bound_prefill_follows_the_bubble_formula():
    chip = _no_launch(H100)
    args = (64 * 1024, 64, 64 * 1024 * 1025 / 2, 0)            # 64 prompts of 1024 tokens: compute-bound
    one = LlmCost(L8, H100, tp=1, chip=chip).step_time(*args)
    for p, m in ((2, 8), (4, 16)):
        t = LlmCost(L8, H100, tp=1, pp=p, micro_batches=m, chip=chip).step_time(*args)
        assert t / one == pytest.approx((m + p - 1) / (m * p), rel=0.05)
    # left to choose, the runtime splits a compute-bound step and beats running the stages in turn
    c = LlmCost(L8, H100, tp=1, pp=4, chip=chip)
    assert c.step_time(*args) < 0.5 * c.pipeline_time(*args, 1)


def test_memory_bound_decode_is_not_split():
    # every micro-batch rereads the stage's weights: a small decode keeps m = 1 (stages in turn)
    c = LlmCost(L8, H100, tp=1, pp=2)
    args = (8, 8, 8 * 600, 8 * 600)
    assert c.step_time(*args) == c.pipeline_time(*args, 1) < c.pipeline_time(*args, 2)
    serial = LlmCost(L8, H100, tp=1)
    assert c.step_time(*args) == pytest.approx(serial.step_time(*args), rel=0.01)
    assert c.micro_batch_choices(8) == [1, 2, 4, 8] and c.micro_batch_choices(1000) == [1, 2, 4, 8]
