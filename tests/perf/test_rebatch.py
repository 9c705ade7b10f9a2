"""Batch without re-capture: re-batching a captured graph on the IR equals a fresh capture."""
import sys
import time
from pathlib import Path

import pytest

import chiplab
from chiplab.ir import GraphError

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from estimate_speed import resnet50_ir  # noqa: E402

CHIPS = ("a100-sxm4-40gb", "tpu-v1", "tesla-d1")


def _same_nodes(a, b):
    key = lambda n: (n.name, n.gemm, n.conv, n.macs, n.vector_ops, [t.shape for t in n.inputs],  # noqa: E731
                     [t.shape for t in n.outputs])
    assert [key(n) for n in a.nodes] == [key(n) for n in b.nodes]
    assert a.inputs == b.inputs and a.meta["batch"] == b.meta["batch"]


def _check(workload, captured_at, batch, rel=1e-12):
    from chiplab.capture.workloads import load_graph

    g, fresh = load_graph(workload, batch=captured_at), load_graph(workload, batch=batch)
    if rel == 1e-12:
        _same_nodes(g.with_batch(batch), fresh)
    for chip in CHIPS:
        a, b = chiplab.estimate(g, chip, batch=batch), chiplab.estimate(fresh, chip)
        assert a.batch == batch and a.macs == b.macs
        assert a.latency_s == pytest.approx(b.latency_s, rel=rel)
        assert a.energy_j == pytest.approx(b.energy_j, rel=rel)


def test_resnet18_rebatched_equals_a_fresh_capture():
    _check("resnet18", 2, 8)


@pytest.mark.slow
def test_bert_base_rebatched_equals_a_fresh_capture():
    _check("bert-base", 2, 8)
    # from batch 1 a leading 1 is ambiguous (a (1, 512) buffer or the batch?); a few tiny
    # tensors come out wrong: measured within 1.4e-4 of a fresh capture
    _check("bert-base", 1, 4, rel=1e-3)


def test_hand_built_resnet50_rebatch_is_fast_and_linear():
    g = resnet50_ir(batch=1)
    t0 = time.perf_counter()
    graphs = [g.with_batch(b) for b in (2, 4, 8, 16, 32, 64)]
    assert time.perf_counter() - t0 < 2.0                     # milliseconds each, not a capture
    for b, gb in zip((2, 4, 8, 16, 32, 64), graphs):
        assert gb.macs == b * g.macs and gb.inputs[0].shape[0] == b
        assert gb.with_batch(1).macs == g.macs


def test_rebatch_needs_a_recorded_batch_and_divisible_dims():
    import dataclasses

    g = resnet50_ir(batch=2)
    assert g.with_batch(3).macs == g.macs // 2 * 3          # any batch, as long as dims divide by the old one
    with pytest.raises(GraphError, match="does not record the batch"):
        dataclasses.replace(g, meta={}).with_batch(4)
    odd = dataclasses.replace(g, inputs=(dataclasses.replace(g.inputs[0], shape=(3, 3, 224, 224)),))
    with pytest.raises(GraphError, match="not a multiple of the captured batch 2"):
        odd.with_batch(4)
