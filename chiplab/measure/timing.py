"""Timing real kernels on the local device, honestly.

Each measurement: warm-up calls, then repeated timed calls (CUDA events are not
needed: we synchronise before reading the clock), the median reported with the 10th
and 90th percentiles. Inputs rotate among several buffers whose total size exceeds
the last-level cache, so a kernel does not find its operands already cached from
the previous repetition (which would flatter memory-bound ops).
"""
from __future__ import annotations
from chiplab.errors import ChiplabError

import statistics
import time
from dataclasses import dataclass
from typing import Callable, Sequence

import torch


@dataclass(frozen=True)
class Timing:
    median_s: float
    p10_s: float
    p90_s: float
    reps: int


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def rotation_count(bytes_per_call: int, cache_bytes: float, cap: int = 16) -> int:
    """How many input copies to rotate so that they do not all fit in the cache."""
    if bytes_per_call <= 0:
        return 1
    return int(max(1, min(cap, -(-2 * cache_bytes // bytes_per_call))))


def time_call(fn: Callable[..., object], inputs: Sequence[tuple], *, device: str = "cpu", warmup: int = 2,
              reps: int = 10, max_seconds: float = 5.0) -> Timing:
    """Median time of ``fn(*inputs[i % len(inputs)])`` over ``reps`` calls (fewer if
    ``max_seconds`` runs out, never fewer than 3)."""
    if not inputs:
        raise ChiplabError("time_call: need at least one input tuple")
    with torch.inference_mode():
        for i in range(warmup):
            fn(*inputs[i % len(inputs)])
        sync(device)
        samples: list[float] = []
        start = time.perf_counter()
        for i in range(reps):
            args = inputs[(i + warmup) % len(inputs)]
            t0 = time.perf_counter()
            fn(*args)
            sync(device)
            samples.append(time.perf_counter() - t0)
            if len(samples) >= 3 and time.perf_counter() - start > max_seconds:
                break
    q = statistics.quantiles(samples, n=10) if len(samples) >= 2 else [samples[0]] * 9
    return Timing(statistics.median(samples), q[0], q[-1], len(samples))
