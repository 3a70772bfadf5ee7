"""Winograd F(2×2, 3×3) convolution for 3×3, stride-1, undilated, ungrouped layers: 16 GEMMs per chunk of images.

Layouts as kernels.py (NCHW, float32, C-contiguous; W: (n_C, n_C_prev, 3, 3), b: (n_C,) or zero-length),
with K = n_C, C = n_C_prev, pads (p_top, p_left) (bottom and right follow from the caller's n_H, n_W:
n_H = n_H_prev + p_top + p_bottom − 2).

F(2, 3) in one dimension (Lavin & Gray 2015): two outputs of a 3-tap correlation from 4 inputs d and 3
taps g with 4 multiplications, y = Aᵀ[(G g) ⊙ (Bᵀ d)]. Nesting it along both axes,
    Bᵀ = [[1, 0, −1, 0], [0, 1, 1, 0], [0, −1, 1, 0], [0, 1, 0, −1]]
    G  = [[1, 0, 0], [½, ½, ½], [½, −½, ½], [0, 0, 1]]
    Aᵀ = [[1, 1, 1, 0], [0, 1, −1, −1]]
    Y (2×2) = Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ)] A,   d: a 4×4 input tile, g: a 3×3 filter,
16 multiplications per 2×2 outputs and (c, k) pair where the direct sum takes 36 (2.25× fewer).
Tiles: the output in 2×2 blocks (ty, tx), ty < ⌈n_H/2⌉, tx < ⌈n_W/2⌉; block (ty, tx) reads
d = x_pad[2ty … 2ty + 3, 2tx … 2tx + 3] (x_pad: zero outside the input), outputs beyond n_H, n_W are
dropped. With t = (i − i0)·⌈n_H/2⌉·⌈n_W/2⌉ + ty·⌈n_W/2⌉ + tx numbering a chunk's tiles and ξ = 4·row + col
a position in the 4×4 transform, the sum over input channels becomes 16 matrix products:
forward   U_ξ[k, c] = (G W[k, c] Gᵀ)_ξ,  V_ξ[c, t] = (Bᵀ d_{c,t} B)_ξ,  M_ξ = U_ξ · V_ξ  (K×C · C×T),
          Y_t[k] = Aᵀ M[:, k, t] A (+ b[k])
dx        for stride 1, dx is the correlation of dout, padded by (2 − p_top, 2 − p_left), with the
          spatially flipped, channel-transposed filter W'[c, k, a, b'] = W[k, c, 2 − a, 2 − b'], cut to
          n_H_prev × n_W_prev: the same algorithm with U'_ξ[c, k] = (G flip(W[k, c]) Gᵀ)_ξ and dout's tiles
dW        Y is linear in U: dL/dU_ξ[k, c] = Σ_t M'_ξ[k, t]·V_ξ[c, t] with M'_t = A dY_t Aᵀ (dY_t dout's 2×2
          block t, zero beyond n_H, n_W): dU_ξ += M'_ξ · V_ξᵀ (K×T · T×C), then dW[k, c] = Gᵀ dU[k, c] G.
          V is recomputed from x in backward rather than kept from forward (16·C·T floats per chunk).
db        Σ dout over images and positions.

Numerical error: the transforms only add, subtract and halve, so a result carries float32 rounding of
a sum of 9·C products plus a few ulps from the transforms' additions, a few ulps × the sum's size.

Threads and BLAS as gemm_kernels.py: a `prange` over lanes, lane t owning a contiguous share of the batch,
its workspace rows and its partial dU, db sums (added after the loop); each lane calls single-threaded
sgemm through np.dot(A, B, out). The chunk (images per product) is tuning.winograd_chunk's.
The transforms loop over tiles along a row, so the 16 rows of V (and of M) are written and read
contiguously in t. fastmath is {reassoc, contract} only: NaN and inf still propagate.
Self-contained but for layers/lanes.py's call to the lane bodies (Numba's cache does not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cnncalc.layers import lanes

FASTMATH = {"reassoc", "contract"}
HALF = np.float32(0.5)  # a float32 constant: 0.5 would make the transforms float64


# ------------------------------------------------------------------ the filter transforms

@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _filter_tile(g, U, k, c):
    """U[ξ, k, c] = (G g Gᵀ)_ξ for a 3×3 filter g (a (3, 3) array)."""
    for r in range(4):
        # row r of G g: G's rows (1, 0, 0), (½, ½, ½), (½, −½, ½), (0, 0, 1) applied down the columns
        if r == 0:
            v0, v1, v2 = g[0, 0], g[0, 1], g[0, 2]
        elif r == 1:
            v0 = HALF * (g[0, 0] + g[1, 0] + g[2, 0])
            v1 = HALF * (g[0, 1] + g[1, 1] + g[2, 1])
            v2 = HALF * (g[0, 2] + g[1, 2] + g[2, 2])
        elif r == 2:
            v0 = HALF * (g[0, 0] - g[1, 0] + g[2, 0])
            v1 = HALF * (g[0, 1] - g[1, 1] + g[2, 1])
            v2 = HALF * (g[0, 2] - g[1, 2] + g[2, 2])
        else:
            v0, v1, v2 = g[2, 0], g[2, 1], g[2, 2]
        U[4 * r, k, c] = v0
        U[4 * r + 1, k, c] = HALF * (v0 + v1 + v2)
        U[4 * r + 2, k, c] = HALF * (v0 - v1 + v2)
        U[4 * r + 3, k, c] = v2


@njit(cache=True, boundscheck=False)
def _transform_filters(W, U):
    """U: (16, n_C, n_C_prev), U[ξ, k, c] = (G W[k, c] Gᵀ)_ξ: the forward product's left factors."""
    n_C, n_C_prev = W.shape[0], W.shape[1]
    for k in range(n_C):
        for c in range(n_C_prev):
            _filter_tile(W[k, c], U, k, c)


