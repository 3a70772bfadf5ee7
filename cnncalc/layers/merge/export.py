"""add, concat and mul as exported PyTorch source (layers/source.py): pytorch.py's Add, Concat and Mul,
modules taking their inputs as arguments, so the forward reads `out = self.add1(a, b)`."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import Const, In, Op, Step
from cnncalc.layers.source import SourceRecord

HELPERS = "cnncalc.layers.merge.pytorch"


def _helper(name):
    def source(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
        return SourceRecord(f"{name}()", ((HELPERS, name),))
    return source


SOURCES = {"add": _helper("Add"), "concat": _helper("Concat"), "mul": _helper("Mul")}


# ---------------------------------------------------------------- ONNX (layers/onnx_ops.py)


def add_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    inputs = tuple(In(i) for i in range(len(node.inputs)))
    return (Op("Add" if len(inputs) == 2 else "Sum", inputs),)


def concat_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    return (Op("Concat", tuple(In(i) for i in range(len(node.inputs))), {"axis": 1}),)


def mul_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """a · b; a flat gate (m, n_C) scales a map's channels as (m, n_C, 1, 1) (Unsqueeze), as SE's x · s;
    a (1, 1, n_C) gate broadcasts as it is."""
    a, b = row.in_shapes[0], row.in_shapes[1]
    if len(a) == len(b):
        return (Op("Mul", (In(0), In(1))),)
    gate, x = (0, 1) if len(a) == 1 else (1, 0)
    return (Op("Unsqueeze", (In(gate), Const([2, 3]))), Op("Mul", (In(x), Step(0)) if x == 0 else (Step(0), In(x))))


ONNX = {"add": add_onnx, "concat": concat_onnx, "mul": mul_onnx}
