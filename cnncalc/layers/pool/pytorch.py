"""The PyTorch equivalents of the pooling kinds (imported only where torch is wanted)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Pool2d(nn.Module):
    """F.max_pool2d / F.avg_pool2d with only the options given (`options`); the rest are torch's
    defaults. Asymmetric padding goes through F.pad: -inf for max, zeros for average (the divisor then
    counts the padding; without count_include_pad it is the real pixels, the same pool of a padded mask)."""

    def __init__(self, kind, kernel, pads, options):
        super().__init__()
        self.kind, self.kernel, self.pads, self.options = kind, kernel, pads, options

    def forward(self, x):
        t, b, l, r = self.pads
        pool = F.max_pool2d if self.kind == "maxpool" else F.avg_pool2d
        if t == b and l == r:
            padding = {"padding": (t, l)} if any(self.pads) else {}
            return pool(x, self.kernel, **padding, **self.options)
        if self.options.get("ceil_mode"):
            raise NotImplementedError("asymmetric padding with ceil mode")
        stride = self.options.get("stride")
        if self.kind == "maxpool":
            return F.max_pool2d(F.pad(x, (l, r, t, b), value=-float("inf")), self.kernel, stride)
        total = F.avg_pool2d(F.pad(x, (l, r, t, b)), self.kernel, stride)
        if self.options.get("count_include_pad", True):
            return total
        ones = F.pad(torch.ones_like(x[:1, :1]), (l, r, t, b))
        return total / F.avg_pool2d(ones, self.kernel, stride)


class GlobalPool(nn.Module):
    """global_avgpool / global_maxpool: the mean, or adaptive_max_pool2d to 1×1 (its gradient goes to the
    first maximum, as ours; amax would share it between ties), flat (m, n_C) unless keep_dims."""

    def __init__(self, kind, keep_dims):
        super().__init__()
        self.kind, self.keep_dims = kind, keep_dims

    def forward(self, x):
        y = x.mean((2, 3), keepdim=True) if self.kind == "global_avgpool" else F.adaptive_max_pool2d(x, 1)
        return y if self.keep_dims else y.flatten(1)
