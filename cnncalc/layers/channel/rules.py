"""Channel operations (ShuffleNetV2): a slice of the channels, and the channel shuffle.

channel_slice {start: a, stop: b}: channels a … b − 1 of the map, Python's half-open [a, b);
    n_H×n_W×n_C_prev → n_H×n_W×(b − a), 0 ≤ a < b ≤ n_C_prev (a flat vector: its entries a … b − 1).
    ShuffleNetV2's x.chunk(2, dim=1) is two slices of one input, [0, n_C/2) and [n_C/2, n_C).
channel_shuffle {groups: g}: PyTorch's view(m, g, n_C/g, n_H, n_W).transpose(1, 2).reshape:
    output channel j·g + i is input channel i·(n_C/g) + j; g must divide n_C.
Both only move values: no parameters, no arithmetic (other ops 0); the receptive field is unchanged.
"""

from __future__ import annotations

from cnncalc.layers.base import Field, Inference, Kind
from cnncalc.layers.records import Notation
from cnncalc.shapes import is_map, shape_text

TRAINER = "cnncalc.layers.channel.train"  # the trainer roles of these kinds, for the engine only


def _with_channels(shape, n_C):
    return (shape[0], shape[1], n_C) if is_map(shape) else (n_C,)


def _slice_infer(fields, in_shapes, rfs, name, mark, sources):
    in_shape = in_shapes[0]
    n_C_prev = in_shape[-1]
    start, stop = fields["start"], fields["stop"]
    if not start < stop <= n_C_prev:
        from cnncalc.render.messages import dimension_error  # the words live in render

        raise dimension_error("channel_slice", mark, ("channel_slice.fix", {"n_C_prev": n_C_prev, "half": n_C_prev // 2}),
                              layer=name, start=start, stop=stop, source=sources[0], shape=shape_text(in_shape),
                              n_C_prev=n_C_prev)
    return Inference(out_shape=_with_channels(in_shape, stop - start), rf=rfs[0])


def _shuffle_infer(fields, in_shapes, rfs, name, mark, sources):
    in_shape = in_shapes[0]
    n_C, g = in_shape[-1], fields["groups"]
    if n_C % g:
        from cnncalc.render.messages import dimension_error  # the words live in render

        raise dimension_error("channel_shuffle", mark, ("channel_shuffle.fix", {"g": g, "n_C": n_C}), layer=name, g=g,
                              source=sources[0], shape=shape_text(in_shape), n_C=n_C, quotient=n_C // g,
                              remainder=n_C % g)
    return Inference(out_shape=in_shape, rf=rfs[0])


CHANNEL_SLICE = Kind(
    "channel_slice",
    (Field("start", "nonneg_int", 0, "first channel a (counted from 0)"),
     Field("stop", "pos_int", doc="one past the last channel b (Python's a:b)")),
    _slice_infer,
    lambda fields, inference: Notation("channel_slice", channels=(fields["start"], fields["stop"])),  # noqa: ARG005
    "channels a … b − 1 of its input, [a, b) as Python slices (ShuffleNetV2's chunk is two slices)",
    aliases=("channels", "slice_channels"),
    trainer=TRAINER)
CHANNEL_SHUFFLE = Kind(
    "channel_shuffle",
    (Field("groups", "pos_int", doc="number of groups g (n_C must divide by g)", aliases=("g",)),),
    _shuffle_infer,
    lambda fields, inference: Notation("channel_shuffle", groups=fields["groups"]),  # noqa: ARG005
    "interleave g groups of channels: output channel j·g + i is input channel i·(n_C/g) + j",
    aliases=("shuffle",), short="groups",
    trainer=TRAINER)

KINDS = (CHANNEL_SLICE, CHANNEL_SHUFFLE)
