"""Merges of several inputs: element-wise add (residual) and channel concat (inception, dense nets).

add: every input has the same shape; (k − 1) additions per output element for k inputs.
concat: the same n_H×n_W; n_C = Σ n_C_i (flat vectors: n = Σ n_i).
The receptive field is the widest over the incoming paths.
"""

from __future__ import annotations

from cnncalc.errors import DimensionError
from cnncalc.layers.base import Inference, Kind, fixed_notation
from cnncalc.shapes import elements, is_map, shape_text

TRAINER = "cnncalc.layers.merge.train"  # the trainer roles of these kinds, for the engine only


def _widest(rfs):
    rf = rfs[0]
    for other in rfs[1:]:
        rf = rf.widest(other)
    return rf


def _add_infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    first = in_shapes[0]
    for i, shape in enumerate(in_shapes[1:], start=1):
        if shape != first:
            raise DimensionError(
                f"{name}: add needs equal shapes but {sources[0]} gives {shape_text(first)} "
                f"and {sources[i]} gives {shape_text(shape)}", mark,
                fix="project the shortcut with a 1×1 conv (matching stride and filters)")
    return Inference(out_shape=first, other_ops=(len(in_shapes) - 1) * elements(first), rf=_widest(rfs))


def _concat_infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    first = in_shapes[0]
    for i, shape in enumerate(in_shapes[1:], start=1):
        if is_map(shape) != is_map(first) or (is_map(first) and shape[:2] != first[:2]):
            raise DimensionError(
                f"{name}: concat needs equal n_H×n_W but {sources[0]} gives {shape_text(first)} "
                f"and {sources[i]} gives {shape_text(shape)}", mark,
                fix="give every branch the same stride and padding ('same' keeps n_H×n_W)")
    total = sum(shape[-1] for shape in in_shapes)
    out = (first[0], first[1], total) if is_map(first) else (total,)
    return Inference(out_shape=out, rf=_widest(rfs))


ADD = Kind("add", (), _add_infer, fixed_notation("add"),
           "element-wise sum of its inputs (residual connections)", aliases=("sum", "residual"),
           n_inputs="many",
           trainer=TRAINER)
CONCAT = Kind("concat", (), _concat_infer, fixed_notation("concat"),
              "stack its inputs along the channels", aliases=("concatenate", "cat"), n_inputs="many",
              trainer=TRAINER)

KINDS = (ADD, CONCAT)
