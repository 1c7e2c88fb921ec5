"""The `dkgen` ONNX function library: structured weights built from standard operators.

Each function turns compressed parameters into the dense matrix a standard operator
consumes, so any ONNX runtime can execute the model, while dkgen's importer recognises
the call and keeps the parameters compressed:

- `Kron(A, B)`: A ⊗ B, as Unsqueeze of each factor, a broadcast Mul and a Reshape.  More
  factors nest: A ⊗ B ⊗ C is `Kron(A, Kron(B, C))` (or `DopedKron(A, Kron(B, C), ...)`),
  which the importer reads as one product of three factors.
- `DopedKron(A, B, dope_index, dope_value)`: A ⊗ B plus a sparse overlay scattered into
  zeros with ScatterND; `dope_index` holds flat row-major indices, shape (nnz, 1).
- `LowRank(U, V)`: U @ V.
- `Sparse(index, value, shape)`: a pruned matrix scattered into zeros of `shape`.
"""

from __future__ import annotations

import onnx
from onnx import TensorProto, helper

DOMAIN = "dkgen"
DOMAIN_VERSION = 1
OPSET = 18


def _const_ints(name: str, values: list[int]) -> onnx.NodeProto:
    return helper.make_node(
        "Constant", [], [name],
        value=helper.make_tensor(name, TensorProto.INT64, [len(values)], values),
    )


def _kron_nodes(a: str, b: str, out: str) -> list[onnx.NodeProto]:
    return [
        _const_ints("axes_a", [1, 3]),
        _const_ints("axes_b", [0, 2]),
        helper.make_node("Unsqueeze", [a, "axes_a"], ["a4"]),  # (m1, 1, n1, 1)
        helper.make_node("Unsqueeze", [b, "axes_b"], ["b4"]),  # (1, m2, 1, n2)
        helper.make_node("Mul", ["a4", "b4"], ["p4"]),  # (m1, m2, n1, n2)
        helper.make_node("Shape", [a], ["shape_a"]),
        helper.make_node("Shape", [b], ["shape_b"]),
        helper.make_node("Mul", ["shape_a", "shape_b"], ["shape_w"]),  # (m1*m2, n1*n2)
        helper.make_node("Reshape", ["p4", "shape_w"], [out]),
    ]


def _scatter_nodes(base_flat_shape: str, index: str, value: str, out: str) -> list[onnx.NodeProto]:
    return [
        helper.make_node(
            "ConstantOfShape", [base_flat_shape], ["zeros"],
            value=helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0]),
        ),
        helper.make_node("ScatterND", ["zeros", index, value], [out]),
    ]


def kron_function() -> onnx.FunctionProto:
    return helper.make_function(
        DOMAIN, "Kron", ["A", "B"], ["W"], _kron_nodes("A", "B", "W"),
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string="W = A ⊗ B (Kronecker product of two matrices).",
    )


def doped_kron_function() -> onnx.FunctionProto:
    nodes = _kron_nodes("A", "B", "kron")
    nodes += [
        _const_ints("flat", [-1]),
        helper.make_node("Reshape", ["kron", "flat"], ["kron_flat"]),
        helper.make_node("Shape", ["kron_flat"], ["flat_shape"]),
    ]
    nodes += _scatter_nodes("flat_shape", "dope_index", "dope_value", "dope_flat")
    nodes += [
        helper.make_node("Add", ["kron_flat", "dope_flat"], ["sum_flat"]),
        helper.make_node("Shape", ["kron"], ["shape_out"]),
        helper.make_node("Reshape", ["sum_flat", "shape_out"], ["W"]),
    ]
    return helper.make_function(
        DOMAIN, "DopedKron", ["A", "B", "dope_index", "dope_value"], ["W"], nodes,
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string="W = A ⊗ B + S, S given by flat row-major indices (nnz, 1) and values.",
    )


def low_rank_function() -> onnx.FunctionProto:
    return helper.make_function(
        DOMAIN, "LowRank", ["U", "V"], ["W"], [helper.make_node("MatMul", ["U", "V"], ["W"])],
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string="W = U V (low-rank factorisation).",
    )


def sparse_function() -> onnx.FunctionProto:
    nodes = [helper.make_node("ReduceProd", ["shape"], ["numel"], keepdims=1)]
    nodes += _scatter_nodes("numel", "index", "value", "flat")
    nodes += [helper.make_node("Reshape", ["flat", "shape"], ["W"])]
    return helper.make_function(
        DOMAIN, "Sparse", ["index", "value", "shape"], ["W"], nodes,
        opset_imports=[helper.make_opsetid("", OPSET)],
        doc_string="W: a pruned matrix, flat row-major indices (nnz, 1), values and shape.",
    )


def all_functions() -> list[onnx.FunctionProto]:
    return [kron_function(), doped_kron_function(), low_rank_function(), sparse_function()]
