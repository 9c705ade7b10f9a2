"""Compiler passes: epilogue fusion of single- and multi-input element-wise ops."""
import sys
from pathlib import Path

import pytest

import chiplab
from chiplab.errors import ChiplabError
from chiplab.perf.common import tensor_bytes
from chiplab.perf.passes import parse_passes, run_passes

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from estimate_speed import resnet50_ir  # noqa: E402

GRAPH = resnet50_ir(batch=8)


def test_resnet50_residual_adds_and_their_relus_fuse():
    plan = run_passes(GRAPH)
    adds = [n for n in GRAPH.nodes if n.name.endswith(".add")]
    assert len(adds) == 16 and all(a.name in plan.fused for a in adds)
    assert all(a.name.replace(".add", ".relu") in plan.fused for a in adds)
    assert all(len(plan.side[a.name]) == 1 for a in adds)
    # the downsample block's add chains from the branch computed last (the downsample conv)
    assert plan.fused["layer1.0.add"] == "layer1.0.downsample.0"


def test_fused_residual_add_reads_its_skip_once_and_no_dram_bound_vector_rows():
    fused = chiplab.estimate(GRAPH, "a100-sxm4-40gb", precision="int8")
    plain = chiplab.estimate(GRAPH, "a100-sxm4-40gb", precision="int8", fuse=False)
    by = {r.node: r for r in fused.layers}
    add = next(n for n in GRAPH.nodes if n.name == "layer1.1.add")
    skip = tensor_bytes(add.inputs[1], "int8")
    assert by["layer1.1.add"].dram_bytes == pytest.approx(skip)            # read once, no write
    assert by["layer1.1.relu"].dram_bytes == 0
    plain_add = next(r for r in plain.layers if r.node == "layer1.1.add")
    assert plain_add.dram_bytes == pytest.approx(3 * skip)                  # two reads and a write
    assert not [r for r in fused.layers if r.op == "elementwise" and r.bound.value == "dram" and r.latency_s > 0]
    assert [r for r in plain.layers if r.op == "elementwise" and r.bound.value == "dram"]
    assert fused.latency_s < plain.latency_s
    assert "16 residual adds" in fused.meta["passes"] and plain.meta["passes"].startswith("none")


def test_epilogue_only_leaves_residual_adds_alone():
    est = chiplab.estimate(GRAPH, "a100-sxm4-40gb", precision="int8", passes="fuse-epilogue")
    assert next(r for r in est.layers if r.node == "layer1.1.add").counts.fused_into is None


def test_unknown_pass_is_a_user_error():
    with pytest.raises(ChiplabError, match="unknown pass 'fold-all'"):
        parse_passes("fuse-epilogue,fold-all")
    assert parse_passes(None, fuse=False) == ()
