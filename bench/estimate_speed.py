"""How fast is one estimate? ResNet-50 (batch 1) on systolic presets, capture excluded.

    OMP_NUM_THREADS=1 .venv/bin/python bench/estimate_speed.py [--repeats 50] [--chip systolic-128]

Uses the captured graph from ``chiplab.capture`` when that front end is installed;
otherwise builds the same ResNet-50 IR directly (every conv, batch-norm, ReLU,
residual add, pool, flatten and the classifier, with tensor shapes: 177 nodes) so
the timing does not depend on another module. Target: median < 50 ms.
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=50)
    ap.add_argument("--chip", default="systolic-128")
    ap.add_argument("--compat", default="default", choices=("default", "scalesim"))
    args = ap.parse_args(argv)
    graph, source = load_resnet50()
    estimate(graph, args.chip, compat=args.compat)          # warm-up (imports, preset parse)
    times = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        est = estimate(graph, args.chip, compat=args.compat)
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    print(f"graph: {graph.name}, {len(graph)} nodes, {graph.macs / 1e9:.2f} GMAC, from {source}")
    print(f"chip {args.chip}, compat {args.compat}: {est.latency_s * 1e3:.3f} ms/inference, "
          f"{est.energy_j * 1e3:.2f} mJ, utilization {est.utilization:.1%}")
    print(f"estimate time: median {med * 1e3:.2f} ms, min {min(times) * 1e3:.2f} ms over {args.repeats} runs "
          f"(target < 50 ms): {'OK' if med < 0.05 else 'TOO SLOW'}")
    return 0 if med < 0.05 else 1


if __name__ == "__main__":
    sys.exit(main())
