"""Merges of several inputs: element-wise add (residual), channel concat (inception, dense nets) and
element-wise product (the squeeze-and-excitation gate).

add: every input has the same shape; (k − 1) additions per output element for k inputs.
concat: the same n_H×n_W; n_C = Σ n_C_i (flat vectors: n = Σ n_i).
mul: two inputs of one shape, or an n_H×n_W×n_C map and a gate of its n_C channels, (n_C,) or
     1×1×n_C, broadcast over n_H×n_W (PyTorch's x * s, s: (m, n_C, 1, 1)); one multiplication per
     output element.
The receptive field is the widest over the incoming paths.
"""

from __future__ import annotations

from cnncalc.layers.base import Inference, Kind, fixed_notation
from cnncalc.layers.memory import FLOAT32, LayerMemory
from cnncalc.shapes import elements, is_map, shape_text

TRAINER = "cnncalc.layers.merge.train"  # the trainer roles of these kinds, for the engine only


def _widest(rfs):
    rf = rfs[0]
    for other in rfs[1:]:
        rf = rf.widest(other)
    return rf


def _shapes_error(key, name, mark, a, shape_a, b, shape_b, fix=None):
    from cnncalc.render.messages import dimension_error  # the words live in render

    return dimension_error(key, mark, fix or (f"{key}.fix", {}), layer=name, a=a, shape_a=shape_text(shape_a), b=b,
                           shape_b=shape_text(shape_b))


def _add_infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    first = in_shapes[0]
    for i, shape in enumerate(in_shapes[1:], start=1):
        if shape != first:
            raise _shapes_error("add_shapes", name, mark, sources[0], first, sources[i], shape)
    return Inference(out_shape=first, other_ops=(len(in_shapes) - 1) * elements(first), rf=_widest(rfs))


def _concat_infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    first = in_shapes[0]
    for i, shape in enumerate(in_shapes[1:], start=1):
        if is_map(shape) != is_map(first) or (is_map(first) and shape[:2] != first[:2]):
            raise _shapes_error("concat_shapes", name, mark, sources[0], first, sources[i], shape)
    total = sum(shape[-1] for shape in in_shapes)
    out = (first[0], first[1], total) if is_map(first) else (total,)
    return Inference(out_shape=out, rf=_widest(rfs))


def _mul_infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    if len(in_shapes) != 2:
        from cnncalc.render.messages import dimension_error  # the words live in render

        raise dimension_error("mul_count", mark, ("mul_count.fix", {}), layer=name, count=len(in_shapes),
                              sources=", ".join(sources))
    a, b = in_shapes
    if a == b:
        out = a
    else:
        out, gate = (a, b) if elements(a) >= elements(b) else (b, a)
        if not (is_map(out) and gate in ((out[2],), (1, 1, out[2]))):
            fix = ("mul_shapes.fix_gate", {"n_C": out[-1]}) if is_map(out) else ("mul_shapes.fix", {})
            raise _shapes_error("mul_shapes", name, mark, sources[0], a, sources[1], b, fix)
    return Inference(out_shape=out, other_ops=elements(out), rf=_widest(rfs))


def _add_memory(row, m, need_dx, lanes):  # noqa: ARG001 — Kind.memory's signature
    """out (m, …) alone: every input's gradient is dout itself (train.AddLayer)."""
    return LayerMemory(output=FLOAT32 * m * elements(row.out_shape), dx=tuple(0 for _ in row.in_shapes),
                       passes_gradient=True)


ADD = Kind("add", (), _add_infer, fixed_notation("add"),
           "element-wise sum of its inputs (residual connections)", aliases=("sum", "residual"),
           n_inputs="many",
           trainer=TRAINER, memory=_add_memory)
CONCAT = Kind("concat", (), _concat_infer, fixed_notation("concat"),
              "stack its inputs along the channels", aliases=("concatenate", "cat"), n_inputs="many",
              trainer=TRAINER)

MUL = Kind("mul", (), _mul_infer, fixed_notation("mul"),
           "element-wise product of two inputs; a gate of n_C values scales each channel of a map",
           aliases=("multiply",), n_inputs="many",
           trainer=TRAINER)

KINDS = (ADD, CONCAT, MUL)
