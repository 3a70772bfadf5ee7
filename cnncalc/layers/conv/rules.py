"""Convolution: fields, shape, parameters, MACs and receptive field.

    n_H = ⌊(n_H_prev + p_top + p_bottom − d·(f_H − 1) − 1)/s⌋ + 1   (arith.out_length)
    params = f_H·f_W·(n_C_prev/groups)·n_C + n_C                     (arith.conv_params)
    MACs   = n_H·n_W·n_C·f_H·f_W·(n_C_prev/groups)                   (arith.conv_macs)
"""

from __future__ import annotations

from cnncalc.errors import Phrase, SpecError
from cnncalc.layers import arith, window
from cnncalc.layers.base import Field, Inference, Kind
from cnncalc.layers.memory import FLOAT32, LayerMemory
from cnncalc.shapes import elements
from cnncalc.layers.records import Notation

FIELDS = (
    Field("filters", "pos_int", None, "number of filters n_C (default for depthwise: n_C_prev)",
          aliases=("out_channels", "n_C")),
    Field("kernel", "pair", doc="filter size f, or [f_H, f_W]", aliases=("kernel_size", "f")),
    Field("stride", "pair", 1, "stride s, or [s_H, s_W]", aliases=("s", "strides")),
    Field("padding", "padding", 0, "p, [p_H, p_W], [top, bottom, left, right], 'same' (TensorFlow) or 'valid'",
          aliases=("p", "pad")),
    Field("dilation", "pair", 1, "dilation d, or [d_H, d_W]", aliases=("d", "dilation_rate")),
    Field("groups", "groups", 1, "channel groups; 'depthwise' = one group per input channel"),
    Field("bias", "bool", True, "add a bias per filter", aliases=("use_bias",)),
)

TRAINER = "cnncalc.layers.conv.train"  # the trainer roles of these kinds, for the engine only


def _groups(fields, n_C_prev: int) -> int:
    return n_C_prev if fields["groups"] == "depthwise" else fields["groups"]


def infer(fields, in_shapes, rfs, name, mark, sources):
    in_shape = in_shapes[0]
    window.require_map("conv", name, in_shape, mark, sources[0])
    n_H_prev, n_W_prev, n_C_prev = in_shape
    groups = _groups(fields, n_C_prev)
    n_C = fields["filters"] if fields["filters"] is not None else n_C_prev
    if fields["filters"] is None and fields["groups"] != "depthwise":
        raise SpecError(Phrase("errors.filters", kind="conv"), mark, "filters", None, Phrase("errors.type.pos_int"))
    if n_C_prev % groups or n_C % groups:
        raise _groups_error(name, mark, groups, n_C_prev, n_C)
    f, s, d = fields["kernel"], fields["stride"], fields["dilation"]
    w = window.resolve(fields["padding"], in_shape, f, s, d, groups=groups)
    n_H, n_W, notes = window.slide("conv", name, mark, in_shape, w)
    return Inference(
        out_shape=(n_H, n_W, n_C),
        trainable=arith.conv_params(f[0], f[1], n_C_prev, n_C, groups, fields["bias"]),
        macs=arith.conv_macs(n_H, n_W, n_C, f[0], f[1], n_C_prev, groups),
        other_ops=n_H * n_W * n_C if fields["bias"] else 0,
        rf=rfs[0].step(f[0], f[1], s[0], s[1], d[0], d[1]),
        window=w,
        warnings=notes,
    )


def _groups_error(name, mark, groups: int, n_C_prev: int, n_C: int):
    from cnncalc.render.messages import dimension_error  # the words live in render

    return dimension_error("groups", mark, ("groups.fix", {"divisors": _common_divisors(n_C_prev, n_C)}),
                           layer=name, groups=groups, n_C_prev=n_C_prev, n_C=n_C)


def _common_divisors(a: int, b: int) -> str:
    """The first six common divisors: the divisors of gcd(a, b), found up to its square root."""
    import math

    return ", ".join(map(str, arith.divisors(math.gcd(a, b))[:6]))


def notation(fields, inference) -> Notation:
    return Notation("conv", inference.window, n_C=inference.out_shape[2], bias=fields["bias"],
                    depthwise=fields["groups"] == "depthwise")


