"""Discrete-event simulation of one serving engine in virtual time.

Requests arrive as a Poisson process (seeded). The engine runs continuous batching: before
each step it admits waiting requests first-come first-served while (a) the running batch has
fewer than ``max_seqs`` sequences, (b) the step's prefill tokens stay within ``token_budget``
(a prompt longer than the budget runs alone), and (c) the KV cache can hold the request's
prompt plus its whole output (KV is reserved at admission, as if the output length were known;
so nothing is ever preempted). A step prefills the newly admitted prompts in full (no chunked
prefill) and decodes one token for every running sequence; its duration comes from the cost
model (:class:`chiplab.serve.cost.LlmCost` or anything with the same ``step_time``).

The prefill step emits each new request's first token (TTFT = end of that step - arrival);
each later step emits one token; TPOT = (finish - first token) / (output - 1).

Beam search (``Workload.beams``, default 1): a request with ``b`` beams is prefilled ONCE (its
prompt's KV is shared by the beams, as TensorRT-LLM does) and then decodes ``b`` sequences, one
token each per step, as ``b`` entries of the step's batch; each beam reads the shared prompt KV
plus its own generated KV. The KV reservation is prompt + b x output; ``max_seqs`` counts
requests, not beams (TensorRT-LLM's ``max_batch_size`` is "the maximum number of requests that the
engine can handle", nvidia.github.io/TensorRT-LLM/features/paged-attention-ifb-scheduler.html;
the beam width is a separate limit).

The loop is O(1) per step plus O(log n) per request: decode work depends on the batch only
through its size and the sum of its KV lengths, which are kept as running totals, and requests
leave through a heap keyed by the step they finish on.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np


@dataclass
class Workload:
    """Arrival times (s), prompt and output lengths (tokens) of a request stream; ``beams``: beam
    width per request (None: 1, greedy / sampling)."""
    arrivals: np.ndarray
    prompts: np.ndarray
    outputs: np.ndarray
    beams: np.ndarray | None = None


def poisson_workload(qps: float, n: int, seed: int = 0, prompt_mean: float = 300.0, output_mean: float = 294.45,
                     max_len: int = 1024) -> Workload:
    """``n`` requests at ``qps`` (exponential gaps). Lengths: geometric with the given means, clipped
    to 1..max_len. Default means: output 294.45 tokens, the MLPerf Llama-2-70B (OpenOrca) reference
    tokens per sample (its accuracy gate is 90-110 % of it, 265.005..323.895, mlcommons
    inference_results_v4.1 README); prompt 300 is an assumption [A] of the same order (OpenOrca prompts
    are capped at 1024 tokens in MLPerf [U])."""
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / qps, n))
    prompts = np.clip(rng.geometric(1.0 / prompt_mean, n), 1, max_len)
    outputs = np.clip(rng.geometric(1.0 / output_mean, n), 1, max_len)
    return Workload(arrivals, prompts.astype(np.int64), outputs.astype(np.int64))


@dataclass
class Result:
    ttft: np.ndarray
    tpot: np.ndarray          # requests with more than one output token
    e2e: np.ndarray
    tokens: int               # output tokens
    span_s: float             # first arrival to last finish
    steps: int


def simulate(cost, wl: Workload, *, max_seqs: int = 256, token_budget: int = 8192,
             kv_capacity: int | None = None) -> Result:
    """Run the request stream through one engine; ``cost.step_time(n_tok, n_out, pairs, kv_read)``."""
    kv_capacity = kv_capacity if kv_capacity is not None else getattr(cost, "kv_capacity_tokens", 1 << 62)
    step_time = cost.step_time
    arr, pr, out = wl.arrivals.tolist(), wl.prompts.tolist(), wl.outputs.tolist()
    n = len(arr)
    bm = [1] * n if wl.beams is None else [int(b) for b in wl.beams]
    first = [0.0] * n
    finish = [0.0] * n
    heap: list[tuple[int, int]] = []   # (step on which the request emits its last token, request)
    t = 0.0
    nxt = 0                 # next request not yet admitted (FIFO)
    running = 0             # requests in decode
    seqs = 0                # sequences in decode (requests x beams)
    sum_ctx = 0             # sum of their KV lengths (each beam counts the shared prompt)
    kv_used = 0
    step = 0
    done = 0
    while done < n:
        # admit
        if running == 0 and nxt < n and arr[nxt] > t:
            t = arr[nxt]                       # idle: jump to the next arrival
        n_new = p_tok = 0
        pairs = 0.0
        admitted = []
        while nxt < n and arr[nxt] <= t and running + n_new < max_seqs:
            p, o, b = pr[nxt], out[nxt], bm[nxt]
            need = p + b * o
            if need > kv_capacity:
                raise ValueError(f"request {nxt}: prompt {p} + {b} beam(s) x output {o} tokens exceed the KV cache "
                                 f"({kv_capacity})")
            if kv_used + need > kv_capacity or (n_new and p_tok + p > token_budget):
                break
            kv_used += need
            p_tok += p
            pairs += p * (p + 1) / 2
            n_new += 1
            admitted.append(nxt)
            nxt += 1
        if n_new == 0 and running == 0:
            if nxt < n and arr[nxt] > t:
                continue
            raise RuntimeError("engine stalled")   # cannot happen: a lone request always fits (checked above)
        dt = step_time(p_tok + seqs, n_new + seqs, pairs + sum_ctx, sum_ctx)
        t += dt
        # decoders emitted one token each; their KV grew by one
        sum_ctx += seqs
        while heap and heap[0][0] == step:
            _, i = heapq.heappop(heap)
            finish[i] = t
            running -= 1
            seqs -= bm[i]
            sum_ctx -= bm[i] * (pr[i] + out[i])
            kv_used -= pr[i] + bm[i] * out[i]
            done += 1
        for i in admitted:
            first[i] = t
            if out[i] == 1:
                finish[i] = t
                kv_used -= pr[i] + bm[i]
                done += 1
            else:
                running += 1
                seqs += bm[i]
                sum_ctx += bm[i] * (pr[i] + 1)
                heapq.heappush(heap, (step + out[i] - 1, i))
        step += 1
    first_a, fin_a = np.array(first), np.array(finish)
    multi = wl.outputs > 1
    tpot = (fin_a[multi] - first_a[multi]) / (wl.outputs[multi] - 1)
    return Result(first_a - wl.arrivals, tpot, fin_a - wl.arrivals, int(wl.outputs.sum()),
                  float(fin_a.max() - wl.arrivals[0]), step)
