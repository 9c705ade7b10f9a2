"""α–β cost of collective operations (time in seconds).

The formulas are the standard ones of Thakur, Rabenseifner & Gropp, "Optimization of
Collective Communication Operations in MPICH", IJHPCA 19(1), 2005, Section 2/4, without the
γ (local reduction) term, which is small next to link time for the sizes here:

=====================  ===============================================
ring all-reduce        2(p-1) α + 2 (p-1)/p · n/B
tree all-reduce        2 ⌈log2 p⌉ (α + n/B)   (binomial reduce + broadcast)
Rabenseifner           2 log2 p α + 2 (p-1)/p · n/B   (p a power of two)
ring all-gather        (p-1) α + (p-1)/p · n/B  (n: the gathered total)
ring reduce-scatter    (p-1) α + (p-1)/p · n/B  (n: the input per chip)
pairwise all-to-all    (p-1) α + (p-1)/p · n/B  (n: what each chip sends in all)
point-to-point         α + n/B
=====================  ===============================================

``n`` is bytes, ``B`` a chip's link bandwidth per direction, ``α`` the per-message latency.
On a ``switch`` topology every chip reaches every other in one hop at ``B``; a ring or torus
runs the ring algorithms on neighbour links at ``B``, and all-to-all pays the mean hop count
(messages share links), see :func:`all_to_all`. One group of ``p`` chips; p = 1 costs nothing.
"""
from __future__ import annotations

import math

from chiplab.errors import ChiplabError


def _check(n: float, p: int, bandwidth: float, alpha: float) -> None:
    if p < 1 or int(p) != p:
        raise ChiplabError(f"collective: group size must be a whole number >= 1, got {p}")
    if not (n >= 0 and bandwidth > 0 and alpha >= 0):
        raise ChiplabError(f"collective: need bytes >= 0, bandwidth > 0, latency >= 0 (got {n}, {bandwidth}, {alpha})")


def all_reduce_ring(n: float, p: int, bandwidth: float, alpha: float = 0.0) -> float:
    _check(n, p, bandwidth, alpha)
    return 0.0 if p == 1 else 2 * (p - 1) * alpha + 2 * (p - 1) / p * n / bandwidth


def all_reduce_tree(n: float, p: int, bandwidth: float, alpha: float = 0.0) -> float:
    _check(n, p, bandwidth, alpha)
    return 0.0 if p == 1 else 2 * math.ceil(math.log2(p)) * (alpha + n / bandwidth)


def all_reduce_rabenseifner(n: float, p: int, bandwidth: float, alpha: float = 0.0) -> float:
    _check(n, p, bandwidth, alpha)
    return 0.0 if p == 1 else 2 * math.log2(p) * alpha + 2 * (p - 1) / p * n / bandwidth


def all_reduce(n: float, p: int, bandwidth: float, alpha: float = 0.0) -> float:
    """The cheaper of ring and tree (what a library such as NCCL or MPICH picks by size)."""
    return min(all_reduce_ring(n, p, bandwidth, alpha), all_reduce_tree(n, p, bandwidth, alpha))


def all_gather(n: float, p: int, bandwidth: float, alpha: float = 0.0) -> float:
    _check(n, p, bandwidth, alpha)
    return 0.0 if p == 1 else (p - 1) * alpha + (p - 1) / p * n / bandwidth


def reduce_scatter(n: float, p: int, bandwidth: float, alpha: float = 0.0) -> float:
    _check(n, p, bandwidth, alpha)
    return 0.0 if p == 1 else (p - 1) * alpha + (p - 1) / p * n / bandwidth


def mean_hops(p: int, topology: str = "switch", dims: tuple[int, ...] | None = None) -> float:
    """Mean shortest-path hops between two distinct chips: 1 on a switch; on a bidirectional
    ring of p, the mean of min(k, p-k) over k = 1..p-1; on a torus, the sum over dimensions."""
    if p <= 1 or topology == "switch":
        return 1.0
    sizes = dims if topology == "torus" and dims else (p,)
    total = 0.0
    for d in sizes:   # mean ring distance in one dimension over all p ordered pairs (including self)
        total += sum(min(k, d - k) for k in range(d)) / d
    return total * p / (p - 1)   # exclude the pair with itself


def all_to_all(n: float, p: int, bandwidth: float, alpha: float = 0.0, topology: str = "switch",
               dims: tuple[int, ...] | None = None) -> float:
    """Pairwise exchange; on a ring or torus the bandwidth term is multiplied by the mean hop count."""
    _check(n, p, bandwidth, alpha)
    return 0.0 if p == 1 else (p - 1) * alpha + mean_hops(p, topology, dims) * (p - 1) / p * n / bandwidth


def point_to_point(n: float, bandwidth: float, alpha: float = 0.0) -> float:
    _check(n, 1, bandwidth, alpha)
    return alpha + n / bandwidth
