"""``torch.export`` front end: an unmodified ``nn.Module`` → :class:`chiplab.ir.Graph`.

The model may live on the ``meta`` device: shapes and dtypes are all capture needs,
so a 7B-parameter decoder captures without allocating its weights. Each exported
aten op becomes one IR node (attention becomes three: QKᵀ, softmax, PV), keeping
the user's module path and source line. Modules implementing
:class:`chiplab.hwblock.HardwareBlock` are not traced through: each becomes one
``HW_BLOCK`` node carrying its own :class:`~chiplab.hwblock.HwCost`.
"""
from __future__ import annotations

from chiplab.errors import ChiplabError

import contextlib
import dataclasses
import logging
import math
import re
import sys
import warnings
from typing import Any, Sequence

import torch
from torch import fx, nn

from chiplab.capture import composite
from chiplab.capture.hwblocks import hw_block_standins
from chiplab.capture.ops import ATTENTION, CREATION, classify
from chiplab.ir import ConvShape, GemmShape, Graph, Node, OpKind, Role, TensorSpec


class CaptureError(ChiplabError):
    """torch.export could not capture the model (message names the model and the cause)."""


class UnsupportedOpError(ChiplabError):
    """An op chiplab has no cost model for; the message names the op and the layer."""


def capture(model: nn.Module, example_inputs: Any, *, name: str = "model", batch: int | None = None,
            allow_unsupported: bool = False) -> Graph:
    """Export ``model`` with ``example_inputs`` and lower it to chiplab's IR.

    ``graph.meta["batch"]`` is the leading dim of the first tensor input (the batch the
    graph really has); ``batch``, if given, must agree with it. ``allow_unsupported``
    prices ops chiplab has no cost model for as memory-bound (bytes in + out) and
    lists them in ``graph.meta["notes"]`` instead of raising :class:`UnsupportedOpError`.
    """
    if not isinstance(model, nn.Module):
        raise CaptureError(f"capture: expected an nn.Module, got {type(model).__name__}")
    if not isinstance(example_inputs, tuple):
        example_inputs = tuple(example_inputs) if isinstance(example_inputs, list) else (example_inputs,)
    real = _guess_batch(example_inputs)
    if batch is not None and batch != real:
        raise CaptureError(f"{name}: batch {batch} was asked but the example inputs have batch {real} "
                           "(leading dim of the first input)")
    model = model.eval()
    notes: list[str] = []
    with hw_block_standins(model, example_inputs) as blocks, _quiet(), _no_hf_cache(model, notes), \
            contextlib.redirect_stdout(sys.stderr):
        try:
            ep = torch.export.export(model, example_inputs, strict=False)
        except Exception as e:  # torch raises many types; the user needs one line
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            hint = ""
            if "DynamicCache" in str(e) or "Cache" in type(e).__name__:
                hint = " (hint: a Hugging Face KV cache: call the model with use_cache=False, or wrap it so " \
                       "forward returns only the logits)"
            raise CaptureError(f"{name}: torch.export failed: {type(e).__name__}: {first[:300]}{hint}") from e
    lowering = _Lowering(ep, name, blocks, allow_unsupported)
    graph = lowering.run()
    notes += lowering.notes
    graph.meta.update({"source": "torch.export", "batch": real})
    if notes:
        graph.meta["notes"] = notes
    return graph.validate()


@contextlib.contextmanager
def _quiet():
    """Silence torch.export's logging (a failing detection model otherwise prints its whole graph)."""
    names = ("torch", "torch._dynamo", "torch.export", "torch._export", "torch.fx", "torch._subclasses",
             "torch.fx.experimental.symbolic_shapes", "torch._functorch", "torch._guards")
    loggers = [logging.getLogger(n) for n in names]
    old = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for lg, lvl in zip(loggers, old):
            lg.setLevel(lvl)


@contextlib.contextmanager
def _no_hf_cache(model: nn.Module, notes: list[str]):
    """A Hugging Face model that would build a ``DynamicCache`` (``config.use_cache``) is
    captured with ``use_cache=False``: the KV cache is state across calls, not work."""
    cfgs = [m.config for m in model.modules() if getattr(getattr(m, "config", None), "use_cache", False) is True]
    for c in cfgs:
        c.use_cache = False
    if cfgs:
        notes.append("Hugging Face model captured with use_cache=False (one forward pass, no KV cache returned)")
    try:
        yield
    finally:
        for c in cfgs:
            c.use_cache = True