@njit(cache=True, boundscheck=False)
def _transform_filters_dx(W, U_dx, g):
    """U_dx: (16, n_C_prev, n_C), U_dx[ξ, c, k] = (G flip(W[k, c]) Gᵀ)_ξ, flip(w)[a, b'] = w[2 − a, 2 − b'];
    g: a (3, 3) scratch array."""
    n_C, n_C_prev = W.shape[0], W.shape[1]
    for k in range(n_C):
        for c in range(n_C_prev):
            for a in range(3):
                for bb in range(3):
                    g[a, bb] = W[k, c, 2 - a, 2 - bb]
            _filter_tile(g, U_dx, c, k)


# ------------------------------------------------------------------ the data transforms

@njit(cache=True, boundscheck=False)
def _pad_plane(src, p_top, p_left, plane):
    """plane[y, x] = src[y − p_top, x − p_left] inside src, 0 elsewhere. src: (H, W); plane: (H_p, W_p).
    Pads may be negative (dx's 2 − p for p > 2): the plane then starts inside src."""
    H, W = src.shape
    H_p, W_p = plane.shape
    y_lo, y_hi = min(max(p_top, 0), H_p), max(min(p_top + H, H_p), 0)
    x_lo, x_hi = min(max(p_left, 0), W_p), max(min(p_left + W, W_p), 0)
    y_hi, x_hi = max(y_hi, y_lo), max(x_hi, x_lo)
    for y in range(H_p):
        row = plane[y]
        if y < y_lo or y >= y_hi:
            for x in range(W_p):
                row[x] = 0.0
            continue
        for x in range(x_lo):
            row[x] = 0.0
        d = row[x_lo:x_hi]
        s = src[y - p_top, x_lo - p_left:]
        for x in range(x_hi - x_lo):
            d[x] = s[x]
        for x in range(x_hi, W_p):
            row[x] = 0.0


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _row_b(z, n_tx, z_even, z_odd, w0, w1, w2, w3):
    """w_j[tx] = ((z[2tx], z[2tx + 1], z[2tx + 2], z[2tx + 3]) · B)_j: the tiles of one row times B.
    The row is first split into its even and odd columns, so both loops run over contiguous memory
    (a stride-2 read would keep them scalar)."""
    for j in range(n_tx + 1):
        z_even[j] = z[2 * j]
        z_odd[j] = z[2 * j + 1]
    for tx in range(n_tx):  # v·B = (v0 − v2, v1 + v2, v2 − v1, v1 − v3)
        w0[tx] = z_even[tx] - z_even[tx + 1]
        w1[tx] = z_odd[tx] + z_even[tx + 1]
        w2[tx] = z_even[tx + 1] - z_odd[tx]
        w3[tx] = z_odd[tx] - z_odd[tx + 1]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _input_tiles(src, i0, i1, p_top, p_left, n_ty, n_tx, plane_ws, V):
    """V[ξ, c, t] = (Bᵀ d B)_ξ for the tiles t of images i0 … i1 − 1 (numbered as the module docstring),
    d = src_pad[i, c, 2ty … 2ty + 3, 2tx … 2tx + 3]. src: (m, C, H, W); V: (16, C, T), T = (i1 − i0)·n_ty·n_tx.
    Bᵀ runs down whole rows of the padded plane (the four rows of a tile row at once), then B along
    each of the four results (_row_b)."""
    C = src.shape[1]
    tiles = n_ty * n_tx
    W_p = 2 * n_tx + 2
    plane = plane_ws[:(2 * n_ty + 2) * W_p].reshape(2 * n_ty + 2, W_p)
    rows = np.empty((4, W_p), np.float32)
    z_even, z_odd = np.empty(n_tx + 1, np.float32), np.empty(n_tx + 1, np.float32)
    for i in range(i0, i1):
        for c in range(C):
            _pad_plane(src[i, c], p_top, p_left, plane)
            for ty in range(n_ty):
                r0, r1, r2, r3 = plane[2 * ty], plane[2 * ty + 1], plane[2 * ty + 2], plane[2 * ty + 3]
                q0, q1, q2, q3 = rows[0], rows[1], rows[2], rows[3]
                for x in range(W_p):  # Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3
                    q0[x] = r0[x] - r2[x]
                    q1[x] = r1[x] + r2[x]
                    q2[x] = r2[x] - r1[x]
                    q3[x] = r1[x] - r3[x]
                o = (i - i0) * tiles + ty * n_tx
                for r in range(4):
                    _row_b(rows[r], n_tx, z_even, z_odd, V[4 * r, c, o:o + n_tx], V[4 * r + 1, c, o:o + n_tx],
                           V[4 * r + 2, c, o:o + n_tx], V[4 * r + 3, c, o:o + n_tx])


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _output_tiles(M, i0, i1, n_ty, n_tx, plane_ws, b, out):
    """out[i, k, 2ty + a, 2tx + b'] = (Aᵀ M[:, k, t] A)[a, b'] + b[k] where inside n_H × n_W.
    M: (16, K, T); out: (m, K, n_H, n_W); b: (K,) or (0,)."""
    K, n_H, n_W = out.shape[1], out.shape[2], out.shape[3]
    tiles = n_ty * n_tx
    plane = plane_ws[:4 * n_ty * n_tx].reshape(2 * n_ty, 2 * n_tx)
    has_bias = b.shape[0] > 0
    for k in range(K):
        bias = b[k] if has_bias else np.float32(0.0)
        for i in range(i0, i1):
            for ty in range(n_ty):
                o = (i - i0) * tiles + ty * n_tx
                m0 = M[0, k, o:o + n_tx]; m1 = M[1, k, o:o + n_tx]; m2 = M[2, k, o:o + n_tx]; m3 = M[3, k, o:o + n_tx]
                m4 = M[4, k, o:o + n_tx]; m5 = M[5, k, o:o + n_tx]; m6 = M[6, k, o:o + n_tx]; m7 = M[7, k, o:o + n_tx]
                m8 = M[8, k, o:o + n_tx]; m9 = M[9, k, o:o + n_tx]; m10 = M[10, k, o:o + n_tx]
                m11 = M[11, k, o:o + n_tx]; m12 = M[12, k, o:o + n_tx]; m13 = M[13, k, o:o + n_tx]
                m14 = M[14, k, o:o + n_tx]; m15 = M[15, k, o:o + n_tx]
                p0, p1 = plane[2 * ty], plane[2 * ty + 1]
                for tx in range(n_tx):
                    # Aᵀ M: rows M0 + M1 + M2 and M1 − M2 − M3, column by column
                    s0 = m0[tx] + m4[tx] + m8[tx]; s1 = m1[tx] + m5[tx] + m9[tx]
                    s2 = m2[tx] + m6[tx] + m10[tx]; s3 = m3[tx] + m7[tx] + m11[tx]
                    u0 = m4[tx] - m8[tx] - m12[tx]; u1 = m5[tx] - m9[tx] - m13[tx]
                    u2 = m6[tx] - m10[tx] - m14[tx]; u3 = m7[tx] - m11[tx] - m15[tx]
                    p0[2 * tx] = s0 + s1 + s2 + bias; p0[2 * tx + 1] = s1 - s2 - s3 + bias
                    p1[2 * tx] = u0 + u1 + u2 + bias; p1[2 * tx + 1] = u1 - u2 - u3 + bias
            o_ik = out[i, k]
            for y in range(n_H):
                d = o_ik[y]
                s = plane[y]
                for x in range(n_W):
                    d[x] = s[x]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _row_a(z, n_tx, z_even, z_odd, w0, w1, w2, w3):
    """w_j[tx] = ((z[2tx], z[2tx + 1]) · Aᵀ)_j = (z0, z0 + z1, z0 − z1, −z1)_j, over contiguous even and odd columns."""
    for j in range(n_tx):
        z_even[j] = z[2 * j]
        z_odd[j] = z[2 * j + 1]
    for tx in range(n_tx):
        w0[tx] = z_even[tx]
        w1[tx] = z_even[tx] + z_odd[tx]
        w2[tx] = z_even[tx] - z_odd[tx]
        w3[tx] = -z_odd[tx]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _gradient_tiles(dout, i0, i1, n_ty, n_tx, plane_ws, M):
    """M[ξ, k, t] = (A dY Aᵀ)_ξ, dY = dout[i, k, 2ty … 2ty + 1, 2tx … 2tx + 1], zero beyond n_H × n_W.
    dout: (m, K, n_H, n_W); M: (16, K, T). A down whole rows, then Aᵀ along each result (_row_a)."""
    K, n_H, n_W = dout.shape[1], dout.shape[2], dout.shape[3]
    tiles = n_ty * n_tx
    plane = plane_ws[:4 * n_ty * n_tx].reshape(2 * n_ty, 2 * n_tx)
    rows = np.empty((4, 2 * n_tx), np.float32)
    z_even, z_odd = np.empty(n_tx + 1, np.float32), np.empty(n_tx + 1, np.float32)
    for i in range(i0, i1):
        for k in range(K):
            s = dout[i, k]
            for y in range(2 * n_ty):  # dout's rows, zero past n_H and n_W (an odd map's last tiles)
                row = plane[y]
                if y >= n_H:
                    row[:] = 0.0
                    continue
                for x in range(n_W):
                    row[x] = s[y, x]
                for x in range(n_W, 2 * n_tx):
                    row[x] = 0.0
            for ty in range(n_ty):
                e0, e1 = plane[2 * ty], plane[2 * ty + 1]
                q0, q1, q2, q3 = rows[0], rows[1], rows[2], rows[3]
                for x in range(2 * n_tx):  # A dY: rows e0, e0 + e1, e0 − e1, −e1
                    q0[x] = e0[x]
                    q1[x] = e0[x] + e1[x]
                    q2[x] = e0[x] - e1[x]
                    q3[x] = -e1[x]
                o = (i - i0) * tiles + ty * n_tx
                for r in range(4):
                    _row_a(rows[r], n_tx, z_even, z_odd, M[4 * r, k, o:o + n_tx], M[4 * r + 1, k, o:o + n_tx],
                           M[4 * r + 2, k, o:o + n_tx], M[4 * r + 3, k, o:o + n_tx])


