"""The PyTorch equivalents of add, concat and mul (imported only where torch is wanted)."""

from __future__ import annotations

import torch
from torch import nn


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, 1)


class Mul(nn.Module):
    """a * b; a gate (m, n_C) or (m, n_C, 1, 1) scales the channels of a map, as SE's x * s."""

    def forward(self, a, b):
        if a.shape != b.shape:
            x, s = (a, b) if a.numel() >= b.numel() else (b, a)
            return x * s.reshape(s.shape[0], s.shape[1], 1, 1)
        return a * b
