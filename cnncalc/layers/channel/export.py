"""channel_slice and channel_shuffle as exported PyTorch source (layers/source.py): pytorch.py's
ChannelSlice (x[:, start:stop]) and ChannelShuffle (torchvision's shufflenetv2.channel_shuffle)."""

from __future__ import annotations

from cnncalc.layers.source import SourceRecord, call

HELPERS = "cnncalc.layers.channel.pytorch"


def channel_slice(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord(call("ChannelSlice", node.fields["start"], node.fields["stop"]), ((HELPERS, "ChannelSlice"),))


def channel_shuffle(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord(call("ChannelShuffle", node.fields["groups"]), ((HELPERS, "ChannelShuffle"),))


SOURCES = {"channel_slice": channel_slice, "channel_shuffle": channel_shuffle}
