"""The PyTorch equivalent of drop_path (imported only where torch is wanted)."""

from __future__ import annotations

import torch
from torch import nn


class DropPath(nn.Module):
    """torchvision.ops.stochastic_depth(x, p, "row"): one Bernoulli(1 − p) draw per sample,
    the kept samples scaled by 1/(1 − p); the identity in eval mode or with p = 0."""

    def __init__(self, p):
        super().__init__()
        self.p = p

    def forward(self, x):
        if not self.training or self.p == 0.0:
            return x
        keep = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), dtype=x.dtype, device=x.device).bernoulli_(1.0 - self.p)
        return x * keep.div_(1.0 - self.p)