# ------------------------------------------------------------------ one chunk, one lane

@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _chunk_product(src, i0, i1, U, p_top, p_left, plane_ws, V_ws, M_ws, b, out):
    """out[i0:i1] = the 3×3 correlation of src_pad with the filters whose transforms are U (16, K, C), + b:
    the forward pass (src = x, U from W) and dx (src = dout, U' from flipped W, pads 2 − p)."""
    C, K = src.shape[1], U.shape[1]
    n_ty, n_tx = (out.shape[2] + 1) // 2, (out.shape[3] + 1) // 2
    T = (i1 - i0) * n_ty * n_tx
    V = V_ws[:16 * C * T].reshape(16, C, T)
    M = M_ws[:16 * K * T].reshape(16, K, T)
    _input_tiles(src, i0, i1, p_top, p_left, n_ty, n_tx, plane_ws, V)
    for xi in range(16):
        np.dot(U[xi], V[xi], M[xi])
    _output_tiles(M, i0, i1, n_ty, n_tx, plane_ws, b, out)


@lanes.body("void(i8, i8, i8, f4[:, :, :, ::1], f4[:, :, ::1], f4[::1], i8, i8, f4[::1], f4[::1], f4[::1], "
            "f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _forward_chunks(lo, hi, chunk, x, U, b, p_top, p_left, plane_ws, V_ws, M_ws, out):
    """winograd_forward for images lo … hi − 1, `chunk` at a time, with one lane's workspace rows."""
    for i0 in range(lo, hi, chunk):
        _chunk_product(x, i0, min(i0 + chunk, hi), U, p_top, p_left, plane_ws, V_ws, M_ws, b, out)


@lanes.parallel(_forward_chunks)
def winograd_forward(images, n_lanes, x, W, b, p_top, p_left, chunk, U, plane_ws, V_ws, M_ws, out):
    """out = conv(x, W) + b for a 3×3, stride-1 layer, written into out: (m, n_C, n_H, n_W).

    x: (m, n_C_prev, n_H_prev, n_W_prev); W: (n_C, n_C_prev, 3, 3); b: (n_C,) or (0,) for none.
    n_lanes: the shares the batch is split into (at most V_ws.shape[0]); chunk: images per product.
    Workspaces (ConvPlan.workspace_shapes "winograd"): U (16, n_C, n_C_prev), rewritten from W here;
    plane_ws, V_ws, M_ws (n_lanes, ·).
    """
    m = x.shape[0]
    _transform_filters(W, U)
    n_lanes = max(min(n_lanes, V_ws.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns out[lo:hi] and workspace row t
        _forward_chunks(images, (t * m // n_lanes, (t + 1) * m // n_lanes, chunk, x, U, b, p_top, p_left, plane_ws[t],
                                 V_ws[t], M_ws[t], out))


@lanes.body("void(i8, i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], f4[:, :, ::1], i8, i8, f4[::1], f4[::1], "
            "f4[::1], f4[:, ::1], f4[:, :, ::1], f4[::1], f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _backward_chunks(lo, hi, chunk, x, dout, U_dx, p_top, p_left, plane_ws, V_ws, M_ws, dU_tmp, dU, db, none, dx):
    """winograd_backward for images lo … hi − 1: adds dL/dU into dU (16, K, C) and Σ dout into db (K,);
    writes dx[lo:hi] when dx has rows."""
    C, K = x.shape[1], dout.shape[1]
    n_H, n_W = dout.shape[2], dout.shape[3]
    n_ty, n_tx = (n_H + 1) // 2, (n_W + 1) // 2
    for i0 in range(lo, hi, chunk):
        i1 = min(i0 + chunk, hi)
        T = (i1 - i0) * n_ty * n_tx
        for k in range(K):
            total = np.float32(0.0)
            for i in range(i0, i1):
                s = dout[i, k]
                for y in range(n_H):
                    r = s[y]
                    for xx in range(n_W):  # a reassociated reduction: vector registers
                        total += r[xx]
            db[k] += total
        V = V_ws[:16 * C * T].reshape(16, C, T)
        M = M_ws[:16 * K * T].reshape(16, K, T)
        _input_tiles(x, i0, i1, p_top, p_left, n_ty, n_tx, plane_ws, V)
        _gradient_tiles(dout, i0, i1, n_ty, n_tx, plane_ws, M)
        for xi in range(16):
            np.dot(M[xi], V[xi].T, dU_tmp)
            dU[xi] += dU_tmp
        if dx.shape[0] > 0:
            _chunk_product(dout, i0, i1, U_dx, 2 - p_top, 2 - p_left, plane_ws, V_ws, M_ws, none, dx)


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _sum_lanes(dU_lanes, db_lanes, lanes, dW, db):
    """dW[k, c] = Gᵀ (Σ_t dU_lanes[t, :, k, c] as 4×4) G; db = Σ_t db_lanes[t] (if db has rows)."""
    K, C = dW.shape[0], dW.shape[1]
    u = np.zeros(16, np.float32)
    for k in range(K):
        for c in range(C):
            u[:] = 0.0
            for t in range(lanes):
                for xi in range(16):
                    u[xi] += dU_lanes[t, xi, k, c]
            for r in range(3):
                # row r of Gᵀ u: Gᵀ's rows (1, ½, ½, 0), (0, ½, −½, 0), (0, ½, ½, 1)
                if r == 0:
                    v0 = u[0] + HALF * (u[4] + u[8]); v1 = u[1] + HALF * (u[5] + u[9])
                    v2 = u[2] + HALF * (u[6] + u[10]); v3 = u[3] + HALF * (u[7] + u[11])
                elif r == 1:
                    v0 = HALF * (u[4] - u[8]); v1 = HALF * (u[5] - u[9])
                    v2 = HALF * (u[6] - u[10]); v3 = HALF * (u[7] - u[11])
                else:
                    v0 = HALF * (u[4] + u[8]) + u[12]; v1 = HALF * (u[5] + u[9]) + u[13]
                    v2 = HALF * (u[6] + u[10]) + u[14]; v3 = HALF * (u[7] + u[11]) + u[15]
                dW[k, c, r, 0] = v0 + HALF * (v1 + v2)
                dW[k, c, r, 1] = HALF * (v1 - v2)
                dW[k, c, r, 2] = HALF * (v1 + v2) + v3
    if db.shape[0] > 0:
        db[:] = 0.0
        for t in range(lanes):
            db += db_lanes[t]


@lanes.parallel(_backward_chunks)
def winograd_backward(images, n_lanes, x, dout, W, p_top, p_left, chunk, U_dx, g_tmp, plane_ws, V_ws, M_ws, dU_tmp,
                      dU_lanes, db_lanes, dW, db, dx):
    """dW, db and (when dx has rows) dx of winograd_forward, written into the caller's arrays.

    dout: (m, n_C, n_H, n_W); dW like W; db: (n_C,) or (0,); dx like x, or with 0 rows when the input
    needs no gradient. Workspaces: U_dx (16, n_C_prev, n_C), rewritten from W here when dx is wanted;
    g_tmp (3, 3); plane_ws, V_ws, M_ws (n_lanes, ·); dU_tmp (n_lanes, n_C, n_C_prev); dU_lanes
    (n_lanes, 16, n_C, n_C_prev) and db_lanes (n_lanes, n_C): per-lane sums, added after the parallel loop.
    """
    m = x.shape[0]
    if dx.shape[0] > 0:
        _transform_filters_dx(W, U_dx, g_tmp)
    none = db_lanes[0, :0]  # no bias on dx
    n_lanes = max(min(n_lanes, V_ws.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns dx[lo:hi], dU_lanes[t], db_lanes[t] and workspace row t
        dU_lanes[t] = 0.0
        db_lanes[t] = 0.0
        _backward_chunks(images, (t * m // n_lanes, (t + 1) * m // n_lanes, chunk, x, dout, U_dx, p_top, p_left,
                                  plane_ws[t], V_ws[t], M_ws[t], dU_tmp[t], dU_lanes[t], db_lanes[t], none, dx))
    _sum_lanes(dU_lanes, db_lanes, n_lanes, dW, db)