def _guess_batch(inputs: tuple) -> int:
    for x in inputs:
        if isinstance(x, torch.Tensor) and x.dim() > 0:
            return int(x.shape[0])
    return 1


def _dtype(t: torch.dtype) -> str:
    return str(t).removeprefix("torch.")


def _module_path(n: fx.Node) -> str:
    stack = n.meta.get("nn_module_stack")
    if not stack:
        return ""
    path = list(stack.values())[-1][0]
    path = re.sub(r"^L\['self'\]\.?", "", path)
    return re.sub(r"\[(\d+)\]", r".\1", path).removeprefix("self.")


_FRAME = re.compile(r'File "([^"]+)", line (\d+)')


def _source(n: fx.Node) -> str:
    frames = _FRAME.findall(n.meta.get("stack_trace") or "")
    user = [f for f in frames if "/torch/" not in f[0]]
    if not user:
        return ""
    path, line = user[-1]
    return f"{path.rsplit('/', 2)[-2] + '/' if '/' in path else ''}{path.rsplit('/', 1)[-1]}:{line}"


def _arg(n: fx.Node, i: int, name: str) -> Any:
    if len(n.args) > i:
        return n.args[i]
    if name in n.kwargs:
        return n.kwargs[name]
    schema = getattr(n.target, "_schema", None)
    if schema is not None:
        for a in schema.arguments:
            if a.name == name and a.has_default_value():
                return a.default_value
    return None


def _val(x: Any) -> torch.Tensor | None:
    if isinstance(x, fx.Node):
        v = x.meta.get("val")
        return v if isinstance(v, torch.Tensor) else None
    return None


def _pair(v: Any) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    v = list(v)
    return (int(v[0]), int(v[-1])) if v else (1, 1)


