"""Mapping a matrix product onto a rows × cols systolic array: folds, fill/drain,
SRAM traffic and DRAM traffic, in closed form (O(1) per layer, no per-fold loops).

Vocabulary (SCALE-Sim's, from its paper): the array holds one operand stationary;
``Sr`` is the extent mapped along the array rows, ``Sc`` along the columns and
``T`` the extent streamed through time. For C[M,N] = A[M,K] @ B[K,N]:

======== ============ ============ ========== =====================================
dataflow  Sr (rows)    Sc (cols)    T (time)   stationary
======== ============ ============ ========== =====================================
``os``    M            N            K          outputs (one psum per PE)
``ws``    K            N            M          weights B
``is``    K            M            N          inputs A
======== ============ ============ ========== =====================================

``folds = ceil(Sr/R) * ceil(Sc/C)``. Two cycle conventions:

* **scalesim** (``--compat scalesim``): SCALE-Sim v3's stall-free "Total Cycles"
  exactly, from its code: every fold pays its own fill and drain —
  ``os: folds*(T + R + C - 2) - 1``, ``ws``/``is``: ``folds*(T + 2R + C - 2) - 1``.
* **default** (the hardware): consecutive folds are pipelined, as in a real array
  whose next stationary tile loads into shadow registers while the current one
  computes (TPU v1 double-buffers its weights, Jouppi et al. ISCA 2017): each fold
  costs ``max(T, R)`` (a tile cannot be swapped faster than its R rows shift in),
  and the fill/drain ``2R + C - 2`` of the SCALE-Sim paper is paid once per layer.

A reconfigurable array (``dataflow: flexible``) is not a fourth mapping: the model
maps each layer in every one of :data:`DATAFLOWS` and keeps the fastest
(:meth:`chiplab.perf.arch_systolic.SystolicModel.matrix_counts`).

``macs_per_pe`` (> 1 for packed low precision, < 1 for slow wide precision) scales
the streamed extent: ``T' = ceil(T / macs_per_pe)``.
"""
from __future__ import annotations
from chiplab.errors import ChiplabError

import math
from dataclasses import dataclass

DATAFLOWS = ("os", "ws", "is")   # also the tie order of a flexible array
FLEXIBLE = "flexible"            # the array picks one of DATAFLOWS per layer


@dataclass(frozen=True)
class Mapping:
    """How one GEMM (one of ``batch`` independent products) lands on the array."""

    dataflow: str
    rows: int
    cols: int
    Sr: int
    Sc: int
    T: int               # streamed extent after macs_per_pe scaling
    row_folds: int
    col_folds: int

    @property
    def folds(self) -> int:
        return self.row_folds * self.col_folds

    @property
    def mapping_efficiency(self) -> float:
        """Average fraction of PEs holding useful work over the folds (SCALE-Sim's notion)."""
        return (self.Sr * self.Sc) / (self.folds * self.rows * self.cols)


