"""How fast is one estimate? ResNet-50 (batch 1) on systolic presets, capture excluded.

    OMP_NUM_THREADS=1 .venv/bin/python bench/estimate_speed.py [--repeats 50] [--chip systolic-128 ...]

Uses the captured graph from ``chiplab.capture`` when that front end is installed;
otherwise builds the same ResNet-50 IR directly (every conv, batch-norm, ReLU,
residual add, pool, flatten and the classifier, with tensor shapes: 177 nodes) so
the timing does not depend on another module. Target: median < 10 ms per estimate of
the captured graph (passes, counts, pricing, timeline), chip parsed once. A benchmark:
it prints a table and the ratio to the target; it does not fail.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chiplab.ir.graph import ConvShape, GemmShape, Graph, Node, OpKind, Role, TensorSpec  # noqa: E402
from chiplab.perf.estimate import estimate  # noqa: E402


def resnet50_ir(batch: int = 1) -> Graph:
    """ResNet-50 v1.5 (torchvision layout) as chiplab IR, built by hand."""
    nodes: list[Node] = []

    def t(shape, producer=None, role=Role.ACTIVATION):
        return TensorSpec(tuple(shape), "float32", role, producer)

    def conv(x, name, cin, cout, k, s, p):
        n, _, h, w = x.shape
        c = ConvShape(n, cin, h, w, cout, k, k, (s, s), (p, p))
        y = t((n, cout, c.P, c.Q), name)
        nodes.append(Node(name, OpKind.CONV, "aten.convolution.default", name, inputs=(x, t((cout, cin, k, k), role=Role.WEIGHT)),
                          outputs=(y,), macs=c.macs, gemm=c.as_gemm(), conv=c))
        return y

    def vec(x, name, op, ops_per=1, extra=(), shape=None):
        y = t(shape or x.shape, name)
        nodes.append(Node(name, op, "", name, inputs=(x, *extra), outputs=(y,), vector_ops=ops_per * y.numel))
        return y

    def bn_relu(x, name, relu=True):
        y = vec(x, name + ".bn", OpKind.NORM, 2)
        return vec(y, name + ".relu", OpKind.ELEMENTWISE) if relu else y

    x0 = t((batch, 3, 224, 224))
    x = bn_relu(conv(x0, "conv1", 3, 64, 7, 2, 3), "bn1")
    n, c, h, w = x.shape
    x = vec(x, "maxpool", OpKind.POOL, 9, shape=(n, c, h // 2, w // 2))
    cin = 64
    for li, (blocks, width, stride) in enumerate([(3, 64, 1), (4, 128, 2), (6, 256, 2), (3, 512, 2)], start=1):
        for b in range(blocks):
            pre = f"layer{li}.{b}"
            s = stride if b == 0 else 1
            y = bn_relu(conv(x, pre + ".conv1", cin, width, 1, 1, 0), pre + ".bn1")
            y = bn_relu(conv(y, pre + ".conv2", width, width, 3, s, 1), pre + ".bn2")
            y = bn_relu(conv(y, pre + ".conv3", width, width * 4, 1, 1, 0), pre + ".bn3", relu=False)
            sc = x
            if b == 0:
                sc = bn_relu(conv(x, pre + ".downsample.0", cin, width * 4, 1, s, 0), pre + ".downsample.1", relu=False)
            y = vec(y, pre + ".add", OpKind.ELEMENTWISE, 1, extra=(sc,))
            x = vec(y, pre + ".relu", OpKind.ELEMENTWISE)
            cin = width * 4
    n, c, h, w = x.shape
    vec(x, "avgpool", OpKind.POOL, h * w, shape=(n, c, 1, 1))
    nodes.append(Node("flatten", OpKind.VIEW, "", "flatten", inputs=(nodes[-1].outputs[0],),
                      outputs=(t((n, c), "flatten"),)))
    g = GemmShape(n, 1000, c)
    nodes.append(Node("fc", OpKind.GEMM, "aten.linear.default", "fc",
                      inputs=(nodes[-1].outputs[0], t((1000, c), role=Role.WEIGHT)), outputs=(t((n, 1000), "fc"),),
                      macs=g.macs, gemm=g))
    return Graph("resnet50", nodes, inputs=(x0,), meta={"batch": batch, "source": "bench/estimate_speed.py (hand-built)"}).validate()


def load_resnet50() -> tuple[Graph, str]:
    try:
        from chiplab.capture.workloads import load_graph

        return load_graph("resnet50", batch=1, seq_len=None), "chiplab.capture (torch.export)"
    except Exception as e:  # noqa: BLE001 - front end missing or failing: fall back, and say so
        return resnet50_ir(), f"hand-built IR (capture unavailable: {type(e).__name__})"


def time_estimate(graph: Graph, chip, repeats: int, compat: str = "default"):
    """(median s, min s, the estimate) of ``repeats`` estimates of a captured graph on a
    loaded chip: passes, counts, pricing, power cap and timeline; no capture, no YAML parse."""
    est = estimate(graph, chip, compat=compat)          # warm-up (imports)
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        est = estimate(graph, chip, compat=compat)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times), est


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--chip", action="append", help="chip preset (repeatable; default: systolic-128 and a100-sxm4-40gb)")
    ap.add_argument("--compat", default="default", choices=("default", "scalesim"))
    ap.add_argument("--target-ms", type=float, default=10.0)
    args = ap.parse_args(argv)
    from chiplab.hw import load_chip

    graph, source = load_resnet50()
    print(f"graph: {graph.name}, {len(graph)} nodes, {graph.macs / 1e9:.2f} GMAC, from {source}; "
          f"target < {args.target_ms:g} ms per estimate (capture and chip-file parse excluded)")
    print(f"{'chip':<18} {'median ms':>10} {'min ms':>8} {'median/target':>14}  result")
    for name in args.chip or ["systolic-128", "a100-sxm4-40gb"]:
        med, best, est = time_estimate(graph, load_chip(name), args.repeats, args.compat)
        tot = est.total()
        print(f"{name:<18} {med * 1e3:>10.2f} {best * 1e3:>8.2f} {med * 1e3 / args.target_ms:>14.2f}  "
              f"{tot['latency_s'] * 1e3:.3f} ms/batch, {tot['throughput_per_s']:,.0f} inf/s steady state")
    return 0


if __name__ == "__main__":
    sys.exit(main())
