"""bench/gpu_llm_sweep.py: harmless without a GPU; its predictions are the cost model's, sane in shape."""
import json

import pytest


def test_without_cuda_it_measures_nothing_and_says_so(load_script, capsys):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present: the sweep would run for real")
    b = load_script("bench/gpu_llm_sweep.py")
    assert b.main([]) == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {"median_abs_error": None, "rows": 0, "reason": "no CUDA device"}


def test_predictions_cover_the_sweep_and_scale_as_they_should(load_script):
    b = load_script("bench/gpu_llm_sweep.py")
    assert b.system_for("NVIDIA H200") == "hgx-h200" and b.system_for("NVIDIA H100 80GB HBM3") == "dgx-h100"
    rows = b.predict("dgx-h100")
    assert len(rows) == len(b.PREFILL) + len(b.DECODE)
    t = {(r["phase"], r["batch"], r["tokens"]): r["predicted_s"] for r in rows}
    assert all(v > 0 for v in t.values())
    assert t[("prefill", 1, 2048)] > t[("prefill", 1, 128)]
    assert t[("decode", 64, 2048)] > t[("decode", 64, 512)] > t[("decode", 1, 512)]
    # decode at batch 1 reads every weight once per step: at least the weight bytes over the chip's bandwidth
    w_bytes = 2 * b.SHAPE.params
    cost = b.LlmCost(b.SHAPE, b.load_system("dgx-h100"), tp=1, precision="bf16")
    assert t[("decode", 1, 512)] >= w_bytes / cost.bw


def test_the_measuring_code_runs_on_a_tiny_model_on_the_cpu(load_script):
    """The GPU path cannot run here; the same code on the CPU with a tiny shape catches its bugs."""
    pytest.importorskip("transformers")
    b = load_script("bench/gpu_llm_sweep.py")
    tiny = b.LlmConfig("tiny", 64, 2, 4, 2, 128, 256)
    dev, got = b.measure(2, device="cpu", shape=tiny, prefill=(8,), decode=[(2, 8)], dtype="float32")
    assert dev == "cpu" and set(got) == {("prefill", 1, 8), ("decode", 2, 8)}
    assert all(v > 0 for v in got.values())
