"""Service-time models: how long one batch takes on the device.

The simulator (:mod:`chiplab.scenario.sim`) needs only ``time(batch, seq_len) -> seconds``;
it never imports :mod:`chiplab.perf`. :class:`EstimateService` is the one backed by
chiplab's analytical estimate; :class:`ConstantService` and :class:`AffineService` are
closed-form models for tests and what-if runs.

A batch that does not fit the device raises :class:`chiplab.errors.CapacityError`.
"""
from __future__ import annotations

import bisect
import math
from typing import Callable, Protocol, Sequence, runtime_checkable

from chiplab.errors import CapacityError, ChiplabError


@runtime_checkable
class ServiceModel(Protocol):
    """Seconds the device needs for one batch of ``batch`` samples, each padded to
    ``seq_len`` tokens (``None`` for workloads without a sequence axis)."""

    def time(self, batch: int, seq_len: int | None = None) -> float: ...


class ConstantService:
    """Every batch takes ``seconds``, whatever its size (a deterministic server)."""

    def __init__(self, seconds: float, max_batch: int | None = None):
        if seconds <= 0:
            raise ChiplabError(f"service time must be > 0 s, got {seconds}")
        self.seconds, self.max_batch = float(seconds), max_batch

    def time(self, batch: int, seq_len: int | None = None) -> float:
        if self.max_batch is not None and batch > self.max_batch:
            raise CapacityError(f"batch {batch} exceeds the model's max batch {self.max_batch}")
        return self.seconds


class AffineService:
    """``fixed + per_sample * batch [* seq_len / ref_len]``: a launch cost plus linear work."""

    def __init__(self, fixed: float, per_sample: float, ref_len: int | None = None, max_batch: int | None = None):
        self.fixed, self.per_sample, self.ref_len, self.max_batch = float(fixed), float(per_sample), ref_len, max_batch

    def time(self, batch: int, seq_len: int | None = None) -> float:
        if self.max_batch is not None and batch > self.max_batch:
            raise CapacityError(f"batch {batch} exceeds the model's max batch {self.max_batch}")
        scale = (seq_len / self.ref_len) if (seq_len and self.ref_len) else 1.0
        return self.fixed + self.per_sample * batch * scale


def _interp(x: float, xs: Sequence[float], f: Callable[[float], float]) -> float:
    """Linear interpolation of f between the grid points around x (extrapolated past the
    top from the last two points, clamped below the first)."""
    if x <= xs[0] or len(xs) == 1:
        return f(xs[0])
    i = bisect.bisect_left(xs, x)
    if i < len(xs) and xs[i] == x:
        return f(xs[i])
    if i >= len(xs):
        i = len(xs) - 1
    x0, x1 = xs[i - 1], xs[i]
    y0, y1 = f(x0), f(x1)
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


