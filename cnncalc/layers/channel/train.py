"""channel_slice and channel_shuffle in the trainer: element-wise adapters over the kernels' pairs and
their PyTorch twins. They only move values, so an activation asking for He's gain sees through them."""

from __future__ import annotations

from cnncalc.layers.adapter import Elementwise, InitRole, Trainer, no_memory, no_tensors
from cnncalc.layers.channel import kernels as chan_k


class ChannelSliceLayer(Elementwise):
    forward_fn, backward_fn = chan_k.channel_slice_forward, chan_k.channel_slice_backward
    args = ("start", "stop")


class ChannelShuffleLayer(Elementwise):
    forward_fn, backward_fn = chan_k.channel_shuffle_forward, chan_k.channel_shuffle_backward
    args = ("groups",)


def _slice_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from cnncalc.layers.channel.pytorch import ChannelSlice

    return ChannelSlice(options.get("start"), options["stop"])  # an unstated start is Python's own (0)


def _shuffle_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from cnncalc.layers.channel.pytorch import ChannelShuffle

    return ChannelShuffle(options["groups"])


SEEN_THROUGH = InitRole(fans=None, gain=None, see_through=True)

TRAINERS = {
    "channel_slice": Trainer(ChannelSliceLayer, no_tensors, SEEN_THROUGH, no_memory, _slice_module),
    "channel_shuffle": Trainer(ChannelShuffleLayer, no_tensors, SEEN_THROUGH, no_memory, _shuffle_module),
}
