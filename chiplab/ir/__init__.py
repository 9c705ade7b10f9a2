"""chiplab IR: op kinds, tensors, nodes and graphs (see :mod:`chiplab.ir.graph`)."""
from chiplab.ir.graph import (ConvShape, DTYPE_BYTES, GemmShape, Graph, GraphError, Node, OpKind, Role,
                              TensorSpec)

__all__ = ["ConvShape", "DTYPE_BYTES", "GemmShape", "Graph", "GraphError", "Node", "OpKind", "Role", "TensorSpec"]
