"""Convolution as im2col + BLAS sgemm over chunks of images, for the layers where the arithmetic is.

Layouts as kernels.py (NCHW, float32, C-contiguous; W: (n_C, C_g, f_H, f_W), b: (n_C,) or zero-length):
with Q = n_H·n_W output positions per image, K = C_g·f_H·f_W taps per group, and a chunk of images
i0 … i1 − 1 (N = (i1 − i0)·Q columns),
    cols[k, (i − i0)·Q + h·n_W + w] = x_pad[i, g·C_g + c', h·s_H + a·d_H, w·s_W + b'·d_W],  k = (c'·f_H + a)·f_W + b'
forward   Y_g (n_C_g, N) = W_g (n_C_g, K) · cols;          out[i, g·n_C_g + r, q] = Y_g[r, (i − i0)·Q + q] + b
backward  dW_g (n_C_g, K) += dY_g · colsᵀ;                 db[c] += Σ_N dY[c]
          dcols (K, N) = W_gᵀ · dY_g;                      dx = col2im(dcols), the adjoint of im2col

Why: the direct kernel (kernels.py) streams the whole weight matrix once per image and computes
rows padded to 16 floats; on 512 channels × 4×4 maps that is 9.4 MB of weights per 16 positions.
Here one product covers a chunk of images (N ≈ a few hundred columns), and the product is
numpy/scipy's BLAS sgemm (OpenBLAS, MKL, BLIS, Accelerate), which is register- and cache-blocked for
the processor it runs on: no tile size is chosen here. The chunk is tuning.py's (a cache budget).

Numba calls sgemm through scipy's BLAS (np.dot inside njit needs SciPy; tuning.blas_in_numba says
whether it is there; without it the direct kernels run). Threads: as kernels.py, a `prange` over
lanes, one per thread, each with a contiguous share of the batch and its own workspace; each lane
calls a single-threaded sgemm (the engine holds BLAS to one thread: resources.Threads), so BLAS's
own threads never compete with Numba's. dW: per-lane sums, added after the parallel loop.

fastmath is {reassoc, contract} only: NaN and inf still propagate.
Self-contained but for layers/lanes.py's call to the lane bodies (Numba's cache does not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cnncalc.layers import lanes

FASTMATH = {"reassoc", "contract"}


@njit(cache=True, boundscheck=False)
def _w_range(n_W, W, s_W, offset):
    """(lo, hi): the output columns w with 0 ≤ w·s_W + offset < W (offset = b'·d_W − p_left)."""
    lo = 0
    if offset < 0:
        lo = (-offset + s_W - 1) // s_W
    hi = 0
    if W - offset > 0:
        hi = (W - 1 - offset) // s_W + 1
    lo = min(lo, n_W)
    hi = max(min(hi, n_W), lo)
    return lo, hi


@njit(cache=True, boundscheck=False)
def _im2col_chunk(x, i0, i1, c0, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, cols):
    """cols[(c'·f_H + a)·f_W + b', (i − i0)·Q + h·n_W + w] = x[i, c0 + c', h·s_H − p_top + a·d_H,
    w·s_W − p_left + b'·d_W] for images i0 … i1 − 1, 0 outside the input. x: (m, C, H, W); cols: (K, ≥ N)."""
    H, W = x.shape[2], x.shape[3]
    Q = n_H * n_W
    for c in range(C_g):
        for a in range(f_H):
            for bb in range(f_W):
                k = (c * f_H + a) * f_W + bb
                row = cols[k]
                offset = bb * d_W - p_left
                lo, hi = _w_range(n_W, W, s_W, offset)
                for i in range(i0, i1):
                    xi = x[i, c0 + c]
                    for h in range(n_H):
                        y = h * s_H - p_top + a * d_H
                        base = (i - i0) * Q + h * n_W
                        if y < 0 or y >= H:
                            for w in range(n_W):
                                row[base + w] = 0.0
                            continue
                        xr = xi[y]
                        for w in range(lo):
                            row[base + w] = 0.0
                        if s_W == 1:
                            d = row[base + lo:base + hi]
                            s = xr[lo + offset:hi + offset]
                            for w in range(hi - lo):
                                d[w] = s[w]
                        else:
                            for w in range(lo, hi):
                                row[base + w] = xr[w * s_W + offset]
                        for w in range(hi, n_W):
                            row[base + w] = 0.0


@njit(cache=True, boundscheck=False)
def _col2im_chunk(cols, i0, i1, c0, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, dx):
    """The adjoint of _im2col_chunk: dx[i, c0 + c', y, x] += cols[k, (i − i0)·Q + h·n_W + w] over the
    windows that read (y, x). dx: (m, C, H, W), its rows i0 … i1 − 1 zeroed by the caller."""
    H, W = dx.shape[2], dx.shape[3]
    Q = n_H * n_W
    for i in range(i0, i1):
        for c in range(C_g):
            di = dx[i, c0 + c]
            for a in range(f_H):
                for bb in range(f_W):
                    row = cols[(c * f_H + a) * f_W + bb]
                    offset = bb * d_W - p_left
                    lo, hi = _w_range(n_W, W, s_W, offset)
                    for h in range(n_H):
                        y = h * s_H - p_top + a * d_H
                        if y < 0 or y >= H:
                            continue
                        base = (i - i0) * Q + h * n_W
                        dr = di[y]
                        if s_W == 1:
                            d = dr[lo + offset:hi + offset]
                            s = row[base + lo:base + hi]
                            for w in range(hi - lo):
                                d[w] += s[w]
                        else:
                            for w in range(lo, hi):
                                dr[w * s_W + offset] += row[base + w]


@lanes.body("void(i8, i8, i8, f4[:, :, :, ::1], f4[:, :, ::1], f4[::1], i8, i8, i8, i8, i8, i8, i8, i8, f4[::1], "
            "f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _forward_chunks(lo, hi, chunk, x, W2, b, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, cols_ws, y_ws, out):
    """gemm_forward for images lo … hi − 1, `chunk` at a time, with one lane's workspaces (flat)."""
    groups, n_C_g, K = W2.shape
    C_g = x.shape[1] // groups
    n_H, n_W = out.shape[2], out.shape[3]
    Q = n_H * n_W
    has_bias = b.shape[0] > 0
    for i0 in range(lo, hi, chunk):
        i1 = min(i0 + chunk, hi)
        N = (i1 - i0) * Q
        cols = cols_ws[:K * N].reshape(K, N)
        Y = y_ws[:n_C_g * N].reshape(n_C_g, N)
        for g in range(groups):
            _im2col_chunk(x, i0, i1, g * C_g, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, cols)
            np.dot(W2[g], cols, Y)
            for r in range(n_C_g):
                c = g * n_C_g + r
                bias = b[c] if has_bias else np.float32(0.0)
                yr = Y[r]
                for i in range(i0, i1):
                    o = out[i, c].reshape(Q)
                    s = yr[(i - i0) * Q:(i - i0 + 1) * Q]
                    for q in range(Q):
                        o[q] = s[q] + bias


@lanes.parallel(_forward_chunks)
def gemm_forward(images, n_lanes, x, W, b, s_H, s_W, p_top, p_left, d_H, d_W, chunk, cols_ws, y_ws, out):
    """out = conv(x, W) + b, written into out: (m, n_C, n_H, n_W).

    x: (m, n_C_prev, n_H_prev, n_W_prev); W: (n_C, C_g, f_H, f_W); b: (n_C,) or (0,) for none.
    n_lanes: threads to use (at most cols_ws.shape[0] are). chunk: images per product. Workspaces
    (gemm_workspace_shapes): cols_ws (n_lanes, K·chunk·Q), y_ws (n_lanes, n_C_g·chunk·Q).
    """
    m = x.shape[0]
    n_C, C_g, f_H, f_W = W.shape
    groups = x.shape[1] // C_g
    W2 = W.reshape(groups, n_C // groups, C_g * f_H * f_W)  # W_g as (n_C_g, K): a view, no packing
    n_lanes = max(min(n_lanes, cols_ws.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns out[lo:hi] and workspace row t
        _forward_chunks(images, (t * m // n_lanes, (t + 1) * m // n_lanes, chunk, x, W2, b, f_H, f_W, s_H, s_W, p_top,
                                 p_left, d_H, d_W, cols_ws[t], y_ws[t], out))


@lanes.body("void(i8, i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], f4[:, :, ::1], i8, i8, i8, i8, i8, i8, i8, i8, "
            "f4[::1], f4[::1], f4[::1], f4[:, ::1], f4[:, :, ::1], f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _backward_chunks(lo, hi, chunk, x, dout, W2, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, cols_ws, dy_ws,
                     dcols_ws, G_tmp, G, gb, dx):
    """gemm_backward for images lo … hi − 1; adds dW into G (groups, n_C_g, K) and db into gb."""
    groups, n_C_g, K = W2.shape
    n_C = dout.shape[1]
    C_g = x.shape[1] // groups
    n_H, n_W = dout.shape[2], dout.shape[3]
    Q = n_H * n_W
    need_dx = dx.shape[0] > 0
    for i0 in range(lo, hi, chunk):
        i1 = min(i0 + chunk, hi)
        N = (i1 - i0) * Q
        cols = cols_ws[:K * N].reshape(K, N)
        dY = dy_ws[:n_C * N].reshape(n_C, N)
        for c in range(n_C):
            d = dY[c]
            for i in range(i0, i1):
                s = dout[i, c].reshape(Q)
                dd = d[(i - i0) * Q:(i - i0 + 1) * Q]
                for q in range(Q):
                    dd[q] = s[q]
            total = np.float32(0.0)
            for q in range(N):  # a reassociated reduction: vector registers
                total += d[q]
            gb[c] += total
        if need_dx:
            for i in range(i0, i1):
                dx[i] = 0.0  # col2im accumulates
        for g in range(groups):
            _im2col_chunk(x, i0, i1, g * C_g, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, cols)
            dY_g = dy_ws[g * n_C_g * N:(g + 1) * n_C_g * N].reshape(n_C_g, N)
            np.dot(dY_g, cols.T, G_tmp)
            G[g] += G_tmp
            if need_dx:
                dcols = dcols_ws[:K * N].reshape(K, N)
                np.dot(W2[g].T, dY_g, dcols)
                _col2im_chunk(dcols, i0, i1, g * C_g, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, dx)


@lanes.parallel(_backward_chunks)
def gemm_backward(images, n_lanes, x, dout, W, s_H, s_W, p_top, p_left, d_H, d_W, chunk, cols_ws, dy_ws, dcols_ws,
                  G_tmp, G_lanes, db_lanes, dW, db, dx):
    """dW, db and (when dx has rows) dx of gemm_forward, written into the caller's arrays.

    dout: (m, n_C, n_H, n_W); dW like W; db: (n_C,) or (0,); dx like x, or with 0 rows when the
    input needs no gradient. Workspaces (gemm_workspace_shapes): cols_ws, dy_ws (n_lanes, n_C·chunk·Q),
    dcols_ws (n_lanes, K·chunk·Q), G_tmp (n_lanes, n_C_g, K), G_lanes (n_lanes, groups, n_C_g, K) and
    db_lanes (n_lanes, n_C): per-lane sums, added after the parallel loop.
    """
    m = x.shape[0]
    n_C, C_g, f_H, f_W = W.shape
    groups = x.shape[1] // C_g
    W2 = W.reshape(groups, n_C // groups, C_g * f_H * f_W)
    n_lanes = max(min(n_lanes, cols_ws.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns dx[lo:hi], G_lanes[t], db_lanes[t] and workspace row t
        G_lanes[t] = 0.0
        db_lanes[t] = 0.0
        _backward_chunks(images, (t * m // n_lanes, (t + 1) * m // n_lanes, chunk, x, dout, W2, f_H, f_W, s_H, s_W,
                                  p_top, p_left, d_H, d_W, cols_ws[t], dy_ws[t], dcols_ws[t], G_tmp[t], G_lanes[t],
                                  db_lanes[t], dx))
    _sum_lanes(G_lanes, db_lanes, n_lanes, dW, db)


@njit(cache=True, boundscheck=False)
def _sum_lanes(G_lanes, db_lanes, lanes, dW, db):
    """dW = Σ_t G_lanes[t] (as W's shape), db = Σ_t db_lanes[t] (if db has rows)."""
    Gf = dW.reshape(dW.size)
    Gf[:] = 0.0
    for t in range(lanes):
        Gf += G_lanes[t].reshape(Gf.size)
    if db.shape[0] > 0:
        db[:] = 0.0
        for t in range(lanes):
            db += db_lanes[t]
