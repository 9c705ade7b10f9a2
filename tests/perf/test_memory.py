"""Device memory: a decode step's KV cache is device state (not a host transfer), and a
workload that does not fit in ``memory.dram_capacity`` is refused with one line."""
import pytest

from chiplab.errors import CapacityError
from chiplab.hw import list_presets, load_chip
from chiplab.ir.graph import Graph, GemmShape, Node, OpKind, Role, TensorSpec
from chiplab.perf.estimate import estimate
from chiplab.perf.memory import device_memory, peak_activation_bytes, tag_state


def _host_bytes(est) -> float:
    return sum(float(l.notes[0].split()[0]) for l in est.layers if l.op == "host_transfer")


def test_decode_kv_cache_is_device_state_not_host_transfer():
    est = estimate("gpt2-decode", "t4", batch=2, seq_len=16, precision="int8")
    kv = 2 * 12 * 2 * 16 * 768            # K and V, 12 layers, batch 2, 16 tokens, 768 dims, 1 byte (int8)
    ids = 2 * 8                            # int64 token ids in; logits come back as outputs
    assert est.meta["device_memory_bytes"]["state"] == kv
    host_in = [l for l in est.layers if l.name == "host:inputs"]
    assert host_in and host_in[0].notes[0].startswith(f"{ids} B")


def test_decode_state_copy_is_elided():
    # DynamicCache.update on an empty cache is cat([empty, k]): a view, not a copy of the whole cache
    from chiplab.capture.workloads import load_graph

    g = tag_state(load_graph("gpt2-decode", batch=2, seq_len=16))
    assert [t.role for t in g.inputs] == [Role.ACTIVATION, Role.STATE, Role.STATE]
    mem = device_memory(g, "int8")
    assert mem.activations < mem.state      # before: every layer's KV copy was live at once (> the cache itself)


def test_does_not_fit_is_one_line_capacity_error():
    with pytest.raises(CapacityError) as e:
        estimate("gpt2-decode", "t4", batch=2048, seq_len=1000, precision="int8")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("t4: gpt2-decode at batch 2048 x 1000 tokens")
    assert "KV cache" in msg and "device has 16.0 GiB (short by" in msg


def test_no_capacity_figure_is_noted():
    chip = load_chip("t4")
    chip = chip.model_copy(update={"memory": chip.memory.model_copy(update={"dram_capacity": None})})
    est = estimate("gpt2-decode", chip, batch=2048, seq_len=1000, precision="int8")
    assert any("not checked" in n for n in est.notes)


def _tensor(n, role=Role.ACTIVATION, producer=None):
    return TensorSpec((n,), "float32", role, producer)


def test_peak_live_activations_frees_after_last_consumer():
    # a -> b -> c, each output 100 floats; a is freed once b ran, so at most two live at once
    nodes = [Node("a", OpKind.ELEMENTWISE, inputs=(_tensor(100),), outputs=(_tensor(100, Role.OUTPUT),), vector_ops=1),
             Node("b", OpKind.ELEMENTWISE, inputs=(_tensor(100, producer="a"),), outputs=(_tensor(100, Role.OUTPUT),),
                  vector_ops=1),
             Node("c", OpKind.ELEMENTWISE, inputs=(_tensor(100, producer="b"),), outputs=(_tensor(100, Role.OUTPUT),),
                  vector_ops=1)]
    g = Graph("chain", nodes, (_tensor(100),))
    assert peak_activation_bytes(g, "fp32") == 100 * 4 + 2 * 100 * 4    # graph input + two live outputs


def test_weights_plus_activations_over_capacity():
    w = TensorSpec((1024, 1024), "float32", Role.WEIGHT)
    n = Node("mm", OpKind.GEMM, inputs=(TensorSpec((8, 1024)), w), outputs=(TensorSpec((8, 1024), role=Role.OUTPUT),),
             macs=8 * 1024 * 1024, gemm=GemmShape(8, 1024, 1024))
    chip = load_chip("t4")
    small = chip.model_copy(update={"memory": chip.memory.model_copy(update={"dram_capacity": 2 ** 20})})
    with pytest.raises(CapacityError, match=r"t4: tiny at batch 1 \(fp32\) needs 4.0 MiB weights"):
        estimate(Graph("tiny", [n], (TensorSpec((8, 1024)),)), small, precision="fp32")
    assert estimate(Graph("tiny", [n], (TensorSpec((8, 1024)),)), chip, precision="fp32").latency_s > 0


@pytest.mark.parametrize("name", list_presets())
def test_resnet50_moderate_batch_fits_every_preset(name):
    est = estimate("resnet50", name, batch=16)
    assert est.latency_s > 0
    assert load_chip(name).memory.dram_capacity is not None or any("not checked" in n for n in est.notes)


@pytest.mark.slow
def test_llama7b_decode_batch64_4096_does_not_fit_t4():
    with pytest.raises(CapacityError, match=r"^t4: llama-7b-decode at batch 64 x 4096 tokens .*\(short by"):
        estimate("llama-7b-decode", "t4", batch=64, seq_len=4096)
