"""dropout and drop_path as exported PyTorch source (layers/source.py): nn.Dropout, and pytorch.py's
DropPath (torchvision's stochastic depth, "row" mode, written out so the file needs no torchvision)."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import Const, In, Op, unary
from cnncalc.layers.source import SourceRecord, call, unless


def dropout(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord(call("nn.Dropout", p=unless(node.fields["rate"], 0.5)))


def drop_path(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord(call("DropPath", node.fields["rate"]), (("cnncalc.layers.dropout.pytorch", "DropPath"),))


SOURCES = {"dropout": dropout, "drop_path": drop_path}


def dropout_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """Dropout with its ratio: the identity in inference (training_mode left out, false), and the layer,
    with its rate, is there for whoever reads the file (`cnncalc import` gives the row back)."""
    return (Op("Dropout", (In(0), Const(float(node.fields["rate"]), "float32"))),)


# inference: both are the identity (the engine's eval forward skips them too); ONNX has no drop_path
ONNX = {"dropout": dropout_onnx, "drop_path": unary("Identity")}
