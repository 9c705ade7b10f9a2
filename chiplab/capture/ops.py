"""Which aten op is which kind of work, and how many vector operations it costs.

One table, read by the torch.export front end. ``VECTOR_COST`` is element
operations per *output* element on a vector unit (a documented convention, not a
measurement): 1 for simple element-wise ops, more for transcendental functions and
for normalisations that read their input twice (mean, variance, scale).
"""
from __future__ import annotations

from chiplab.ir import OpKind

MATRIX = {"conv1d": OpKind.CONV, "conv2d": OpKind.CONV, "convolution": OpKind.CONV, "_convolution": OpKind.CONV,
          "linear": OpKind.GEMM, "addmm": OpKind.GEMM, "mm": OpKind.GEMM, "bmm": OpKind.GEMM, "matmul": OpKind.GEMM,
          "baddbmm": OpKind.GEMM, "addbmm": OpKind.GEMM, "conv3d": OpKind.CONV, "conv_transpose1d": OpKind.CONV,
          "conv_transpose2d": OpKind.CONV, "conv_transpose3d": OpKind.CONV, "einsum": OpKind.GEMM,
          "lstm": OpKind.GEMM, "gru": OpKind.GEMM, "rnn_tanh": OpKind.GEMM, "rnn_relu": OpKind.GEMM}

ATTENTION = {"scaled_dot_product_attention", "_scaled_dot_product_flash_attention_for_cpu",
             "_scaled_dot_product_efficient_attention", "_scaled_dot_product_flash_attention"}

_ELEMENTWISE = """add add_ sub sub_ rsub mul mul_ div div_ relu relu_ gelu gelu_ silu silu_ tanh tanh_ sigmoid sigmoid_
hardtanh hardtanh_ hardswish hardswish_ hardsigmoid hardsigmoid_ clamp clamp_ clamp_min clamp_max clip neg pow rsqrt
sqrt exp log log1p abs erf where masked_fill masked_fill_ minimum maximum eq ne lt le gt ge logical_not logical_and
logical_or bitwise_not bitwise_and bitwise_or __and__ __or__ _to_copy to type_as cos sin reciprocal floor ceil round
sign leaky_relu leaky_relu_ elu mish square tril triu fill_ zero_ scalar_tensor full full_like zeros zeros_like ones
ones_like arange new_ones new_zeros new_full new_empty empty empty_like lift_fresh_copy alias_copy bernoulli
fmod remainder trunc isinf isnan nan_to_num softplus log_sigmoid diff clamp_ logical_xor bitwise_xor mul_scalar""".split()

VECTOR_COST: dict[str, int] = {n: 1 for n in _ELEMENTWISE}
VECTOR_COST.update({"gelu": 8, "gelu_": 8, "silu": 4, "silu_": 4, "tanh": 4, "tanh_": 4, "sigmoid": 4, "sigmoid_": 4,
                    "erf": 4, "exp": 4, "log": 4, "pow": 2, "rsqrt": 2, "sqrt": 2, "mish": 6, "softplus": 4,
                    "hardswish": 3, "hardswish_": 3, "elu": 4})
# creation ops write their output once; they have no input to read
CREATION = {"scalar_tensor", "full", "full_like", "zeros", "zeros_like", "ones", "ones_like", "arange", "new_ones",
            "new_zeros", "new_full", "new_empty", "empty", "empty_like"}

NORM = {"batch_norm": 2, "_native_batch_norm_legit_no_training": 2, "_native_batch_norm_legit_functional": 2,
        "native_batch_norm": 2, "layer_norm": 8, "native_layer_norm": 8, "group_norm": 8, "native_group_norm": 8,
        "rms_norm": 5, "instance_norm": 8, "_fused_rms_norm": 5}
SOFTMAX = {"softmax": 5, "_softmax": 5, "log_softmax": 6, "_log_softmax": 6, "_safe_softmax": 5}
POOL = {"max_pool3d", "avg_pool3d", "adaptive_avg_pool3d", "adaptive_max_pool3d", "adaptive_max_pool1d", "max_pool2d", "max_pool2d_with_indices", "avg_pool2d", "adaptive_avg_pool2d", "adaptive_max_pool2d",
        "max_pool1d", "avg_pool1d", "adaptive_avg_pool1d", "_adaptive_avg_pool2d"}
