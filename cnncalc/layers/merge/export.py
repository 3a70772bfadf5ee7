"""add, concat and mul as exported PyTorch source (layers/source.py): pytorch.py's Add, Concat and Mul,
modules taking their inputs as arguments, so the forward reads `out = self.add1(a, b)`."""

from __future__ import annotations

from cnncalc.layers.source import SourceRecord

HELPERS = "cnncalc.layers.merge.pytorch"


def _helper(name):
    def source(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
        return SourceRecord(f"{name}()", ((HELPERS, name),))
    return source


SOURCES = {"add": _helper("Add"), "concat": _helper("Concat"), "mul": _helper("Mul")}
