"""The numerics of a split model: host parts in fp32, accelerator parts under the chip's numerics."""
import math

import pytest
import torch

from chiplab.capture.workloads import load_graph
from chiplab.emu import emulate
from chiplab.partition import run_policies
from chiplab.partition.numerics import accuracy, measure, overrides_for, reference

from pathlib import Path

from chiplab.capture.workloads import build

ROOT = Path(__file__).resolve().parents[2]
TINY = f"{ROOT}/examples/partition/tiny_transformer.py:factory"
CHIP = str(ROOT / "examples/partition/int8_no_softmax.yaml")


@pytest.fixture(scope="module")
def tiny():
    model, inputs = build(TINY, batch=4, device="cpu")
    return load_graph(TINY, batch=4), model, inputs


def test_nodes_map_to_their_leaf_modules(tiny):
    g, model, _ = tiny
    place = {n.name: "host" if n.name in ("linear", "softmax", "matmul", "reshape") else "acc" for n in g.nodes}
    ov, unmapped = overrides_for(g, place, model)
    assert ov == {"blocks.0.attn.qkv": "host", "blocks.0.attn.softmax": "host"}
    assert unmapped == 1          # q @ k.T is functional inside blocks.0.attn; the reshape is no compute


def test_every_matrix_layer_on_the_host_gives_the_fp32_output_exactly(tiny):
    g, model, inputs = tiny
    place = {n.name: "host" if n.op.is_matrix else "acc" for n in g.nodes}
    ov, _ = overrides_for(g, place, model)
    assert len(ov) == 9           # 4 linears per block, 2 blocks, and the head
    ref = reference(model, inputs)
    out = emulate(model, CHIP, inputs, overrides=ov).output
    assert torch.equal(out, ref)
    m = measure(model, CHIP, inputs, ref, ov)
    assert m["sqnr_db"] == math.inf and m["top1_agreement"] == 1.0


def test_all_accelerator_equals_plain_emulate(tiny):
    g, model, inputs = tiny
    place = dict.fromkeys((n.name for n in g.nodes), "acc")
    ov, unmapped = overrides_for(g, place, model)
    assert (ov, unmapped) == ({}, 0)
    plain = emulate(model, CHIP, inputs).output
    assert torch.equal(emulate(model, CHIP, inputs, overrides=ov).output, plain)
    assert not torch.equal(plain, reference(model, inputs))     # int8 does change the output


def test_accuracy_per_policy(tiny):
    from chiplab.partition import cost_table

    g, model, inputs = tiny
    table = cost_table(g, CHIP, "xeon-e5-2699v3")
    results = run_policies(g, table)
    acc = accuracy(g, results, model, CHIP, inputs)
    assert set(acc) == {"greedy", "min-block", "optimal"}
    for name, a in acc.items():
        assert results[name].accuracy is a
        assert a["host_modules"] >= 2          # both softmax modules at least (the chip has none)
        assert -1 <= a["cosine"] <= 1 and 0 <= a["top1_agreement"] <= 1
