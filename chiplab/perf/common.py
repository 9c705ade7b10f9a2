"""Counts every architecture class shares, and byte helpers.

* :func:`vector_counts` — non-matrix ops (ELEMENTWISE, NORM, SOFTMAX, POOL, REDUCE,
  EMBEDDING, DATA_MOVEMENT) on the chip's vector unit, by roofline:
  ``time = max(vector_ops / lanes / f_vector, bytes_moved / bandwidth)``.
* :func:`view_counts` — metadata-only ops (reshape, slice): zero cost, bound NONE.
* :func:`hw_block_counts` — a fixed-function block captured as one HW_BLOCK node,
  from ``node.attrs["cost"]`` (a :class:`chiplab.hwblock.HwCost` or its fields as a
  dict), in the block's own clock.
* :func:`host_counts` — graph inputs in and graph outputs out over the host link.
* :func:`fused_counts` — a node fused into its producer's output pipeline.
* ``*_layer`` helpers price those counts at once (one row, for tests and notebooks).

Counts are priced by :mod:`chiplab.perf.price`; every row's ``cycles`` are in the
chip's main clock, so rows of one estimate add up. Tensor sizes: floating-point
tensors are counted at the estimate's precision (a model captured in fp32 but run in
int8 moves 1 byte per element); integer and boolean tensors (indices, masks) keep
their own width.
"""
from __future__ import annotations

import math

from chiplab.errors import ChiplabError
from chiplab.hw.spec import ChipSpec
from chiplab.ir.graph import DTYPE_BYTES, Graph, GraphError, Node, OpKind, Role, TensorSpec
from chiplab.perf.counts import READ, WRITE, Counts, Level, Max, Operand, Sum, Term, over, seconds, zero
from chiplab.perf.counts import utilization as utilization
from chiplab.perf.price import price_row
from chiplab.perf.result import Bound, LayerEstimate

#: bytes per element of each compute precision
PRECISION_BYTES: dict[str, float] = {"int4": 0.5, "int8": 1.0, "fp8": 1.0, "bf16": 2.0, "fp16": 2.0,
                                     "tf32": 4.0, "fp32": 4.0}
_FLOAT_DTYPES = {"float64", "float32", "float16", "bfloat16", "float8_e4m3fn", "float8_e5m2", "complex64"}


def precision_bytes(precision: str) -> float:
    """Bytes per element at ``precision`` (one-line error for unknown names)."""
    try:
        return PRECISION_BYTES[precision]
    except KeyError:
        raise ChiplabError(f"precision: unknown {precision!r} (known: {', '.join(PRECISION_BYTES)})") from None


def tensor_bytes(t: TensorSpec, precision: str) -> float:
    """Bytes of one tensor on the chip: floats at ``precision``, integers at their own width."""
    if t.dtype in _FLOAT_DTYPES:
        return t.numel * precision_bytes(precision)
    return float(t.numel * DTYPE_BYTES[t.dtype])


def node_bytes(node: Node, precision: str) -> tuple[float, float]:
    """(bytes read, bytes written) by a non-matrix node.

    An EMBEDDING reads only the gathered rows (as many bytes as its output) and the
    indices, not its whole table; every other op reads all its inputs.
    """
    written = sum(tensor_bytes(t, precision) for t in node.outputs)
    if node.op is OpKind.EMBEDDING:
        idx = sum(tensor_bytes(t, precision) for t in node.inputs if t.role is not Role.WEIGHT)
        return idx + written, written
    return sum(tensor_bytes(t, precision) for t in node.inputs), written


# --------------------------------------------------------------------------- counts of the shared layer kinds
def _ident(node: Node) -> dict:
    return {"name": node.label, "node": node.name, "op": node.op.value, "macs": node.macs}


def view_counts(node: Node) -> Counts:
    """A metadata-only op: no time, no energy."""
    return Counts(time=zero(), unit="none")


def view_layer(node: Node) -> LayerEstimate:
    return price_row(view_counts(node), _NO_CHIP, "", **_ident(node))


def mem_term(memory: Bound, nbytes: float, rate: "tuple[str, ...] | float") -> Term:
    """``nbytes`` through a memory at ``rate``: dotted chip paths (re-priceable) or a
    fixed bytes per second."""
    if isinstance(rate, tuple):
        return over(memory, nbytes, *rate)
    return seconds(memory, nbytes / rate if nbytes else 0.0)


def vector_time(node: Node) -> Term:
    """The vector unit's time for ``node.vector_ops``."""
    return Term(Bound.VECTOR, float(node.vector_ops), div=("vector.lanes", "vector_clock_hz"))


