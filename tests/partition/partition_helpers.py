"""Small hand-built graphs and cost tables for the partition tests."""
from chiplab.ir.graph import Graph, Node, OpKind, TensorSpec
from chiplab.partition.cost import CostTable


def dag(edges: dict[str, list[str]], sizes: dict[str, int] | None = None, inputs=("a",)) -> Graph:
    """Nodes in insertion order; ``edges[v]`` lists v's producers. Each node outputs a float32 tensor of
    ``sizes[v]`` elements (default 1); nodes in ``inputs`` read the graph input (1 element)."""
    sizes = sizes or {}
    out = {v: TensorSpec((sizes.get(v, 1),), "float32", producer=v) for v in edges}
    nodes = []
    for v, preds in edges.items():
        ins = [out[p] for p in preds] + ([TensorSpec((1,), "float32")] if v in inputs else [])
        nodes.append(Node(name=v, op=OpKind.ELEMENTWISE, inputs=tuple(ins),
                          outputs=(TensorSpec(out[v].shape, "float32"),), vector_ops=1))
    return Graph("toy", nodes).validate()


def table(host: dict[str, float], acc: dict[str, float], bw: float = 1e9, lat: float = 0.0,
          host_only=(), batch: int = 1) -> CostTable:
    return CostTable(host_s=dict(host), acc_s=dict(acc), link_bandwidth=bw, link_latency=lat,
                     host_only={k: "test" for k in host_only}, batch=batch)
