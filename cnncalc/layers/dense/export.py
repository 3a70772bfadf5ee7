"""dense and flatten as exported PyTorch source (layers/source.py): nn.Linear, weight (n, n_prev), and
nn.Flatten, which reads (n_C, n_H, n_W) in the order the engine's flatten does."""

from __future__ import annotations

from cnncalc.layers.source import SourceRecord, call, unless


def dense(node, row) -> SourceRecord:
    return SourceRecord(call("nn.Linear", row.in_shapes[0][0], node.fields["units"],
                             bias=unless(node.fields["bias"], True)))


def flatten(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord("nn.Flatten()")


SOURCES = {"dense": dense, "flatten": flatten}
