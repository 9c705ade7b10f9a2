"""Aten ops that lower to GEMMs without a 2-D :class:`ConvShape`: ``einsum``, the
recurrent layers (``lstm``, ``gru``, ``rnn_tanh``, ``rnn_relu``), transposed convolutions
and 3-D convolutions. MACs follow ``torch.utils.flop_counter.FlopCounterMode`` (tested).

* ``einsum``: contracted pairwise, left to right; each pair is one GEMM with
  batch = indices in both operands and the output, M / N = indices of one operand kept
  in the output, K = indices contracted.
* RNNs are unrolled: per layer and direction, the input projection of all T steps is
  one GEMM (M = T*B), the recurrent projection is T sequential GEMMs (M = B), plus the
  gate arithmetic on the vector unit.
* Transposed convolution as the col2im GEMM: M = N*in_pixels, K = C_in/groups,
  N = C_out/groups*kernel, batch = groups. 3-D convolution as im2col: M = N*out_voxels,
  K = C_in/groups*kernel, N = C_out/groups, batch = groups.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from torch import fx

from chiplab.ir import GemmShape, Node, OpKind, Role, TensorSpec

if TYPE_CHECKING:
    from chiplab.capture.torch_export import _Lowering

RNN_OPS = {"lstm": 4, "gru": 3, "rnn_tanh": 1, "rnn_relu": 1}   # gates per hidden unit
# Vector ops per hidden unit per step (a counting convention, like ops.VECTOR_COST): the two bias adds and
# the ih+hh add on every gate (3 per gate), then LSTM: 3 sigmoids (4 each) + 2 tanh (4 each) + 3 mul + 1 add = 24;
# GRU: 2 sigmoids + 1 tanh (12) + r*h_n (1) + the (1-z)*n + z*h blend (4) = 17; RNN: one tanh or relu (4).
RNN_GATE_OPS = {"lstm": 4 * 3 + 24, "gru": 3 * 3 + 17, "rnn_tanh": 3 + 4, "rnn_relu": 3 + 4}
CONV_TRANSPOSED = {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}


def _shape(low: "_Lowering", x: Any) -> tuple[int, ...]:
    from chiplab.capture.torch_export import _val

    v = _val(x)
    return tuple(int(s) for s in v.shape)


def _spec(shape: tuple[int, ...], dtype: str, role: Role = Role.OUTPUT, producer: str | None = None) -> TensorSpec:
    return TensorSpec(tuple(max(1, s) for s in shape), dtype, role, producer)


# --- einsum -------------------------------------------------------------------------------------------------
def _parse(eq: str, shapes: list[tuple[int, ...]]) -> tuple[list[str], str]:
    """Operand index strings and output string, with ``...`` spelled out as fresh letters."""
    eq = eq.replace(" ", "")
    lhs, arrow, out = eq.partition("->")
    terms = lhs.split(",")
    free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in eq]
    dims = [len(s) - (len(t) - 3) for t, s in zip(terms, shapes) if "..." in t]
    ell = "".join(free[:max(dims, default=0)])
    terms = [t.replace("...", ell[len(ell) - (len(s) - (len(t) - 3)):]) if "..." in t else t
             for t, s in zip(terms, shapes)]
    if not arrow:
        letters = "".join(terms)
        out = ell + "".join(sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell))
    return terms, out.replace("...", ell)


def einsum(low: "_Lowering", n: fx.Node, common: dict) -> None:
    eq, operands = n.args[0], list(n.args[1])
    shapes = [_shape(low, o) for o in operands]
    terms, out = _parse(eq, shapes)
    size: dict[str, int] = {}
    for t, s in zip(terms, shapes):
        for c, d in zip(t, s):
            size[c] = max(size.get(c, 1), d)      # broadcast dims of size 1
    ins = low._inputs(n)
    dt = ins[0].dtype if ins else "float32"
    if len(terms) == 1:     # transpose / trace / reduction: a vector op over the input
        low._emit(n.name, Node(**{**common, "op": OpKind.REDUCE}, vector_ops=math.prod(shapes[0]),
                               attrs={"fn": "einsum", "equation": eq}))
        return
    cur, cur_node = terms[0], operands[0]
    for i in range(1, len(terms)):
        b = terms[i]
        later = set(out).union(*terms[i + 1:]) if i + 1 < len(terms) else set(out)
        keep = [c for c in dict.fromkeys(cur + b) if c in later]
        bat = [c for c in keep if c in cur and c in b]
        m_idx = [c for c in keep if c in cur and c not in b]
        n_idx = [c for c in keep if c in b and c not in cur]
        k_idx = [c for c in dict.fromkeys(cur) if c in b and c not in later]
        prod = lambda idx: math.prod(size[c] for c in idx)   # noqa: E731
        g = GemmShape(M=max(1, prod(m_idx)), N=max(1, prod(n_idx)), K=max(1, prod(k_idx)), batch=max(1, prod(bat)),
                      b_is_weight=operands[i].name in low.weights)
        last = i == len(terms) - 1
        name = n.name if len(terms) == 2 else f"{n.name}.{i}"
        outs = low._outputs(n) if last else (_spec(tuple(size[c] for c in keep), dt),)
        node_ins = ins if len(terms) == 2 else tuple(s for s in ins[i - 1:i + 1])
        low._emit(n.name, Node(**{**common, "name": name, "inputs": node_ins, "outputs": outs}, macs=g.macs, gemm=g,
                               attrs={"fn": "einsum", "equation": eq}))
        cur = "".join(keep)


# --- recurrent layers ----------------------------------------------------------------------------------------
def rnn(low: "_Lowering", n: fx.Node, opname: str, common: dict) -> None:
    from chiplab.capture.torch_export import _val

    x = _val(n.args[0])
    params = list(n.args[2])
    num_layers, bidirectional, batch_first = int(n.args[4]), bool(n.args[7]), bool(n.args[8])
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1] if x.dim() == 3 else 1)
    T, B = int(T), int(B)
    dirs = 2 if bidirectional else 1
    per = len(params) // (dirs * num_layers)      # w_ih, w_hh[, b_ih, b_hh][, w_hr (LSTM proj_size)]
    dt = low._inputs(n)[0].dtype
    outs = low._outputs(n)
    for layer in range(num_layers):
        for d in range(dirs):
            base = (layer * dirs + d) * per
            w_ih, w_hh = _shape(low, params[base]), _shape(low, params[base + 1])
            GH, I, H = w_ih[0], w_ih[1], w_hh[1]      # H: the recurrent width (proj_size if set)
            hidden = GH // RNN_OPS[opname]
            tag = f"{n.name}.l{layer}{'_reverse' if d else ''}"
            wi = TensorSpec(w_ih, dt, Role.WEIGHT)
            wh = TensorSpec(w_hh, dt, Role.WEIGHT)
            xin = TensorSpec((T * B, I), dt, Role.ACTIVATION, low.alias.get(n.args[0].name) if layer == 0 else None)
            g_ih = GemmShape(M=T * B, N=GH, K=I, b_is_weight=True)
            low._emit(n.name, Node(**{**common, "name": f"{tag}.ih", "inputs": (xin, wi),
                                      "outputs": (_spec((T * B, GH), dt),)}, macs=g_ih.macs, gemm=g_ih,
                                   attrs={"fn": opname, "part": "input projection", "steps": T}))
            g_hh = GemmShape(M=B, N=GH, K=H, batch=T, b_is_weight=True)
            low._emit(n.name, Node(**{**common, "name": f"{tag}.hh", "inputs": (_spec((B, H), dt, Role.STATE), wh),
                                      "outputs": (_spec((T * B, GH), dt),)}, macs=g_hh.macs, gemm=g_hh,
                                   attrs={"fn": opname, "part": "recurrent projection", "steps": T,
                                          "sequential": True}))
            if opname == "lstm" and per in (3, 5):        # proj_size: h_t = W_hr h'_t, one GEMM per step
                w_hr = _shape(low, params[base + per - 1])
                g_hr = GemmShape(M=B, N=w_hr[0], K=w_hr[1], batch=T, b_is_weight=True)
                low._emit(n.name, Node(**{**common, "name": f"{tag}.proj", "inputs": (_spec((B, hidden), dt),
                                          TensorSpec(w_hr, dt, Role.WEIGHT)), "outputs": (_spec((T * B, w_hr[0]), dt),)},
                                       macs=g_hr.macs, gemm=g_hr, attrs={"fn": opname, "part": "projection",
                                                                         "steps": T, "sequential": True}))
            low._emit(n.name, Node(**{**common, "name": f"{tag}.gates", "op": OpKind.ELEMENTWISE,
                                      "inputs": (_spec((T * B, GH), dt, Role.ACTIVATION, f"{tag}.hh"),),
                                      "outputs": (_spec((T, B, hidden), dt),) if layer < num_layers - 1 or d < dirs - 1
                                      else outs[:1]},
                                   vector_ops=T * B * hidden * RNN_GATE_OPS[opname], attrs={"fn": opname, "part": "gates"}))


# --- transposed and 3-D convolutions --------------------------------------------------------------------------
def conv_as_gemm(low: "_Lowering", n: fx.Node, opname: str, common: dict, transposed: bool) -> Node:
    from chiplab.capture.torch_export import _arg

    x, w = _shape(low, n.args[0]), _shape(low, n.args[1])
    out = low._outputs(n)[0].shape
    if opname in ("convolution", "_convolution"):
        groups = int(_arg(n, 8, "groups") or 1)
    else:
        groups = int(_arg(n, 6, "groups") or 1)
    kernel = math.prod(w[2:])
    if transposed:      # weight (C_in, C_out/groups, k...)
        g = GemmShape(M=x[0] * math.prod(x[2:]), K=max(1, w[0] // groups), N=w[1] * kernel, batch=groups)
    else:               # weight (C_out, C_in/groups, k...)
        g = GemmShape(M=out[0] * math.prod(out[2:]), K=w[1] * kernel, N=max(1, w[0] // groups), batch=groups)
    return Node(**common, macs=g.macs, gemm=g, attrs={"fn": opname, "transposed": transposed,
                                                      "spatial_dims": len(x) - 2, "groups": groups})
