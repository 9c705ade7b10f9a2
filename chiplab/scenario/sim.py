"""Discrete-event simulation of LoadGen's four scenarios in virtual time.

One device serves batches one at a time (FIFO). Nothing here knows about chiplab's
performance models: every function takes a ``service`` with ``time(batch, seq_len)``
(see :mod:`chiplab.scenario.service`). Sequence lengths (``lens``) are per sample;
a batch is padded to its longest sample, so it costs ``time(n, max(lens))``.

The closed-loop scenarios (SingleStream, MultiStream) and Offline are vectorised with
numpy. The Server's dynamic batcher is a recurrence (each batch starts when the device
frees *and* the batch is ready), so it runs one Python step per *batch*, not per
event, with a binary search over the sorted arrival times.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

import numpy as np


@dataclass
class SimResult:
    latency_s: np.ndarray          # one per query (Offline: one per sample, from the single issue at t=0)
    duration_s: float              # first issue to last completion
    n_queries: int
    n_samples: int
    batch_sizes: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    wait_s: np.ndarray | None = None   # Server: time from arrival to the start of the query's batch

    def percentile(self, p: float) -> float:
        return float(np.percentile(self.latency_s, p)) if len(self.latency_s) else float("nan")


class _Memo:
    """Service times memoised by (batch, seq_len): the simulator asks for few distinct keys."""

    def __init__(self, service):
        self.service, self.d = service, {}

    def __call__(self, batch: int, seq_len: int | None) -> float:
        k = (batch, seq_len)
        v = self.d.get(k)
        if v is None:
            v = self.d[k] = float(self.service.time(batch, seq_len))
        return v

    def many(self, batch: int, lens: np.ndarray | None, n: int) -> np.ndarray:
        """time(batch, L) for each L in lens (or n copies of time(batch, None))."""
        if lens is None:
            return np.full(n, self(batch, None))
        u, inv = np.unique(lens, return_inverse=True)
        return np.array([self(batch, int(L)) for L in u])[inv]


def closed_loop(service, n_queries: int, samples_per_query: int = 1, lens: np.ndarray | None = None,
                jitter: np.ndarray | None = None) -> SimResult:
    """SingleStream (1 sample/query) and MultiStream (N samples/query, one batch): LoadGen
    issues the next query when the previous one completes, so latency = service time.
    ``lens``: n_queries × samples_per_query sequence lengths, or None. ``jitter``: one
    factor per query multiplying its service time, or None."""
    memo = _Memo(service)
    qlens = None if lens is None else np.asarray(lens).reshape(n_queries, samples_per_query).max(axis=1)
    lat = memo.many(samples_per_query, qlens, n_queries)
    if jitter is not None:
        lat = lat * jitter[:n_queries]
    return SimResult(lat, float(lat.sum()), n_queries, n_queries * samples_per_query,
                     np.full(n_queries, samples_per_query, dtype=np.int64))


def offline(service, n_samples: int, batch: int, lens: np.ndarray | None = None, sort: bool = True,
            steady=None, jitter: np.ndarray | None = None) -> SimResult:
    """All samples issued at t=0 in one query; the device runs batches of ``batch`` back to back.
    With sequence lengths, the SUT may reorder the query (it holds every sample), so by
    default it sorts by length to reduce padding (``sort=False``: issue order).

    ``steady``: a service model whose ``time`` is the steady-state seconds per batch with
    batches pipelined (transfers of the next and previous batch overlapping this one's
    compute); batch k then completes at the sum of the periods before it plus its own
    latency. None: batches run serially (period = latency). ``jitter``: one factor per
    batch multiplying both."""
    memo = _Memo(service)
    nb = -(-n_samples // batch)
    sizes = np.full(nb, batch, dtype=np.int64)
    sizes[-1] = n_samples - batch * (nb - 1)
    bmax = None
    if lens is not None:
        ls = np.sort(np.asarray(lens))[::-1] if sort else np.asarray(lens)
        if sort:
            bmax = ls[::batch]                      # descending: the first of each batch is its longest
        else:
            pad = np.full(nb * batch, ls.min())
            pad[:n_samples] = ls
            bmax = pad.reshape(nb, batch).max(axis=1)

    def times(m: _Memo) -> np.ndarray:
        t = m.many(batch, bmax, nb)
        if sizes[-1] != batch:
            t[-1] = m(int(sizes[-1]), None if bmax is None else int(bmax[-1]))
        return t if jitter is None else t * jitter[:nb]

    t = times(memo)
    period = t if steady is None else times(_Memo(steady))
    done = np.cumsum(period) - period + t
    lat = np.repeat(done, sizes)
    return SimResult(lat, float(done.max()), 1, n_samples, sizes)


def poisson_arrivals(qps: float, n: int, seed: int = 0) -> np.ndarray:
    """Arrival times of a Poisson process (exponential gaps with mean 1/qps), as LoadGen's
    Server scenario schedules queries."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.exponential(1.0 / qps, size=n))


def server(service, arrivals: np.ndarray, max_batch: int = 1, timeout_s: float = 0.0,
           lens: np.ndarray | None = None, jitter: np.ndarray | None = None) -> SimResult:
    """A dynamic batcher in front of one device (one sample per query, as MLPerf's Server).

    Policy: the oldest waiting query opens a batch; the batch closes when it holds
    ``max_batch`` queries or ``timeout_s`` after the oldest arrived, whichever is first;
    it starts when it has closed and the device is free, and takes every query that has
    arrived by then, up to ``max_batch``. ``max_batch=1, timeout_s=0`` is a FIFO queue
    (M/G/1 under Poisson arrivals). ``jitter``: factors (at least one per query) multiplying
    the service time of each batch in turn, or None.
    """
    arr = np.asarray(arrivals, dtype=float)
    n = len(arr)
    a = arr.tolist()
    L = None if lens is None else np.asarray(lens).tolist()
    memo = _Memo(service)
    cache = memo.d
    jf = None if jitter is None else np.asarray(jitter, dtype=float).tolist()
    sizes, starts, ends = [], [], []
    i, free = 0, 0.0
    while i < n:
        ready = a[i] + timeout_s
        j = i + max_batch - 1
        if j < n and a[j] < ready:
            ready = a[j]
        s = free if free > ready else ready
        k = bisect_right(a, s, i, min(n, i + max_batch))
        nb = k - i
        key = (nb, None if L is None else (L[i] if nb == 1 else max(L[i:k])))
        dt = cache.get(key)
        if dt is None:
            dt = memo(*key)
        if jf is not None:
            dt *= jf[len(sizes)]
        free = s + dt
        sizes.append(nb)
        starts.append(s)
        ends.append(free)
        i = k
    sizes_a = np.asarray(sizes, dtype=np.int64)
    done = np.repeat(np.asarray(ends), sizes_a)
    start = np.repeat(np.asarray(starts), sizes_a)
    return SimResult(done - arr, float(done[-1] - arr[0]), n, n, sizes_a, wait_s=start - arr)