def memory(row, m, need_dx, lanes):  # noqa: ARG001 — need_dx: the engine's Conv always keeps a dx buffer
    """out (m, n_C, n_H, n_W) and dx (m, n_C_prev, n_H_prev, n_W_prev) (train.ConvLayer builds kernels.Conv with
    need_dx on), and the workspace of the path the layer takes: what ConvPlan.KEEP names stays the layer's own,
    the rest is leased from the arena. Depthwise and 1×1 layers have one path. For the others tuning.choose picks
    direct, im2col + sgemm or (3×3 stride 1) Winograd: below TUNE_MACS multiply-adds per image, or without SciPy,
    the direct path unmeasured, and so here; CNNCALC_CONV_PATH's forced path likewise; a layer it would measure is
    counted at the largest of its candidates' workspaces (path "max(direct, gemm, …)"), an upper bound."""
    from dataclasses import replace
    from math import prod

    from cnncalc.layers.conv import tuning
    from cnncalc.layers.conv.plan import ConvPlan
    from cnncalc.layers.workspace import ITEMSIZE, lease_bytes

    (n_H_prev, n_W_prev, n_C_prev), (n_H, n_W, n_C) = row.in_shapes[0], row.out_shape
    w = row.window
    plan = ConvPlan(m, n_C_prev, n_H_prev, n_W_prev, n_C, w.f[0], w.f[1], w.s[0], w.s[1], tuple(w.p), w.d[0],
                    w.d[1], w.groups, n_H, n_W, max(1, lanes))

    def split(p, kernel):
        """(bytes kept by the layer, bytes leased from the arena) on that path."""
        shapes = p.workspace_shapes(True, kernel)
        keep = ConvPlan.KEEP.get(kernel, ())
        own = sum(ITEMSIZE[dtype] * prod(shape) for k, (shape, dtype) in shapes.items() if k in keep)  # np.zeros each
        return own, lease_bytes({k: v for k, v in shapes.items() if k not in keep})

    if plan.kernel != "conv2d":
        paths = {plan.kernel: split(plan, plan.kernel)}
    else:
        candidates = ("direct", "gemm", "winograd") if plan.winograd_eligible else ("direct", "gemm")
        forced, blas = tuning.forced_path(), tuning.blas_in_numba()
        if forced != "auto":
            candidates = (forced if forced in candidates and blas else "direct",)
        elif not blas or n_C * n_H * n_W * plan.K < tuning.TUNE_MACS:
            candidates = ("direct",)
        paths = {}
        for path in candidates:
            if path == "direct":
                paths[path] = split(plan, "conv2d")
            elif path == "gemm":
                chunk = tuning.gemm_chunk(plan.share, n_H * n_W, plan.K)
                paths[path] = split(replace(plan, gemm_chunk=chunk), "gemm")
            else:
                chunk = tuning.winograd_chunk(plan.share, plan.tiles[0], n_C_prev, n_C)
                paths[path] = split(replace(plan, winograd_chunk=chunk), "winograd")
    own = max(kept for kept, _ in paths.values())
    scratch = max(leased for _, leased in paths.values())
    path = next(iter(paths)) if len(paths) == 1 else f"max({', '.join(paths)})"
    return LayerMemory(output=FLOAT32 * m * n_C * n_H * n_W, dx=(FLOAT32 * m * n_C_prev * n_H_prev * n_W_prev,),
                       workspace=own, scratch=scratch, path=path)


KIND = Kind("conv", FIELDS, infer, notation,
            "2-D convolution: n_C filters of f_H×f_W×(n_C_prev/groups)",
            aliases=("conv2d", "convolution"), short="filters",
            trainer=TRAINER, memory=memory)


# ---------------------------------------------------------------- transposed convolution

TRANSPOSE_FIELDS = (
    Field("filters", "pos_int", None, "number of output channels n_C (default for depthwise: n_C_prev)",
          aliases=("out_channels", "n_C")),
    Field("kernel", "pair", doc="filter size f, or [f_H, f_W]", aliases=("kernel_size", "f")),
    Field("stride", "pair", 1, "stride s, or [s_H, s_W]: the output grows by s per input pixel",
          aliases=("s", "strides")),
    Field("padding", "padding", 0, "rows cropped from the output: p, [p_H, p_W] or [top, bottom, left, right] "
          "(PyTorch's padding; 'same' is refused)", aliases=("p", "pad")),
    Field("output_padding", "nonneg_int", 0, "rows and columns added after, < max(s, d) (PyTorch's)"),
    Field("dilation", "pair", 1, "dilation d, or [d_H, d_W]", aliases=("d", "dilation_rate")),
    Field("groups", "groups", 1, "channel groups; 'depthwise' = one group per input channel"),
    Field("bias", "bool", True, "add a bias per output channel", aliases=("use_bias",)),
)


