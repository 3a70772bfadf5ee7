"""Inverted dropout: zero each element with probability rate, scale the rest by 1/(1 − rate)."""

from __future__ import annotations

import numpy as np


def dropout_forward(x, rate, rng, train):
    """Returns (out, mask); the mask comes from the caller's numpy Generator, so a seed reproduces it."""
    if not train or rate == 0.0:
        return x, None
    mask = (rng.random(x.shape, dtype=np.float32) >= rate).astype(np.float32) / np.float32(1.0 - rate)
    return x * mask, mask


def dropout_backward(dout, mask):
    return dout if mask is None else dout * mask
