"""batchnorm as exported PyTorch source (layers/source.py): nn.BatchNorm2d on a map, nn.BatchNorm1d on a
vector; weight, bias, running_mean, running_var and num_batches_tracked are the engine's names."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import In, Op, Own
from cnncalc.layers.source import SourceRecord, call, unless


def batchnorm(node, row) -> SourceRecord:
    name = "nn.BatchNorm2d" if len(row.out_shape) == 3 else "nn.BatchNorm1d"
    return SourceRecord(call(name, row.out_shape[-1], eps=unless(node.fields["eps"], 1e-5),
                             momentum=unless(node.fields["momentum"], 0.1)))


SOURCES = {"batchnorm": batchnorm}


# ---------------------------------------------------------------- ONNX (layers/onnx_ops.py)


def batchnorm_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """BatchNormalization in inference form: γ·(x − running_mean)/√(running_var + eps) + β, on a map
    (m, n_C, n_H, n_W) or a vector (m, n_C). ONNX's momentum weighs the old running value (torch's
    weighs the new one): 1 − momentum."""
    inputs = (In(0), Own("weight"), Own("bias"), Own("running_mean"), Own("running_var"))
    return (Op("BatchNormalization", inputs, {"epsilon": float(node.fields["eps"]),
                                              "momentum": 1.0 - float(node.fields["momentum"])}),)


ONNX = {"batchnorm": batchnorm_onnx}
