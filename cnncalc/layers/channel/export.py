"""channel_slice and channel_shuffle as exported PyTorch source (layers/source.py): pytorch.py's
ChannelSlice (x[:, start:stop]) and ChannelShuffle (torchvision's shufflenetv2.channel_shuffle)."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import Const, In, Op, Step
from cnncalc.layers.source import SourceRecord, call

HELPERS = "cnncalc.layers.channel.pytorch"


def channel_slice(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord(call("ChannelSlice", node.fields["start"], node.fields["stop"]), ((HELPERS, "ChannelSlice"),))


def channel_shuffle(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord(call("ChannelShuffle", node.fields["groups"]), ((HELPERS, "ChannelShuffle"),))


SOURCES = {"channel_slice": channel_slice, "channel_shuffle": channel_shuffle}


# ---------------------------------------------------------------- ONNX (layers/onnx_ops.py)


def channel_slice_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """Slice(x, [start], [stop], axes=[1]): channels start … stop − 1."""
    return (Op("Slice", (In(0), Const([node.fields["start"]]), Const([node.fields["stop"]]), Const([1]))),)


def channel_shuffle_onnx(node, row) -> tuple[Op, ...]:
    """The reshape-transpose-reshape of torchvision's channel_shuffle: (m, g, n_C/g, n_H, n_W), swap the
    two channel axes, back to (m, n_C, n_H, n_W); 0 in a Reshape keeps that axis (the batch)."""
    n_H, n_W, n_C = row.out_shape
    g = node.fields["groups"]
    return (Op("Reshape", (In(0), Const([0, g, n_C // g, n_H, n_W]))),
            Op("Transpose", (Step(0),), {"perm": [0, 2, 1, 3, 4]}),
            Op("Reshape", (Step(1), Const([0, n_C, n_H, n_W]))))


ONNX = {"channel_slice": channel_slice_onnx, "channel_shuffle": channel_shuffle_onnx}