class EstimateService:
    """Service times from chiplab's estimate of ``workload`` on ``chip``.

    The workload is captured once per sequence length (at batch 1) and re-batched on the
    IR (``estimate(graph, chip, batch=b)``, :meth:`chiplab.ir.Graph.with_batch`); a graph
    that cannot be re-batched (no recorded batch, a shape the re-batcher does not follow)
    is captured again at that batch. Evaluated (and memoised) at powers of two of the
    batch and at the grid of sequence lengths ``seq_grid``; anything between is
    interpolated linearly, first along the sequence length, then along the batch. A point
    where the estimate raises :class:`CapacityError` does not fit; a batch between two
    powers of two whose upper neighbour does not fit is estimated exactly instead.
    Sequence lengths below the first grid point are priced at the first grid point
    (a slight overestimate); above the last, extrapolated from the last two.

    :meth:`time` is the latency of one batch (inputs in, device, outputs out);
    :meth:`period` the steady-state time per batch with transfers overlapped
    (``batch / total()["throughput_per_s"]``), which Offline uses.
    """

    def __init__(self, workload, chip, *, precision: str | None = None,
                 seq_grid: Sequence[int] | None = None, estimate_fn: Callable | None = None,
                 graph_fn: Callable | None = None):
        self.workload, self.precision, self.chip = workload, precision, chip
        if estimate_fn is None:                 # the real thing: load the chip once, not per point
            from chiplab.hw import load_chip
            from chiplab.perf.estimate import estimate as estimate_fn

            self.chip = load_chip(chip)
            if graph_fn is None and isinstance(workload, str):
                graph_fn = _capture_graph
        self.seq_grid = tuple(sorted(seq_grid)) if seq_grid else None
        self._estimate = estimate_fn
        self._graph_fn = graph_fn          # (workload, seq_len) -> Graph at batch 1, or None: no re-batching
        self._graphs: dict[int | None, object] = {}
        self._memo: dict[tuple[int, int | None], "tuple[float, float] | CapacityError"] = {}
        self.calls = 0                    # estimates actually run (for the report)
        self.captures = 0                 # graphs captured (or read from the capture cache)

    def _graph(self, seq_len: int | None):
        if self._graph_fn is None:
            return None
        if seq_len not in self._graphs:
            self.captures += 1
            self._graphs[seq_len] = self._graph_fn(self.workload, seq_len)
        return self._graphs[seq_len]

    def _run(self, batch: int, seq_len: int | None):
        from chiplab.ir.graph import GraphError

        graph = self._graph(seq_len)
        if graph is not None:
            try:
                return self._estimate(graph, self.chip, batch=batch, precision=self.precision)
            except GraphError:                 # the re-batcher cannot follow this graph: capture at the batch
                self._graph_fn = None
        return self._estimate(self.workload, self.chip, batch=batch, seq_len=seq_len, precision=self.precision)

    def _entry(self, batch: int, seq_len: int | None) -> tuple[float, float]:
        key = (int(batch), None if seq_len is None else int(seq_len))
        if key not in self._memo:
            self.calls += 1
            try:
                est = self._run(*key)
                tp = est.total().get("throughput_per_s") if hasattr(est, "total") else None
                period = key[0] / tp if tp and math.isfinite(tp) and tp > 0 else float(est.latency_s)
                self._memo[key] = (float(est.latency_s), float(period))
            except CapacityError as e:
                self._memo[key] = e
        v = self._memo[key]
        if isinstance(v, CapacityError):
            raise v
        return v

    def point(self, batch: int, seq_len: int | None) -> float:
        """The estimated latency at exactly (batch, seq_len), memoised; raises CapacityError."""
        return self._entry(batch, seq_len)[0]

    def steady_point(self, batch: int, seq_len: int | None) -> float:
        """Steady-state seconds per batch at exactly (batch, seq_len) (transfers overlapped)."""
        return self._entry(batch, seq_len)[1]

    def _at_batch(self, batch: int, seq_len: int | None, pt: Callable) -> float:
        if seq_len is None or self.seq_grid is None:
            return pt(batch, seq_len)
        return _interp(float(seq_len), self.seq_grid, lambda L: pt(batch, int(L)))

    def _interp_batch(self, batch: int, seq_len: int | None, pt: Callable) -> float:
        if batch < 1:
            raise ChiplabError(f"batch must be >= 1, got {batch}")
        lo = 1 << (int(batch).bit_length() - 1)
        if lo == batch:
            return self._at_batch(batch, seq_len, pt)
        t0 = self._at_batch(lo, seq_len, pt)
        try:
            t1 = self._at_batch(2 * lo, seq_len, pt)
        except CapacityError:
            return self._at_batch(batch, seq_len, pt)   # the exact batch may still fit
        return t0 + (t1 - t0) * (batch - lo) / lo

    def time(self, batch: int, seq_len: int | None = None) -> float:
        return self._interp_batch(batch, seq_len, self.point)

    def period(self, batch: int, seq_len: int | None = None) -> float:
        return self._interp_batch(batch, seq_len, self.steady_point)

    def fits(self, batch: int, seq_len: int | None = None) -> bool:
        try:
            self.time(batch, seq_len)
            return True
        except CapacityError:
            return False


def _capture_graph(workload: str, seq_len: int | None):
    """``workload`` captured at batch 1 (through the capture cache), for re-batching."""
    from chiplab.capture.workloads import load_graph

    return load_graph(workload, batch=1, seq_len=seq_len)


class SteadyState:
    """A service model's steady-state view: ``time`` is the seconds per batch with batches
    pipelined (``period``, where the model has one; else its latency)."""

    def __init__(self, service):
        self.service = service
        self._f = getattr(service, "period", None) or service.time

    def time(self, batch: int, seq_len: int | None = None) -> float:
        return self._f(batch, seq_len)


class CachedService:
    """Memoises any service model's ``time`` by (batch, seq_len), across simulator runs
    (a Server search runs the simulator dozens of times over the same keys)."""

    def __init__(self, service):
        self.service, self._d = service, {}

    def period(self, batch: int, seq_len: int | None = None) -> float:
        return self._memo(("period", batch, seq_len), getattr(self.service, "period", None) or self.service.time,
                          batch, seq_len)

    def time(self, batch: int, seq_len: int | None = None) -> float:
        return self._memo((batch, seq_len), self.service.time, batch, seq_len)

    def _memo(self, key, f, batch: int, seq_len: int | None) -> float:
        """``f(batch, seq_len)`` once per key; a batch that does not fit raises the same error every time."""
        v = self._d.get(key)
        if v is None:
            try:
                v = float(f(batch, seq_len))
            except CapacityError as e:
                v = e
            self._d[key] = v
        if isinstance(v, CapacityError):
            raise v
        return v


def is_power_of_two(n: int) -> bool:
    return n >= 1 and (n & (n - 1)) == 0


def powers_of_two(upto: int) -> list[int]:
    return [1 << k for k in range(int(math.log2(max(1, upto))) + 1)]
