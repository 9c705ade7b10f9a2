"""Measured service-time jitter: a multiplicative factor per batch, drawn from the spread
of a committed measurement file.

chiplab's estimates are deterministic, so a scenario without jitter has p50 = p99 in
SingleStream. ``--jitter cpu`` resamples the *relative* spread measured on a CPU
(``data/measurements/cpu-epyc-2core-2026-11-24.csv``: one row per kernel or model with its
median, p10 and p90 over ``reps`` repetitions, from ``chiplab measure``).

Per row we fit a log-normal with median 1 to the row's p10/p90 ratio:
``sigma = ln(p90 / p10) / (2 z90)``, ``z90 = 1.2816`` (the standard normal's 90th
percentile), so that ``exp(±z90 sigma)`` are the fitted p90/median and p10/median. Per
batch we pick a row at random (with replacement) and draw ``exp(sigma * N(0, 1))``: the
factor's median is 1, its mean ``E[exp(sigma^2 / 2)]`` slightly above. Seeded, so a run
is reproducible. [A] the rows' p10/p90 come from 3–7 repetitions on a shared 2-core
VM: a coarse spread, and the spread of *that* machine, not of the chip being estimated.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from chiplab.errors import ChiplabError

Z90 = 1.2815515655446004          # scipy.stats.norm.ppf(0.9)
_ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"cpu": _ROOT / "data" / "measurements" / "cpu-epyc-2core-2026-11-24.csv"}


def sigmas_from_csv(path: "str | Path") -> np.ndarray:
    """One log-normal sigma per row of a ``chiplab measure`` CSV (columns ``p10_s``, ``p90_s``)."""
    p = Path(path)
    if not p.is_file():
        raise ChiplabError(f"jitter: measurement file {p} not found")
    with p.open() as f:
        rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    out = []
    for i, r in enumerate(rows):
        try:
            p10, p90 = float(r["p10_s"]), float(r["p90_s"])
        except (KeyError, TypeError, ValueError):
            raise ChiplabError(f"jitter: {p.name} row {i + 1}: needs numeric p10_s and p90_s columns") from None
        if p10 > 0 and p90 >= p10:
            out.append(np.log(p90 / p10) / (2 * Z90))
    if not out:
        raise ChiplabError(f"jitter: {p.name} has no row with 0 < p10_s <= p90_s")
    return np.asarray(out)


class Jitter:
    """Multiplicative service-time factors, median 1, resampled from measured spreads."""

    def __init__(self, sigmas: np.ndarray, source: str = ""):
        self.sigmas, self.source = np.asarray(sigmas, dtype=float), source

    @classmethod
    def named(cls, name: str) -> "Jitter":
        if name not in SOURCES:
            raise ChiplabError(f"--jitter: expected one of {', '.join(SOURCES)}, got {name!r}")
        return cls(sigmas_from_csv(SOURCES[name]), SOURCES[name].name)

    def factors(self, n: int, seed: int = 0) -> np.ndarray:
        rng = np.random.default_rng([seed, 0x7177])
        s = rng.choice(self.sigmas, size=n)
        return np.exp(s * rng.standard_normal(n))

    def describe(self) -> str:
        return (f"service-time jitter from {self.source}: per batch x exp(sigma N(0,1)), sigma resampled from "
                f"{len(self.sigmas)} rows' ln(p90/p10)/(2 x 1.2816) (median {np.median(self.sigmas):.3f}, "
                f"max {self.sigmas.max():.3f})")
