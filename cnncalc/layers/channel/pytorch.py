"""The PyTorch equivalents of channel_slice and channel_shuffle (imported only where torch is wanted)."""

from __future__ import annotations

from torch import nn


class ChannelSlice(nn.Module):
    """x[:, start:stop], Python's slice; ShuffleNetV2's x.chunk(2, dim=1) is two of them."""

    def __init__(self, start, stop):
        super().__init__()
        self.channels = slice(start, stop)

    def forward(self, x):
        return x[:, self.channels]


class ChannelShuffle(nn.Module):
    """torchvision's shufflenetv2.channel_shuffle: view(m, g, n_C/g, …).transpose(1, 2).reshape."""

    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        m, n_C = x.shape[:2]
        return x.reshape(m, self.groups, n_C // self.groups, *x.shape[2:]).transpose(1, 2).reshape(x.shape)
