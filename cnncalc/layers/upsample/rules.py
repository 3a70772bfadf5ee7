"""Upsampling: nearest and bilinear (PyTorch's align_corners=False rule), by an integer scale or to a size.

    n_H = n_H_prev·scale (and n_W), or the given size [n_H, n_W]; n_C unchanged; no parameters.
    nearest:  output row y reads input row ⌊y·n_H_prev/n_H⌋ (PyTorch's index rule)
    bilinear: output row y sits at src = max((y + ½)·n_H_prev/n_H − ½, 0) and mixes rows ⌊src⌋ and
              ⌊src⌋ + 1 (the last row repeated at the edge)
Other ops: 1 read per output element (nearest), 4 weighted reads per output element (bilinear).
Receptive field: nearest reads one input pixel per output, r_out = r_in; bilinear two neighbours
per axis, r_out = r_in + j_in; the jump j_in·n_prev/n is rounded up (an upper bound after it).
"""

from __future__ import annotations

from cnncalc.errors import Phrase, SpecError
from cnncalc.layers import window
from cnncalc.layers.arith import ReceptiveField, bounded
from cnncalc.layers.base import Field, Inference, Kind
from cnncalc.layers.memory import LayerMemory, elementwise
from cnncalc.layers.records import Notation

TRAINER = "cnncalc.layers.upsample.train"  # the trainer roles of this kind, for the engine only

MODES = ("nearest", "bilinear")
OPS_PER_ELEMENT = {"nearest": 1, "bilinear": 4}

FIELDS = (
    Field("scale", "pos_int", None, "integer scale factor s: n_H = n_H_prev·s, n_W = n_W_prev·s",
          aliases=("scale_factor",)),
    Field("size", "pair", None, "output size n_H or [n_H, n_W] (instead of scale)"),
    Field("mode", "choice", "nearest", "interpolation: nearest or bilinear (align_corners=False)",
          choices=MODES),
)


def infer(fields, in_shapes, rfs, name, mark, sources):
    in_shape = in_shapes[0]
    window.require_map("upsample", name, in_shape, mark, sources[0])
    n_H_prev, n_W_prev, n_C = in_shape
    scale, size = fields["scale"], fields["size"]
    if (scale is None) == (size is None):
        raise SpecError(Phrase("errors.upsample"), mark, "scale" if scale is None else "size",
                        scale if size is None else size, Phrase("errors.upsample.allowed"))
    n_H, n_W = (n_H_prev * scale, n_W_prev * scale) if size is None else size
    rf = rfs[0]
    reach = 1 if fields["mode"] == "bilinear" else 0  # the neighbours beyond the first that one output mixes
    return Inference(
        out_shape=(n_H, n_W, n_C),
        other_ops=OPS_PER_ELEMENT[fields["mode"]] * n_H * n_W * n_C,
        rf=ReceptiveField(bounded(rf.r_H + reach * rf.j_H), bounded(rf.r_W + reach * rf.j_W),
                          -(-rf.j_H * n_H_prev // n_H), -(-rf.j_W * n_W_prev // n_W)),
    )


def notation(fields, inference) -> Notation:  # noqa: ARG001 — Kind.notation's signature
    return Notation("upsample", value=fields["scale"], label=fields["mode"])


def memory(row, m, need_dx, lanes):
    """out and dx (m, …), and the kernels' tables, kept by the layer: per output row and column two int64 source
    indices and a float32 weight (kernels.tables), 20·(n_H + n_W) bytes."""
    base = elementwise(row, m, need_dx, lanes)
    n_H, n_W = row.out_shape[0], row.out_shape[1]
    return LayerMemory(output=base.output, dx=base.dx, workspace=(8 + 8 + 4) * (n_H + n_W))


KIND = Kind("upsample", FIELDS, infer, notation,
            "upsampling by an integer scale or to a size, nearest or bilinear (PyTorch's nn.Upsample)",
            aliases=("upsampling", "upsampling2d", "interpolate"), short="scale", trainer=TRAINER, memory=memory)

KINDS = (KIND,)
