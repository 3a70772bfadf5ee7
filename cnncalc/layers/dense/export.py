"""dense and flatten as exported PyTorch source (layers/source.py): nn.Linear, weight (n, n_prev), and
nn.Flatten, which reads (n_C, n_H, n_W) in the order the engine's flatten does."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import In, Op, Own
from cnncalc.layers.source import SourceRecord, call, unless


def dense(node, row) -> SourceRecord:
    return SourceRecord(call("nn.Linear", row.in_shapes[0][0], node.fields["units"],
                             bias=unless(node.fields["bias"], True)))


def flatten(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord("nn.Flatten()")


SOURCES = {"dense": dense, "flatten": flatten}


# ---------------------------------------------------------------- ONNX (layers/onnx_ops.py)


def dense_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """Gemm(x (m, n_prev), W (n, n_prev)[, b]) with transB: x·Wᵀ + b, nn.Linear's layout kept."""
    inputs = (In(0), Own("weight")) + ((Own("bias"),) if node.fields["bias"] else ())
    return (Op("Gemm", inputs, {"transB": 1}),)


def flatten_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """Flatten(axis=1) of the NCHW map: (n_C, n_H, n_W) order, the engine's own (dense/kernels.py), so no
    Transpose: the engine's maps are NCHW already."""
    return (Op("Flatten", (In(0),), {"axis": 1}),)


ONNX = {"dense": dense_onnx, "flatten": flatten_onnx}
