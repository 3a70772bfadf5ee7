"""Depthwise convolution (groups = n_C_prev = n_C: one f_H × f_W filter per channel) in Numba.

    x:   (m, n_C, n_H_prev, n_W_prev)     W: (n_C, 1, f_H, f_W)     b: (n_C,) or zero-length (no bias)
    out: (m, n_C, n_H, n_W), n_H and n_W from arith.out_length (read from out's shape)
    stride (s_H, s_W), pads (p_top, p_left; bottom and right are implied by the workspace), dilation (d_H, d_W)

with xp[i, c] the plane x[i, c] zero-padded and X = xp[i, c, h·s_H + a·d_H, w·s_W + b'·d_W]:
forward   out[i, c, h, w] = b[c] + Σ_{a, b'} W[c, 0, a, b'] · X
backward  dW[c, 0, a, b'] = Σ_{i, h, w} dout[i, c, h, w] · X;    db[c] = Σ_{i, h, w} dout[i, c, h, w]
          dxp at X's position += W[c, 0, a, b'] · dout[i, c, h, w];  dx = the interior of dxp

Why not the grouped path of kernels.py: there a group is one channel, so every image and channel
costs a product of one row by f_H·f_W taps (padded to a multiple of 4) over a row padded to 16
floats, and MobileNet's depthwise layers run on 1×1 to 16×16 maps. Here a channel is a handful of
short loops over its own plane.

Threads: lane t owns the channels t·n_C/lanes … (t + 1)·n_C/lanes − 1 of every image, so it alone
writes their out, dx, dW and db (no per-lane partial sums), and its padded planes xp[t], dxp[t].
The workspaces are allocated zeroed and only the interior of xp is ever written: its border stays zero.

fastmath is {reassoc, contract} only: NaN and inf still propagate.
Self-contained but for layers/lanes.py's call to the lane bodies (Numba's cache does not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cnncalc.layers import lanes

FASTMATH = {"reassoc", "contract"}


@njit(cache=True, boundscheck=False)
def _pad_into(src, xp, p_top, p_left):
    """xp[p_top + y, p_left + x] = src[y, x]; the rest of xp is left as it is (zero)."""
    H, W = src.shape
    for y in range(H):
        s = src[y]
        d = xp[p_top + y, p_left:]
        for x in range(W):
            d[x] = s[x]


@lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], f4[::1], i8, i8, i8, i8, i8, i8, f4[:, ::1], f4[:, "
            ":, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _forward_channels(c_lo, c_hi, x, W, b, s_H, s_W, p_top, p_left, d_H, d_W, xp, out):
    """depthwise_forward for channels c_lo … c_hi − 1 of every image, with one lane's padded plane xp."""
    m = x.shape[0]
    n_H, n_W = out.shape[2], out.shape[3]
    f_H, f_W = W.shape[2], W.shape[3]
    has_bias = b.shape[0] > 0
    for c in range(c_lo, c_hi):
        bias = b[c] if has_bias else np.float32(0.0)
        for i in range(m):
            _pad_into(x[i, c], xp, p_top, p_left)
            for h in range(n_H):
                o = out[i, c, h]
                for w in range(n_W):
                    o[w] = bias
                for a in range(f_H):
                    row = xp[h * s_H + a * d_H]
                    for bb in range(f_W):
                        v = W[c, 0, a, bb]
                        src = row[bb * d_W:]
                        if s_W == 1:  # contiguous: vectorises
                            for w in range(n_W):
                                o[w] += v * src[w]
                        else:
                            for w in range(n_W):
                                o[w] += v * src[w * s_W]


@lanes.parallel(_forward_channels)
def depthwise_forward(channels, n_lanes, x, W, b, s_H, s_W, p_top, p_left, d_H, d_W, xp, out):
    """out = depthwise conv(x, W) + b, written into out. xp: (≥ n_lanes, n_H_prev + p_top + p_bottom,
    n_W_prev + p_left + p_right) zeroed workspace; n_lanes: threads to use (at most xp.shape[0])."""
    n_C = x.shape[1]
    n_lanes = max(min(n_lanes, xp.shape[0], n_C), 1)
    for t in prange(n_lanes):  # lane t owns channels lo … hi − 1 of out and its plane xp[t]
        _forward_channels(channels, (t * n_C // n_lanes, (t + 1) * n_C // n_lanes, x, W, b, s_H, s_W, p_top, p_left,
                                     d_H, d_W, xp[t], out))


@lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], f4[:, :, :, ::1], i8, i8, i8, i8, i8, i8, f4[:, "
            "::1], f4[:, ::1], f4[:, :, :, ::1], f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _backward_channels(c_lo, c_hi, x, dout, W, s_H, s_W, p_top, p_left, d_H, d_W, xp, dxp, dW, db, dx):
    """depthwise_backward for channels c_lo … c_hi − 1 with one lane's padded planes xp, dxp."""
    m, _, n_H_prev, n_W_prev = x.shape
    n_H, n_W = dout.shape[2], dout.shape[3]
    f_H, f_W = W.shape[2], W.shape[3]
    need_dx, has_bias = dx.shape[0] > 0, db.shape[0] > 0
    for c in range(c_lo, c_hi):
        total = np.float32(0.0)
        dW[c] = 0.0
        for i in range(m):
            _pad_into(x[i, c], xp, p_top, p_left)
            if need_dx:
                dxp[...] = 0.0
            for h in range(n_H):
                d = dout[i, c, h]
                for w in range(n_W):
                    total += d[w]
                for a in range(f_H):
                    y = h * s_H + a * d_H
                    for bb in range(f_W):
                        src = xp[y, bb * d_W:]
                        s = np.float32(0.0)
                        if s_W == 1:
                            for w in range(n_W):
                                s += d[w] * src[w]
                        else:
                            for w in range(n_W):
                                s += d[w] * src[w * s_W]
                        dW[c, 0, a, bb] += s
                        if need_dx:
                            v = W[c, 0, a, bb]
                            dst = dxp[y, bb * d_W:]
                            if s_W == 1:
                                for w in range(n_W):
                                    dst[w] += v * d[w]
                            else:
                                for w in range(n_W):
                                    dst[w * s_W] += v * d[w]
            if need_dx:
                for y in range(n_H_prev):
                    src = dxp[p_top + y, p_left:]
                    o = dx[i, c, y]
                    for w in range(n_W_prev):
                        o[w] = src[w]
        if has_bias:
            db[c] = total


@lanes.parallel(_backward_channels)
def depthwise_backward(channels, n_lanes, x, dout, W, s_H, s_W, p_top, p_left, d_H, d_W, xp, dxp, dW, db, dx):
    """dW, db (zero-length: none) and, when dx has rows, dx of depthwise_forward, written into the
    caller's arrays. dout: (m, n_C, n_H, n_W); xp, dxp: zeroed workspaces shaped as depthwise_forward's xp."""
    n_C = x.shape[1]
    n_lanes = max(min(n_lanes, xp.shape[0], n_C), 1)
    for t in prange(n_lanes):  # lane t owns channels lo … hi − 1 of dx, dW, db and its planes xp[t], dxp[t]
        _backward_channels(channels, (t * n_C // n_lanes, (t + 1) * n_C // n_lanes, x, dout, W, s_H, s_W, p_top,
                                      p_left, d_H, d_W, xp[t], dxp[t], dW, db, dx))


# ------------------------------------------------------------------ small maps: the images along the vector

@njit(cache=True, boundscheck=False)
def _gather_images(x, i0, n, c, p_top, p_left, X):
    """X[p_top + y, p_left + x', j] = x[i0 + j, c, y, x'] for j < n; X: (H_pad, W_pad, M), border untouched (zero)."""
    H, W = x.shape[2], x.shape[3]
    for j in range(n):
        for y in range(H):
            src = x[i0 + j, c, y]
            for xx in range(W):
                X[p_top + y, p_left + xx, j] = src[xx]


@lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], f4[::1], i8, i8, i8, i8, i8, i8, f4[:, :, ::1], "
            "f4[:, :, ::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _forward_batched(c_lo, c_hi, x, W, b, s_H, s_W, p_top, p_left, d_H, d_W, X, Y, out):
    """depthwise_forward_batched for channels c_lo … c_hi − 1: M images at a time, X (H_pad, W_pad, M)
    their padded planes and Y (n_H, n_W, M) their outputs, every tap one FMA along the images."""
    m = x.shape[0]
    n_H, n_W = out.shape[2], out.shape[3]
    f_H, f_W = W.shape[2], W.shape[3]
    M = X.shape[2]
    has_bias = b.shape[0] > 0
    for c in range(c_lo, c_hi):
        bias = b[c] if has_bias else np.float32(0.0)
        for i0 in range(0, m, M):
            n = min(M, m - i0)
            _gather_images(x, i0, n, c, p_top, p_left, X)
            for h in range(n_H):
                for w in range(n_W):
                    o = Y[h, w]
                    for j in range(n):
                        o[j] = bias
                    for a in range(f_H):
                        for bb in range(f_W):
                            v = W[c, 0, a, bb]
                            src = X[h * s_H + a * d_H, w * s_W + bb * d_W]
                            for j in range(n):
                                o[j] += v * src[j]
            for j in range(n):
                for h in range(n_H):
                    dst = out[i0 + j, c, h]
                    for w in range(n_W):
                        dst[w] = Y[h, w, j]


