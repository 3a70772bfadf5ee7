"""Upsampling kernels for the trainer: one separable interpolation in Numba for both modes.

    x:   (m, n_C, n_H_prev, n_W_prev)      out: (m, n_C, n_H, n_W)
    rows (along H, and the same along W): i0, i1 (int64, (n_H,)) the two input rows output row y mixes,
    lam (float32, (n_H,)) the weight of i1:  nearest i0 = i1 = ⌊y·n_H_prev/n_H⌋, lam = 0;
    bilinear (align_corners=False) src = max((y + ½)·n_H_prev/n_H − ½, 0), i0 = ⌊src⌋,
    i1 = min(i0 + 1, n_H_prev − 1), lam = src − i0.
forward   out[i, c, y, x_] = (1 − ly)·((1 − lx)·x[i0y, i0x] + lx·x[i0y, i1x]) + ly·((1 − lx)·x[i1y, i0x] + lx·x[i1y, i1x])
backward  dx is the adjoint: each dout[i, c, y, x_] is added back to the four pixels with the same weights.
`prange` over images: image i owns out[i] and dx[i]. This file is self-contained (Numba's cache).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


def axis_table(n_prev: int, n: int, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i0, i1, lam) for one axis, n_prev input and n output positions (see the module docstring)."""
    y = np.arange(n)
    if mode == "nearest":
        i0 = np.minimum((y * n_prev) // n, n_prev - 1)
        return i0.astype(np.int64), i0.astype(np.int64), np.zeros(n, np.float32)
    src = np.maximum((y + 0.5) * (n_prev / n) - 0.5, 0.0)
    i0 = np.floor(src).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_prev - 1)
    return i0, i1, (src - i0).astype(np.float32)


@njit(parallel=True, cache=True)
def upsample_forward_kernel(x, iy0, iy1, ly, ix0, ix1, lx, out):
    m, n_C, n_H, n_W = out.shape
    for i in prange(m):
        for c in range(n_C):
            for y in range(n_H):
                a0, a1, wy = iy0[y], iy1[y], ly[y]
                for x_ in range(n_W):
                    b0, b1, wx = ix0[x_], ix1[x_], lx[x_]
                    top = (1 - wx) * x[i, c, a0, b0] + wx * x[i, c, a0, b1]
                    bottom = (1 - wx) * x[i, c, a1, b0] + wx * x[i, c, a1, b1]
                    out[i, c, y, x_] = (1 - wy) * top + wy * bottom


@njit(parallel=True, cache=True)
def upsample_backward_kernel(dout, iy0, iy1, ly, ix0, ix1, lx, dx):
    m, n_C, n_H, n_W = dout.shape
    for i in prange(m):
        dx[i] = 0.0
        for c in range(n_C):
            for y in range(n_H):
                a0, a1, wy = iy0[y], iy1[y], ly[y]
                for x_ in range(n_W):
                    b0, b1, wx = ix0[x_], ix1[x_], lx[x_]
                    g = dout[i, c, y, x_]
                    dx[i, c, a0, b0] += (1 - wy) * (1 - wx) * g
                    dx[i, c, a0, b1] += (1 - wy) * wx * g
                    dx[i, c, a1, b0] += wy * (1 - wx) * g
                    dx[i, c, a1, b1] += wy * wx * g


def tables(n_H_prev, n_W_prev, n_H, n_W, mode):
    """The row and column tables the kernels take: (iy0, iy1, ly, ix0, ix1, lx)."""
    return axis_table(n_H_prev, n_H, mode) + axis_table(n_W_prev, n_W, mode)


def upsample_forward(x, n_H, n_W, mode="nearest", *, out=None):
    """x: (m, n_C, n_H_prev, n_W_prev) → (out, cache), out: (m, n_C, n_H, n_W)."""
    x = np.ascontiguousarray(x, np.float32)
    m, n_C, n_H_prev, n_W_prev = x.shape
    t = tables(n_H_prev, n_W_prev, n_H, n_W, mode)
    if out is None:
        out = np.empty((m, n_C, n_H, n_W), np.float32)
    upsample_forward_kernel(x, *t, out)
    return out, (x.shape, t)


def upsample_backward(dout, cache, *, dx=None):
    """dout: (m, n_C, n_H, n_W) → dx: (m, n_C, n_H_prev, n_W_prev)."""
    shape, t = cache
    dout = np.ascontiguousarray(dout, np.float32)
    if dx is None:
        dx = np.empty((dout.shape[0],) + tuple(shape[1:]), np.float32)
    upsample_backward_kernel(dout, *t, dx)
    return dx
