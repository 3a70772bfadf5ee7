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
forward   U_ξ[k, c] = (G W[k, c] Gᵀ)_ξ,  V_ξ[t, c] = (Bᵀ d_{c,t} B)_ξ,  M_ξ = V_ξ · U_ξᵀ  (T×C · C×K),
          Y_t[k] = Aᵀ M[:, t, k] A (+ b[k])
dx        for stride 1, dx is the correlation of dout, padded by (2 − p_top, 2 − p_left), with the
          spatially flipped, channel-transposed filter W'[c, k, a, b'] = W[k, c, 2 − a, 2 − b']. Flipping
          g reverses G's columns, which swaps G's rows 0 and 3: G flip(g) Gᵀ = P (G g Gᵀ) Pᵀ with π = (3, 1, 2, 0)
          on each axis. So dx is the same algorithm on dout's tiles with U'_ξ = U_π(ξ) (K×C), no second transform:
          M'_ξ = V'_ξ · U_π(ξ)  (T'×K · K×C), cut to n_H_prev × n_W_prev.
dW        Y is linear in U: dL/dU_ξ[k, c] = Σ_t D_ξ[t, k]·V_ξ[t, c] with D_t = A dY_t Aᵀ (dY_t dout's 2×2
          block t, zero beyond n_H, n_W): dU_ξ += D_ξᵀ · V_ξ (K×T · T×C), then dW[k, c] = Gᵀ dU[k, c] G.
          V is recomputed from x in backward rather than kept from forward (16·C·T floats per chunk).
db        Σ dout over images and positions.

Channels last. The transforms only add and subtract whole vectors when the channels are contiguous,
so each image is first copied, zero-padded, into a channels-last plane (H_p, W_p, C) (8 channels at a
time: contiguous stores, one cache line per channel read), V and M are (16, T, C) and (16, T, K), and
every transform is a handful of loops over one channel vector with two or three arrays each (few
pointers: LLVM vectorises them without giving up on alias checks). The output comes back the same way.
On small maps (4×4, 8×8) this matters most: a channel vector is long where a row of tiles is 2 or 4.
The filter transform and dW's reduction also run over channel vectors, split by output channel over
the lanes.

Numerical error: the transforms only add, subtract and halve, so a result carries float32 rounding of
a sum of 9·C products plus a few ulps from the transforms' additions, a few ulps × the sum's size.

Threads and BLAS as gemm_kernels.py: a `prange` over lanes, lane t owning a contiguous share of the batch,
its workspace rows and its partial dU, db sums (added after the loop); each lane calls single-threaded
sgemm through np.dot(A, B, out). The chunk (images per product) is tuning.winograd_chunk's.
fastmath is {reassoc, contract} only: NaN and inf still propagate.
Self-contained but for layers/lanes.py's call to the lane bodies (Numba's cache does not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, uint64

from cnncalc.layers import lanes

FASTMATH = {"reassoc", "contract"}
HALF = np.float32(0.5)  # a float32 constant: 0.5 would make the transforms float64


def _flip_positions() -> np.ndarray:
    """π(ξ) = 4·π(r) + π(s) for ξ = 4r + s, π = (3, 1, 2, 0): the position of flip(g)'s transform in g's."""
    pi = (3, 1, 2, 0)
    return np.array([4 * pi[r] + pi[s] for r in range(4) for s in range(4)], np.int64)


FLIP = _flip_positions()


# ------------------------------------------------------------------ vector helpers (one channel vector each)

@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _sub(a, b, out):
    for c in range(out.shape[0]):
        out[c] = a[c] - b[c]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _add(a, b, out):
    for c in range(out.shape[0]):
        out[c] = a[c] + b[c]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _neg(a, out):
    for c in range(out.shape[0]):
        out[c] = -a[c]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _copy(a, out):
    for c in range(out.shape[0]):
        out[c] = a[c]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _add3(a, b, c_, out):
    for c in range(out.shape[0]):
        out[c] = a[c] + b[c] + c_[c]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _sub3(a, b, c_, out):
    """out = a − b − c_."""
    for c in range(out.shape[0]):
        out[c] = a[c] - b[c] - c_[c]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _half_add3(a, b, c_, out):
    """out = ½(a + b + c_)."""
    for c in range(out.shape[0]):
        out[c] = HALF * (a[c] + b[c] + c_[c])


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _half_alt3(a, b, c_, out):
    """out = ½(a − b + c_)."""
    for c in range(out.shape[0]):
        out[c] = HALF * (a[c] - b[c] + c_[c])


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _g_transposed(u0, u1, u2, u3, r0, r1, r2):
    """(r0, r1, r2) = Gᵀ (u0, u1, u2, u3): Gᵀ's rows (1, ½, ½, 0), (0, ½, −½, 0), (0, ½, ½, 1)."""
    for c in range(r0.shape[0]):
        h = HALF * (u1[c] + u2[c])
        r0[c] = u0[c] + h
        r1[c] = HALF * (u1[c] - u2[c])
        r2[c] = h + u3[c]


# ------------------------------------------------------------------ channels last and back

@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _to_plane(src, off_y, off_x, H_p, W_p, plane):
    """plane[(Y·W_p + X)·C + c] = src[c, Y − off_y, X − off_x] inside src, 0 elsewhere. src: (C, H, W).
    Offsets may be negative (dx's 2 − p for p > 2): the plane then starts inside src."""
    C, H, W = src.shape
    HW = H * W
    s = src.reshape(C * HW)
    row = W_p * C
    x_lo = min(max(off_x, 0), W_p)
    x_hi = max(min(off_x + W, W_p), x_lo)
    C8 = C - C % 8
    for Y in range(H_p):
        y = Y - off_y
        r = plane[Y * row:(Y + 1) * row]
        if y < 0 or y >= H:
            r[:] = 0.0
            continue
        r[:x_lo * C] = 0.0
        r[x_hi * C:] = 0.0
        base = y * W - off_x
        for c0 in range(0, C8, 8):  # 8 channels at a time: 8 contiguous stores per position
            for X in range(x_lo, x_hi):
                o = uint64(X * C + c0)
                p = uint64(c0 * HW + base + X)
                r[o] = s[p]
                r[o + uint64(1)] = s[p + uint64(HW)]
                r[o + uint64(2)] = s[p + uint64(2 * HW)]
                r[o + uint64(3)] = s[p + uint64(3 * HW)]
                r[o + uint64(4)] = s[p + uint64(4 * HW)]
                r[o + uint64(5)] = s[p + uint64(5 * HW)]
                r[o + uint64(6)] = s[p + uint64(6 * HW)]
                r[o + uint64(7)] = s[p + uint64(7 * HW)]
        for c in range(C8, C):
            for X in range(x_lo, x_hi):
                r[X * C + c] = s[c * HW + base + X]


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _from_plane(plane, W2, dst):
    """dst[k, y, x] = plane[(y·W2 + x)·K + k] for y < H, x < W. dst: (K, H, W)."""
    K, H, W = dst.shape
    HW = H * W
    d = dst.reshape(K * HW)
    K8 = K - K % 8
    for y in range(H):
        for k0 in range(0, K8, 8):  # 8 channels at a time: 8 contiguous loads per position
            for x in range(W):
                o = uint64((y * W2 + x) * K + k0)
                p = uint64(k0 * HW + y * W + x)
                d[p] = plane[o]
                d[p + uint64(HW)] = plane[o + uint64(1)]
                d[p + uint64(2 * HW)] = plane[o + uint64(2)]
                d[p + uint64(3 * HW)] = plane[o + uint64(3)]
                d[p + uint64(4 * HW)] = plane[o + uint64(4)]
                d[p + uint64(5 * HW)] = plane[o + uint64(5)]
                d[p + uint64(6 * HW)] = plane[o + uint64(6)]
                d[p + uint64(7 * HW)] = plane[o + uint64(7)]
        for k in range(K8, K):
            for x in range(W):
                d[k * HW + y * W + x] = plane[(y * W2 + x) * K + k]


# ------------------------------------------------------------------ the data transforms (channel vectors)

@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _input_tiles(plane, W_p, C, n_ty, n_tx, V, T, t0, rows):
    """V[ξ, t0 + ty·n_tx + tx, :] = (Bᵀ d B)_ξ, d[a, b] = plane[2ty + a, 2tx + b, :] (channel vectors).
    V: flat (16, T, C); rows: scratch of 4·W_p·C. Bᵀ over whole rows of the plane, then B per tile."""
    s = W_p * C
    q = T * C
    g0, g1, g2, g3 = rows[:s], rows[s:2 * s], rows[2 * s:3 * s], rows[3 * s:4 * s]
    for ty in range(n_ty):
        r0, r1 = plane[2 * ty * s:(2 * ty + 1) * s], plane[(2 * ty + 1) * s:(2 * ty + 2) * s]
        r2, r3 = plane[(2 * ty + 2) * s:(2 * ty + 3) * s], plane[(2 * ty + 3) * s:(2 * ty + 4) * s]
        _sub(r0, r2, g0)  # Bᵀ d: rows d0 − d2, d1 + d2, d2 − d1, d1 − d3
        _add(r1, r2, g1)
        _sub(r2, r1, g2)
        _sub(r1, r3, g3)
        for r in range(4):
            g = rows[r * s:(r + 1) * s]
            for tx in range(n_tx):  # · B: (v0 − v2, v1 + v2, v2 − v1, v1 − v3)
                o = 2 * tx * C
                z0, z1, z2, z3 = g[o:o + C], g[o + C:o + 2 * C], g[o + 2 * C:o + 3 * C], g[o + 3 * C:o + 4 * C]
                v = (t0 + ty * n_tx + tx) * C + 4 * r * q
                _sub(z0, z2, V[v:v + C])
                _add(z1, z2, V[v + q:v + q + C])
                _sub(z2, z1, V[v + 2 * q:v + 2 * q + C])
                _sub(z1, z3, V[v + 3 * q:v + 3 * q + C])


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _output_tiles(M, K, T, t0, n_ty, n_tx, b, out_plane, rows):
    """out_plane[(2ty + a)·2n_tx + 2tx + b', :] = (Aᵀ M[:, t, :] A)[a, b'] (+ b). M: flat (16, T, K);
    b: (K,) or (0,); rows: scratch of 8·K."""
    W2 = 2 * n_tx
    q = T * K
    has_bias = b.shape[0] > 0
    for ty in range(n_ty):
        for tx in range(n_tx):
            v = (t0 + ty * n_tx + tx) * K
            for j in range(4):  # Aᵀ M: rows M0 + M1 + M2 and M1 − M2 − M3, column j
                m0, m1 = M[v + j * q:v + j * q + K], M[v + (4 + j) * q:v + (4 + j) * q + K]
                m2, m3 = M[v + (8 + j) * q:v + (8 + j) * q + K], M[v + (12 + j) * q:v + (12 + j) * q + K]
                _add3(m0, m1, m2, rows[j * K:(j + 1) * K])
                _sub3(m1, m2, m3, rows[(4 + j) * K:(5 + j) * K])
            for a in range(2):  # · A: columns w0 + w1 + w2 and w1 − w2 − w3
                w0, w1 = rows[4 * a * K:(4 * a + 1) * K], rows[(4 * a + 1) * K:(4 * a + 2) * K]
                w2, w3 = rows[(4 * a + 2) * K:(4 * a + 3) * K], rows[(4 * a + 3) * K:(4 * a + 4) * K]
                o = ((2 * ty + a) * W2 + 2 * tx) * K
                y0, y1 = out_plane[o:o + K], out_plane[o + K:o + 2 * K]
                _add3(w0, w1, w2, y0)
                _sub3(w1, w2, w3, y1)
                if has_bias:
                    _add(y0, b, y0)
                    _add(y1, b, y1)


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _gradient_tiles(plane, K, n_ty, n_tx, D, T, t0, rows):
    """D[ξ, t0 + ty·n_tx + tx, :] = (A dY Aᵀ)_ξ, dY = plane[2ty … 2ty + 1, 2tx … 2tx + 1, :] (dout channels
    last, zero beyond n_H × n_W). D: flat (16, T, K); rows: scratch of 4·2n_tx·K. A down rows, Aᵀ per tile."""
    s = 2 * n_tx * K
    q = T * K
    g1, g2, g3 = rows[s:2 * s], rows[2 * s:3 * s], rows[3 * s:4 * s]
    for ty in range(n_ty):
        e0, e1 = plane[2 * ty * s:(2 * ty + 1) * s], plane[(2 * ty + 1) * s:(2 * ty + 2) * s]
        _add(e0, e1, g1)  # A dY: rows e0, e0 + e1, e0 − e1, −e1
        _sub(e0, e1, g2)
        _neg(e1, g3)
        for r in range(4):
            g = e0 if r == 0 else rows[r * s:(r + 1) * s]
            for tx in range(n_tx):  # · Aᵀ: (z0, z0 + z1, z0 − z1, −z1)
                o = 2 * tx * K
                z0, z1 = g[o:o + K], g[o + K:o + 2 * K]
                v = (t0 + ty * n_tx + tx) * K + 4 * r * q
                _copy(z0, D[v:v + K])
                _add(z0, z1, D[v + q:v + q + K])
                _sub(z0, z1, D[v + 2 * q:v + 2 * q + K])
                _neg(z1, D[v + 3 * q:v + 3 * q + K])


# ------------------------------------------------------------------ the filters: U from W, dW from dU

@lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[::1], f4[:, :, ::1])", fastmath=FASTMATH, boundscheck=False)
def _filter_rows(lo, hi, W, rows, U):
    """U[ξ, k, :] = (G W[k, :] Gᵀ)_ξ for k = lo … hi − 1, over channel vectors; rows: scratch of 21·C."""
    C = W.shape[1]
    g = rows[:9 * C]
    w = rows[9 * C:21 * C]
    for k in range(lo, hi):
        src = W[k].reshape(9 * C)
        for ab in range(9):  # g[ab, c] = W[k, c, a, b]: the 3×3 taps as rows of channels
            gr = g[ab * C:(ab + 1) * C]
            for c in range(C):
                gr[c] = src[c * 9 + ab]
        for b in range(3):  # G g: rows g0, ½(g0 + g1 + g2), ½(g0 − g1 + g2), g2 (column b)
            a0, a1, a2 = g[b * C:(b + 1) * C], g[(3 + b) * C:(4 + b) * C], g[(6 + b) * C:(7 + b) * C]
            _half_add3(a0, a1, a2, w[b * C:(b + 1) * C])
            _half_alt3(a0, a1, a2, w[(3 + b) * C:(4 + b) * C])
        for r in range(4):  # (G g) Gᵀ: columns v0, ½(v0 + v1 + v2), ½(v0 − v1 + v2), v2 of row r
            if r == 0:
                v0, v1, v2 = g[:C], g[C:2 * C], g[2 * C:3 * C]
            elif r == 3:
                v0, v1, v2 = g[6 * C:7 * C], g[7 * C:8 * C], g[8 * C:9 * C]
            else:
                o = (r - 1) * 3 * C
                v0, v1, v2 = w[o:o + C], w[o + C:o + 2 * C], w[o + 2 * C:o + 3 * C]
            _copy(v0, U[4 * r, k])
            _half_add3(v0, v1, v2, U[4 * r + 1, k])
            _half_alt3(v0, v1, v2, U[4 * r + 2, k])
            _copy(v2, U[4 * r + 3, k])


@lanes.body("void(i8, i8, f4[:, :, :, ::1], i8, f4[::1], f4[:, :, :, ::1])", fastmath=FASTMATH, boundscheck=False)
def _dW_rows(lo, hi, dU_lanes, n_lanes, rows, dW):
    """dW[k, c] = Gᵀ (Σ_t dU_lanes[t, :, k, c] as 4×4) G for k = lo … hi − 1, over channel vectors (lanes
    added in order); rows: scratch of 37·C."""
    C = dW.shape[1]
    u = rows[:16 * C]
    v = rows[16 * C:28 * C]
    d = rows[28 * C:37 * C]
    for k in range(lo, hi):
        for xi in range(16):
            ux = u[xi * C:(xi + 1) * C]
            _copy(dU_lanes[0, xi, k], ux)
            for t in range(1, n_lanes):
                _add(ux, dU_lanes[t, xi, k], ux)
        for j in range(4):  # Gᵀ u, column j
            _g_transposed(u[j * C:(j + 1) * C], u[(4 + j) * C:(5 + j) * C], u[(8 + j) * C:(9 + j) * C],
                          u[(12 + j) * C:(13 + j) * C], v[j * C:(j + 1) * C], v[(4 + j) * C:(5 + j) * C],
                          v[(8 + j) * C:(9 + j) * C])
        for r in range(3):  # (Gᵀ u) G = (Gᵀ (Gᵀ u)ᵀ)ᵀ: Gᵀ along row r
            _g_transposed(v[4 * r * C:(4 * r + 1) * C], v[(4 * r + 1) * C:(4 * r + 2) * C],
                          v[(4 * r + 2) * C:(4 * r + 3) * C], v[(4 * r + 3) * C:(4 * r + 4) * C],
                          d[3 * r * C:(3 * r + 1) * C], d[(3 * r + 1) * C:(3 * r + 2) * C],
                          d[(3 * r + 2) * C:(3 * r + 3) * C])
        dst = dW[k].reshape(9 * C)
        for ab in range(9):  # back to W's layout: dW[k, c, a, b] = d[ab, c]
            dr = d[ab * C:(ab + 1) * C]
            for c in range(C):
                dst[c * 9 + ab] = dr[c]


# ------------------------------------------------------------------ one chunk, one lane

@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _chunk_product(src, i0, i1, U, flip, p_top, p_left, plane, V_ws, M_ws, rows, out_plane, b, out):
    """out[i0:i1] = the 3×3 correlation of src_pad with the filters whose transforms are U (16, K, C), + b.
    flip False: the forward pass (src = x (C channels), M_ξ = V_ξ · U_ξᵀ); flip True: dx (src = dout
    (K channels), pads 2 − p, M_ξ = V_ξ · U_π(ξ))."""
    C_in, C_out = src.shape[1], out.shape[1]
    n_ty, n_tx = (out.shape[2] + 1) // 2, (out.shape[3] + 1) // 2
    H_p, W_p = 2 * n_ty + 2, 2 * n_tx + 2
    tiles = n_ty * n_tx
    T = (i1 - i0) * tiles
    for i in range(i0, i1):
        _to_plane(src[i], p_top, p_left, H_p, W_p, plane)
        _input_tiles(plane, W_p, C_in, n_ty, n_tx, V_ws, T, (i - i0) * tiles, rows)
    V = V_ws[:16 * T * C_in].reshape(16, T, C_in)
    M = M_ws[:16 * T * C_out].reshape(16, T, C_out)
    if flip:
        for xi in range(16):
            np.dot(V[xi], U[FLIP[xi]], M[xi])
    else:
        for xi in range(16):
            np.dot(V[xi], U[xi].T, M[xi])
    for i in range(i0, i1):
        _output_tiles(M_ws, C_out, T, (i - i0) * tiles, n_ty, n_tx, b, out_plane, rows)
        _from_plane(out_plane, 2 * n_tx, out[i])


@lanes.body("void(i8, i8, i8, f4[:, :, :, ::1], f4[:, :, ::1], f4[::1], i8, i8, f4[::1], f4[::1], f4[::1], f4[::1], "
            "f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _forward_chunks(lo, hi, chunk, x, U, b, p_top, p_left, plane, V_ws, M_ws, rows, out_plane, out):
    """winograd_forward for images lo … hi − 1, `chunk` at a time, with one lane's workspace rows."""
    for i0 in range(lo, hi, chunk):
        _chunk_product(x, i0, min(i0 + chunk, hi), U, False, p_top, p_left, plane, V_ws, M_ws, rows, out_plane, b, out)


@lanes.parallel(_forward_chunks, _filter_rows)
def winograd_forward(images, filters, n_lanes, x, W, b, p_top, p_left, chunk, U, plane_ws, V_ws, M_ws, rows_ws,
                     out_ws, out):
    """out = conv(x, W) + b for a 3×3, stride-1 layer, written into out: (m, n_C, n_H, n_W).

    x: (m, n_C_prev, n_H_prev, n_W_prev); W: (n_C, n_C_prev, 3, 3); b: (n_C,) or (0,) for none.
    n_lanes: the shares the batch (and the filters' transform) is split into (at most V_ws.shape[0]);
    chunk: images per product. Workspaces (ConvPlan.workspace_shapes "winograd"): U (16, n_C, n_C_prev),
    rewritten from W here; plane_ws, V_ws, M_ws, rows_ws, out_ws (n_lanes, ·).
    """
    m, K = x.shape[0], W.shape[0]
    n_f = max(min(n_lanes, V_ws.shape[0], K), 1)
    for t in prange(n_f):  # lane t transforms filters t·K/n_f … (t + 1)·K/n_f − 1
        _filter_rows(filters, (t * K // n_f, (t + 1) * K // n_f, W, rows_ws[t], U))
    n_lanes = max(min(n_lanes, V_ws.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns out[lo:hi] and workspace row t
        _forward_chunks(images, (t * m // n_lanes, (t + 1) * m // n_lanes, chunk, x, U, b, p_top, p_left, plane_ws[t],
                                 V_ws[t], M_ws[t], rows_ws[t], out_ws[t], out))


@lanes.body("void(i8, i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], f4[:, :, ::1], i8, i8, f4[::1], f4[::1], "
            "f4[::1], f4[::1], f4[::1], f4[:, ::1], f4[:, :, ::1], f4[::1], f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _backward_chunks(lo, hi, chunk, x, dout, U, p_top, p_left, plane, V_ws, M_ws, rows, out_plane, dU_tmp, dU, db,
                     none, dx):
    """winograd_backward for images lo … hi − 1: adds dL/dU into dU (16, K, C) and Σ dout into db (K,);
    writes dx[lo:hi] when dx has rows."""
    C, K = x.shape[1], dout.shape[1]
    n_H, n_W = dout.shape[2], dout.shape[3]
    n_ty, n_tx = (n_H + 1) // 2, (n_W + 1) // 2
    H_p, W_p = 2 * n_ty + 2, 2 * n_tx + 2
    tiles = n_ty * n_tx
    for i0 in range(lo, hi, chunk):
        i1 = min(i0 + chunk, hi)
        T = (i1 - i0) * tiles
        for k in range(K):
            total = np.float32(0.0)
            for i in range(i0, i1):
                s = dout[i, k]
                for y in range(n_H):
                    r = s[y]
                    for xx in range(n_W):  # a reassociated reduction: vector registers
                        total += r[xx]
            db[k] += total
        for i in range(i0, i1):
            _to_plane(dout[i], 0, 0, 2 * n_ty, 2 * n_tx, plane)  # zero past n_H, n_W (an odd map's last tiles)
            _gradient_tiles(plane, K, n_ty, n_tx, M_ws, T, (i - i0) * tiles, rows)
            _to_plane(x[i], p_top, p_left, H_p, W_p, plane)
            _input_tiles(plane, W_p, C, n_ty, n_tx, V_ws, T, (i - i0) * tiles, rows)
        V = V_ws[:16 * T * C].reshape(16, T, C)
        D = M_ws[:16 * T * K].reshape(16, T, K)
        for xi in range(16):
            np.dot(D[xi].T, V[xi], dU_tmp)
            _add(dU[xi].reshape(K * C), dU_tmp.reshape(K * C), dU[xi].reshape(K * C))
        if dx.shape[0] > 0:
            _chunk_product(dout, i0, i1, U, True, 2 - p_top, 2 - p_left, plane, V_ws, M_ws, rows, out_plane, none, dx)


@lanes.parallel(_backward_chunks, _filter_rows, _dW_rows)
def winograd_backward(images, filters, reduce, n_lanes, x, dout, W, p_top, p_left, chunk, U, plane_ws, V_ws, M_ws,
                      rows_ws, out_ws, dU_tmp, dU_lanes, db_lanes, dW, db, dx):
    """dW, db and (when dx has rows) dx of winograd_forward, written into the caller's arrays.

    dout: (m, n_C, n_H, n_W); dW like W; db: (n_C,) or (0,); dx like x, or with 0 rows when the input
    needs no gradient. Workspaces: U (16, n_C, n_C_prev), rewritten from W here when dx is wanted (the
    arena may have lent it out since forward); plane_ws, V_ws, M_ws, rows_ws, out_ws (n_lanes, ·);
    dU_tmp (n_lanes, n_C, n_C_prev); dU_lanes (n_lanes, 16, n_C, n_C_prev) and db_lanes (n_lanes, n_C):
    per-lane sums, added after the parallel loop.
    """
    m, K = x.shape[0], W.shape[0]
    n_f = max(min(n_lanes, V_ws.shape[0], K), 1)
    if dx.shape[0] > 0:
        for t in prange(n_f):
            _filter_rows(filters, (t * K // n_f, (t + 1) * K // n_f, W, rows_ws[t], U))
    none = db_lanes[0, :0]  # no bias on dx
    n_lanes = max(min(n_lanes, V_ws.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns dx[lo:hi], dU_lanes[t], db_lanes[t] and workspace row t
        dU_lanes[t] = 0.0
        db_lanes[t] = 0.0
        _backward_chunks(images, (t * m // n_lanes, (t + 1) * m // n_lanes, chunk, x, dout, U, p_top, p_left,
                                  plane_ws[t], V_ws[t], M_ws[t], rows_ws[t], out_ws[t], dU_tmp[t], dU_lanes[t],
                                  db_lanes[t], none, dx))
    for t in prange(n_f):  # lane t reduces dW's filters t·K/n_f … (t + 1)·K/n_f − 1
        _dW_rows(reduce, (t * K // n_f, (t + 1) * K // n_f, dU_lanes, n_lanes, rows_ws[t], dW))
    if db.shape[0] > 0:
        db[:] = 0.0
        for t in range(n_lanes):
            db += db_lanes[t]
