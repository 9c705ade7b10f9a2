"""Discrete-event simulation of one serving engine in virtual time.

Requests arrive as a Poisson process (seeded) or from a trace. The engine runs continuous batching:
before each step it admits waiting requests first-come first-served (preempted requests first) while
the running set has fewer than ``max_seqs`` requests, the step's token budget (``token_budget``) has
room and the KV cache has free blocks. A step's duration comes from the cost model
(:class:`chiplab.serve.cost.LlmCost` or anything with the same ``step_time``).

**Paged KV** (Kwon et al., "Efficient Memory Management for Large Language Model Serving with
PagedAttention", SOSP 2023): the cache is ``kv_capacity // block_size`` blocks of ``block_size`` tokens
and a request holds whole blocks, so the last block's unused slots (internal fragmentation) count.
A request with ``b`` beams shares its prompt's full blocks; each beam owns the blocks of its tail
(the prompt's partial block, copied on write, plus its generated tokens):
``blocks = p // bs + b * ceil((p % bs + g) / bs)`` after ``g`` generated tokens. ``block_size=1`` is
exact token accounting (the library default, which the validation bench uses); ``chiplab serve``
defaults to 16, vLLM's ``CacheConfig.DEFAULT_BLOCK_SIZE`` (vllm/config/cache.py).

**KV policy.** ``"reserve"``: a request is admitted only when the blocks of its prompt *and its whole
output* are free (an oracle on output length; TensorRT-LLM's default GUARANTEED_NO_EVICT capacity policy
reserves the same way but for the maximum output length, nvidia.github.io/TensorRT-LLM/performance/
performance-tuning-guide/useful-runtime-flags.html); nothing is ever preempted. ``"on-demand"`` (vLLM): admission needs the
prompt's blocks only; a running sequence takes a new block each time it crosses a block boundary, and
when none is free the most recently admitted running request is **preempted** by recompute (vLLM V1
``vllm/v1/core/sched/scheduler.py``, FCFS: ``preempted_req = self.running.pop()``, its blocks freed,
``num_computed_tokens = 0``, ``self.waiting.prepend_request``); on re-admission it prefills its prompt plus
the tokens it had generated, then goes on. Preemption is checked before each step for the decoders that
cross a block boundary on it; a request with beams recomputes its generated tokens as one shared prefix
(an approximation: the beams had diverged).

**Chunked prefill** (Agrawal et al., "Taming Throughput-Latency Tradeoff in LLM Inference with
Sarathi-Serve", OSDI 2024; vLLM's ``enable_chunked_prefill``): off, a step prefills whole prompts whose
tokens fit ``token_budget`` (decode tokens not counted; a longer prompt runs alone). On, the budget
counts every token of the step: running sequences' decode tokens first, then prompt chunks (the
partially prefilled request first), so a long prompt is spread over several steps that also decode.
A chunk of ``c`` tokens after ``k`` already prefilled has ``c k + c (c+1)/2`` query-key pairs and reads
``k`` tokens of KV; only the last chunk runs the LM head and emits the first token.

**Pre-filled arrivals** (``prefilled=True``, the decode side of prefill/decode disaggregation): each
request arrives with ``prompts[i]`` tokens of KV already in place (transferred), so its first step is a
decode step (no prefill), and it then emits ``outputs[i]`` tokens.

TTFT = end of the step emitting the first token - arrival; TPOT = (finish - first token) / (output - 1)
(MLPerf's per-request mean); :meth:`Result.itl` gives every inter-token gap (the duration of each decode
step, weighted by the requests it served), whose tail is what chunked prefill cuts.

Beam search (``Workload.beams``): a request with ``b`` beams is prefilled once and decodes ``b``
sequences as ``b`` entries of the step's batch; ``max_seqs`` counts requests, not beams (TensorRT-LLM's
``max_batch_size`` is "the maximum number of requests that the engine can handle",
nvidia.github.io/TensorRT-LLM/features/paged-attention-ifb-scheduler.html).

The loop is O(1) per step plus O(log n) per request (and per preemption): decode work depends on the
batch only through its size and the sum of its KV lengths (running totals); requests leave through a
heap keyed by their last step; the decoders needing a new block on a step are counted by the step's
phase modulo ``block_size`` (a sequence crosses a block boundary every ``block_size`` steps).
"""
from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass, field

import numpy as np

from chiplab.errors import ChiplabError