REDUCE = {"mean": 1, "sum": 1, "amax": 1, "amin": 1, "max": 1, "min": 1, "var": 3, "std": 4, "var_mean": 3,
          "argmax": 1, "argmin": 1, "cumsum": 1, "prod": 1, "norm": 3, "linalg_vector_norm": 3, "any": 1, "all": 1,
          "logsumexp": 5, "topk": 2, "sort": 4}
EMBEDDING = {"embedding", "embedding_bag", "_embedding_bag"}
# Interpolating upsamples: a lerp a + w*(b - a) is 3 ops; bilinear = 3 lerps, trilinear = 7, a cubic = 4 mul + 3 add
# per tap row, bicubic = 5 cubics. Nearest-neighbour upsampling only copies (DATA_MOVEMENT below).
UPSAMPLE = {"upsample_linear1d": 3, "upsample_bilinear2d": 9, "_upsample_bilinear2d_aa": 9,
            "upsample_trilinear3d": 21, "upsample_bicubic2d": 35, "_upsample_bicubic2d_aa": 35, "grid_sampler_2d": 9,
            "grid_sampler": 9}
DATA_MOVEMENT = {"cat", "stack", "clone", "contiguous", "copy", "copy_", "constant_pad_nd", "pad", "repeat",
                 "index_select", "gather", "scatter", "index", "index_put", "index_put_", "roll", "flip",
                 "repeat_interleave", "pixel_shuffle", "pixel_unshuffle", "upsample_nearest1d", "upsample_nearest2d",
                 "upsample_nearest3d", "_upsample_nearest_exact1d", "_upsample_nearest_exact2d",
                 "_upsample_nearest_exact3d", "_unsafe_index", "channel_shuffle", "native_channel_shuffle",
                 "slice_scatter", "select_scatter", "masked_scatter", "nonzero", "one_hot", "interpolate"}
VIEW = {"view", "reshape", "_unsafe_view", "flatten", "unflatten", "permute", "transpose", "t", "unsqueeze",
        "squeeze", "expand", "expand_as", "slice", "select", "split", "split_with_sizes", "chunk", "unbind",
        "narrow", "swapaxes", "swapdims", "moveaxis", "alias", "detach", "detach_", "getitem", "view_as", "as_strided", "movedim", "dropout",
        "dropout_", "feature_dropout", "identity", "unfold", "lift_fresh", "numpy_T", "mT", "diagonal", "view_as_real",
        "real", "_reshape_alias", "contiguous_view"}
# ops with no data at all (shape asserts, symbolic sizes): dropped from the graph
IGNORED = {"_assert_tensor_metadata", "sym_size", "sym_numel", "sym_stride", "sym_constrain_range",
           "sym_constrain_range_for_size", "_assert_async", "_assert_scalar", "_functional_assert_async",
           "_set_grad_enabled", "_enter_autocast", "_exit_autocast", "item", "_local_scalar_dense", "size",
           "dim", "is_floating_point", "_check_is_size"}


def classify(name: str) -> tuple[OpKind | None, int]:
    """(kind, vector cost per output element); kind None means 'drop', unknown raises KeyError."""
    if name in IGNORED:
        return None, 0
    if name in MATRIX:
        return MATRIX[name], 0
    if name in VIEW:
        return OpKind.VIEW, 0
    if name in VECTOR_COST:
        return OpKind.ELEMENTWISE, VECTOR_COST[name]
    if name in NORM:
        return OpKind.NORM, NORM[name]
    if name in SOFTMAX:
        return OpKind.SOFTMAX, SOFTMAX[name]
    if name in POOL:
        return OpKind.POOL, 1
    if name in REDUCE:
        return OpKind.REDUCE, REDUCE[name]
    if name in UPSAMPLE:
        return OpKind.ELEMENTWISE, UPSAMPLE[name]
    if name in EMBEDDING:
        return OpKind.EMBEDDING, 1
    if name in DATA_MOVEMENT:
        return OpKind.DATA_MOVEMENT, 1
    raise KeyError(name)
