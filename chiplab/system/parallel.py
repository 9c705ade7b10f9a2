"""Megatron-style tensor parallelism applied to a *captured* graph, priced by the chip's own model.

:func:`tensor_parallel` rewrites a captured transformer (decoder such as Llama, or encoder such as
BERT) into the graph **one chip** of a ``tp``-way group runs, plus the collectives the split needs
(Shoeybi et al., "Megatron-LM", arXiv:1909.08053, Section 3):

* attention: the Q/K/V projections are column-parallel (output features N split by ``tp``; with
  grouped-query attention K/V split over ``min(tp, kv_heads)``, the KV heads replicated beyond that),
  the score and value products split by heads (``batch / tp``), the output projection O row-parallel
  (input features K split by ``tp``) followed by an **all-reduce** of its output (tokens x hidden);
* MLP: the up (and gate) projections column-parallel, the down projection row-parallel followed by
  an **all-reduce**; so exactly two all-reduces per block;
* vocabulary: the LM head (the last GEMM after the last block whose N is the word-embedding table's
  row count) is vocab-parallel (N split) followed by an **all-gather** of the logits; the word
  embedding's table is split by rows (each chip looks up its share) followed by an **all-reduce**
  (Megatron's VocabParallelEmbedding). A graph without such a head leaves what follows the last
  block unsplit (replicated, e.g. BERT's pooler) and says so in the notes;
* vector work (rotary, softmax, activations, the products of gated MLPs) on split tensors is divided
  by the split; norms and residual adds on the full hidden state stay replicated (every chip runs
  them), as do their weights and the biases of row-parallel layers.

The blocks are found from the graph's structure, not names: an attention core is a score GEMM
(both operands activations) whose output reaches a value GEMM; its Q/K/V are the nearest weight
GEMMs above the two, O the first weight GEMM fed by the value GEMM, and the MLP the weight GEMMs
after O up to one whose inputs come only from them (the down projection). A graph that breaks the
pattern is refused in one line naming the node, rather than guessed at.

:func:`estimate_parallel` prices the per-chip graph with :func:`chiplab.estimate` on the system's
chip (any chip class: GPU, systolic/TPU, NPU, mesh) and the collectives with the α-β formulas of
:mod:`chiplab.system.collectives` on the system's link, **exposed** (not overlapped with compute):
total = per-chip latency + collective time.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from chiplab.errors import ChiplabError
from chiplab.ir.graph import Graph, GraphError, Node, OpKind, Role, TensorSpec
from chiplab.system import collectives as coll
from chiplab.system.spec import SystemSpec, load_system

# bytes per element of the exchanged activations, by the estimate's precision
PRECISION_BYTES = {"int4": 0.5, "int8": 1, "fp8": 1, "bf16": 2, "fp16": 2, "tf32": 4, "fp32": 4, "fp64": 8}


class ParallelError(GraphError):
    """A graph that tensor parallelism cannot split as asked (pattern not found, heads not divisible)."""


@dataclass(frozen=True)
class Collective:
    kind: str                 # "all-reduce" | "all-gather"
    after: str                # the node whose output it exchanges
    elements: int             # elements of the full (gathered / reduced) tensor
    group: int                # chips taking part
    what: str = ""            # "attention", "mlp", "embedding", "logits"

    def nbytes(self, bytes_per_element: float) -> float:
        return self.elements * bytes_per_element


@dataclass
class Split:
    """How :func:`tensor_parallel` split a graph."""
    graph: Graph
    collectives: list[Collective]
    tp: int
    blocks: int = 0
    heads: int = 0
    kv_heads: int = 0
    notes: list[str] = field(default_factory=list)


def _weight_gemm(n: Node) -> bool:
    return n.op is OpKind.GEMM and n.gemm is not None and n.gemm.b_is_weight and any(
        t.role is Role.WEIGHT and len(t.shape) >= 2 for t in n.inputs)


def _attn_gemm(n: Node) -> bool:
    return n.op is OpKind.GEMM and n.gemm is not None and not n.gemm.b_is_weight


def _nearest_gemms(graph: Graph) -> dict[str, frozenset[str]]:
    """For every node, the nearest GEMM nodes above it (a GEMM's own entry is itself)."""
    near: dict[str, frozenset[str]] = {}
    for n in graph.nodes:
        if n.op is OpKind.GEMM:
            near[n.name] = frozenset([n.name])
            continue
        s: set[str] = set()
        for t in n.inputs:
            if t.producer is not None:
                s |= near.get(t.producer, frozenset())
        near[n.name] = frozenset(s)
    return near


def _above(graph: Graph, near: dict[str, frozenset[str]], n: Node, i: int | None = None) -> frozenset[str]:
    """The nearest GEMMs feeding node ``n`` (through input ``i`` only, when given)."""
    ins = n.inputs if i is None else n.inputs[i:i + 1]
    s: set[str] = set()
    for t in ins:
        if t.producer is not None:
            s |= near[t.producer]
    return frozenset(s)


def _shrink(t: TensorSpec, f: int, prefer: int | None = None) -> TensorSpec:
    """``t`` with 1/f of its elements: the dimension equal to ``prefer`` if any, else the largest
    dimension divisible by f (only the element count matters to the pricers)."""
    if f == 1:
        return t
    dims = list(t.shape)
    cand = [i for i, d in enumerate(dims) if d % f == 0 and d >= f]
    if not cand:
        return t          # no dimension divides: left whole (callers check with _divides first)
    pick = next((i for i in cand if prefer is not None and dims[i] == prefer), max(cand, key=lambda i: dims[i]))
    dims[pick] //= f
    return dataclasses.replace(t, shape=tuple(dims))


def _divides(t: TensorSpec, f: int) -> bool:
    return f == 1 or any(d % f == 0 and d >= f for d in t.shape)


def tensor_parallel(graph: Graph, tp: int) -> tuple[Graph, list[Collective]]:
    """The per-chip graph of a ``tp``-way Megatron split of ``graph``, and the collectives it needs."""
    s = split(graph, tp)
    return s.graph, s.collectives


def split(graph: Graph, tp: int) -> Split:
    """:func:`tensor_parallel` with what it found (blocks, heads) and its notes."""
    if not isinstance(tp, int) or tp < 1:
        raise ChiplabError(f"tp must be a whole number >= 1, got {tp!r}")
    if tp == 1:
        return Split(graph, [], 1, notes=["tp=1: the graph unchanged, no collectives"])
    nodes = graph.nodes
    index = {n.name: i for i, n in enumerate(nodes)}
    near = _nearest_gemms(graph)
    scores = [n for n in nodes if _attn_gemm(n)]
    if not scores:
        raise ParallelError(f"graph {graph.name!r}: no attention (no GEMM of two activations); "
                            "tensor parallelism needs a transformer's blocks")
    # attention cores: a score GEMM whose output reaches the next activation x activation GEMM
    cores: list[tuple[Node, Node]] = []
    i = 0
    while i < len(scores):
        qk = scores[i]
        pv = scores[i + 1] if i + 1 < len(scores) else None
        if pv is None or qk.name not in _above(graph, near, pv, 0):
            raise ParallelError(f"graph {graph.name!r}: attention score GEMM {qk.label!r} ({qk.name}) is not followed "
                                "by a value GEMM that reads its output")
        cores.append((qk, pv))
        i += 2
    role: dict[str, str] = {}                  # weight GEMM -> "col" | "row" | "kv" | "head"
    heads = kv_heads = 0
    collectives: list[Collective] = []
    weight_gemms = [n for n in nodes if _weight_gemm(n)]
    for b, (qk, pv) in enumerate(cores):
        q_src, k_src, v_src = _above(graph, near, qk, 0), _above(graph, near, qk, 1), _above(graph, near, pv, 1)
        proj = q_src | k_src | v_src
        if not proj or not all(_weight_gemm(graph.node(p)) for p in proj):
            raise ParallelError(f"graph {graph.name!r}: block {b}: the Q/K/V of {qk.label!r} ({qk.name}) are not "
                                "weight GEMMs (a KV cache is read as state: capture with the projections in the graph)"
                                if not proj else f"graph {graph.name!r}: block {b}: {qk.label!r} ({qk.name}) is fed by "
                                f"a GEMM that is not a weight projection")
        q_in = qk.inputs[0]
        h_here = q_in.shape[-3] if len(q_in.shape) >= 3 else 1
        head_dim = qk.gemm.K
        k_heads = qk.inputs[1].shape[-3] if len(qk.inputs[1].shape) >= 3 else 1
        if heads and h_here != heads:
            raise ParallelError(f"graph {graph.name!r}: block {b} ({qk.name}) has {h_here} heads, earlier blocks {heads}")
        heads = h_here
        if heads % tp:
            raise ParallelError(f"graph {graph.name!r}: {heads} attention heads ({qk.label!r}) are not divisible "
                                f"by tp={tp}")
        # K/V projections separate from Q: their heads from their width (grouped-query attention)
        kvh = heads
        for p in (k_src | v_src) - q_src:
            kvh = graph.node(p).gemm.N // head_dim
        kv_heads = kvh
        for p in proj:
            role[p] = "kv" if p not in q_src and kvh != heads else "col"
        # O: the first weight GEMM below the value GEMM
        o = next((n for n in weight_gemms if index[n.name] > index[pv.name] and pv.name in near_in(graph, near, n)), None)
        if o is None:
            raise ParallelError(f"graph {graph.name!r}: block {b}: no output projection reads the value GEMM "
                                f"{pv.label!r} ({pv.name})")
        role[o.name] = "row"
        collectives.append(Collective("all-reduce", o.name, o.outputs[0].numel, tp, "attention"))
        # MLP: column GEMMs after O, then the one GEMM fed only by them (down)
        nxt = min((index[p] for p in _qkv_of(graph, near, cores[b + 1])), default=len(nodes)) if b + 1 < len(cores) \
            else len(nodes)
        mlp = [n for n in weight_gemms if index[o.name] < index[n.name] < nxt]
        cols: list[Node] = []
        down = None
        for n in mlp:
            src = near_in(graph, near, n)
            if cols and src and src <= {c.name for c in cols}:
                down = n
                break
            cols.append(n)
        if down is None or not cols:
            at = mlp[0] if mlp else o
            raise ParallelError(f"graph {graph.name!r}: block {b}: no MLP (column GEMMs then a down projection fed only "
                                f"by them) after {at.label!r} ({at.name}); MoE or other blocks are not split")
        for c in cols:
            role[c.name] = "col"
        role[down.name] = "row"
        collectives.append(Collective("all-reduce", down.name, down.outputs[0].numel, tp, "mlp"))
    last_row = max(index[n] for n, r in role.items() if r == "row")
    notes: list[str] = []
    # vocabulary: word embedding (largest table) and LM head (N = its rows)
    embeds = [n for n in nodes if n.op is OpKind.EMBEDDING and any(t.role is Role.WEIGHT for t in n.inputs)]
    tail = [n for n in weight_gemms if index[n.name] > last_row]
    rows = {_table(n).shape[0]: n for n in embeds}
    head = tail[-1] if tail and tail[-1].gemm.N in rows and tail[-1].gemm.N % tp == 0 else None
    word = rows[head.gemm.N] if head is not None else None
    vocab = head.gemm.N if head is not None else None
    if head is not None:
        role[head.name] = "head"
        collectives.append(Collective("all-gather", head.name, head.outputs[0].numel, tp, "logits"))
    rest = [n for n in tail if n is not head]
    if rest:
        notes.append(f"{len(rest)} GEMM(s) after the last block left unsplit (replicated): "
                     + ", ".join(n.label for n in rest[:3]))
    if head is None and tail and tail[-1].gemm.N in rows:
        notes.append(f"LM head {tail[-1].label!r}: vocabulary {tail[-1].gemm.N} not divisible by tp={tp}; it and the "
                     "embeddings are left unsplit (replicated on every chip)")
    elif head is None:
        notes.append("no LM head (a GEMM after the last block whose N is an embedding table's rows): nothing "
                     "vocab-parallel; embeddings replicated on every chip")
    split_embed = word is not None
    if split_embed:
        collectives.insert(0, Collective("all-reduce", word.name, word.outputs[0].numel, tp, "embedding"))
    notes.append("norms, residual adds, their weights and row-parallel biases replicated on every chip")
    kv_shards = min(tp, kv_heads)
    factor = _factors(graph, role, tp, kv_shards, heads)
    out: list[Node] = []
    split_inputs: dict[TensorSpec, int] = {}
    for n in nodes:
        r, f = role.get(n.name), factor[n.name]
        pf = [factor.get(t.producer, 1) if t.producer is not None else 1 for t in n.inputs]
        if r in ("col", "kv", "head"):
            if n.gemm.N % f:
                raise ParallelError(f"graph {graph.name!r}: {n.label!r} ({n.name}) has N={n.gemm.N}, not divisible "
                                    f"by {f}")
            g = dataclasses.replace(n.gemm, N=n.gemm.N // f)
            ins = tuple(_shrink(t, f, n.gemm.N) if t.role is Role.WEIGHT else t for t in n.inputs)
            out.append(dataclasses.replace(n, gemm=g, macs=g.macs, inputs=ins,
                                           outputs=tuple(_shrink(t, f, n.gemm.N) for t in n.outputs)))
        elif r == "row":
            g = dataclasses.replace(n.gemm, K=n.gemm.K // tp)
            ins = tuple(_shrink(t, tp, n.gemm.K) if (t.role is Role.WEIGHT and len(t.shape) >= 2) or q > 1 else t
                        for t, q in zip(n.inputs, pf))
            out.append(dataclasses.replace(n, gemm=g, macs=g.macs, inputs=ins))
        elif n is word and split_embed:
            ins = tuple(_shrink(t, tp, vocab) if t.role is Role.WEIGHT else t for t in n.inputs)
            out.append(dataclasses.replace(n, inputs=ins))
        elif f > 1:
            if n.op is OpKind.GEMM and n.gemm.batch % f:
                raise ParallelError(f"graph {graph.name!r}: {n.label!r} ({n.name}) batch x heads {n.gemm.batch} "
                                    f"not divisible by {f}")
            ins = []
            for t, q in zip(n.inputs, pf):
                if q > 1:
                    t = _shrink(t, q, heads)
                elif t.role is not Role.WEIGHT and t.numel and not _broadcast(t, n) and _divides(t, f):
                    if t.producer is None:
                        split_inputs[t] = f
                    t = _shrink(t, f, heads)
                ins.append(t)
            outs = tuple(_shrink(t, f, heads) if _divides(t, f) else t for t in n.outputs)
            kw: dict[str, Any] = {"inputs": tuple(ins), "outputs": outs, "vector_ops": -(-n.vector_ops // f)}
            if n.op is OpKind.GEMM:
                kw["gemm"] = dataclasses.replace(n.gemm, batch=n.gemm.batch // f)
                kw["macs"] = kw["gemm"].macs
            out.append(dataclasses.replace(n, **kw))
        else:
            out.append(n)
    g_inputs = tuple(_shrink(t, split_inputs[t], heads) if t in split_inputs else t for t in graph.inputs)
    meta = {**graph.meta, "tensor_parallel": tp}
    g = Graph(f"{graph.name}/tp{tp}", out, g_inputs, meta).validate()
    return Split(g, collectives, tp, blocks=len(cores), heads=heads, kv_heads=kv_heads, notes=notes)


def _broadcast(t: TensorSpec, n: Node) -> bool:
    """``t`` is broadcast into ``n``'s output (a size-1 or missing dimension where the output has more, numpy's
    right-aligned rule), e.g. rotary cos/sin over heads: replicated, not split. Attention operands never are."""
    if n.op is OpKind.GEMM or not n.outputs:
        return False
    o = n.outputs[0].shape
    if len(t.shape) < len(o):
        return True
    return any(a == 1 and b > 1 for a, b in zip(reversed(t.shape), reversed(o)))


def _factors(graph: Graph, role: dict[str, str], tp: int, kv_shards: int, heads: int) -> dict[str, int]:
    """How many ways each node's output is split: forward from the column-parallel GEMMs (a node reading a
    split tensor is split, until a row-parallel GEMM), then backward into the nodes that only feed split
    nodes, not by broadcast (a KV cache read and concatenated per head is split with its heads)."""
    factor: dict[str, int] = {}
    for n in graph.nodes:
        r = role.get(n.name)
        in_f = max((factor.get(t.producer, 1) for t in n.inputs if t.producer is not None), default=1)
        if r in ("col", "kv", "head"):
            if in_f != 1:
                raise ParallelError(f"graph {graph.name!r}: column-parallel GEMM {n.label!r} ({n.name}) reads a split "
                                    "tensor; the Megatron pattern expects the full hidden state")
            factor[n.name] = kv_shards if r == "kv" else tp
        elif r == "row":
            if in_f != tp or n.gemm.K % tp:
                raise ParallelError(f"graph {graph.name!r}: row-parallel GEMM {n.label!r} ({n.name}) does not read "
                                    f"a {tp}-way split tensor of K={n.gemm.K} features")
            factor[n.name] = 1
        elif n.op is OpKind.GEMM:
            if in_f > 1 and not _attn_gemm(n):
                raise ParallelError(f"graph {graph.name!r}: GEMM {n.label!r} ({n.name}) reads a split tensor but is "
                                    "not part of the attention/MLP pattern")
            factor[n.name] = tp if in_f > 1 else 1
        elif n.op is OpKind.EMBEDDING:
            factor[n.name] = 1
        else:
            factor[n.name] = in_f
    cons = graph.consumers()
    by_name = {n.name: n for n in graph.nodes}
    for n in reversed(graph.nodes):
        if factor[n.name] != 1 or n.op in (OpKind.GEMM, OpKind.EMBEDDING) or not cons[n.name]:
            continue
        users = [by_name[c] for c in cons[n.name]]
        if all(factor[u.name] > 1 and role.get(u.name) is None and not any(
                t.producer == n.name and _broadcast(t, u) for t in u.inputs) for u in users):
            factor[n.name] = min(factor[u.name] for u in users)
    return factor


def near_in(graph: Graph, near: dict[str, frozenset[str]], n: Node) -> frozenset[str]:
    """The nearest GEMMs feeding ``n``'s activation inputs."""
    return _above(graph, near, n)


def _qkv_of(graph: Graph, near: dict[str, frozenset[str]], core: tuple[Node, Node]) -> frozenset[str]:
    qk, pv = core
    return _above(graph, near, qk) | _above(graph, near, pv, 1)


def _table(n: Node) -> TensorSpec:
    return max((t for t in n.inputs if t.role is Role.WEIGHT), key=lambda t: t.numel)


@dataclass
class ParallelEstimate:
    """One chip of a tp group: its estimate, the collectives' exposed link time, their sum."""
    system: str
    chip: str
    tp: int
    compute_s: float                # the per-chip graph's latency on the chip's own model
    comm_s: float                   # the collectives, α-β on the link, not overlapped
    weight_bytes_chip: float
    weight_bytes_total: float
    collectives: list[dict[str, Any]]
    estimate: Any = field(repr=False, default=None)
    notes: list[str] = field(default_factory=list)

    @property
    def latency_s(self) -> float:
        return self.compute_s + self.comm_s


def collective_time(c: Collective, nbytes: float, system: SystemSpec, algorithm: str = "ring") -> float:
    """α-β time of one collective on the system's link (ring by default; ``tree`` or ``auto``)."""
    link = system.link
    if c.kind == "all-reduce":
        fn = {"ring": coll.all_reduce_ring, "tree": coll.all_reduce_tree, "auto": coll.all_reduce}.get(algorithm)
        if fn is None:
            raise ChiplabError(f"algorithm {algorithm!r}: expected ring, tree or auto")
        return fn(nbytes, c.group, link.bandwidth, link.latency)
    if c.kind == "all-gather":
        return coll.all_gather(nbytes, c.group, link.bandwidth, link.latency)
    raise ChiplabError(f"collective {c.kind!r} has no cost formula here")


def estimate_parallel(graph: Graph, system: "str | SystemSpec", tp: int, precision: str | None = None,
                      algorithm: str = "ring", **estimate_kw: Any) -> ParallelEstimate:
    """Price a ``tp``-way Megatron split of ``graph`` on one chip of ``system`` plus its collectives (exposed)."""
    from chiplab.perf.estimate import estimate

    sysm = load_system(system)
    if tp > sysm.count:
        raise ChiplabError(f"tp={tp} is more than the {sysm.count} chips of system {sysm.name!r}")
    s = split(graph, tp)
    chip = sysm.chip()
    est = estimate(s.graph, chip, precision=precision, **estimate_kw)
    bpe = PRECISION_BYTES.get(est.precision)
    if bpe is None:
        raise ChiplabError(f"precision {est.precision!r}: no byte width for the exchanged activations")
    rows = []
    for c in s.collectives:
        nb = c.nbytes(bpe)
        rows.append({"kind": c.kind, "after": c.after, "what": c.what, "elements": c.elements, "bytes": nb,
                     "group": c.group, "time_s": collective_time(c, nb, sysm, algorithm)})
    notes = s.notes + [f"collectives: {algorithm} on {sysm.link.kind} ({sysm.link.topology}), exposed: not "
                       "overlapped with compute (total = per-chip latency + collective time)"]
    return ParallelEstimate(sysm.name, chip.name, tp, est.latency_s, sum(r["time_s"] for r in rows),
                            _weight_bytes(s.graph, bpe),
                            _weight_bytes(graph, bpe), rows, est, notes)


def _weight_bytes(graph: Graph, bpe: float) -> float:
    """Weights at ``bpe`` bytes per element, each parameter tensor counted once (a shared table counts once
    per node that reads it, as the graph records it)."""
    return sum(t.numel for n in graph.nodes for t in n.inputs if t.role is Role.WEIGHT) * bpe
