"""Three ways to place a graph on host + accelerator.

* ``greedy`` (ONNX Runtime's way: an execution provider claims every node it supports, the CPU
  provider takes the rest): every node the accelerator can run goes to it.
* ``min-block`` (Torch-TensorRT's way): greedy, then every accelerator block of fewer than
  ``min_block_size`` consecutive operators (in topological order, views not counted) goes back
  to the host. Torch-TensorRT's default is 5 ("Minimum number of consecutive TRT-capable
  operators required to form a TRT engine block", CompilationSettings reference,
  https://docs.pytorch.org/TensorRT/user_guide/compilation/compilation_settings.html).
* ``optimal``: the placement of least serial latency under the cost model (chiplab.partition.cost),
  found exactly by a 0-1 integer program (``scipy.optimize.milp``, HiGHS): x_v = 1 when node v
  runs on the accelerator, y_t = 1 when tensor t is moved, minimise
  sum_v host_v (1 - x_v) + acc_v x_v + sum_t transfer_t y_t with y_t >= |x_consumer - x_producer|
  for every consumer of t. That is a minimum-cut problem (its LP relaxation is integral), so
  graphs with branches (ResNet skips, BERT's attention) are solved as fast as chains; a DP over
  the topological order would have to carry every live tensor's device in its state.

In greedy and min-block a view (zero-cost metadata op) stays with the tensor it views: on the
device of its producer (the host for a graph input), so it never adds a transfer of its own.
"""
from __future__ import annotations

import numpy as np

from chiplab.errors import ChiplabError
from chiplab.ir.graph import Graph, OpKind
from chiplab.partition.cost import CostTable, Tensor, tensors

MIN_BLOCK_SIZE = 5   # Torch-TensorRT's default min_block_size (see the module docstring)
POLICIES = ("greedy", "min-block", "optimal")


def _producer_device(graph_node, placement: dict[str, str]) -> str:
    for t in graph_node.inputs:
        if t.producer is not None and t.producer in placement:
            return placement[t.producer]
    return "host"


def greedy(graph: Graph, table: CostTable) -> dict[str, str]:
    out: dict[str, str] = {}
    for n in graph.nodes:
        if n.name in table.host_only:
            out[n.name] = "host"
        elif n.op is OpKind.VIEW:
            out[n.name] = _producer_device(n, out)
        else:
            out[n.name] = "acc"
    return out


def min_block(graph: Graph, table: CostTable, min_block_size: int = MIN_BLOCK_SIZE) -> dict[str, str]:
    if min_block_size < 1:
        raise ChiplabError(f"--min-block-size must be >= 1, got {min_block_size}")
    out = greedy(graph, table)
    run: list = []

    def close() -> None:
        if sum(1 for n in run if n.op is not OpKind.VIEW) < min_block_size:
            for n in run:
                out[n.name] = "host"
        run.clear()

    for n in graph.nodes:
        if out[n.name] == "acc":
            run.append(n)
        elif run:
            close()
    if run:
        close()
    # a view left on the accelerator after its producer went back follows it
    for n in graph.nodes:
        if n.op is OpKind.VIEW and n.name not in table.host_only:
            out[n.name] = _producer_device(n, out)
    return out


def optimal(graph: Graph, table: CostTable, moved: list[Tensor] | None = None) -> dict[str, str]:
    from scipy.optimize import Bounds, LinearConstraint, milp
    from scipy.sparse import coo_matrix

    names = [n.name for n in graph.nodes]
    idx = {k: i for i, k in enumerate(names)}
    moved = tensors(graph) if moved is None else moved
    nv, nt = len(names), len(moved)
    c = np.zeros(nv + nt)
    for k, i in idx.items():
        c[i] = table.acc_s.get(k, 0.0) - table.host_s.get(k, 0.0)
    for j, t in enumerate(moved):
        c[nv + j] = table.transfer_s(t.nbytes)
    scale = np.abs(c).sum()
    c = c * (1e9 / scale) if scale > 0 else c   # seconds are tiny next to HiGHS's absolute gap (1e-6)
    rows, cols, vals, lo = [], [], [], []

    def pair(j: int, a: str | None, b: str | None) -> None:
        # y_j - x_a + x_b >= 0 and y_j + x_a - x_b >= 0 (an end that is None is the host: x = 0)
        for s in (1.0, -1.0):
            r = len(lo)
            rows.append(r), cols.append(nv + j), vals.append(1.0)
            if a is not None:
                rows.append(r), cols.append(idx[a]), vals.append(-s)
            if b is not None:
                rows.append(r), cols.append(idx[b]), vals.append(s)
            lo.append(0.0)

    for j, t in enumerate(moved):
        for cons in t.consumers:
            if cons != t.producer:
                pair(j, cons, t.producer)
    upper = np.ones(nv + nt)
    for k in table.host_only:
        upper[idx[k]] = 0.0
    constraints = []
    if lo:
        a = coo_matrix((vals, (rows, cols)), shape=(len(lo), nv + nt)).tocsr()
        constraints.append(LinearConstraint(a, lb=np.array(lo), ub=np.inf))
    res = milp(c, constraints=constraints, integrality=np.ones(nv + nt), bounds=Bounds(np.zeros(nv + nt), upper),
               options={"mip_rel_gap": 0.0})
    if res.x is None:
        raise ChiplabError(f"optimal placement of {graph.name!r}: the solver found none ({res.message})")
    return {k: "acc" if res.x[i] > 0.5 else "host" for k, i in idx.items()}
