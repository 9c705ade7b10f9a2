"""ONNX front end: an ``.onnx`` file (or ``onnx.ModelProto``) → :class:`chiplab.ir.Graph`.

Shapes come from ``onnx.shape_inference``; a symbolic batch dimension is set to
``batch`` first. Initializers are weights. The module path of a node is its ONNX
node name (or ``op_type_index`` when unnamed).
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import math
from pathlib import Path

from chiplab.capture.torch_export import UnsupportedOpError
from chiplab.ir import ConvShape, GemmShape, Graph, Node, OpKind, Role, TensorSpec

_ELEM = {"Relu": 1, "Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Clip": 1, "Sigmoid": 4, "Tanh": 4, "Gelu": 8, "Erf": 4,
         "Pow": 2, "Sqrt": 2, "Exp": 4, "Log": 4, "Neg": 1, "Abs": 1, "Where": 1, "Equal": 1, "Less": 1, "Greater": 1,
         "HardSwish": 3, "HardSigmoid": 2, "LeakyRelu": 1, "Cast": 1, "Min": 1, "Max": 1, "Reciprocal": 1, "Not": 1,
         "And": 1, "Or": 1, "Floor": 1, "Ceil": 1, "PRelu": 1, "Softplus": 4, "Sin": 4, "Cos": 4, "Mish": 6,
         "QuantizeLinear": 2, "DequantizeLinear": 2, "ConstantOfShape": 1, "Range": 1}
_NORM = {"BatchNormalization": 2, "LayerNormalization": 8, "InstanceNormalization": 8, "GroupNormalization": 8,
         "SimplifiedLayerNormalization": 5, "RMSNormalization": 5}
_POOL = {"MaxPool", "AveragePool", "GlobalAveragePool", "GlobalMaxPool"}
_REDUCE = {"ReduceMean": 1, "ReduceSum": 1, "ReduceMax": 1, "ReduceMin": 1, "ReduceProd": 1, "ReduceL2": 2,
           "ArgMax": 1, "ArgMin": 1, "CumSum": 1, "TopK": 2}
_MOVE = {"Concat", "Pad", "Resize", "Tile", "GatherElements", "ScatterND", "ScatterElements", "Upsample",
         "DepthToSpace", "SpaceToDepth", "Expand"}
_VIEW = {"Reshape", "Flatten", "Transpose", "Unsqueeze", "Squeeze", "Shape", "Constant", "Slice", "Split",
         "Identity", "Dropout", "Size"}
_DT = {1: "float32", 10: "float16", 16: "bfloat16", 11: "float64", 3: "int8", 2: "uint8", 6: "int32", 7: "int64",
       9: "bool", 5: "int16"}


class OnnxImportError(ChiplabError):
    """An ONNX file that cannot be read or whose shapes cannot be inferred."""


def import_onnx(src, *, batch: int | None = None, name: str | None = None) -> Graph:
    import onnx

    if isinstance(src, (str, Path)):
        p = Path(src)
        if not p.exists():
            raise OnnxImportError(f"{p}: no such ONNX file")
        try:
            model = onnx.load(str(p), load_external_data=False)   # shapes are enough: never read weights
        except Exception as e:  # onnx raises DecodeError and others
            raise OnnxImportError(f"{p}: not a readable ONNX model ({type(e).__name__})") from None
        name = name or p.stem
    else:
        model, name = src, name or "onnx_model"
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].dim_value:
            dims[0].dim_value = batch or 1
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as e:
        raise OnnxImportError(f"{name}: ONNX shape inference failed: {str(e).splitlines()[0]}") from None
    g = model.graph
    weights = {t.name: TensorSpec(tuple(t.dims), _DT.get(t.data_type, "float32"), Role.WEIGHT) for t in g.initializer}
    shapes: dict[str, TensorSpec] = dict(weights)
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if vi.name in weights or not tt.HasField("shape"):
            continue
        dims = [d.dim_value if d.dim_value else 1 for d in tt.shape.dim]
        shapes[vi.name] = TensorSpec(tuple(dims), _DT.get(tt.elem_type, "float32"))
    producer: dict[str, str] = {}
    nodes: list[Node] = []
    used: set[str] = set()
    for i, n in enumerate(g.node):
        nname = n.name or f"{n.op_type}_{i}"
        while nname in used:
            nname += "_"
        used.add(nname)
        ins = []
        for x in n.input:
            if x and x in shapes:
                t = shapes[x]
                ins.append(TensorSpec(t.shape, t.dtype, t.role, producer.get(x)))
        outs = tuple(TensorSpec(shapes[y].shape, shapes[y].dtype, Role.OUTPUT) for y in n.output if y in shapes)
        for y in n.output:
            producer[y] = nname
        base = dict(name=nname, target=f"onnx::{n.op_type}", module_path=nname, inputs=tuple(ins), outputs=outs)
        attrs = {a.name: a for a in n.attribute}
        out_elems = sum(t.numel for t in outs)
        if n.op_type == "Conv":
            x, w = shapes[n.input[0]], shapes[n.input[1]]
            if len(x.shape) != 4:
                raise UnsupportedOpError(f"{name}: Conv {nname} with {len(x.shape) - 2} spatial dims is not supported")
            pads = list(attrs["pads"].ints) if "pads" in attrs else [0, 0, 0, 0]
            strides = tuple(attrs["strides"].ints) if "strides" in attrs else (1, 1)
            dil = tuple(attrs["dilations"].ints) if "dilations" in attrs else (1, 1)
            groups = attrs["group"].i if "group" in attrs else 1
            cs = ConvShape(N=x.shape[0], C=x.shape[1], H=x.shape[2], W=x.shape[3], K=w.shape[0], R=w.shape[2],
                           S=w.shape[3], stride=strides, padding=(pads[0], pads[1]), dilation=dil, groups=groups)
            gm = cs.as_gemm()
            nodes.append(Node(op=OpKind.CONV, macs=gm.macs, gemm=gm, conv=cs, **base))
        elif n.op_type in ("Gemm", "MatMul"):
            a, b = shapes[n.input[0]].shape, shapes[n.input[1]].shape
            if n.op_type == "Gemm":
                ta = attrs["transA"].i if "transA" in attrs else 0
                tb = attrs["transB"].i if "transB" in attrs else 0
                M, K = (a[1], a[0]) if ta else (a[0], a[1])
                N = b[0] if tb else b[1]
                bt = 1
            else:
                a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
                b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
                K, N = a2[-1], b2[-1]
                if len(b2) == 2:
                    M, bt = math.prod(a2[:-1]), 1
                else:
                    M, bt = a2[-2], math.prod(max(x, y) for x, y in zip((1,) * 8 + a2[:-2], (1,) * 8 + b2[:-2]))
                    lead_a, lead_b = a2[:-2], b2[:-2]
                    L = max(len(lead_a), len(lead_b))
                    la, lb = (1,) * (L - len(lead_a)) + lead_a, (1,) * (L - len(lead_b)) + lead_b
                    bt = math.prod(max(x, y) for x, y in zip(la, lb))
            gm = GemmShape(M=int(M), N=int(N), K=int(K), batch=int(bt), b_is_weight=n.input[1] in weights)
            nodes.append(Node(op=OpKind.GEMM, macs=gm.macs, gemm=gm, **base))
        elif n.op_type in _ELEM:
            nodes.append(Node(op=OpKind.ELEMENTWISE, vector_ops=out_elems * _ELEM[n.op_type], **base))
        elif n.op_type in _NORM:
            nodes.append(Node(op=OpKind.NORM, vector_ops=out_elems * _NORM[n.op_type], **base))
        elif n.op_type in ("Softmax", "LogSoftmax"):
            nodes.append(Node(op=OpKind.SOFTMAX, vector_ops=out_elems * 5, **base))
        elif n.op_type in _POOL:
            win = math.prod(attrs["kernel_shape"].ints) if "kernel_shape" in attrs else \
                max(1, ins[0].numel // max(out_elems, 1)) if ins else 1
            nodes.append(Node(op=OpKind.POOL, vector_ops=out_elems * win, **base))
        elif n.op_type in _REDUCE:
            nodes.append(Node(op=OpKind.REDUCE, vector_ops=sum(t.numel for t in ins if t.role is Role.ACTIVATION)
                              * _REDUCE[n.op_type], **base))
        elif n.op_type == "Gather":
            kind = OpKind.EMBEDDING if n.input[0] in weights else OpKind.DATA_MOVEMENT
            nodes.append(Node(op=kind, vector_ops=out_elems, **base))
        elif n.op_type in _MOVE:
            nodes.append(Node(op=OpKind.DATA_MOVEMENT, vector_ops=out_elems, **base))
        elif n.op_type in _VIEW:
            nodes.append(Node(op=OpKind.VIEW, **base))
        else:
            raise UnsupportedOpError(f"{name}: unsupported ONNX op {n.op_type!r} in node {nname!r}: "
                                     "chiplab has no cost model for it")
    inputs = tuple(shapes[i.name] for i in g.input if i.name in shapes and i.name not in weights)
    b = inputs[0].shape[0] if inputs and inputs[0].shape else 1
    return Graph(name, nodes, inputs, meta={"source": "onnx", "batch": int(batch or b)}).validate()
