"""SCALE-Sim v3 topology files → :class:`chiplab.ir.Graph`.

Two formats, told apart by the header:

* conv: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
  Num Filter, Strides,`` (trailing comma). Inputs are pre-padded (no padding field).
  A layer whose name contains ``DP`` is depthwise: SCALE-Sim runs it as one layer per
  channel, which is the grouped conv ``groups=C, K=C·F``.
* GEMM: ``Layer Name, M, N, K,``. SCALE-Sim turns a row into the conv
  (ifmap M×K, filter 1×K, 1 channel, N filters), i.e. C[M,N] = A[M,K]·B[K,N].

Batch is 1 and every operand is 1-byte words (int8), as SCALE-Sim assumes.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError
from chiplab.units import short

from pathlib import Path

from chiplab.files import MiB, check_input_file, read_text
from chiplab.ir import ConvShape, GemmShape, Graph, Node, OpKind, Role, TensorSpec


class TopologyError(ChiplabError):
    """A malformed SCALE-Sim topology; the message names file, line and column."""


CONV_COLS = ("Layer name", "IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width", "Channels", "Num Filter",
             "Strides")
GEMM_COLS = ("Layer Name", "M", "N", "K")
MAX_DIM = 2**31 - 1      # a dimension must fit SCALE-Sim's (and most tools') 32-bit integers
MAX_BYTES = 16 * MiB     # a 1000-layer topology is ~60 kB


def _ints(path: Path, line: int, cells: list[str], cols: tuple[str, ...]) -> list[int]:
    out = []
    for col, cell in zip(cols[1:], cells[1:]):
        try:
            v = int(cell.strip()) if len(cell) < 40 else None
        except ValueError:
            v = None
        if v is None:
            raise TopologyError(f"{path.name}:{line}: column {col!r}: expected an integer, got {short(repr(cell.strip()))}")
        if v < 1:
            raise TopologyError(f"{path.name}:{line}: column {col!r}: must be >= 1, got {v}")
        if v > MAX_DIM:
            raise TopologyError(f"{path.name}:{line}: column {col!r}: must be <= {MAX_DIM:,}, got {v:,}")
        out.append(v)
    return out


def import_scalesim_csv(path: str | Path) -> Graph:
    p = check_input_file(path, "topology file", TopologyError, max_bytes=MAX_BYTES)
    lines = read_text(p, "topology file", TopologyError).splitlines()
    if not lines:
        raise TopologyError(f"{p.name}: empty topology file")
    header = [h.strip().lower() for h in lines[0].split(",") if h.strip()]
    gemm = header[:4] == ["layer name", "m", "n", "k"]
    if not gemm and header[:8] != [c.lower() for c in CONV_COLS]:
        raise TopologyError(f"{p.name}:1: header must start with {', '.join(CONV_COLS)} (conv) or "
                            f"{', '.join(GEMM_COLS)} (GEMM), got {short(repr(lines[0].strip()))}")
    cols = GEMM_COLS if gemm else CONV_COLS
    nodes: list[Node] = []
    names: set[str] = set()
    for i, raw in enumerate(lines[1:], start=2):
        if not raw.strip():
            continue
        cells = [c for c in raw.split(",")]
        if cells and not cells[-1].strip():
            cells = cells[:-1]              # SCALE-Sim's trailing comma
        if len(cells) < len(cols):
            missing = cols[len(cells)] if len(cells) < len(cols) else ""
            raise TopologyError(f"{p.name}:{i}: missing column {missing!r} ({len(cells)} of {len(cols)} values)")
        name = cells[0].strip() or f"layer{i - 1}"
        if name in names:
            raise TopologyError(f"{p.name}:{i}: duplicate layer name {short(repr(name))}")
        names.add(name)
        vals = _ints(p, i, cells[: len(cols)], cols)
        if gemm:
            M, N, K = vals
            g = GemmShape(M=M, N=N, K=K)
            ins = (TensorSpec((M, K), "int8"), TensorSpec((K, N), "int8", Role.WEIGHT))
            outs = (TensorSpec((M, N), "int8", Role.OUTPUT),)
            nodes.append(Node(name=name, op=OpKind.GEMM, target="scalesim::gemm", module_path=name,
                              source=f"{p.name}:{i}", inputs=ins, outputs=outs, macs=g.macs, gemm=g))
            continue
        H, W, R, S, C, F, stride = vals
        if R > H or S > W:
            raise TopologyError(f"{p.name}:{i}: layer {short(repr(name))}: filter {R}x{S} is larger than the ifmap {H}x{W}")
        depthwise = "DP" in name
        cs = ConvShape(N=1, C=C, H=H, W=W, K=C * F if depthwise else F, R=R, S=S, stride=(stride, stride),
                       groups=C if depthwise else 1)
        g = cs.as_gemm()
        ins = (TensorSpec((1, C, H, W), "int8"), TensorSpec((cs.K, C // cs.groups, R, S), "int8", Role.WEIGHT))
        outs = (TensorSpec((1, cs.K, cs.P, cs.Q), "int8", Role.OUTPUT),)
        nodes.append(Node(name=name, op=OpKind.CONV, target="scalesim::conv", module_path=name, source=f"{p.name}:{i}",
                          inputs=ins, outputs=outs, macs=g.macs, gemm=g, conv=cs, attrs={"depthwise": depthwise}))
    if not nodes:
        raise TopologyError(f"{p.name}: no layers after the header")
    return Graph(p.stem, nodes, inputs=(), meta={"source": "scalesim-csv", "batch": 1,
                                                 "format": "gemm" if gemm else "conv"}).validate()