class _Lowering:
    def __init__(self, ep: torch.export.ExportedProgram, name: str, blocks: dict[str, Any],
                 allow_unsupported: bool = False) -> None:
        self.ep, self.name, self.blocks, self.allow_unsupported = ep, name, blocks, allow_unsupported
        self.notes: list[str] = []
        self.weights: set[str] = set()
        self.user_inputs: list[fx.Node] = []
        kinds = {s.arg.name: s.kind for s in ep.graph_signature.input_specs if hasattr(s.arg, "name")}
        for n in ep.graph.nodes:
            if n.op == "placeholder":
                k = kinds.get(n.name)
                if k is not None and k.name in ("PARAMETER", "BUFFER", "CONSTANT_TENSOR"):
                    self.weights.add(n.name)
                else:
                    self.user_inputs.append(n)
        self.alias: dict[str, str] = {}     # fx node name -> IR node name that produces its value
        self.nodes: list[Node] = []
        self.names: set[str] = set()

    # --- tensors
    def _spec(self, x: fx.Node, role: Role | None = None) -> TensorSpec | None:
        v = _val(x)
        if v is None:
            return None
        if role is None:
            role = Role.WEIGHT if x.name in self.weights else Role.ACTIVATION
        return TensorSpec(tuple(int(s) for s in v.shape), _dtype(v.dtype), role, self.alias.get(x.name))

    def _inputs(self, n: fx.Node) -> tuple[TensorSpec, ...]:
        out = []
        for a in n.all_input_nodes:
            s = self._spec(a)
            if s is not None:
                out.append(s)
        return tuple(out)

    def _outputs(self, n: fx.Node) -> tuple[TensorSpec, ...]:
        v = n.meta.get("val")
        vals = v if isinstance(v, (list, tuple)) else [v]
        return tuple(TensorSpec(tuple(int(s) for s in t.shape), _dtype(t.dtype), Role.OUTPUT)
                     for t in vals if isinstance(t, torch.Tensor))

    def _emit(self, fx_name: str, node: Node) -> None:
        self.nodes.append(node)
        self.names.add(node.name)
        self.alias[fx_name] = node.name

    # --- main loop
    def run(self) -> Graph:
        for n in self.ep.graph.nodes:
            if n.op != "call_function":
                continue
            if n.target is torch.ops.chiplab.hw_block.default:
                self._hw_block(n)
                continue
            opname = getattr(n.target, "_overloadpacket", None)
            opname = opname.__name__ if opname is not None else getattr(n.target, "__name__", str(n.target))
            path, src = _module_path(n), _source(n)
            if opname in ATTENTION:
                self._attention(n, path, src)
                continue
            try:
                kind, cost = classify(opname)
            except KeyError:
                self._unsupported(n, path, src)
                continue
            if kind is None:
                continue
            ins, outs = self._inputs(n), self._outputs(n)
            if opname == "getitem" and n.all_input_nodes:   # element of a multi-output op: keep the edge
                src_name = self.alias.get(n.all_input_nodes[0].name)
                ins = tuple(dataclasses.replace(o, role=Role.ACTIVATION, producer=src_name) for o in outs)
            common = dict(name=n.name, op=kind, target=str(n.target), module_path=path, source=src, inputs=ins,
                          outputs=outs)
            if opname == "einsum":
                composite.einsum(self, n, common)
            elif opname in composite.RNN_OPS:
                composite.rnn(self, n, opname, common)
            elif kind is OpKind.CONV and (opname in composite.CONV_TRANSPOSED or _val(n.args[0]).dim() == 5 or (
                    opname in ("convolution", "_convolution") and _arg(n, 6, "transposed"))):
                transposed = opname in composite.CONV_TRANSPOSED or bool(_arg(n, 6, "transposed"))
                self._emit(n.name, composite.conv_as_gemm(self, n, opname, {**common, "op": OpKind.GEMM},
                                                          transposed))
            elif kind is OpKind.CONV:
                self._emit(n.name, self._conv(n, opname, common))
            elif kind is OpKind.GEMM:
                self._emit(n.name, self._gemm(n, opname, common))
            else:
                out_elems = sum(t.numel for t in outs)
                if kind is OpKind.POOL:
                    vec = out_elems * self._pool_window(n, opname, ins, outs)
                elif kind is OpKind.REDUCE:
                    vec = sum(t.numel for t in ins if t.role is Role.ACTIVATION) * cost
                elif kind is OpKind.VIEW:
                    vec = 0
                elif kind is OpKind.EMBEDDING and opname == "embedding_bag":    # gather + reduce every looked-up row
                    vec = _val(n.args[1]).numel() * int(_val(n.args[0]).shape[-1])
                    outs = outs[:1]
                    common["outputs"] = outs
                elif kind is OpKind.ELEMENTWISE and opname in CREATION:
                    vec = out_elems
                else:
                    vec = out_elems * cost
                self._emit(n.name, Node(**common, vector_ops=int(vec), attrs={"fn": opname}))
        inputs = tuple(s for s in (self._spec(x, Role.ACTIVATION) for x in self.user_inputs) if s is not None)
        return Graph(self.name, self.nodes, inputs)

    def _unsupported(self, n: fx.Node, path: str, src: str) -> None:
        where = f" in {path}" if path else ""
        at = f" ({src})" if src else ""
        if not self.allow_unsupported:
            raise UnsupportedOpError(f"{self.name}: unsupported op {str(n.target)!r}{where}{at}: chiplab has no cost "
                                     "model for it; --allow-unsupported (allow_unsupported=True) prices it as "
                                     "memory-bound")
        ins, outs = self._inputs(n), self._outputs(n)
        self._emit(n.name, Node(name=n.name, op=OpKind.DATA_MOVEMENT, target=str(n.target), module_path=path,
                                source=src, inputs=ins, outputs=outs, vector_ops=0,
                                attrs={"fn": str(n.target), "unsupported": True}))
        self.notes.append(f"unsupported op {str(n.target)!r}{where}{at} priced as memory-bound (bytes in + out)")

    def _pool_window(self, n: fx.Node, opname: str, ins, outs) -> int:
        if opname.startswith("adaptive") or opname == "_adaptive_avg_pool2d":
            i, o = ins[0].shape, outs[0].shape
            return max(1, math.prod(a // max(b, 1) for a, b in zip(i[2:], o[2:])))
        k = _arg(n, 1, "kernel_size")
        return max(1, math.prod(k) if isinstance(k, (list, tuple)) else int(k or 1) ** 2)

    def _conv(self, n: fx.Node, opname: str, common: dict) -> Node:
        x, w = _val(n.args[0]), _val(n.args[1])
        groups = int(_arg(n, 8 if opname in ("convolution", "_convolution") else 6, "groups") or 1)
        stride, padding, dilation = (_arg(n, 3, "stride"), _arg(n, 4, "padding"), _arg(n, 5, "dilation"))
        if x.dim() == 3:       # conv1d: treat as H = 1
            N, C, W_ = x.shape
            H, R, S = 1, 1, int(w.shape[2])
            stride, dilation = (1, _pair(stride)[0]), (1, _pair(dilation)[0])
            padding = padding if isinstance(padding, str) else (0, _pair(padding)[0])
        else:
            N, C, H, W_ = x.shape
            R, S = int(w.shape[2]), int(w.shape[3])
            stride, dilation = _pair(stride), _pair(dilation)
        if isinstance(padding, str):   # 'valid' / 'same'
            padding = (0, 0) if padding == "valid" else (dilation[0] * (R - 1) // 2, dilation[1] * (S - 1) // 2)
        cs = ConvShape(N=int(N), C=int(C), H=int(H), W=int(W_), K=int(w.shape[0]), R=R, S=S, stride=stride,
                       padding=_pair(padding), dilation=dilation, groups=groups)
        g = cs.as_gemm()
        return Node(**common, macs=g.macs, gemm=g, conv=cs)

    def _gemm(self, n: fx.Node, opname: str, common: dict) -> Node:
        args = [a for a in n.args if isinstance(a, fx.Node)]
        if opname == "linear":
            a, b = _val(n.args[0]), _val(n.args[1])
            M, K, N = math.prod(a.shape[:-1]), a.shape[-1], b.shape[0]
            batch, b_node = 1, n.args[1]
        elif opname in ("addmm", "baddbmm"):
            a, b = _val(n.args[1]), _val(n.args[2])
            M, K, N = a.shape[-2], a.shape[-1], b.shape[-1]
            batch, b_node = (a.shape[0] if opname == "baddbmm" else 1), n.args[2]
        else:  # mm, bmm, matmul
            a, b = _val(args[0]), _val(args[1])
            b_node = args[1]
            if a.dim() == 1:
                a = a.unsqueeze(0)
            if b.dim() == 1:
                b = b.unsqueeze(-1)
            K, N = a.shape[-1], b.shape[-1]
            if b.dim() == 2:        # (..., M, K) @ (K, N): fold leading dims into M
                M, batch = math.prod(a.shape[:-1]), 1
            else:
                lead = torch.broadcast_shapes(a.shape[:-2], b.shape[:-2])
                M, batch = a.shape[-2], math.prod(lead)
        g = GemmShape(M=int(M), N=int(N), K=int(K), batch=int(batch), b_is_weight=b_node.name in self.weights)
        return Node(**common, macs=g.macs, gemm=g)

    def _attention(self, n: fx.Node, path: str, src: str) -> None:
        q, k, v = (_val(n.args[i]) for i in range(3))
        lead = math.prod(torch.broadcast_shapes(q.shape[:-2], k.shape[:-2]))
        L, E, S, Ev = q.shape[-2], q.shape[-1], k.shape[-2], v.shape[-1]
        ins = self._inputs(n)
        dt = ins[0].dtype
        scores = TensorSpec((int(lead), int(L), int(S)), dt, Role.OUTPUT)
        base = dict(target=str(n.target), module_path=path, source=src)
        g1 = GemmShape(M=int(L), N=int(S), K=int(E), batch=int(lead), b_is_weight=False)
        self._emit(n.name, Node(name=f"{n.name}.qk", op=OpKind.GEMM, inputs=ins[:2], outputs=(scores,), macs=g1.macs,
                                gemm=g1, attrs={"part": "qk"}, **base))
        sm_in = dataclasses.replace(scores, role=Role.ACTIVATION, producer=f"{n.name}.qk")
        self._emit(n.name, Node(name=f"{n.name}.softmax", op=OpKind.SOFTMAX, inputs=(sm_in,), outputs=(scores,),
                                vector_ops=5 * scores.numel, attrs={"part": "softmax"}, **base))
        g2 = GemmShape(M=int(L), N=int(Ev), K=int(S), batch=int(lead), b_is_weight=False)
        p_in = dataclasses.replace(scores, role=Role.ACTIVATION, producer=f"{n.name}.softmax")
        self._emit(n.name, Node(name=f"{n.name}.pv", op=OpKind.GEMM, inputs=(p_in, ins[2]) if len(ins) > 2 else (p_in,),
                                outputs=self._outputs(n)[:1], macs=g2.macs, gemm=g2, attrs={"part": "pv"}, **base))

    def _hw_block(self, n: fx.Node) -> None:
        key = n.args[1]
        info = self.blocks[key]
        ins, outs = self._inputs(n), self._outputs(n)
        self._emit(n.name, Node(name=n.name, op=OpKind.HW_BLOCK, target="chiplab::hw_block", module_path=info["path"],
                                inputs=ins, outputs=outs, attrs={"block": info["block"], "cost": info["cost"]}))


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def input_shapes(inputs: Sequence[Any]) -> list[tuple[int, ...]]:
    return [tuple(x.shape) for x in inputs if isinstance(x, torch.Tensor)]
