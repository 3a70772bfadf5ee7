"""Pooling kernels for the trainer (float32, NCHW), each forward beside its backward.

    x: (m, n_C, n_H_prev, n_W_prev) → out: (m, n_C, n_H, n_W), n_H and n_W from arith.out_length
    window (h, w) covers rows h·s_H − p_top … + f_H − 1 and columns w·s_W − p_left … + f_W − 1;
    positions outside the input are padding (−∞ for max, 0 for average), so ceil-mode windows
    that hang over the bottom/right edge work as in PyTorch.

avg pool divides by f_H·f_W when count_include_pad (PyTorch's default) counting the padding
but not the part of a ceil-mode window beyond the padding, else by the input positions covered.
Self-contained file; `prange` over the batch, each iteration owning its slice.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def maxpool_forward(x, f_H, f_W, s_H, s_W, p_top, p_left, out, argmax):
    """out[i, c, h, w] = max of the window; argmax keeps the flat index y·n_W_prev + x of the winner."""
    m, n_C, n_H_prev, n_W_prev = x.shape
    n_H, n_W = out.shape[2], out.shape[3]
    for i in prange(m):
        for c in range(n_C):
            for h in range(n_H):
                y0 = h * s_H - p_top
                for w in range(n_W):
                    x0 = w * s_W - p_left
                    best = -np.inf
                    where = -1
                    for a in range(f_H):
                        y = y0 + a
                        if y < 0 or y >= n_H_prev:
                            continue
                        for b in range(f_W):
                            xx = x0 + b
                            if 0 <= xx < n_W_prev:
                                v = x[i, c, y, xx]
                                # NaN wins and stays, as in PyTorch, so a diverging run is noticed
                                if where < 0 or v > best or (v != v and best == best):
                                    best = v
                                    where = y * n_W_prev + xx
                    out[i, c, h, w] = best
                    argmax[i, c, h, w] = where


@njit(parallel=True, cache=True)
def maxpool_backward(dout, argmax, dx):
    """dx gets each dout at the position that won its window."""
    m, n_C, n_H, n_W = dout.shape
    n_W_prev = dx.shape[3]
    for i in prange(m):
        dx[i] = 0.0
        for c in range(n_C):
            for h in range(n_H):
                for w in range(n_W):
                    k = argmax[i, c, h, w]
                    if k >= 0:
                        dx[i, c, k // n_W_prev, k % n_W_prev] += dout[i, c, h, w]


@njit(cache=True)
def _divisor(y0, x0, f_H, f_W, n_H_prev, n_W_prev, p_bottom, p_right, include_pad):
    if include_pad:  # window clipped to the padded input, as PyTorch counts it
        y1 = min(y0 + f_H, n_H_prev + p_bottom)
        x1 = min(x0 + f_W, n_W_prev + p_right)
        return (y1 - y0) * (x1 - x0)
    return (min(y0 + f_H, n_H_prev) - max(y0, 0)) * (min(x0 + f_W, n_W_prev) - max(x0, 0))


@njit(parallel=True, cache=True)
def avgpool_forward(x, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left, p_right, include_pad, out):
    """out = Σ window / divisor (see the module docstring)."""
    m, n_C, n_H_prev, n_W_prev = x.shape
    n_H, n_W = out.shape[2], out.shape[3]
    for i in prange(m):
        for c in range(n_C):
            for h in range(n_H):
                y0 = h * s_H - p_top
                for w in range(n_W):
                    x0 = w * s_W - p_left
                    total = 0.0
                    for y in range(max(y0, 0), min(y0 + f_H, n_H_prev)):
                        for xx in range(max(x0, 0), min(x0 + f_W, n_W_prev)):
                            total += x[i, c, y, xx]
                    out[i, c, h, w] = total / _divisor(y0, x0, f_H, f_W, n_H_prev, n_W_prev, p_bottom, p_right,
                                                       include_pad)


@njit(parallel=True, cache=True)
def avgpool_backward(dout, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left, p_right, include_pad, dx):
    """dx gets dout / divisor at every input position of the window."""
    m, n_C, n_H, n_W = dout.shape
    n_H_prev, n_W_prev = dx.shape[2], dx.shape[3]
    for i in prange(m):
        dx[i] = 0.0
        for c in range(n_C):
            for h in range(n_H):
                y0 = h * s_H - p_top
                for w in range(n_W):
                    x0 = w * s_W - p_left
                    g = dout[i, c, h, w] / _divisor(y0, x0, f_H, f_W, n_H_prev, n_W_prev, p_bottom, p_right,
                                                    include_pad)
                    for y in range(max(y0, 0), min(y0 + f_H, n_H_prev)):
                        for xx in range(max(x0, 0), min(x0 + f_W, n_W_prev)):
                            dx[i, c, y, xx] += g


def global_avgpool_forward(x):
    """x: (m, n_C, n_H, n_W) → (m, n_C): the mean over n_H·n_W."""
    return x.mean(axis=(2, 3), dtype=np.float32)


def global_avgpool_backward(dout, in_shape):
    """dout: (m, n_C) → dx: every position gets dout / (n_H·n_W)."""
    m, n_C, n_H, n_W = in_shape
    return np.broadcast_to((dout / np.float32(n_H * n_W))[:, :, None, None], in_shape).astype(np.float32)
