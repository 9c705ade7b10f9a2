"""chiplab's graph IR: what every front end (torch.export, ONNX, SCALE-Sim CSV)
lowers to, and what every performance model, the partitioner and the reports read.

A :class:`Graph` is a topologically ordered list of :class:`Node`. Each node knows
its op kind, where it came from in the user's code (module path and source line),
its operand tensors (with the producing node, so the graph has explicit edges),
its work (MACs for matrix ops, element operations for vector ops) and, for matrix
ops, a canonical :class:`GemmShape` / :class:`ConvShape` that mapping models use.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import json
import math
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any, Iterator

DTYPE_BYTES = {"float64": 8, "float32": 4, "float16": 2, "bfloat16": 2, "int64": 8, "int32": 4,
               "int16": 2, "int8": 1, "uint8": 1, "bool": 1, "float8_e4m3fn": 1, "float8_e5m2": 1,
               "complex64": 8}


class OpKind(str, Enum):
    """What kind of work a node is; performance models dispatch on this."""

    CONV = "conv"            # convolution (any groups); has ConvShape and GemmShape
    GEMM = "gemm"            # matmul / linear / bmm / attention score and value products; has GemmShape
    ELEMENTWISE = "elementwise"  # add, mul, relu, gelu, ...
    NORM = "norm"            # batch/layer/group norm
    SOFTMAX = "softmax"
    POOL = "pool"            # max/avg/adaptive pool
    REDUCE = "reduce"        # mean, sum, ...
    EMBEDDING = "embedding"  # gather from a table
    DATA_MOVEMENT = "data_movement"  # cat, permute+contiguous, copies that move bytes
    VIEW = "view"            # reshape/view/slice/flatten: metadata only, zero cost
    HW_BLOCK = "hw_block"    # fixed-function block (ISP, rasterizer) priced by its own model

    @property
    def is_matrix(self) -> bool:
        return self in (OpKind.CONV, OpKind.GEMM)

    @property
    def is_vector(self) -> bool:
        return self in (OpKind.ELEMENTWISE, OpKind.NORM, OpKind.SOFTMAX, OpKind.POOL, OpKind.REDUCE,
                        OpKind.EMBEDDING, OpKind.DATA_MOVEMENT)


class Role(str, Enum):
    """Which operand a tensor is, for memory placement (ifmap/filter/ofmap SRAMs)."""

    ACTIVATION = "activation"
    WEIGHT = "weight"
    OUTPUT = "output"
    STATE = "state"          # e.g. KV cache read by a decode step


@dataclass(frozen=True)
class TensorSpec:
    shape: tuple[int, ...]
    dtype: str = "float32"
    role: Role = Role.ACTIVATION
    producer: str | None = None   # name of the producing node; None for graph inputs and parameters

    def __post_init__(self) -> None:
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        if any(s < 0 for s in self.shape):
            raise ValueError(f"TensorSpec: negative dimension in shape {self.shape}")
        if self.dtype not in DTYPE_BYTES:
            raise ValueError(f"TensorSpec: unsupported dtype {self.dtype!r}")

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_BYTES[self.dtype]


@dataclass(frozen=True)
class GemmShape:
    """``batch`` independent products C[M,N] = A[M,K] @ B[K,N].

    A is the streamed operand (activations, SCALE-Sim's ifmap), B the stationary
    candidate (weights, SCALE-Sim's filter), C the output (ofmap). For a
    convolution, M = N*P*Q output pixels, K = C/groups*R*S, N = out_channels/groups
    and batch = groups. ``b_is_weight`` is False when both operands are activations
    (attention QK^T and PV), which matters for reuse across a batch.
    """

    M: int
    N: int
    K: int
    batch: int = 1
    b_is_weight: bool = True

    def __post_init__(self) -> None:
        if min(self.M, self.N, self.K, self.batch) < 1:
            raise ValueError(f"GemmShape: all of M,N,K,batch must be >= 1, got {self}")

    @property
    def macs(self) -> int:
        return self.M * self.N * self.K * self.batch


@dataclass(frozen=True)
class ConvShape:
    """2-D convolution, NCHW input, K output channels, R×S filter."""

    N: int
    C: int
    H: int
    W: int
    K: int
    R: int
    S: int
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    @property
    def P(self) -> int:
        return (self.H + 2 * self.padding[0] - self.dilation[0] * (self.R - 1) - 1) // self.stride[0] + 1

    @property
    def Q(self) -> int:
        return (self.W + 2 * self.padding[1] - self.dilation[1] * (self.S - 1) - 1) // self.stride[1] + 1

    def as_gemm(self) -> GemmShape:
        g = self.groups
        return GemmShape(M=self.N * self.P * self.Q, N=self.K // g, K=(self.C // g) * self.R * self.S, batch=g)

    @property
    def macs(self) -> int:
        return self.as_gemm().macs


@dataclass(frozen=True)
class Node:
    name: str                       # unique in the graph
    op: OpKind
    target: str = ""                # the source op, e.g. "aten.convolution.default" or "onnx::Conv"
    module_path: str = ""           # the user's module path, e.g. "layer2.0.conv1"
    source: str = ""                # "file.py:123" of the user's code, when known
    inputs: tuple[TensorSpec, ...] = ()
    outputs: tuple[TensorSpec, ...] = ()
    macs: int = 0                   # multiply-accumulates of matrix work
    vector_ops: int = 0             # element operations for the vector unit (non-matrix work)
    gemm: GemmShape | None = None
    conv: ConvShape | None = None
    attrs: dict[str, Any] = field(default_factory=dict)  # small op attributes (e.g. {"fn": "gelu"})

    @property
    def flops(self) -> int:
        """Matrix FLOPs, counted as 2 per MAC (the convention of torch's FlopCounterMode)."""
        return 2 * self.macs

    @property
    def label(self) -> str:
        """What reports show: the user's module path when known, else the node name."""
        return self.module_path or self.name

    def bytes_by_role(self, role: Role) -> int:
        specs = self.outputs if role is Role.OUTPUT else [t for t in self.inputs if t.role is role]
        return sum(t.nbytes for t in specs)

    @property
    def input_bytes(self) -> int:
        return sum(t.nbytes for t in self.inputs)

    @property
    def output_bytes(self) -> int:
        return sum(t.nbytes for t in self.outputs)


class GraphError(ChiplabError):
    """A graph that breaks an IR invariant (duplicate names, dangling edges, bad shapes)."""


@dataclass
class Graph:
    name: str
    nodes: list[Node]
    inputs: tuple[TensorSpec, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)  # e.g. {"batch": 8, "source": "torch.export"}

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r} in graph {self.name!r}")

    @property
    def macs(self) -> int:
        return sum(n.macs for n in self.nodes)

    @property
    def flops(self) -> int:
        """Matrix FLOPs (2 × MACs), comparable with torch's FlopCounterMode."""
        return 2 * self.macs

    @property
    def weight_bytes(self) -> int:
        return sum(n.bytes_by_role(Role.WEIGHT) for n in self.nodes)

    def with_batch(self, batch: int) -> "Graph":
        """This graph at another batch size, without capturing again (:mod:`chiplab.ir.rebatch`)."""
        from chiplab.ir.rebatch import with_batch

        return with_batch(self, batch)

    def consumers(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {n.name: [] for n in self.nodes}
        for n in self.nodes:
            for t in n.inputs:
                if t.producer is not None and t.producer in out:
                    out[t.producer].append(n.name)
        return out

    def validate(self) -> "Graph":
        seen: set[str] = set()
        for n in self.nodes:
            if n.name in seen:
                raise GraphError(f"graph {self.name!r}: duplicate node name {n.name!r}")
            for t in n.inputs:
                if t.producer is not None and t.producer not in seen:
                    raise GraphError(f"graph {self.name!r}: node {n.name!r} reads {t.producer!r}, which is not an earlier node")
            if n.op.is_matrix and n.gemm is None:
                raise GraphError(f"graph {self.name!r}: matrix node {n.label!r} has no GemmShape")
            if n.gemm is not None and n.gemm.macs != n.macs:
                raise GraphError(f"graph {self.name!r}: node {n.label!r} macs {n.macs} != GemmShape macs {n.gemm.macs}")
            seen.add(n.name)
        return self

    # --- serialisation (used by the capture cache) ---
    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "inputs": [asdict(t) for t in self.inputs], "meta": self.meta,
                "nodes": [asdict(n) for n in self.nodes]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), default=_json_default)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Graph":
        def ts(x: dict) -> TensorSpec:
            return TensorSpec(tuple(x["shape"]), x["dtype"], Role(x["role"]), x["producer"])

        nodes = []
        for x in d["nodes"]:
            conv = x["conv"]
            if conv is not None:
                conv = ConvShape(**{**conv, "stride": tuple(conv["stride"]), "padding": tuple(conv["padding"]),
                                    "dilation": tuple(conv["dilation"])})
            nodes.append(Node(name=x["name"], op=OpKind(x["op"]), target=x["target"], module_path=x["module_path"],
                              source=x["source"], inputs=tuple(ts(t) for t in x["inputs"]),
                              outputs=tuple(ts(t) for t in x["outputs"]), macs=x["macs"], vector_ops=x["vector_ops"],
                              gemm=GemmShape(**x["gemm"]) if x["gemm"] else None, conv=conv, attrs=x["attrs"]))
        return cls(d["name"], nodes, tuple(ts(t) for t in d["inputs"]), d.get("meta", {}))

    @classmethod
    def from_json(cls, s: str) -> "Graph":
        return cls.from_dict(json.loads(s))


def _json_default(o: Any) -> Any:
    if isinstance(o, Enum):
        return o.value
    if isinstance(o, tuple):
        return list(o)
    return str(o)
