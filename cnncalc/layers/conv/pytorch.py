"""The PyTorch equivalent of a conv layer (imported only where torch is wanted)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import nn


class PaddedConv2d(nn.Conv2d):
    """nn.Conv2d after an explicit (top, bottom, left, right) zero padding: 'same' with even kernels."""

    def __init__(self, pads, *args, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads

    def forward(self, x):
        t, b, l, r = self.pads
        return super().forward(F.pad(x, (l, r, t, b)))


def conv2d(row, options) -> nn.Module:
    """options: the conv fields to pass on (the others are left to torch's defaults); the padding
    comes from the analysis ('same' resolved) when options has one. Weights map by name:
    <layer>.weight (n_C, n_C_prev/groups, f_H, f_W), <layer>.bias (n_C,)."""
    n_C_prev = row.in_shapes[0][-1]
    kw = {"stride": options["stride"]} if "stride" in options else {}
    if "dilation" in options:
        kw["dilation"] = options["dilation"]
    if "groups" in options:
        kw["groups"] = row.window.groups
    if "bias" in options:
        kw["bias"] = options["bias"]
    pads = row.window.p if "padding" in options else (0, 0, 0, 0)
    return PaddedConv2d(pads, n_C_prev, row.out_shape[2], options["kernel"], **kw)
