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


class CroppedConvTranspose2d(nn.ConvTranspose2d):
    """nn.ConvTranspose2d with an asymmetric crop (top, bottom, left, right): computed uncropped, then
    sliced (rows past the full scatter, from output_padding, get the bias alone, as PyTorch's do)."""

    def __init__(self, pads, output_padding, *args, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads, self.extra = pads, output_padding

    def forward(self, x):
        t, b, l, r = self.pads
        full = F.conv_transpose2d(x, self.weight, None, self.stride, 0, 0, self.groups, self.dilation)
        full = F.pad(full, (0, self.extra, 0, self.extra))
        out = full[:, :, t:full.shape[2] - b, l:full.shape[3] - r]
        return out if self.bias is None else out + self.bias.view(1, -1, 1, 1)


def conv_transpose2d(row, options) -> nn.Module:
    """nn.ConvTranspose2d given the stated options; weights map by name: <layer>.weight
    (n_C_prev, n_C/groups, f_H, f_W), <layer>.bias (n_C,). An asymmetric padding crops explicitly."""
    n_C_prev = row.in_shapes[0][-1]
    kw = {k: options[k] for k in ("stride", "dilation", "bias") if k in options}
    if "groups" in options:
        kw["groups"] = row.window.groups
    t, b, l, r = row.window.p if "padding" in options else (0, 0, 0, 0)
    op = options.get("output_padding", 0)
    if t == b and l == r:
        if "padding" in options:
            kw["padding"] = (t, l)
        if "output_padding" in options:
            kw["output_padding"] = op
        return nn.ConvTranspose2d(n_C_prev, row.out_shape[2], options["kernel"], **kw)
    return CroppedConvTranspose2d((t, b, l, r), op, n_C_prev, row.out_shape[2], options["kernel"], **kw)
