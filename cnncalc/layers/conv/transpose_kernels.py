"""Transposed-convolution kernels for the trainer: the direct scatter form in Numba, no BLAS.

Arrays are float32, C-contiguous, NCHW as in PyTorch's ConvTranspose2d, so weights move unchanged:
    x:    (m, n_C_prev, n_H_prev, n_W_prev)
    W:    (n_C_prev, n_C // groups, f_H, f_W)       (PyTorch's layout: input channels first)
    b:    (n_C,), or a zero-length array for none (the Python wrappers also take None)
    out:  (m, n_C, n_H, n_W); n_H, n_W from arith.transposed_length, read from out's shape
    pads (p_top, p_left) are the rows and columns cropped before; C_g = n_C_prev // groups,
    n_C_g = n_C // groups; input channel c' of group g = c' // C_g feeds outputs g·n_C_g + r.

With y = h·s_H − p_top + a·d_H and x_ = w·s_W − p_left + b'·d_W (kept where 0 ≤ y < n_H, 0 ≤ x_ < n_W):
forward   out[i, g·n_C_g + r, y, x_] += x[i, c', h, w] · W[c', r, a, b']   (+ b[c] everywhere)
backward  dx[i, c', h, w] = Σ_{r, a, b'} W[c', r, a, b'] · dout[i, g·n_C_g + r, y, x_]   (the adjoint: a gather)
          dW[c', r, a, b'] = Σ_{i, h, w} x[i, c', h, w] · dout[i, g·n_C_g + r, y, x_];  db[c] = Σ dout[i, c]

The forward is a convolution's dx and the dx a convolution's forward (the identity
<conv_transpose(x), y> = <x, conv(y)> the tests check). `prange` runs over images in forward and dx
(each owns its rows of out and dx) and over input channels in dW (each owns W's row c').
This file is self-contained (Numba's cache does not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def conv_transpose_forward_kernel(x, W, b, s_H, s_W, p_top, p_left, d_H, d_W, groups, out):
    """out ← the scatter of x through W, plus b; out: (m, n_C, n_H, n_W), overwritten."""
    m, n_C_prev, n_H_prev, n_W_prev = x.shape
    _, n_C_g, f_H, f_W = W.shape
    _, n_C, n_H, n_W = out.shape
    C_g = n_C_prev // groups
    for i in prange(m):
        for c in range(n_C):
            v = b[c] if b.shape[0] > 0 else np.float32(0.0)
            for y in range(n_H):
                for x_ in range(n_W):
                    out[i, c, y, x_] = v
        for cp in range(n_C_prev):
            g = cp // C_g
            for h in range(n_H_prev):
                for w in range(n_W_prev):
                    v = x[i, cp, h, w]
                    for a in range(f_H):
                        y = h * s_H - p_top + a * d_H
                        if y < 0 or y >= n_H:
                            continue
                        for bb in range(f_W):
                            x_ = w * s_W - p_left + bb * d_W
                            if x_ < 0 or x_ >= n_W:
                                continue
                            for r in range(n_C_g):
                                out[i, g * n_C_g + r, y, x_] += v * W[cp, r, a, bb]


@njit(parallel=True, cache=True)
def conv_transpose_dx_kernel(dout, W, s_H, s_W, p_top, p_left, d_H, d_W, groups, dx):
    """dx ← the gather of dout through W (the forward's adjoint); dx: (m, n_C_prev, n_H_prev, n_W_prev)."""
    m, n_C_prev, n_H_prev, n_W_prev = dx.shape
    _, n_C_g, f_H, f_W = W.shape
    _, n_C, n_H, n_W = dout.shape
    C_g = n_C_prev // groups
    for i in prange(m):
        for cp in range(n_C_prev):
            g = cp // C_g
            for h in range(n_H_prev):
                for w in range(n_W_prev):
                    total = np.float32(0.0)
                    for a in range(f_H):
                        y = h * s_H - p_top + a * d_H
                        if y < 0 or y >= n_H:
                            continue
                        for bb in range(f_W):
                            x_ = w * s_W - p_left + bb * d_W
                            if x_ < 0 or x_ >= n_W:
                                continue
                            for r in range(n_C_g):
                                total += W[cp, r, a, bb] * dout[i, g * n_C_g + r, y, x_]
                    dx[i, cp, h, w] = total


@njit(parallel=True, cache=True)
def conv_transpose_dw_kernel(x, dout, s_H, s_W, p_top, p_left, d_H, d_W, groups, dW, db):
    """dW ← Σ over images and input pixels of x · dout at the pixels it reached; db ← Σ dout per channel
    (db zero-length: none). dW: (n_C_prev, n_C_g, f_H, f_W), overwritten."""
    m, n_C_prev, n_H_prev, n_W_prev = x.shape
    _, n_C_g, f_H, f_W = dW.shape
    _, n_C, n_H, n_W = dout.shape
    C_g = n_C_prev // groups
    for cp in prange(n_C_prev):
        g = cp // C_g
        for r in range(n_C_g):
            for a in range(f_H):
                for bb in range(f_W):
                    total = np.float32(0.0)
                    for i in range(m):
                        for h in range(n_H_prev):
                            y = h * s_H - p_top + a * d_H
                            if y < 0 or y >= n_H:
                                continue
                            for w in range(n_W_prev):
                                x_ = w * s_W - p_left + bb * d_W
                                if 0 <= x_ < n_W:
                                    total += x[i, cp, h, w] * dout[i, g * n_C_g + r, y, x_]
                    dW[cp, r, a, bb] = total
    for c in range(db.shape[0]):
        total = np.float32(0.0)
        for i in range(m):
            for y in range(n_H):
                for x_ in range(n_W):
                    total += dout[i, c, y, x_]
        db[c] = total


_NONE = np.zeros(0, np.float32)


def conv_transpose_forward(x, W, b, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1,
                           output_padding=0, *, out=None):
    """x: (m, n_C_prev, n_H_prev, n_W_prev), W: (n_C_prev, n_C // groups, f_H, f_W), b: (n_C,) or None
    → (out, cache), out: (m, n_C, n_H, n_W) with n_H = arith.transposed_length(...).n_out (computed here
    when out is None, else read from out)."""
    x = np.ascontiguousarray(x, np.float32)
    W = np.ascontiguousarray(W, np.float32)
    if out is None:
        from cnncalc.layers import arith

        n_H = arith.transposed_length(x.shape[2], W.shape[2], stride[0], pads[0], pads[1], dilation[0],
                                      output_padding).n_out
        n_W = arith.transposed_length(x.shape[3], W.shape[3], stride[1], pads[2], pads[3], dilation[1],
                                      output_padding).n_out
        out = np.empty((x.shape[0], W.shape[1] * groups, n_H, n_W), np.float32)
    b_ = _NONE if b is None else np.ascontiguousarray(b, np.float32)
    geometry = (stride[0], stride[1], pads[0], pads[2], dilation[0], dilation[1], groups)
    conv_transpose_forward_kernel(x, W, b_, *geometry, out)
    return out, (x, W, b is not None, geometry)


def conv_transpose_backward(dout, cache, *, dx=None, need_dx=True):
    """(dx, dW, db) for the cache of conv_transpose_forward; dx None unless need_dx, db None without bias."""
    x, W, has_bias, geometry = cache
    dout = np.ascontiguousarray(dout, np.float32)
    dW = np.empty_like(W)
    db = np.empty(dout.shape[1], np.float32) if has_bias else _NONE
    conv_transpose_dw_kernel(x, dout, *geometry, dW, db)
    if need_dx:
        if dx is None:
            dx = np.empty_like(x)
        conv_transpose_dx_kernel(dout, W, *geometry, dx)
    return (dx if need_dx else None), dW, (db if has_bias else None)
