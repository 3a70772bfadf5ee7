"""Pooling: max, average and global average.

    n_H = ⌊(n_H_prev + p_top + p_bottom − f)/s⌋ + 1, or ⌈…⌉ + 1 in ceil mode   (arith.out_length)
    no parameters; the work is the window reads, n_H·n_W·n_C·f_H·f_W.
"""

from __future__ import annotations

from cnncalc.layers import window
from cnncalc.layers.base import Field, Inference, Kind, fixed_notation
from cnncalc.layers.records import Notation

TRAINER = "cnncalc.layers.pool.train"  # the trainer roles of these kinds, for the engine only


def _fields(extra=()):
    return (
        Field("kernel", "pair", doc="window size f, or [f_H, f_W]", aliases=("kernel_size", "f", "pool_size")),
        Field("stride", "pair", None, "stride s (default: the kernel size)", aliases=("s", "strides")),
        Field("padding", "padding", 0, "p, [p_H, p_W], [top, bottom, left, right], 'same' or 'valid'",
              aliases=("p", "pad")),
        Field("ceil_mode", "bool", False, "round the output size up, as torchvision's GoogLeNet does",
              aliases=("ceil",)),
    ) + tuple(extra)


def _window_infer(kind):
    def infer(fields, in_shapes, rfs, name, mark, sources):
        in_shape = in_shapes[0]
        window.require_map(kind, name, in_shape, mark, sources[0])
        f = fields["kernel"]
        s = fields["stride"] if fields["stride"] is not None else f
        w = window.resolve(fields["padding"], in_shape, f, s, ceil=fields["ceil_mode"])
        n_H, n_W, notes = window.slide(kind, name, mark, in_shape, w)
        n_C = in_shape[2]
        return Inference(
            out_shape=(n_H, n_W, n_C),
            other_ops=n_H * n_W * n_C * f[0] * f[1],
            rf=rfs[0].step(f[0], f[1], s[0], s[1]),
            window=w,
            warnings=notes,
        )
    return infer


def _window_notation(kind):
    def notation(fields, inference) -> Notation:
        return Notation(kind, inference.window, count_include_pad=fields.get("count_include_pad", True))
    return notation


MAXPOOL = Kind("maxpool", _fields(), _window_infer("maxpool"), _window_notation("maxpool"),
               "max pooling over f_H×f_W windows", aliases=("max_pool", "maxpool2d", "pool"),
               short="kernel",
               trainer=TRAINER)

AVGPOOL = Kind("avgpool", _fields((Field("count_include_pad", "bool", True,
                                         "divide by the whole window, padding included (PyTorch's default)"),)),
               _window_infer("avgpool"), _window_notation("avgpool"),
               "average pooling over f_H×f_W windows", aliases=("avg_pool", "avgpool2d", "average_pool"),
               short="kernel",
               trainer=TRAINER)


def _global_infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    in_shape = in_shapes[0]
    window.require_map("global_avgpool", name, in_shape, mark, sources[0])
    n_H_prev, n_W_prev, n_C = in_shape
    return Inference(
        out_shape=(n_C,),
        other_ops=n_H_prev * n_W_prev * n_C,
        rf=rfs[0].step(n_H_prev, n_W_prev, 1, 1),  # a window over the whole map,
    )


GLOBAL_AVGPOOL = Kind("global_avgpool", (), _global_infer, fixed_notation("global_avgpool"),
                      "mean over n_H×n_W per channel; the output is the flat vector of n_C means",
                      aliases=("gap", "globalavgpool", "global_average_pool", "adaptive_avgpool"),
                      trainer=TRAINER)

KINDS = (MAXPOOL, AVGPOOL, GLOBAL_AVGPOOL)
