"""Prefill and decode of a small Llama-shaped model measured on a CUDA GPU vs chiplab's LLM cost model.

Issue #12 asks, when a GPU is lent, for "a real decode/prefill sweep of a small Llama-shaped model with
plain PyTorch on it" compared with the prediction. This script is that sweep, prepared so that a session
with a device runs it as one command:

    python bench/gpu_llm_sweep.py --out $OUT/llm_sweep.csv          # on the GPU machine

The model: TinyLlama-1.1B's shape (hidden 2048, 22 layers, 32 heads, 4 KV heads, intermediate 5632, vocab
32000; TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json) built from a transformers
``LlamaConfig`` with random bf16 weights on the GPU (nothing downloaded; timings do not depend on the weight
values). Plain PyTorch eager (``attn_implementation="sdpa"``), no CUDA graphs, no compile: what a user's
first try looks like. Each point: median of ``--repeats`` timings with CUDA events after warm-up.

* prefill: batch 1, prompt P in {128, 512, 2048} (one forward over P tokens, KV cache written);
* decode: batch B in {1, 8, 32, 64}, KV length L in {512, 2048} (one step: one token per sequence).

chiplab's prediction for the same step: :class:`chiplab.serve.cost.LlmCost` of the same shape on the
matching system preset at tp = 1 (H100 -> ``dgx-h100``, H200 -> ``hgx-h200``, A100 -> ``dgx-a100``, L40S ->
``pcie-8x-l40s``), bf16, ``cost.time(cost.prefill(P))`` / ``cost.time(cost.decode(L, B))``. Nothing is fitted.

Without a CUDA device it measures nothing, says so, and ends with ``{"median_abs_error": null, ...}``
(exit 0), so CI runs it harmlessly. Ends with one JSON line.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chiplab.serve.cost import LlmCost  # noqa: E402
from chiplab.serve.models import LlmConfig  # noqa: E402
from chiplab.system import load_system  # noqa: E402

# TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T config.json: hidden_size 2048, num_hidden_layers 22,
# num_attention_heads 32, num_key_value_heads 4, intermediate_size 5632, vocab_size 32000, untied embeddings
SHAPE = LlmConfig("tinyllama-1.1b", 2048, 22, 32, 4, 5632, 32000)
PREFILL = (128, 512, 2048)
DECODE = [(b, kv) for kv in (512, 2048) for b in (1, 8, 32, 64)]
SYSTEMS = {"H200": "hgx-h200", "H100": "dgx-h100", "A100": "dgx-a100", "L40S": "pcie-8x-l40s"}


def system_for(device_name: str) -> str | None:
    for key, system in SYSTEMS.items():
        if key in device_name.upper():
            return system
    return None


def predict(system: str) -> list[dict]:
    """chiplab's step times (s) for every point of the sweep, on ``system`` at tp = 1, bf16."""
    cost = LlmCost(SHAPE, load_system(system), tp=1, precision="bf16")
    rows = [{"phase": "prefill", "batch": 1, "tokens": p, "predicted_s": cost.time(cost.prefill(p, 1))} for p in PREFILL]
    rows += [{"phase": "decode", "batch": b, "tokens": kv, "predicted_s": cost.time(cost.decode(kv, b))} for b, kv in DECODE]
    return rows


def measure(repeats: int, device: str = "cuda", shape: LlmConfig = SHAPE, prefill=PREFILL, decode=DECODE,
            dtype: str = "bfloat16") -> tuple[str, dict[tuple, float]]:
    """Median seconds per step, keyed by (phase, batch, tokens). On ``cuda`` timed with CUDA events; any
    other device (the tests run a tiny shape on the CPU to check this code) with ``time.perf_counter``."""
    import time

    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    cuda = device == "cuda"
    cfg = LlamaConfig(hidden_size=shape.hidden, num_hidden_layers=shape.layers, num_attention_heads=shape.heads,
                      num_key_value_heads=shape.kv_heads, intermediate_size=shape.intermediate,
                      vocab_size=shape.vocab, max_position_embeddings=4096, tie_word_embeddings=False,
                      attn_implementation="sdpa")
    model = LlamaForCausalLM(cfg).to(device=device, dtype=getattr(torch, dtype)).eval()

    def timed(fn, after=lambda: None) -> float:
        """Median time of ``fn``; ``after`` runs between calls, untimed."""
        for _ in range(3):
            fn()
            after()
        out = []
        for _ in range(repeats):
            if cuda:
                torch.cuda.synchronize()
                a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                a.record()
                fn()
                b.record()
                torch.cuda.synchronize()
                out.append(a.elapsed_time(b) / 1e3)
            else:
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
            after()
        return statistics.median(out)

    got: dict[tuple, float] = {}
    with torch.inference_mode():
        for p in prefill:
            ids = torch.randint(0, shape.vocab, (1, p), device=device)
            got[("prefill", 1, p)] = timed(lambda: model(ids, use_cache=True))
        for b, kv in decode:
            ids = torch.randint(0, shape.vocab, (b, kv), device=device)
            past = model(ids, use_cache=True).past_key_values
            nxt = torch.randint(0, shape.vocab, (b, 1), device=device)
            pos = torch.full((b, 1), kv, device=device)

            # each step appends one token; cropping it off (untimed) makes every repeat decode at length kv
            got[("decode", b, kv)] = timed(lambda: model(nxt, past_key_values=past, position_ids=pos, use_cache=True),
                                           after=lambda: past.crop(-1))
            if past.get_seq_length() != kv:
                raise RuntimeError(f"decode B={b}: the KV cache holds {past.get_seq_length()} tokens, not {kv}")
            del past
            if cuda:
                torch.cuda.empty_cache()
    return (torch.cuda.get_device_name(0) if cuda else device), got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="CSV of the measured and predicted step times")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--system", default=None, help="system preset to predict with (default: from the device name)")
    a = ap.parse_args(argv)
    try:
        import torch
        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if not has_cuda:
        print("no CUDA device: nothing measured (run this on a GPU machine; see the module docstring)")
        print(json.dumps({"median_abs_error": None, "rows": 0, "reason": "no CUDA device"}))
        return 0
    torch.set_num_threads(1)
    device, got = measure(a.repeats)
    system = a.system or system_for(device)
    if system is None:
        print(f"{device}: no system preset for this GPU; pass --system")
        print(json.dumps({"median_abs_error": None, "rows": 0, "device": device, "reason": "no matching preset"}))
        return 0
    rows = predict(system)
    errs = []
    print(f"{device} vs chiplab {system} (tp 1, bf16), {SHAPE.name} shape, median of {a.repeats}")
    print(f"{'phase':8s} {'batch':>5s} {'tokens':>6s} {'measured ms':>12s} {'predicted ms':>13s} {'error %':>8s}")
    for r in rows:
        r["device"], r["system"] = device, system
        r["measured_s"] = got[(r["phase"], r["batch"], r["tokens"])]
        r["error_pct"] = 100.0 * (r["predicted_s"] / r["measured_s"] - 1.0)
        errs.append(abs(r["error_pct"]))
        print(f"{r['phase']:8s} {r['batch']:5d} {r['tokens']:6d} {r['measured_s'] * 1e3:12.3f} "
              f"{r['predicted_s'] * 1e3:13.3f} {r['error_pct']:+8.1f}")
    if a.out is not None:
        a.out.parent.mkdir(parents=True, exist_ok=True)
        with open(a.out, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows)
        print(f"wrote {a.out}")
    print(json.dumps({"median_abs_error": round(statistics.median(errs) / 100, 4), "rows": len(rows),
                      "device": device, "system": system}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
