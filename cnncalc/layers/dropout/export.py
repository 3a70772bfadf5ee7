"""dropout and drop_path as exported PyTorch source (layers/source.py): nn.Dropout, and pytorch.py's
DropPath (torchvision's stochastic depth, "row" mode, written out so the file needs no torchvision)."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import unary
from cnncalc.layers.source import SourceRecord, call, unless


def dropout(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord(call("nn.Dropout", p=unless(node.fields["rate"], 0.5)))


def drop_path(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord(call("DropPath", node.fields["rate"]), (("cnncalc.layers.dropout.pytorch", "DropPath"),))


SOURCES = {"dropout": dropout, "drop_path": drop_path}


# inference: both are the identity (the engine's eval forward skips them too)
ONNX = {"dropout": unary("Identity"), "drop_path": unary("Identity")}