def transpose_infer(fields, in_shapes, rfs, name, mark, sources):
    """n_H = (n_H_prev − 1)·s − p_top − p_bottom + d·(f − 1) + output_padding + 1 (arith.transposed_length);
    params = n_C_prev·(n_C/groups)·f_H·f_W + n_C; MACs = n_H_prev·n_W_prev·n_C_prev·(n_C/groups)·f_H·f_W."""
    in_shape = in_shapes[0]
    window.require_map("conv_transpose", name, in_shape, mark, sources[0])
    n_H_prev, n_W_prev, n_C_prev = in_shape
    if fields["filters"] is None and fields["groups"] != "depthwise":
        raise SpecError(Phrase("errors.filters", kind="conv_transpose"), mark, "filters", None,
                        Phrase("errors.type.pos_int"))
    if fields["padding"] == "same":
        raise SpecError(Phrase("errors.transpose_same"), mark, "padding", "same", Phrase("errors.transpose_same.allowed"))
    groups = _groups(fields, n_C_prev)
    n_C = fields["filters"] if fields["filters"] is not None else n_C_prev
    if n_C_prev % groups or n_C % groups:
        raise _groups_error(name, mark, groups, n_C_prev, n_C)
    f, s, d = fields["kernel"], fields["stride"], fields["dilation"]
    op = fields["output_padding"]
    for axis in (0, 1):
        if op >= max(s[axis], d[axis]):
            most = max(s[axis], d[axis])
            raise SpecError(Phrase("errors.output_padding", s=s[axis], d=d[axis], most=most), mark, "output_padding",
                            op, Phrase("errors.output_padding.allowed", below=most - 1))
    w = window.resolve(fields["padding"], in_shape, f, s, d, groups=groups)
    top, bottom, left, right = w.p
    sizes = []
    for i, (axis, n, p_a, p_b) in enumerate((("n_H", n_H_prev, top, bottom), ("n_W", n_W_prev, left, right))):
        rec = arith.transposed_length(n, f[i], s[i], p_a, p_b, d[i], op)
        if rec.n_out < 1:
            from cnncalc.render.messages import dimension_error  # the words live in render

            raise dimension_error("transposed_small", mark, ("transposed_small.fix", {"most": rec.full + op - 1}),
                                  layer=name, axis=axis, n=n, s=rec.s, p_a=p_a, p_b=p_b, d=rec.d, f=rec.f, op=op,
                                  n_out=rec.n_out)
        sizes.append(rec.n_out)
    n_H, n_W = sizes
    return Inference(
        out_shape=(n_H, n_W, n_C),
        trainable=arith.conv_transpose_params(f[0], f[1], n_C_prev, n_C, groups, fields["bias"]),
        macs=arith.conv_transpose_macs(n_H_prev, n_W_prev, n_C_prev, n_C, f[0], f[1], groups),
        other_ops=n_H * n_W * n_C if fields["bias"] else 0,
        rf=rfs[0].transposed_step(f[0], f[1], s[0], s[1], d[0], d[1]),
        window=w,
    )


def transpose_notation(fields, inference) -> Notation:
    return Notation("conv_transpose", inference.window, n_C=inference.out_shape[2], bias=fields["bias"],
                    depthwise=fields["groups"] == "depthwise", value=fields["output_padding"])


def _transpose_memory(row, m, need_dx, lanes):  # noqa: ARG001 — Kind.memory's signature
    """out (m, …) and, when the producer wants a gradient, dx (m, …) (train.ConvTransposeLayer); backward reads
    its input, the previous layer's output."""
    return LayerMemory(output=FLOAT32 * m * elements(row.out_shape),
                       dx=(FLOAT32 * m * elements(row.in_shapes[0]) if need_dx[0] else 0,))


CONV_TRANSPOSE = Kind("conv_transpose", TRANSPOSE_FIELDS, transpose_infer, transpose_notation,
                      "2-D transposed convolution (PyTorch's ConvTranspose2d): each input pixel scatters an "
                      "f_H×f_W×(n_C/groups) filter, s apart",
                      aliases=("conv_transpose2d", "convtranspose2d", "deconv", "conv2d_transpose"),
                      short="filters", trainer=TRAINER, memory=_transpose_memory)
