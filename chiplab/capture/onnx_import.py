"""ONNX front end: an ``.onnx`` file (or ``onnx.ModelProto``) → :class:`chiplab.ir.Graph`.

Shapes come from ``onnx.shape_inference``; a symbolic batch dimension is set to
``batch`` first. Any other symbolic dimension is an error naming the tensor (chiplab
needs static shapes: a guessed 1 would be a silently wrong number). Initializers are
weights. The module path of a node is its ONNX node name (or ``op_type_index`` when
unnamed). Nodes are taken in dependency order; a cycle is an error.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import graphlib
import math
from pathlib import Path

from chiplab.capture.torch_export import UnsupportedOpError
from chiplab.files import check_input_file
from chiplab.units import short
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
        p = check_input_file(src, "ONNX file", OnnxImportError)
        try:
            model = onnx.load(str(p), load_external_data=False)   # shapes are enough: never read weights
        except Exception as e:  # onnx raises DecodeError and others
            raise OnnxImportError(f"{p}: not a readable ONNX model ({type(e).__name__})") from None
        name = name or p.stem
    else:
        model, name = src, name or "onnx_model"
    if not model.graph.node:
        raise OnnxImportError(f"{name}: the ONNX graph has no operators (an empty or truncated file?)")
    init_names = {t.name for t in model.graph.initializer}
    for inp in model.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if inp.name in init_names:
            continue
        if dims and not dims[0].dim_value:
            dims[0].dim_value = batch or 1
        for j, d in enumerate(dims):
            if d.dim_value <= 0:
                what = repr(d.dim_param) if d.dim_param else "unknown"
                raise OnnxImportError(f"{name}: input {short(repr(inp.name))} dimension {j} is {what}: chiplab needs "
                                      "static shapes (fix the dimension, e.g. export with static shapes; "
                                      "only the batch, dimension 0, is set from --batch)")
    try:
        model = onnx.shape_inference.infer_shapes(model, strict_mode=False)
    except Exception as e:
        raise OnnxImportError(short(f"{name}: ONNX shape inference failed: {str(e).splitlines()[0]}", 300)) from None
    g = model.graph
    weights = {t.name: TensorSpec(tuple(t.dims), _DT.get(t.data_type, "float32"), Role.WEIGHT) for t in g.initializer}
    shapes: dict[str, TensorSpec] = dict(weights)
    symbolic: dict[str, str] = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        tt = vi.type.tensor_type
        if vi.name in weights or not tt.HasField("shape"):
            continue
        dims = [d.dim_value if d.dim_value > 0 else 1 for d in tt.shape.dim]
        unknown = [f"{j} ({d.dim_param!r})" if d.dim_param else str(j) for j, d in enumerate(tt.shape.dim)
                   if d.dim_value <= 0]
        if unknown:
            symbolic[vi.name] = unknown[0]
        else:
            symbolic.pop(vi.name, None)
        shapes[vi.name] = TensorSpec(tuple(dims), _DT.get(tt.elem_type, "float32"))
    names = _node_names(g.node)
    producer: dict[str, str] = {}
    nodes: list[Node] = []
    for i in _dependency_order(g.node, names, name):
        n, nname = g.node[i], names[i]

        def shape(x: str, role: str) -> TensorSpec:
            if x in symbolic:
                raise OnnxImportError(f"{name}: tensor {short(repr(x))} ({role} of node {short(repr(nname))}) has a "
                                      f"symbolic dimension {symbolic[x]}: chiplab needs static shapes (export the "
                                      "model with static shapes)")
            return shapes[x]

        ins = []
        for x in n.input:
            if x and x in shapes:
                t = shape(x, "input")
                ins.append(TensorSpec(t.shape, t.dtype, t.role, producer.get(x)))
        outs = tuple(TensorSpec(shape(y, "output").shape, shapes[y].dtype, Role.OUTPUT) for y in n.output if y in shapes)
        for y in n.output:
            producer[y] = nname
        base = dict(name=nname, target=f"onnx::{n.op_type}", module_path=nname, inputs=tuple(ins), outputs=outs)
        attrs = {a.name: a for a in n.attribute}
        out_elems = sum(t.numel for t in outs)
        if n.op_type == "Conv":
            x, w = _operands(n, nname, name, shapes, shape, 2)
            cs = _conv_shape(x.shape, w.shape, attrs, f"{name}: Conv {short(repr(nname))}")
            gm = cs.as_gemm()
            nodes.append(Node(op=OpKind.CONV, macs=gm.macs, gemm=gm, conv=cs, **base))
        elif n.op_type in ("Gemm", "MatMul"):
            a, b = (t.shape for t in _operands(n, nname, name, shapes, shape, 2))
            where = f"{name}: {n.op_type} {short(repr(nname))}"
            if not a or not b or (n.op_type == "Gemm" and (len(a) != 2 or len(b) != 2)):
                raise OnnxImportError(f"{where}: operands of rank {len(a)} and {len(b)} (Gemm takes 2-D matrices, "
                                      "MatMul at least 1-D)")
            if n.op_type == "Gemm":
                ta = attrs["transA"].i if "transA" in attrs else 0
                tb = attrs["transB"].i if "transB" in attrs else 0
                M, K = (a[1], a[0]) if ta else (a[0], a[1])
                N, Kb = (b[0], b[1]) if tb else (b[1], b[0])
                if K != Kb:
                    raise OnnxImportError(f"{where}: inner dimensions differ (A is {list(a)}, B is {list(b)}, "
                                          f"transA={ta}, transB={tb})")
                bt = 1
            else:
                a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
                b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
                K, N = a2[-1], b2[-1]
                if K != b2[-2]:
                    raise OnnxImportError(f"{where}: inner dimensions differ ({list(a)} x {list(b)}: "
                                          f"{K} != {b2[-2]})")
                if len(b2) == 2:
                    M, bt = math.prod(a2[:-1]), 1
                else:
                    M, bt = a2[-2], math.prod(max(x, y) for x, y in zip((1,) * 8 + a2[:-2], (1,) * 8 + b2[:-2]))
                    lead_a, lead_b = a2[:-2], b2[:-2]
                    L = max(len(lead_a), len(lead_b))
                    la, lb = (1,) * (L - len(lead_a)) + lead_a, (1,) * (L - len(lead_b)) + lead_b
                    if any(x != y and 1 not in (x, y) for x, y in zip(la, lb)):
                        raise OnnxImportError(f"{where}: batch dimensions do not broadcast ({list(a)} x {list(b)})")
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
    if not any(nd.macs or nd.vector_ops for nd in nodes):
        raise OnnxImportError(f"{name}: no operator in the ONNX graph does any work (only views and reshapes): "
                              "nothing to estimate")
    b = inputs[0].shape[0] if inputs and inputs[0].shape else 1
    return Graph(name, nodes, inputs, meta={"source": "onnx", "batch": int(batch or b)}).validate()


def _node_names(onnx_nodes) -> list[str]:
    used: set[str] = set()
    out = []
    for i, n in enumerate(onnx_nodes):
        nname = n.name or f"{n.op_type}_{i}"
        while nname in used:
            nname += "_"
        used.add(nname)
        out.append(nname)
    return out


def _dependency_order(onnx_nodes, names: list[str], model: str) -> list[int]:
    """Node indices with every producer before its consumers (ONNX files should already be
    sorted; a cycle is an error naming the nodes on it)."""
    made_by = {y: i for i, n in enumerate(onnx_nodes) for y in n.output if y}
    ts: graphlib.TopologicalSorter = graphlib.TopologicalSorter()
    for i, n in enumerate(onnx_nodes):
        ts.add(i, *sorted({made_by[x] for x in n.input if x in made_by and made_by[x] != i}))
        if any(x in made_by and made_by[x] == i for x in n.input):
            raise OnnxImportError(f"{model}: node {short(repr(names[i]))} reads its own output (a cycle)")
    if all(made_by[x] < i for i, n in enumerate(onnx_nodes) for x in n.input if x in made_by):
        return list(range(len(onnx_nodes)))       # already sorted: keep the file's order
    try:
        return list(ts.static_order())
    except graphlib.CycleError as e:
        cycle = " -> ".join(short(names[i], 30) for i in e.args[1][:6])
        raise OnnxImportError(f"{model}: the ONNX graph has a cycle ({cycle})") from None


def _operands(n, nname: str, model: str, shapes: dict, shape, count: int) -> list[TensorSpec]:
    if len(n.input) < count or any(not x or x not in shapes for x in n.input[:count]):
        raise OnnxImportError(f"{model}: {n.op_type} {short(repr(nname))}: needs {count} inputs with known shapes, "
                              f"got {[short(x, 30) for x in n.input]}")
    return [shape(x, "input") for x in n.input[:count]]


def _conv_shape(x: tuple, w: tuple, attrs: dict, where: str) -> ConvShape:
    """The ConvShape of an ONNX Conv, with its attributes checked (ONNX allows them to be anything)."""
    if len(x) != 4:
        raise UnsupportedOpError(f"{where} with {len(x) - 2} spatial dims is not supported")
    if len(w) != 4:
        raise OnnxImportError(f"{where}: weight of rank {len(w)}, expected 4 (K, C/group, R, S)")

    def ints(key: str, n: int, default: list[int], low: int) -> list[int]:
        v = list(attrs[key].ints) if key in attrs else default
        if len(v) != n or any(e < low for e in v):
            raise OnnxImportError(f"{where}: {key} must be {n} integers >= {low}, got {short(v)}")
        return v

    pads = ints("pads", 4, [0, 0, 0, 0], 0)
    strides, dil = ints("strides", 2, [1, 1], 1), ints("dilations", 2, [1, 1], 1)
    groups = attrs["group"].i if "group" in attrs else 1
    N, C, H, W = x
    K, Cg, R, S = w
    if groups < 1 or C % groups or K % groups or Cg * groups != C:
        raise OnnxImportError(f"{where}: group={groups} does not fit {C} input channels, {K} filters and "
                              f"weight {list(w)}")
    if "auto_pad" in attrs and attrs["auto_pad"].s not in (b"", b"NOTSET", b"VALID"):
        pads = [0, 0, 0, 0]
        for d, (size, k, st, dl) in enumerate(((H, R, strides[0], dil[0]), (W, S, strides[1], dil[1]))):
            total = max(0, (math.ceil(size / st) - 1) * st + (k - 1) * dl + 1 - size)
            pads[d], pads[d + 2] = total // 2, total - total // 2
    # ConvShape pads symmetrically; ONNX pads are (begin_h, begin_w, end_h, end_w). Take the symmetric
    # padding that gives the same output size (and so the same MACs) as the ONNX begin + end padding.
    sym = []
    for d, (size, k, st, dl) in enumerate(((H, R, strides[0], dil[0]), (W, S, strides[1], dil[1]))):
        total = pads[d] + pads[d + 2]
        want = (size + total - dl * (k - 1) - 1) // st + 1
        q = next((q for q in (total // 2, (total + 1) // 2) if (size + 2 * q - dl * (k - 1) - 1) // st + 1 == want), None)
        if q is None:
            raise UnsupportedOpError(f"{where}: pads {pads} cannot be modelled as symmetric padding "
                                     f"(begin + end = {total} is odd at stride {st})")
        sym.append(q)
    cs = ConvShape(N=N, C=C, H=H, W=W, K=K, R=R, S=S, stride=tuple(strides), padding=(sym[0], sym[1]),
                   dilation=tuple(dil), groups=groups)
    if cs.P < 1 or cs.Q < 1:
        raise OnnxImportError(f"{where}: the {R}x{S} filter does not fit the padded {H}x{W} input")
    return cs