def vector_counts(node: Node, precision: str, *, rate: "tuple[str, ...] | float" = ("memory.dram_bandwidth",),
                  memory: Bound = Bound.DRAM, rw_bytes: tuple[float, float] | None = None,
                  onchip_rw_bytes: tuple[float, float] = (0.0, 0.0)) -> Counts:
    """A non-matrix op on the vector unit, by roofline:
    ``time = max(vector_ops / lanes / f_vector, bytes_moved / bandwidth)``.

    ``rate`` is the bandwidth of the memory the operands live in (``memory`` says which:
    DRAM or SRAM); the caller decides residency. The bound is VECTOR when the lanes take
    at least as long as the bytes, else ``memory``. A caller that keeps some operands on
    chip passes the (read, written) bytes that go through ``memory`` as ``rw_bytes`` and
    the on-chip rest as ``onchip_rw_bytes`` (priced as SRAM accesses, assumed not to
    limit the time).
    """
    if memory not in (Bound.DRAM, Bound.SRAM):
        raise ValueError(f"vector_counts: memory must be DRAM or SRAM, got {memory}")
    if not isinstance(rate, tuple) and not rate > 0:
        raise ChiplabError(f"{node.label}: memory bandwidth must be > 0, got {rate}")
    read, written = node_bytes(node, precision) if rw_bytes is None else rw_bytes
    c = Counts(time=Max((vector_time(node), mem_term(memory, read + written, rate))), unit="vector",
               vector_ops=float(node.vector_ops))
    lv = Level.DRAM if memory is Bound.DRAM else Level.SRAM
    c.add(lv, Operand.INPUT, READ, read).add(lv, Operand.OUTPUT, WRITE, written)
    o_read, o_written = onchip_rw_bytes
    return c.add(Level.SRAM, Operand.INPUT, READ, o_read).add(Level.SRAM, Operand.OUTPUT, WRITE, o_written)


def vector_layer(node: Node, chip: ChipSpec, precision: str, clock_hz: float, *, bandwidth_bytes_per_s: float,
                 memory: Bound = Bound.DRAM, rw_bytes: tuple[float, float] | None = None,
                 onchip_rw_bytes: tuple[float, float] = (0.0, 0.0)) -> LayerEstimate:
    """:func:`vector_counts` priced at once (a fixed ``bandwidth_bytes_per_s``)."""
    if memory not in (Bound.DRAM, Bound.SRAM):
        raise ValueError(f"vector_layer: memory must be DRAM or SRAM, got {memory}")
    c = vector_counts(node, precision, rate=bandwidth_bytes_per_s, memory=memory, rw_bytes=rw_bytes,
                      onchip_rw_bytes=onchip_rw_bytes)
    return price_row(c, chip, precision, **_ident(node))


def _cost_field(cost: object, name: str, node: Node) -> float:
    v = cost.get(name) if isinstance(cost, dict) else getattr(cost, name, None)
    if v is None:
        raise ChiplabError(f"{node.label}: HW_BLOCK cost has no {name!r} (attrs['cost'] must be an HwCost or its fields)")
    v = float(v)
    if not math.isfinite(v) or v < 0:
        raise ChiplabError(f"{node.label}: HW_BLOCK cost {name}={v} must be finite and >= 0")
    return v


def hw_block_counts(node: Node) -> Counts:
    """A fixed-function block: its own cycles at its own clock, its own energy."""
    cost = node.attrs.get("cost")
    if cost is None:
        raise ChiplabError(f"{node.label}: HW_BLOCK node has no attrs['cost'] (an HwCost)")
    cyc, block_hz, joules = (_cost_field(cost, k, node) for k in ("cycles", "clock_hz", "energy_j"))
    if block_hz <= 0:
        raise ChiplabError(f"{node.label}: HW_BLOCK cost clock_hz must be > 0")
    br = dict(cost.get("breakdown", {}) if isinstance(cost, dict) else getattr(cost, "breakdown", {}) or {})
    return Counts(time=seconds(Bound.HW_BLOCK, cyc / block_hz), unit="hw_block", fixed_energy_j=joules,
                  fixed_breakdown=br or {"hw_block": joules},
                  notes=[f"fixed-function block: {cyc:.0f} cycles at {block_hz / 1e6:.0f} MHz"])


def hw_block_layer(node: Node, clock_hz: float) -> LayerEstimate:
    row = price_row(hw_block_counts(node), _ClockOnly(clock_hz), "", **_ident(node))
    row.latency_s = row.counts.time.amount      # exactly the block's own time
    return row


class _ClockOnly:
    """A stand-in chip for pricing counts that need only a clock (views, fixed blocks)."""

    def __init__(self, clock_hz: float) -> None:
        self.clock_hz, self.name, self.energy = clock_hz, "", None


_NO_CHIP = _ClockOnly(1.0)


def graph_outputs(graph: Graph) -> list[TensorSpec]:
    """Tensors that leave the graph: ``meta['outputs']`` (node names) when given, else
    the outputs of nodes nobody consumes."""
    names = graph.meta.get("outputs")
    if names is None:
        cons = graph.consumers()
        names = [n for n, c in cons.items() if not c]
    by_name = {n.name: n for n in graph.nodes}
    out: list[TensorSpec] = []
    for nm in names:
        if nm not in by_name:
            raise GraphError(f"graph {graph.name!r}: meta['outputs'] names {nm!r}, which is not a node")
        out.extend(by_name[nm].outputs)
    return out


