"""Pooling: max and average over windows, global, and adaptive (PyTorch's output-size rule).

    n_H = ⌊(n_H_prev + p_top + p_bottom − f)/s⌋ + 1, or ⌈…⌉ + 1 in ceil mode   (arith.out_length)
    no parameters; the work is the window reads, n_H·n_W·n_C·f_H·f_W.
    adaptive: output i reads ⌊i·n_prev/n⌋ … ⌈(i + 1)·n_prev/n⌉ − 1   (arith.adaptive_length)
"""

from __future__ import annotations

from cnncalc.layers import arith, window
from cnncalc.layers.base import Field, Inference, Kind
from cnncalc.layers.memory import LayerMemory, elementwise
from cnncalc.shapes import elements
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
        window.require_half_kernel_padding(kind, name, mark, w)
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


def _argmax_memory(row, m, need_dx, lanes):
    """out and dx as any window kind, and the int64 index of each output's maximum (m, …), read by backward
    (train.PoolLayer, AdaptiveMaxPoolLayer)."""
    base = elementwise(row, m, need_dx, lanes)
    return LayerMemory(output=base.output, dx=base.dx, kept={"argmax": 8 * m * elements(row.out_shape)})


MAXPOOL = Kind("maxpool", _fields(), _window_infer("maxpool"), _window_notation("maxpool"),
               "max pooling over f_H×f_W windows", aliases=("max_pool", "maxpool2d", "pool"),
               short="kernel",
               trainer=TRAINER, memory=_argmax_memory)

AVGPOOL = Kind("avgpool", _fields((Field("count_include_pad", "bool", True,
                                         "divide by the whole window, padding included (PyTorch's default)"),)),
               _window_infer("avgpool"), _window_notation("avgpool"),
               "average pooling over f_H×f_W windows", aliases=("avg_pool", "avgpool2d", "average_pool"),
               short="kernel",
               trainer=TRAINER)


def _global_infer(kind):
    def infer(fields, in_shapes, rfs, name, mark, sources):
        in_shape = in_shapes[0]
        window.require_map(kind, name, in_shape, mark, sources[0])
        n_H_prev, n_W_prev, n_C = in_shape
        return Inference(
            out_shape=(1, 1, n_C) if fields["keep_dims"] else (n_C,),
            other_ops=n_H_prev * n_W_prev * n_C,
            rf=rfs[0].step(n_H_prev, n_W_prev, 1, 1),  # a window over the whole map,
        )
    return infer


def _global_notation(kind):
    def notation(fields, inference) -> Notation:  # noqa: ARG001 — Kind.notation's signature
        return Notation(kind, output=(1, 1) if fields["keep_dims"] else None)
    return notation


_KEEP_DIMS = Field("keep_dims", "bool", False,
                   "keep the map: output 1×1×n_C (a 1×1 conv can follow, as in squeeze-and-excitation) "
                   "instead of the flat n_C", aliases=("keepdims", "keepdim"))

GLOBAL_AVGPOOL = Kind("global_avgpool", (_KEEP_DIMS,), _global_infer("global_avgpool"),
                      _global_notation("global_avgpool"),
                      "mean over n_H×n_W per channel; the output is the flat vector of n_C means (1×1×n_C "
                      "with keep_dims)",
                      aliases=("gap", "globalavgpool", "global_average_pool"),
                      trainer=TRAINER)

GLOBAL_MAXPOOL = Kind("global_maxpool", (_KEEP_DIMS,), _global_infer("global_maxpool"),
                      _global_notation("global_maxpool"),
                      "maximum over n_H×n_W per channel; the output is the flat vector of n_C maxima (1×1×n_C "
                      "with keep_dims)",
                      aliases=("gmp", "globalmaxpool", "global_max_pool"),
                      trainer=TRAINER, memory=_argmax_memory)


def _adaptive_infer(kind):
    """PyTorch's adaptive pooling to n_H×n_W = `output` (arith.adaptive_length per axis).

    Output (h, w) reads rows ⌊h·n_H_prev/n_H⌋ … ⌈(h + 1)·n_H_prev/n_H⌉ − 1, the same along W.
    Other ops: the window reads, (n_H_prev + n_H − gcd)·(n_W_prev + n_W − gcd)·n_C.
    Receptive field: the widest window and the largest step, r_out = r_in + (f_max − 1)·j_in,
    j_out = j_in·⌈n_prev/n⌉; exact when n_prev % n == 0 (then a plain pool of f = s = n_prev/n),
    otherwise an upper bound (f_max ≤ ⌈n_prev/n⌉ + 1).
    """
    def infer(fields, in_shapes, rfs, name, mark, sources):
        in_shape = in_shapes[0]
        window.require_map(kind, name, in_shape, mark, sources[0])
        n_H_prev, n_W_prev, n_C = in_shape
        n_H, n_W = fields["output"]
        rows, cols = arith.adaptive_length(n_H_prev, n_H), arith.adaptive_length(n_W_prev, n_W)
        return Inference(
            out_shape=(n_H, n_W, n_C),
            other_ops=rows.reads * cols.reads * n_C,
            rf=rfs[0].step(rows.f_max, cols.f_max, rows.s_max, cols.s_max),
        )
    return infer


def _adaptive_notation(kind):
    def notation(fields, inference) -> Notation:  # noqa: ARG001 — Kind.notation's signature
        return Notation(kind, output=fields["output"])
    return notation


_OUTPUT = Field("output", "pair", doc="output size n_H×n_W: n, or [n_H, n_W] (PyTorch's output_size)",
                aliases=("output_size", "size"))

ADAPTIVE_AVGPOOL = Kind("adaptive_avgpool", (_OUTPUT,), _adaptive_infer("adaptive_avgpool"),
                        _adaptive_notation("adaptive_avgpool"),
                        "average over PyTorch's adaptive windows, to an output of n_H×n_W whatever the input",
                        aliases=("adaptiveavgpool2d", "adaptive_avg_pool", "adaptive_avgpool2d"),
                        short="output", trainer=TRAINER)

ADAPTIVE_MAXPOOL = Kind("adaptive_maxpool", (_OUTPUT,), _adaptive_infer("adaptive_maxpool"),
                        _adaptive_notation("adaptive_maxpool"),
                        "maximum over PyTorch's adaptive windows, to an output of n_H×n_W whatever the input",
                        aliases=("adaptivemaxpool2d", "adaptive_max_pool", "adaptive_maxpool2d"),
                        short="output", trainer=TRAINER, memory=_argmax_memory)

KINDS = (MAXPOOL, AVGPOOL, GLOBAL_AVGPOOL, GLOBAL_MAXPOOL, ADAPTIVE_AVGPOOL, ADAPTIVE_MAXPOOL)