KV_POLICIES = ("reserve", "on-demand")


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
    tokens: int               # output tokens emitted (counted as they are emitted)
    span_s: float             # first arrival to last finish
    steps: int
    preemptions: int = 0
    first: np.ndarray = field(default_factory=lambda: np.zeros(0))    # time of each request's first token
    finish: np.ndarray = field(default_factory=lambda: np.zeros(0))   # time of its last token
    step_s: np.ndarray = field(default_factory=lambda: np.zeros(0))   # duration of each step that decoded
    step_decoders: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # requests it decoded

    def itl(self) -> tuple[np.ndarray, np.ndarray]:
        """Inter-token latency (time between two tokens of a request, Sarathi-Serve's TBT) as values and
        weights: every decode step's duration, once per request it emitted a token for."""
        return self.step_s, self.step_decoders


def blocks_for(p: int, g: int, b: int, bs: int) -> int:
    """KV blocks of a request with ``p`` prompt tokens, ``g`` generated tokens per beam and ``b`` beams."""
    return p // bs + b * (-(-(p % bs + g) // bs))


def simulate(cost, wl: Workload, *, max_seqs: int = 256, token_budget: int = 8192, kv_capacity: int | None = None,
             block_size: int = 1, kv_policy: str = "reserve", chunked_prefill: bool = False,
             prefilled: bool = False) -> Result:
    """Run the request stream through one engine; ``cost.step_time(n_tok, n_out, pairs, kv_read)``."""
    if kv_policy not in KV_POLICIES:
        raise ChiplabError(f"kv policy {kv_policy!r}: expected one of {', '.join(KV_POLICIES)}")
    if block_size < 1 or token_budget < 1 or max_seqs < 1:
        raise ChiplabError(f"block size ({block_size}), token budget ({token_budget}) and max seqs ({max_seqs}) "
                           "must be >= 1")
    kv_capacity = kv_capacity if kv_capacity is not None else getattr(cost, "kv_capacity_tokens", 1 << 62)
    bs = block_size
    total_blocks = kv_capacity // bs
    reserve = kv_policy == "reserve"
    step_time = cost.step_time
    arr, pr, out = wl.arrivals.tolist(), wl.prompts.tolist(), wl.outputs.tolist()
    n = len(arr)
    bm = [1] * n if wl.beams is None else [int(b) for b in wl.beams]
    for i in range(n):
        need = blocks_for(pr[i], out[i], bm[i], bs)
        if need > total_blocks:
            raise ChiplabError(f"request {i}: prompt {pr[i]} + {bm[i]} beam(s) x output {out[i]} tokens need {need} KV "
                               f"blocks of {bs} tokens, but the cache holds {total_blocks} ({kv_capacity} tokens)")
    first = [0.0] * n
    finish = [0.0] * n
    pe = pr[:]                  # prompt of the current incarnation (prompt + tokens generated before preemption)
    g0 = [0] * n                # tokens generated before the current incarnation
    s0 = [0] * n                # step that emitted the current incarnation's first token
    gen = [0] * n               # incarnation number (stale heap entries are skipped)
    pf = [0] * n                # prompt tokens prefilled so far (chunked prefill)
    heap: list[tuple[int, int, int]] = []   # (step emitting the last token, request, incarnation)
    phase = [0] * bs            # beams of running decoders that need a new block on steps == k (mod bs)
    order: dict[int, None] = {}             # running requests (decoding or mid-prefill), admission order
    resumed: deque[int] = deque()           # preempted requests, to be admitted first
    partial: deque[int] = deque()           # requests prefilled in part (chunked prefill)
    t = 0.0
    nxt = 0                 # next new request not yet admitted (FIFO)
    seqs = 0                # sequences in decode (requests x beams)
    running = 0             # requests in decode
    sum_ctx = 0             # sum of their KV lengths (each beam counts the shared prompt)
    used = 0                # KV blocks held
    step = done = emitted = preempted = 0
    itl_dt: list[float] = []
    itl_n: list[int] = []

    def held(i: int, s: int) -> int:      # blocks a decoder holds before step s allocates
        return blocks_for(pe[i], s - s0[i], bm[i], bs) if not reserve else blocks_for(pr[i], out[i], bm[i], bs)

    while done < n:
        if not order and not resumed and nxt < n and arr[nxt] > t:
            t = arr[nxt]                                   # idle: jump to the next arrival
        # on-demand KV: decoders crossing a block boundary this step need a block each; preempt if short
        if not reserve and seqs:
            need = phase[step % bs]
            while used + need > total_blocks:
                i, _ = order.popitem()                     # the most recently admitted running request
                preempted += 1
                gen[i] += 1
                if i in partial:                           # mid-prefill: drop its chunks
                    partial.remove(i)
                    used -= -(-pf[i] // bs)
                else:
                    k = step - s0[i]                       # tokens emitted in this incarnation
                    used -= held(i, step)
                    running -= 1
                    seqs -= bm[i]
                    sum_ctx -= bm[i] * (pe[i] + k)
                    ph = (s0[i] - pe[i] % bs) % bs
                    phase[ph] -= bm[i]
                    if ph == step % bs:
                        need -= bm[i]
                    g0[i] += k
                    pe[i] = pr[i] + g0[i]
                pf[i] = 0
                resumed.appendleft(i)
            used += need
        budget = token_budget - seqs if chunked_prefill else token_budget
        n_new = p_tok = n_out = kv_rd = 0
        pairs = 0.0
        completing = []
        joining = []
        while len(order) < max_seqs or partial:
            if partial:
                i, fresh = partial[0], False
            elif resumed and (budget > 0 or not chunked_prefill):
                i, fresh = resumed[0], True
            elif nxt < n and arr[nxt] <= t and (budget > 0 or not chunked_prefill):
                i, fresh = nxt, True
            else:
                break
            if fresh and len(order) >= max_seqs:
                break
            b = bm[i]
            pre = prefilled and gen[i] == 0                # a preempted arrival lost its KV: it is recomputed
            if pre:                                        # KV already here: its first step is a decode
                c, ctx = b, pe[i]
                if c > budget and (n_new or seqs):
                    break
                nb = blocks_for(pr[i], out[i], b, bs) if reserve else blocks_for(ctx, 1, b, bs)
                if used + nb > total_blocks:
                    break
                used += nb
                p_tok += c
                n_out += c
                pairs += c * ctx
                kv_rd += c * ctx
                budget -= c
                joining.append(i)
            else:
                k, r = pf[i], pe[i] - pf[i]
                if chunked_prefill:
                    c = min(r, budget)
                    if c <= 0:
                        break
                else:
                    c = r
                    if n_new and p_tok + c > token_budget:
                        break
                last = c == r
                if reserve:
                    nb = blocks_for(pr[i], out[i], b, bs) if k == 0 else 0
                else:
                    nb = (blocks_for(pe[i], 1, b, bs) if last else -(-(k + c) // bs)) - -(-k // bs)
                if used + nb > total_blocks:
                    break
                used += nb
                p_tok += c
                pairs += c * k + c * (c + 1) / 2
                kv_rd += k
                budget -= c
                pf[i] = k + c
                if last:
                    n_out += 1
                    completing.append(i)
                if not fresh:
                    partial.popleft()
                    if not last:                           # still partial (no budget left): stays first
                        partial.appendleft(i)
                        break
            if fresh:
                n_new += 1
                order[i] = None
                if resumed and resumed[0] == i:
                    resumed.popleft()
                else:
                    nxt += 1
                if not pre and pf[i] < pe[i]:
                    partial.append(i)
                    break                                  # the budget is spent
        if not order:
            raise RuntimeError("engine stalled")           # cannot happen: a lone request always fits (checked)
        dt = step_time(p_tok + seqs, n_out + seqs, pairs + sum_ctx, kv_rd + sum_ctx)
        t += dt
        if running:
            itl_dt.append(dt)
            itl_n.append(running)
        # decoders emitted one token each; their KV grew by one
        sum_ctx += seqs
        emitted += running
        while heap and heap[0][0] == step:
            _, i, g = heapq.heappop(heap)
            if g != gen[i]:
                continue
            finish[i] = t
            del order[i]
            used -= held(i, step + 1)
            running -= 1
            seqs -= bm[i]
            sum_ctx -= bm[i] * (pe[i] + step + 1 - s0[i])
            if not reserve:
                phase[(s0[i] - pe[i] % bs) % bs] -= bm[i]
            done += 1
        for i in completing + joining:
            b = bm[i]
            if g0[i] == 0:
                first[i] = t
            emitted += 1
            rem = out[i] - g0[i]
            s0[i] = step
            if rem == 1:
                finish[i] = t
                del order[i]
                used -= held(i, step + 1)
                done += 1
                continue
            running += 1
            seqs += b
            sum_ctx += b * (pe[i] + 1)
            if not reserve:
                phase[(step - pe[i] % bs) % bs] += b
            heapq.heappush(heap, (step + rem - 1, i, gen[i]))
        step += 1
    if used or seqs or sum_ctx:                            # bookkeeping check: everything was given back
        raise RuntimeError(f"KV accounting leak: {used} blocks, {seqs} sequences, {sum_ctx} tokens left")
    first_a, fin_a = np.array(first), np.array(finish)
    multi = wl.outputs > 1
    tpot = (fin_a[multi] - first_a[multi]) / (wl.outputs[multi] - 1)
    return Result(first_a - wl.arrivals, tpot, fin_a - wl.arrivals, emitted,
                  float(fin_a.max() - wl.arrivals[0]), step, preempted, first_a, fin_a,
                  np.array(itl_dt), np.array(itl_n, dtype=np.int64))