@lanes.parallel(_forward_batched)
def depthwise_forward_batched(channels, n_lanes, x, W, b, s_H, s_W, p_top, p_left, d_H, d_W, X, Y, out):
    """depthwise_forward for small maps, where a plane's rows are too short to fill a vector: the
    images are the vector. X: (≥ n_lanes, H_pad, W_pad, M), Y: (≥ n_lanes, n_H, n_W, M) zeroed workspaces."""
    n_C = x.shape[1]
    n_lanes = max(min(n_lanes, X.shape[0], n_C), 1)
    for t in prange(n_lanes):  # lane t owns channels lo … hi − 1 of out and X[t], Y[t]
        _forward_batched(channels, (t * n_C // n_lanes, (t + 1) * n_C // n_lanes, x, W, b, s_H, s_W, p_top, p_left,
                                    d_H, d_W, X[t], Y[t], out))


@lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], f4[:, :, :, ::1], i8, i8, i8, i8, i8, i8, f4[:, :, "
            "::1], f4[:, :, ::1], f4[:, :, ::1], f4[:, :, ::1], f4[:, :, :, ::1], f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _backward_batched(c_lo, c_hi, x, dout, W, s_H, s_W, p_top, p_left, d_H, d_W, X, dY, dX, acc, dW, db, dx):
    """depthwise_backward_batched for channels c_lo … c_hi − 1; acc (f_H, f_W, M) holds dW's sums per image slot."""
    m, _, n_H_prev, n_W_prev = x.shape
    n_H, n_W = dout.shape[2], dout.shape[3]
    f_H, f_W = W.shape[2], W.shape[3]
    M = X.shape[2]
    need_dx, has_bias = dx.shape[0] > 0, db.shape[0] > 0
    for c in range(c_lo, c_hi):
        acc[...] = 0.0
        total = np.float32(0.0)
        for i0 in range(0, m, M):
            n = min(M, m - i0)
            _gather_images(x, i0, n, c, p_top, p_left, X)
            for j in range(n):
                for h in range(n_H):
                    src = dout[i0 + j, c, h]
                    for w in range(n_W):
                        dY[h, w, j] = src[w]
            if need_dx:
                dX[...] = 0.0
            for h in range(n_H):
                for w in range(n_W):
                    d = dY[h, w]
                    for j in range(n):
                        total += d[j]
                    for a in range(f_H):
                        for bb in range(f_W):
                            y, xx = h * s_H + a * d_H, w * s_W + bb * d_W
                            src, g = X[y, xx], acc[a, bb]
                            for j in range(n):
                                g[j] += d[j] * src[j]
                            if need_dx:
                                v, dst = W[c, 0, a, bb], dX[y, xx]
                                for j in range(n):
                                    dst[j] += v * d[j]
            if need_dx:
                for j in range(n):
                    for y in range(n_H_prev):
                        o = dx[i0 + j, c, y]
                        for xx in range(n_W_prev):
                            o[xx] = dX[p_top + y, p_left + xx, j]
        for a in range(f_H):
            for bb in range(f_W):
                g = acc[a, bb]
                s = np.float32(0.0)
                for j in range(M):
                    s += g[j]
                dW[c, 0, a, bb] = s
        if has_bias:
            db[c] = total


@lanes.parallel(_backward_batched)
def depthwise_backward_batched(channels, n_lanes, x, dout, W, s_H, s_W, p_top, p_left, d_H, d_W, X, dY, dX, acc, dW, db,
                               dx):
    """depthwise_backward for small maps, the images along the vector. X, dX: (≥ n_lanes, H_pad, W_pad, M);
    dY: (≥ n_lanes, n_H, n_W, M); acc: (≥ n_lanes, f_H, f_W, M); zeroed workspaces."""
    n_C = x.shape[1]
    n_lanes = max(min(n_lanes, X.shape[0], n_C), 1)
    for t in prange(n_lanes):  # lane t owns channels lo … hi − 1 of dx, dW, db and workspace row t
        _backward_batched(channels, (t * n_C // n_lanes, (t + 1) * n_C // n_lanes, x, dout, W, s_H, s_W, p_top,
                                     p_left, d_H, d_W, X[t], dY[t], dX[t], acc[t], dW, db, dx))