def map_gemm(M: int, N: int, K: int, rows: int, cols: int, dataflow: str, macs_per_pe: float = 1.0) -> Mapping:
    """Fold a GEMM onto the array for ``dataflow`` (see the module table)."""
    if dataflow not in DATAFLOWS:
        raise ChiplabError(f"dataflow: unknown {dataflow!r} (known: {', '.join(DATAFLOWS)})")
    if min(M, N, K, rows, cols) < 1:
        raise ValueError(f"map_gemm: M,N,K,rows,cols must be >= 1, got {(M, N, K, rows, cols)}")
    if not macs_per_pe > 0:
        raise ChiplabError(f"macs_per_pe must be > 0, got {macs_per_pe}")
    Sr, Sc, T = {"os": (M, N, K), "ws": (K, N, M), "is": (K, M, N)}[dataflow]
    T = T if macs_per_pe == 1 else math.ceil(T / macs_per_pe)
    return Mapping(dataflow, rows, cols, Sr, Sc, T, -(-Sr // rows), -(-Sc // cols))


def scalesim_cycles(m: Mapping) -> int:
    """SCALE-Sim v3's stall-free compute cycles of one GEMM (its per-fold fill/drain)."""
    R, C = m.rows, m.cols
    per_fold = m.T + R + C - 2 if m.dataflow == "os" else m.T + 2 * R + C - 2
    return m.folds * per_fold - 1


def pipelined_cycles(m: Mapping) -> int:
    """Hardware convention: folds pipelined back to back, one fill + drain per layer."""
    R, C = m.rows, m.cols
    return m.folds * max(m.T, R) + 2 * R + C - 2


@dataclass(frozen=True)
class Traffic:
    """Element counts of one GEMM: what the array reads from / writes to its SRAMs,
    and what the SRAMs exchange with DRAM (before multiplying by element bytes)."""

    sram_ifmap_reads: float
    sram_filter_reads: float
    sram_ofmap_writes: float      # psum / output writes into the ofmap buffer
    sram_ofmap_reads: float       # psum read-back for accumulation across row folds
    dram_ifmap: float
    dram_filter: float
    dram_ofmap_writes: float
    dram_psum_spill: float        # psums written out and read back when they do not fit


def sram_traffic(m: Mapping, M: int, N: int, K: int) -> tuple[float, float, float, float]:
    """Array-side SRAM accesses (elements), as SCALE-Sim counts them.

    ``os``: A is read once per column fold, B once per row fold, C written once.
    ``ws``: A once per column fold, B once, psums written once per row fold (K folds).
    ``is``: A once, B once per column fold (over M), psums once per row fold.
    """
    if m.dataflow == "os":
        return M * K * m.col_folds, K * N * m.row_folds, M * N, 0.0
    if m.dataflow == "ws":
        return M * K * m.col_folds, K * N, M * N * m.row_folds, M * N * (m.row_folds - 1)
    return M * K, K * N * m.col_folds, M * N * m.row_folds, M * N * (m.row_folds - 1)


def dram_traffic(m: Mapping, M: int, N: int, K: int, *, a_unique: float, cap_a: float, cap_b: float, cap_c: float,
                 psum_ratio: float = 1.0) -> tuple[float, float, float, float]:
    """DRAM elements (A reads, B reads, C writes, psum spill read+write) with SRAM tiling.

    ``a_unique`` is the number of distinct A elements (for a convolution the input
    feature map, smaller than the im2col matrix M×K); ``cap_*`` are the usable SRAM
    capacities in elements (half the buffer when double-buffered). An operand that is
    re-swept by the loop order is fetched once when its whole footprint fits in its
    buffer, otherwise once per sweep. Psums that must survive across row folds stay
    in the ofmap buffer when ``psum_ratio``×(their footprint) fits, else spill.
    """
    rf, cf = m.row_folds, m.col_folds
    if m.dataflow == "os":
        a_sweeps = 1 if a_unique <= cap_a else cf                # A re-swept once per column fold
        b_sweeps = 1 if K * min(N, m.cols) <= cap_b else rf      # a K×C slab of B reused over row folds
        return a_unique * a_sweeps, K * N * b_sweeps, M * N, 0.0
    if m.dataflow == "ws":
        a_sweeps = 1 if a_unique <= cap_a else cf
        spill = 0.0
        if rf > 1 and M * min(N, m.cols) * psum_ratio > cap_c:  # psums of one column fold
            spill = 2.0 * M * N * (rf - 1)
        return a_unique * a_sweeps, K * N, M * N, spill
    # is: A stationary tile by tile (read once); B re-swept once per column fold over M
    b_sweeps = 1 if K * N <= cap_b else cf
    spill = 0.0
    if rf > 1 and min(M, m.cols) * N * psum_ratio > cap_c:
        spill = 2.0 * M * N * (rf - 1)
    return a_unique, K * N * b_sweeps, M * N, spill


def scalesim_dram_traffic(m: Mapping, M: int, N: int, K: int, *, cap_a: float, cap_b: float) -> tuple[float, float, float]:
    """DRAM words (A reads, B reads, C writes) SCALE-Sim's buffers move in USER mode,
    approximately.

    SCALE-Sim's read buffer keeps a window over the operand matrix (A: the M×K im2col
    matrix, addresses repeated where windows overlap; B: K×N) in prefetch order, fills
    its active half before cycle 0, and on a miss slides the window forward by half a
    buffer, fetching that much; the window never moves back, so a demand for data
    behind it costs a full revolution. Hence: an operand that fits its active half
    (``cap_*``) is read once; otherwise once per sweep plus one (the window runs past
    the end into the start) — A in os/ws per column fold, B in is per column fold —
    and in os every row fold re-demands the same B slab, a full revolution each
    unless the slab fits. The ofmap buffer writes every psum it receives (once per
    row fold in ws/is). These rules were read from its code and probed on its runs
    (docs/systolic_model.md); its buffer thrashing is not followed exactly.
    """
    rf, cf = m.row_folds, m.col_folds
    a, b = float(M * K), float(K * N)
    sweeps = lambda n: n + 1 if n > 1 else n       # noqa: E731
    fits_a, fits_b = a <= cap_a, b <= cap_b
    if m.dataflow == "os":
        if fits_b:
            db = b
        elif K * min(N, m.cols) <= cap_b:           # one column slab fits: one pass per slab
            db = b * sweeps(cf)
        else:                                      # every fold re-demands its slab: a revolution each
            db = b * cf * rf
        return (a if fits_a else a * sweeps(cf)), db, float(M * N)
    if m.dataflow == "ws":
        return (a if fits_a else a * sweeps(cf)), b, float(M * N * rf)
    return a, (b if fits_b else b * sweeps(cf)), float(M * N * rf)


def psum_resident_plan(m: Mapping, M: int, N: int, K: int, *, a_unique: float, cap_a: float, cap_b: float,
                       cap_c: float, macs_per_pe: float = 1.0) -> tuple[int, float, float, float] | None:
    """The other loop order for ``ws``/``is`` when psums do not fit: tile the streamed
    extent so one chunk's psums stay in the ofmap buffer across all row folds, at the
    price of re-loading the stationary tiles for every chunk (and re-reading the
    stationary operand from DRAM when it does not fit in its buffer).

    Returns (stream cycles without fill/drain, A, B, C DRAM elements) or None when
    not applicable (``os``, a single row fold, or psums already fitting).
    """
    if m.dataflow == "os" or m.row_folds == 1:
        return None
    width = min(N if m.dataflow == "ws" else M, m.cols)     # psum columns per chunk
    extent = M if m.dataflow == "ws" else N                  # the streamed extent being chunked
    if extent * width <= cap_c:
        return None
    chunk = max(1, int(cap_c // width))
    chunks = -(-extent // chunk)
    t = chunk if macs_per_pe == 1 else math.ceil(chunk / macs_per_pe)
    stream = chunks * m.folds * max(t, m.rows)
    if m.dataflow == "ws":   # weights stationary: re-fetched per chunk unless they all fit
        d_a = a_unique if a_unique <= cap_a else a_unique * m.col_folds
        d_b = K * N * (1 if K * N <= cap_b else chunks)
    else:                    # inputs stationary: re-fetched per chunk unless they all fit
        d_a = a_unique * (1 if a_unique <= cap_a else chunks)
        d_b = K * N
    return stream, d_a, d_b, M * N
