"""Convolution kernels for the trainer: im2col and col2im in Numba, the products in BLAS.

Arrays are float32, NCHW as in PyTorch, so weights move between the two unchanged:
    x:    (m, n_C_prev, n_H_prev, n_W_prev)
    W:    (n_C, n_C_prev // groups, f_H, f_W)
    b:    (n_C,)
    out:  (m, n_C, n_H, n_W), with n_H, n_W from arith.out_length (the caller's analysis)
    cols: (n_C_prev·f_H·f_W, m·n_H·n_W), the im2col workspace, reused (one column per output position)

forward:   out_g = W_g · cols_g + b                   (one GEMM per group over the whole batch)
backward:  dW_g = dout_g · cols_gᵀ,  db = Σ dout,  dcols_g = W_gᵀ · dout_g → col2im → dx

This file is self-contained (Numba's cache does not follow imports). `prange` runs over
the batch, where every iteration owns its own slice of cols or dx.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange


@njit(parallel=True, cache=True)
def im2col(x, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, cols):
    """cols[(c·f_H + a)·f_W + b, (i·n_H + h)·n_W + w] = x[i, c, h·s_H − p_top + a·d_H, w·s_W − p_left + b·d_W],
    0 outside the input. Each parallel iteration writes one whole row of cols."""
    m, n_C_prev, n_H_prev, n_W_prev = x.shape
    for r in prange(n_C_prev * f_H * f_W):
        c = r // (f_H * f_W)
        a = (r // f_W) % f_H
        b = r % f_W
        for i in range(m):
            for h in range(n_H):
                y = h * s_H - p_top + a * d_H
                base = (i * n_H + h) * n_W
                if y < 0 or y >= n_H_prev:
                    for w in range(n_W):
                        cols[r, base + w] = 0.0
                else:
                    for w in range(n_W):
                        xx = w * s_W - p_left + b * d_W
                        if 0 <= xx < n_W_prev:
                            cols[r, base + w] = x[i, c, y, xx]
                        else:
                            cols[r, base + w] = 0.0


@njit(parallel=True, cache=True)
def col2im(dcols, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, dx):
    """The adjoint of im2col: dx[i, c, y, x] = Σ over the windows that read it of dcols."""
    m, n_C_prev, n_H_prev, n_W_prev = dx.shape
    for i in prange(m):
        dx[i] = 0.0
        for c in range(n_C_prev):
            for a in range(f_H):
                for b in range(f_W):
                    r = (c * f_H + a) * f_W + b
                    for h in range(n_H):
                        y = h * s_H - p_top + a * d_H
                        if y < 0 or y >= n_H_prev:
                            continue
                        base = (i * n_H + h) * n_W
                        for w in range(n_W):
                            xx = w * s_W - p_left + b * d_W
                            if 0 <= xx < n_W_prev:
                                dx[i, c, y, xx] += dcols[r, base + w]


_POOL = None


def _matmul_part(a, b, out):
    # numpy's error state is per thread: keep the caller's (the trainer reports overflow once, as a NaN loss)
    with np.errstate(over="ignore", invalid="ignore"):
        np.matmul(a, b, out=out)


def gemm(a, b, out):
    """out = a·b. A large product is split over the kernels' threads along its longest dimension
    (rows of a, columns of b, or the inner one with the parts summed), each part a single-threaded
    BLAS call (numpy releases the GIL), so both cores work without OpenBLAS's own threads spinning
    against Numba's between calls."""
    global _POOL
    import numba

    threads = numba.get_num_threads()
    (M, K), N = a.shape, b.shape[1]
    if threads < 2 or M * K * N < 4_000_000:
        np.matmul(a, b, out=out)
        return out
    if _POOL is None:
        from concurrent.futures import ThreadPoolExecutor

        _POOL = ThreadPoolExecutor(max_workers=threads)
    longest = max(M, N, K)
    cut = [longest * t // threads for t in range(threads + 1)]
    parts = list(zip(cut, cut[1:]))
    if longest == N:
        jobs = [_POOL.submit(_matmul_part, a, b[:, lo:hi], out[:, lo:hi]) for lo, hi in parts]
    elif longest == M:
        jobs = [_POOL.submit(_matmul_part, a[lo:hi], b, out[lo:hi]) for lo, hi in parts]
    else:
        partial = [out] + [np.empty_like(out) for _ in parts[1:]]
        jobs = [_POOL.submit(_matmul_part, a[:, lo:hi], b[lo:hi], p) for (lo, hi), p in zip(parts, partial)]
    for job in jobs:
        job.result()
    if longest not in (N, M):
        for p in partial[1:]:
            out += p
    return out


class Conv:
    """A conv layer's buffers for one batch size; forward/backward reuse them every step.

    stride (s_H, s_W), pads (top, bottom, left, right), dilation (d_H, d_W), groups.
    A smaller last batch uses the leading part of each buffer.
    """

    def __init__(self, m, n_C_prev, n_H_prev, n_W_prev, n_C, f, stride, pads, dilation, groups, n_H, n_W):
        self.f, self.stride, self.pads, self.dilation, self.groups = f, stride, pads, dilation, groups
        self.n_H, self.n_W, self.n_C = n_H, n_W, n_C
        self.k = (n_C_prev // groups) * f[0] * f[1]
        self.m = m
        self.cols = np.empty((self.k * groups, m * n_H * n_W), np.float32)
        self.dcols = np.empty_like(self.cols)
        self.out2 = np.empty((n_C, m * n_H * n_W), np.float32)
        self.dout2 = np.empty_like(self.out2)
        self.dx = np.empty((m, n_C_prev, n_H_prev, n_W_prev), np.float32)

    def _im2col_args(self):
        (f_H, f_W), (s_H, s_W), (d_H, d_W) = self.f, self.stride, self.dilation
        return f_H, f_W, s_H, s_W, self.pads[0], self.pads[2], d_H, d_W, self.n_H, self.n_W

    def _views(self, m):
        p = m * self.n_H * self.n_W
        if m == self.m:
            return self.cols, self.dcols, self.out2, self.dout2
        # a smaller last batch: fresh arrays of its own size (the views above would not be contiguous)
        return (np.empty((self.cols.shape[0], p), np.float32), np.empty((self.cols.shape[0], p), np.float32),
                np.empty((self.n_C, p), np.float32), np.empty((self.n_C, p), np.float32))

    def forward(self, x, W, b):
        """x: (m, n_C_prev, n_H_prev, n_W_prev) → (m, n_C, n_H, n_W); keeps cols for backward."""
        m = x.shape[0]
        cols, _, out2, _ = self._views(m)
        self.last = cols
        im2col(x, *self._im2col_args(), cols)
        W2 = W.reshape(self.n_C, self.k)
        if self.groups == 1:
            gemm(W2, cols, out2)
        else:
            n_C_g = self.n_C // self.groups
            for g in range(self.groups):
                out2[g * n_C_g:(g + 1) * n_C_g] = W2[g * n_C_g:(g + 1) * n_C_g] @ cols[g * self.k:(g + 1) * self.k]
        if b is not None:
            out2 += b[:, None]
        # (n_C, m, n_H·n_W) → (m, n_C, n_H, n_W)
        return np.ascontiguousarray(out2.reshape(self.n_C, m, -1).transpose(1, 0, 2)).reshape(
            m, self.n_C, self.n_H, self.n_W)

    def backward(self, dout, W, dW, db, need_dx=True):
        """dout: (m, n_C, n_H, n_W) → dx (None unless need_dx: the network's input needs no gradient);
        writes dW (n_C, n_C_prev/groups, f_H, f_W) and db (n_C,)."""
        m = dout.shape[0]
        cols = self.last
        _, dcols, _, dout2 = self._views(m)
        dout2[...] = dout.reshape(m, self.n_C, -1).transpose(1, 0, 2).reshape(self.n_C, -1)
        if db is not None:
            db[...] = dout2.sum(axis=1)
        W2 = W.reshape(self.n_C, self.k)
        dW2 = dW.reshape(self.n_C, self.k)
        if self.groups == 1:
            gemm(dout2, cols.T, dW2)
            if not need_dx:
                return None
            gemm(np.ascontiguousarray(W2.T), dout2, dcols)
        else:
            n_C_g = self.n_C // self.groups
            for g in range(self.groups):
                chans, rows = slice(g * n_C_g, (g + 1) * n_C_g), slice(g * self.k, (g + 1) * self.k)
                dW2[chans] = dout2[chans] @ cols[rows].T
                dcols[rows] = W2[chans].T @ dout2[chans]
        dx = self.dx[:m] if m == self.m else np.empty((m,) + self.dx.shape[1:], np.float32)
        col2im(dcols, *self._im2col_args(), dx)
        return dx


def conv_forward(x, W, b, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Allocating convenience form: returns (out, cache)."""
    from cnncalc.layers import arith

    m, n_C_prev, n_H_prev, n_W_prev = x.shape
    n_C, _, f_H, f_W = W.shape
    n_H = arith.out_length(n_H_prev, f_H, stride[0], pads[0], pads[1], dilation[0]).n_out
    n_W = arith.out_length(n_W_prev, f_W, stride[1], pads[2], pads[3], dilation[1]).n_out
    layer = Conv(m, n_C_prev, n_H_prev, n_W_prev, n_C, (f_H, f_W), stride, pads, dilation, groups, n_H, n_W)
    out = layer.forward(np.ascontiguousarray(x, np.float32), W, b).copy()
    return out, (layer, W, b is not None)


def conv_backward(dout, cache):
    """Returns (dx, dW, db) for the cache of conv_forward."""
    layer, W, has_bias = cache
    dW = np.empty_like(W)
    db = np.empty(W.shape[0], np.float32) if has_bias else None
    dx = layer.backward(dout.astype(np.float32), W, dW, db).copy()
    return dx, dW, db