def host_counts(nbytes: float) -> Counts:
    """``nbytes`` over the host link: its latency plus the bytes at its bandwidth."""
    t = Sum((seconds(Bound.HOST, 1.0, "host_link.latency"), over(Bound.HOST, nbytes, "host_link.bandwidth")))
    c = Counts(time=t, unit="host", notes=[f"{nbytes:.0f} B over the host link"])
    return c.add(Level.HOST, Operand.INPUT, READ, nbytes)


def _host_row(name: str, nbytes: float, chip: ChipSpec, precision: str, clock_hz: float) -> LayerEstimate:
    return price_row(host_counts(nbytes), chip, precision, name=name, node=name, op="host_transfer", macs=0)


def host_rows_bytes(graph: Graph, precision: str) -> tuple[float, float]:
    """(bytes in, bytes out) over the host link: graph inputs and outputs. Weights and
    device-resident state (``Role.STATE``, e.g. a decode step's KV cache) stay on the
    device and do not cross it."""
    nin = sum(tensor_bytes(t, precision) for t in graph.inputs if t.role not in (Role.WEIGHT, Role.STATE))
    nout = sum(tensor_bytes(t, precision) for t in graph_outputs(graph))
    return nin, nout


def host_transfer_layers(graph: Graph, chip: ChipSpec, precision: str,
                         clock_hz: float) -> tuple[list[LayerEstimate], list[LayerEstimate]]:
    """(rows before the graph, rows after it): graph inputs in and outputs out over
    the host link. Empty when the chip has no host link or nothing crosses it."""
    if chip.host_link is None:
        return [], []
    nin, nout = host_rows_bytes(graph, precision)
    before = [_host_row("host:inputs", nin, chip, precision, clock_hz)] if nin > 0 else []
    after = [_host_row("host:outputs", nout, chip, precision, clock_hz)] if nout > 0 else []
    return before, after


def fused_counts(node: Node, head: str, precision: str, side: tuple[int, ...] = (),
                 on_chip: tuple[bool, ...] | None = None) -> Counts:
    """A node fused into ``head``'s output pipeline: no write or re-read of its chained
    operand; its vector time overlaps the head's (see :func:`chiplab.perf.price.overlap_fused`).
    The ``side`` inputs (a residual add's skip operand) are still read once: from DRAM,
    or from SRAM where ``on_chip`` says they are resident."""
    c = Counts(time=vector_time(node), unit="vector", vector_ops=float(node.vector_ops), fused_into=head)
    if not side:
        return c
    dram = sram = 0.0
    for i in side:
        b = tensor_bytes(node.inputs[i], precision)
        if on_chip is not None and i < len(on_chip) and on_chip[i]:
            sram += b
        else:
            dram += b
    c.add(Level.DRAM, Operand.INPUT, READ, dram).add(Level.SRAM, Operand.INPUT, READ, sram)
    c.time = Max((c.time, over(Bound.DRAM, dram, "memory.dram_bandwidth")))
    c.notes.append(f"reads its other operand once ({dram + sram:.0f} B)")
    return c


# --- cache-blocked matrix products (GPU L2, CPU last-level cache)
def gemm_operand_bytes(node: Node, precision: str) -> tuple[float, float, float]:
    """Unique bytes of A (streamed operand: for a convolution the input feature map, not
    the im2col matrix), B (weights, with a bias, or second activation) and C, at ``precision``."""
    g = node.gemm
    e = precision_bytes(precision)
    if node.conv is not None and node.inputs:
        a = tensor_bytes(node.inputs[0], precision)
    else:
        a = g.batch * g.M * g.K * e
    b = g.batch * g.K * g.N * e
    if g.b_is_weight:   # every weight tensor, the B matrix and a bias
        b = max(b, sum(tensor_bytes(t, precision) for t in node.inputs if t.role is Role.WEIGHT))
    c = g.batch * g.M * g.N * e
    return a, b, c


def blocked_dram_bytes(a: float, b: float, c: float, cache: float, batch: int = 1) -> float:
    """DRAM bytes of a matrix product run through a cache of ``cache`` bytes.

    When A and B fit in half the cache each is read once (compulsory traffic). Otherwise
    the smaller operand is split into chunks of half the cache and the larger one is
    re-read once per chunk: the classic blocked schedule's traffic. C is written once.
    ``batch`` independent products (``a``, ``b``, ``c`` summed over them, e.g. attention's
    QK^T per sequence and head) are blocked one product at a time: a product's operands
    never meet another product's, so only a product too large for the cache re-reads.
    """
    if batch > 1:
        return batch * blocked_dram_bytes(a / batch, b / batch, c / batch, cache)
    half = cache / 2
    if a + b <= half or half <= 0:
        return a + b + c
    small, large = min(a, b), max(a, b)
    chunks = math.ceil(small / half)
    return small + large * chunks + c
