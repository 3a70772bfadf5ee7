"""Convolution kernels for the trainer: direct convolution in Numba, no BLAS.

Arrays are float32, C-contiguous, NCHW as in PyTorch, so weights move between the two unchanged:
    x:    (m, n_C_prev, n_H_prev, n_W_prev)
    W:    (n_C, n_C_prev // groups, f_H, f_W)
    b:    (n_C,), or a zero-length array for a conv without bias (the jitted kernels' convention;
          the Python wrappers also take None)
    out:  (m, n_C, n_H, n_W); the caller computes n_H, n_W with arith.out_length, and the
          kernels read them from out's shape
    pads (p_top, p_bottom, p_left, p_right), stride (s_H, s_W), dilation (d_H, d_W), groups;
    C_g = n_C_prev // groups input and n_C_g = n_C // groups output channels per group

with x_pad[i, c'', y, x] the input zero-padded and X = x_pad[i, g·C_g + c', h·s_H + a·d_H, w·s_W + b'·d_W]:
forward   out[i, c, h, w] = b[c] + Σ_{c', a, b'} W[c, c', a, b'] · X
backward  dW[c, c', a, b'] = Σ_{i, h, w} dout[i, c, h, w] · X;   db[c] = Σ_{i, h, w} dout[i, c, h, w]
          dx_pad at X's position += W[c, c', a, b'] · dout[i, c, h, w], summed over every (c, h, w, a, b')

How the work becomes fast loops (measured on Zen 5: benchmarks/conv_kernels_speed.py).
Stride 1 ("direct"): image i is zero-padded to n_H_pad × n_W_pad per channel,
    n_H_pad = n_H + d_H·(f_H − 1),   n_W_pad = n_W + d_W·(f_W − 1),
and every output row is computed n_W_pad wide, its last d_W·(f_W − 1) columns discarded. Then
output position q = h·n_W_pad + w reads input position q + k_off[k] for each tap k = (c', a, b'),
    k_off[k] = c'·n_H_pad·n_W_pad + a·d_H·n_W_pad + b'·d_W,
so each tap is one contiguous shifted row of the padded image, and the convolution is the product
out_wide = W · X, X[k, q] = x_pad[k_off[k] + q], without X ever being built. Stride > 1: im2col
per image into a (K, P) buffer (k_off[k] = k·P), then the same product. Two register-tiled loops
do all the arithmetic:
    _tile_product   dst[r·pitch + q] += Σ_k A[r, k] · src[k_off[k] + q]   8 rows × 4 taps per pass over q
    _tile_gradient  G[r, k] += Σ_q dy[r, q] · src[k_off[k] + q]           4 × 4 dot products over q
(4 rows and 2 × 4 where the target has 16 vector registers, not 32: WIDE_TILES)
forward  = _tile_product(W, x_pad);   dW = _tile_gradient(dout_wide, x_pad)
dx       = for stride 1, per tap (a, b'): dx_pad[c' rows, shifted by a·d_H·n_W_pad + b'·d_W] += W[:, c', a, b']ᵀ
           · dout_wide (col2im fused into the product: only the MACs of real outputs, where the textbook
           "dout padded by f − 1 ⋆ flipped W" multiplies mostly zeros on small maps);
           for stride > 1, dcols = Wᵀ · dout into the im2col buffer, then col2im.
Rows q are padded to P, a multiple of 16 floats (one AVX-512 register), so no scalar tail runs.

Two kinds of layer take other kernels (ConvPlan.kernel picks; Conv runs them), because on small maps
(MobileNet at 32×32: 16×16 down to 1×1) one image fills a fraction of a row of 16 and the weights
are streamed once per image:
  1×1, stride 1, no padding, groups 1 ("pointwise"): positions × channels. `chunk` images become
           rows of positions (R, C16), and the same _tile_product runs along the channels:
           out rows = x rows · Wᵀ,   dWᵀ = x columns · dout rows,   dx rows = dout rows · W.
  groups = n_C_prev = n_C ("depthwise"): depthwise_kernels.py, one filter per channel, lanes own
           channels; on maps of at most 16 columns the images are the vector, above along the rows.
Constants are never passed from one jitted function to another: numba would compile a second
specialisation for the literal (each costs seconds of cold compilation).

fastmath is {reassoc, contract} only: sums may be reordered and fused into FMAs, but NaN and
inf still propagate (no nnan/ninf), so a diverging run is still noticed.

Threads: each parallel kernel is a thin `prange` over lanes, one per thread; lane t takes a
contiguous share of the batch, owns those rows of out/dx, its workspace row ws[t] and its
partial sums dW_lanes[t], db_lanes[t] (added after the parallel loop), and calls a serial
function for its images (the same loops inside the prange body compiled 3× slower, numba 0.68).
That function is a lane body (layers/lanes.py): compiled once on its own and called through its
address, so the kernel around it compiles in a fraction of a second instead of re-optimising it.
Workspaces are allocated once by the caller: ConvPlan.workspace() makes them, the Conv class
owns them with the out and dx buffers; in a network, Conv.share() leases them from the network's
arena instead (layers/workspace.py: one block for all layers, ConvPlan.KEEP and REWRITTEN say how).

This file imports no other jitted code but layers/lanes.py's call (Numba's cache does not follow imports).
"""

from __future__ import annotations

import dataclasses
import time

import numba
import numpy as np
from numba import njit, prange, uint64

from cnncalc.layers import lanes
from cnncalc.layers.conv import gemm_kernels, tuning, winograd_kernels
from cnncalc.layers.conv.depthwise_kernels import (depthwise_backward, depthwise_backward_batched, depthwise_forward,
                                                   depthwise_forward_batched)

FASTMATH = {"reassoc", "contract"}
# the plan (layouts and workspace shapes) is plain Python, so that the memory planner reads it without numpy
from cnncalc.layers.conv.plan import LANES, ConvPlan, _round_up  # noqa: E402,F401 — re-exported

# The register tiles follow the target's vector registers (tuning.processor(), what Numba compiles for): 32
# (AVX-512, AArch64) hold _tile_product's 8-row tile and _tile_gradient's 4 × 4 sums; 16 (AVX2) spill them,
# and there 4 rows and 2 × 4 sums run 1.2–1.35× and 1.4–1.7× faster (a Zen 4 compiled for haswell, 64 to 256
# channels, 32×32 to 8×8 maps). A module global is compiled in as a constant, and Numba keys its cache by the
# same processor name and features.
WIDE_TILES = tuning.wide_tiles()


# ------------------------------------------------------------------ the two register-tiled loops

@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _tile_product(A, src, k_off, dst, pitch, P):
    """dst[r·pitch + q] += Σ_k A[r, k] · src[k_off[k] + q] for q < P (callers zero dst first if need be).

    A: (R, K4), K4 a multiple of 4 (padding taps carry zero weights); k_off: (K4,) int64; src, dst 1-D.
    Eight rows take four taps per pass over q: 4 loads of src and 8 loads and 8 stores of dst per
    32 FMAs, so the loop is bound by the FMAs, not by the stores (an 8 × 8 tile spills registers).
    Four-row and single-row passes take the rows left over; with 16 vector registers (WIDE_TILES false)
    four rows take them all.
    """
    R, K4 = A.shape
    r = 0
    while WIDE_TILES and r + 8 <= R:
        o = r * pitch
        y0 = dst[o:o + P]; y1 = dst[o + pitch:o + pitch + P]
        y2 = dst[o + 2 * pitch:o + 2 * pitch + P]; y3 = dst[o + 3 * pitch:o + 3 * pitch + P]
        y4 = dst[o + 4 * pitch:o + 4 * pitch + P]; y5 = dst[o + 5 * pitch:o + 5 * pitch + P]
        y6 = dst[o + 6 * pitch:o + 6 * pitch + P]; y7 = dst[o + 7 * pitch:o + 7 * pitch + P]
        for k in range(0, K4, 4):
            s0 = src[k_off[k]:]; s1 = src[k_off[k + 1]:]; s2 = src[k_off[k + 2]:]; s3 = src[k_off[k + 3]:]
            a = A[r:r + 8, k:k + 4]
            a00 = a[0, 0]; a01 = a[0, 1]; a02 = a[0, 2]; a03 = a[0, 3]
            a10 = a[1, 0]; a11 = a[1, 1]; a12 = a[1, 2]; a13 = a[1, 3]
            a20 = a[2, 0]; a21 = a[2, 1]; a22 = a[2, 2]; a23 = a[2, 3]
            a30 = a[3, 0]; a31 = a[3, 1]; a32 = a[3, 2]; a33 = a[3, 3]
            a40 = a[4, 0]; a41 = a[4, 1]; a42 = a[4, 2]; a43 = a[4, 3]
            a50 = a[5, 0]; a51 = a[5, 1]; a52 = a[5, 2]; a53 = a[5, 3]
            a60 = a[6, 0]; a61 = a[6, 1]; a62 = a[6, 2]; a63 = a[6, 3]
            a70 = a[7, 0]; a71 = a[7, 1]; a72 = a[7, 2]; a73 = a[7, 3]
            for q in range(P):
                v0 = s0[q]; v1 = s1[q]; v2 = s2[q]; v3 = s3[q]
                y0[q] += a00 * v0 + a01 * v1 + a02 * v2 + a03 * v3
                y1[q] += a10 * v0 + a11 * v1 + a12 * v2 + a13 * v3
                y2[q] += a20 * v0 + a21 * v1 + a22 * v2 + a23 * v3
                y3[q] += a30 * v0 + a31 * v1 + a32 * v2 + a33 * v3
                y4[q] += a40 * v0 + a41 * v1 + a42 * v2 + a43 * v3
                y5[q] += a50 * v0 + a51 * v1 + a52 * v2 + a53 * v3
                y6[q] += a60 * v0 + a61 * v1 + a62 * v2 + a63 * v3
                y7[q] += a70 * v0 + a71 * v1 + a72 * v2 + a73 * v3
        r += 8
    while r + 4 <= R:
        o = r * pitch
        y0 = dst[o:o + P]; y1 = dst[o + pitch:o + pitch + P]
        y2 = dst[o + 2 * pitch:o + 2 * pitch + P]; y3 = dst[o + 3 * pitch:o + 3 * pitch + P]
        for k in range(0, K4, 4):
            s0 = src[k_off[k]:]; s1 = src[k_off[k + 1]:]; s2 = src[k_off[k + 2]:]; s3 = src[k_off[k + 3]:]
            a = A[r:r + 4, k:k + 4]
            a00 = a[0, 0]; a01 = a[0, 1]; a02 = a[0, 2]; a03 = a[0, 3]
            a10 = a[1, 0]; a11 = a[1, 1]; a12 = a[1, 2]; a13 = a[1, 3]
            a20 = a[2, 0]; a21 = a[2, 1]; a22 = a[2, 2]; a23 = a[2, 3]
            a30 = a[3, 0]; a31 = a[3, 1]; a32 = a[3, 2]; a33 = a[3, 3]
            for q in range(P):
                v0 = s0[q]; v1 = s1[q]; v2 = s2[q]; v3 = s3[q]
                y0[q] += a00 * v0 + a01 * v1 + a02 * v2 + a03 * v3
                y1[q] += a10 * v0 + a11 * v1 + a12 * v2 + a13 * v3
                y2[q] += a20 * v0 + a21 * v1 + a22 * v2 + a23 * v3
                y3[q] += a30 * v0 + a31 * v1 + a32 * v2 + a33 * v3
        r += 4
    while r < R:
        y0 = dst[r * pitch:r * pitch + P]
        for k in range(0, K4, 4):
            s0 = src[k_off[k]:]; s1 = src[k_off[k + 1]:]; s2 = src[k_off[k + 2]:]; s3 = src[k_off[k + 3]:]
            a00 = A[r, k]; a01 = A[r, k + 1]; a02 = A[r, k + 2]; a03 = A[r, k + 3]
            for q in range(P):
                y0[q] += a00 * s0[q] + a01 * s1[q] + a02 * s2[q] + a03 * s3[q]
        r += 1


@njit(cache=True, fastmath=FASTMATH, boundscheck=False)
def _tile_gradient(dy, src, k_off, G, P):
    """G[r, k] += Σ_{q<P} dy[r, q] · src[k_off[k] + q].

    dy: (R, ≥ P); G: (R, K4), K4 a multiple of 4; k_off: (K4,). Sixteen dot products (4 rows × 4
    taps) share each pass over q, held in vector registers (the reduction is reassociated); with 16
    vector registers (WIDE_TILES false), eight (2 rows × 4 taps). Single-row passes take the rows left
    over.
    """
    R, K4 = G.shape
    r = 0
    while WIDE_TILES and r + 4 <= R:
        d0 = dy[r, :P]; d1 = dy[r + 1, :P]; d2 = dy[r + 2, :P]; d3 = dy[r + 3, :P]
        for k in range(0, K4, 4):
            x0 = src[k_off[k]:k_off[k] + P]; x1 = src[k_off[k + 1]:k_off[k + 1] + P]
            x2 = src[k_off[k + 2]:k_off[k + 2] + P]; x3 = src[k_off[k + 3]:k_off[k + 3] + P]
            s00 = s01 = s02 = s03 = np.float32(0.0)
            s10 = s11 = s12 = s13 = np.float32(0.0)
            s20 = s21 = s22 = s23 = np.float32(0.0)
            s30 = s31 = s32 = s33 = np.float32(0.0)
            for q in range(P):
                v0 = x0[q]; v1 = x1[q]; v2 = x2[q]; v3 = x3[q]
                e = d0[q]; s00 += e * v0; s01 += e * v1; s02 += e * v2; s03 += e * v3
                e = d1[q]; s10 += e * v0; s11 += e * v1; s12 += e * v2; s13 += e * v3
                e = d2[q]; s20 += e * v0; s21 += e * v1; s22 += e * v2; s23 += e * v3
                e = d3[q]; s30 += e * v0; s31 += e * v1; s32 += e * v2; s33 += e * v3
            G[r, k] += s00; G[r, k + 1] += s01; G[r, k + 2] += s02; G[r, k + 3] += s03
            G[r + 1, k] += s10; G[r + 1, k + 1] += s11; G[r + 1, k + 2] += s12; G[r + 1, k + 3] += s13
            G[r + 2, k] += s20; G[r + 2, k + 1] += s21; G[r + 2, k + 2] += s22; G[r + 2, k + 3] += s23
            G[r + 3, k] += s30; G[r + 3, k + 1] += s31; G[r + 3, k + 2] += s32; G[r + 3, k + 3] += s33
        r += 4
    while not WIDE_TILES and r + 2 <= R:
        d0 = dy[r, :P]; d1 = dy[r + 1, :P]
        for k in range(0, K4, 4):
            x0 = src[k_off[k]:k_off[k] + P]; x1 = src[k_off[k + 1]:k_off[k + 1] + P]
            x2 = src[k_off[k + 2]:k_off[k + 2] + P]; x3 = src[k_off[k + 3]:k_off[k + 3] + P]
            s00 = s01 = s02 = s03 = np.float32(0.0)
            s10 = s11 = s12 = s13 = np.float32(0.0)
            for q in range(P):
                v0 = x0[q]; v1 = x1[q]; v2 = x2[q]; v3 = x3[q]
                e = d0[q]; s00 += e * v0; s01 += e * v1; s02 += e * v2; s03 += e * v3
                e = d1[q]; s10 += e * v0; s11 += e * v1; s12 += e * v2; s13 += e * v3
            G[r, k] += s00; G[r, k + 1] += s01; G[r, k + 2] += s02; G[r, k + 3] += s03
            G[r + 1, k] += s10; G[r + 1, k + 1] += s11; G[r + 1, k + 2] += s12; G[r + 1, k + 3] += s13
        r += 2
    while r < R:
        d0 = dy[r, :P]
        for k in range(0, K4, 4):
            x0 = src[k_off[k]:k_off[k] + P]; x1 = src[k_off[k + 1]:k_off[k + 1] + P]
            x2 = src[k_off[k + 2]:k_off[k + 2] + P]; x3 = src[k_off[k + 3]:k_off[k + 3] + P]
            s0 = s1 = s2 = s3 = np.float32(0.0)
            for q in range(P):
                e = d0[q]; s0 += e * x0[q]; s1 += e * x1[q]; s2 += e * x2[q]; s3 += e * x3[q]
            G[r, k] += s0; G[r, k + 1] += s1; G[r, k + 2] += s2; G[r, k + 3] += s3
        r += 1


# ------------------------------------------------------------------ copies between layouts, weight packing

@njit(cache=True, boundscheck=False)
def _copy_padded(src, dst, pitch, n_H_pad, n_W_pad, p_top, p_left):
    """dst[c·pitch + y·n_W_pad + x] = src[c, y − p_top, x − p_left] for the positions that hold src.

    src: (C, H, W). The padding around them is not written: it stays as the workspace was
    allocated, zero.
    """
    C, H, W = src.shape
    x_lo = min(max(p_left, 0), n_W_pad)
    x_hi = max(min(p_left + W, n_W_pad), x_lo)
    for c in range(C):
        for y in range(max(p_top, 0), min(p_top + H, n_H_pad)):
            row = c * pitch + y * n_W_pad
            d = dst[row + x_lo:row + x_hi]  # slices: every index provably ≥ 0, so the copy vectorises
            s = src[c, y - p_top, x_lo - p_left:]
            for x in range(x_hi - x_lo):
                d[x] = s[x]


@njit(cache=True, boundscheck=False)
def _im2col_image(x, c0, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, cols, P):
    """cols[k·P + h·n_W + w] = x[c0 + c', h·s_H − p_top + a·d_H, w·s_W − p_left + b'·d_W] for
    k = (c'·f_H + a)·f_W + b', 0 outside the input and for n_H·n_W ≤ q < P. x: (C, H, W)."""
    _, H, W = x.shape
    for c in range(C_g):
        for a in range(f_H):
            for bb in range(f_W):
                row = ((c * f_H + a) * f_W + bb) * P
                for h in range(n_H):
                    y = h * s_H - p_top + a * d_H
                    base = row + h * n_W
                    if y < 0 or y >= H:
                        for w in range(n_W):
                            cols[base + w] = 0.0
                    else:
                        xr = x[c0 + c, y]
                        for w in range(n_W):
                            xx = w * s_W - p_left + bb * d_W
                            cols[base + w] = xr[xx] if 0 <= xx < W else 0.0
                for q in range(row + n_H * n_W, row + P):
                    cols[q] = 0.0


@njit(cache=True, boundscheck=False)
def _col2im_image(cols, P, c0, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, dx):
    """The adjoint of _im2col_image: dx[c0 + c', y, x] += cols[k·P + h·n_W + w] over the windows that
    read (y, x). dx: (C, H, W), zeroed by the caller."""
    _, H, W = dx.shape
    for c in range(C_g):
        for a in range(f_H):
            for bb in range(f_W):
                row = ((c * f_H + a) * f_W + bb) * P
                for h in range(n_H):
                    y = h * s_H - p_top + a * d_H
                    if y < 0 or y >= H:
                        continue
                    base = row + h * n_W
                    dr = dx[c0 + c, y]
                    for w in range(n_W):
                        xx = w * s_W - p_left + bb * d_W
                        if 0 <= xx < W:
                            dr[xx] += cols[base + w]


@lanes.body("void(f4[:, :, :, ::1], f4[:, :, ::1])", boundscheck=False)
def _pack_weights(W, A):
    """A[g, r, (c'·f_H + a)·f_W + b'] = W[g·n_C_g + r, c', a, b']: the forward product's rows.

    A: (groups, n_C_g, K4), zero beyond the K taps.
    """
    groups, n_C_g, _ = A.shape
    _, C_g, f_H, f_W = W.shape
    A[...] = 0.0
    for g in range(groups):
        for r in range(n_C_g):
            for c in range(C_g):
                for a in range(f_H):
                    for bb in range(f_W):
                        A[g, r, (c * f_H + a) * f_W + bb] = W[g * n_C_g + r, c, a, bb]


@lanes.body("void(f4[:, :, :, ::1], b1, f4[:, :, :, ::1])", boundscheck=False)
def _pack_weights_dx(W, per_tap, A):
    """The dx product's rows, Wᵀ per group, zero-padded to A's last axis (n_C_g rounded up to 4).

    per_tap (stride 1): A[g, a·f_W + b', c', r] = W[g·n_C_g + r, c', a, b']     A: (groups, f_H·f_W, C_g, ·)
    else (im2col):      A[g, 0, (c'·f_H + a)·f_W + b', r] = W[g·n_C_g + r, c', a, b']   A: (groups, 1, K, ·)
    """
    n_C, C_g, f_H, f_W = W.shape
    groups = A.shape[0]
    n_C_g = n_C // groups
    A[...] = 0.0
    for g in range(groups):
        for r in range(n_C_g):
            for c in range(C_g):
                for a in range(f_H):
                    for bb in range(f_W):
                        v = W[g * n_C_g + r, c, a, bb]
                        if per_tap:
                            A[g, a * f_W + bb, c, r] = v
                        else:
                            A[g, 0, (c * f_H + a) * f_W + bb, r] = v


# ------------------------------------------------------------------ forward

@njit(cache=True, boundscheck=False)
def _source(x, i, ws_src, pitch, n_H_pad, n_W_pad, p_top, p_left, reach):
    """Image i zero-padded, as one flat row (direct path): x itself when the layer has no padding
    and reading `reach` floats from image i stays inside x (reads past the image feed only
    discarded columns, and land on the next image: finite), else a padded copy in ws_src."""
    m, C, H, W = x.shape
    size = C * H * W
    if p_top == 0 and p_left == 0 and n_H_pad == H and n_W_pad == W and i * size + reach <= m * size:
        return x.reshape(m * size)[i * size:]
    _copy_padded(x[i], ws_src, pitch, n_H_pad, n_W_pad, p_top, p_left)
    return ws_src


@lanes.body("void(i8, i8, f4[:, :, :, ::1], i8, i8, f4[:, :, ::1], f4[::1], b1, i8, i8, i8, i8, i8, i8, i8, "
            "i8[::1], i8, f4[::1], f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _forward_images(lo, hi, x, f_H, f_W, A, b, stride_1, s_H, s_W, p_top, p_left, d_H, d_W, n_W_pad, k_off, reach,
                    ws_src, y, out):
    """conv2d_forward for images lo … hi − 1 with one lane's workspace rows ws_src, y (n_C_g·P)."""
    groups, n_C_g, _ = A.shape
    C_g = x.shape[1] // groups
    n_H, n_W = out.shape[2], out.shape[3]
    P = y.shape[0] // n_C_g
    n_H_pad = n_H + d_H * (f_H - 1)
    pitch = n_H_pad * n_W_pad
    has_bias = b.shape[0] > 0
    for i in range(lo, hi):
        if stride_1:
            src = _source(x, i, ws_src, pitch, n_H_pad, n_W_pad, p_top, p_left, reach)
        for g in range(groups):
            if stride_1:
                part = src[g * C_g * pitch:]
            else:
                _im2col_image(x[i], g * C_g, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, ws_src, P)
                part = ws_src
            y[:] = 0.0
            _tile_product(A[g], part, k_off, y, P, P)
            for r in range(n_C_g):
                c = g * n_C_g + r
                bias = b[c] if has_bias else np.float32(0.0)
                o = out[i, c].reshape(n_H * n_W)
                for h in range(n_H):
                    # unsigned indices: no negative-index test, so the short row copy vectorises
                    src0, dst0 = uint64(r * P + h * n_W_pad), uint64(h * n_W)
                    for w in range(n_W):
                        o[dst0 + uint64(w)] = y[src0 + uint64(w)] + bias


@lanes.parallel(_forward_images, _pack_weights)
def conv2d_forward(images, pack, n_lanes, x, W, b, stride_1, s_H, s_W, p_top, p_left, d_H, d_W, n_W_pad, k_off, reach,
                   A, ws_src, ws_y, out):
    """out = conv(x, W) + b, written into out: (m, n_C, n_H, n_W).

    x: (m, n_C_prev, n_H_prev, n_W_prev); W: (n_C, C_g, f_H, f_W); b: (n_C,) or (0,) for none.
    lanes: threads to use (numba.get_num_threads(); at most ws_src.shape[0] are). stride_1: the
    direct path (s_H = s_W = 1), else im2col. n_W_pad: the row pitch of the wide output
    (n_W + d_W·(f_W − 1) on the direct path, n_W for im2col). k_off: (K4,) tap offsets; reach:
    the furthest read from an image's start. Workspaces (ConvPlan.workspace): A (groups, n_C_g, K4)
    the packed weights; ws_src (lanes, ·) padded image or columns; ws_y (lanes, n_C_g·P) wide rows.
    """
    m = x.shape[0]
    _, _, f_H, f_W = W.shape
    _pack_weights(pack, (W, A))
    n_lanes = max(min(n_lanes, ws_src.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns out[lo:hi] and workspace row t
        _forward_images(images, (t * m // n_lanes, (t + 1) * m // n_lanes, x, f_H, f_W, A, b, stride_1,
                                 s_H, s_W, p_top, p_left, d_H, d_W, n_W_pad, k_off, reach, ws_src[t],
                                 ws_y[t], out))


# ------------------------------------------------------------------ backward

@lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], i8, i8, f4[:, :, :, ::1], b1, i8, i8, i8, i8, i8, "
            "i8, i8, i8[::1], i8[::1], i8, f4[::1], f4[:, ::1], f4[::1], f4[:, :, ::1], f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _backward_images(lo, hi, x, dout, f_H, f_W, A_dx, stride_1, s_H, s_W, p_top, p_left, d_H, d_W, n_W_pad, k_off,
                     k_off_dx, reach, ws_src, dy, ws_dx, G, gb, dx):
    """conv2d_backward for images lo … hi − 1 with one lane's workspace rows; adds into G (dW) and gb (db)."""
    m, n_C_prev, n_H_prev, n_W_prev = x.shape
    n_C, n_H, n_W = dout.shape[1], dout.shape[2], dout.shape[3]
    groups = G.shape[0]
    C_g, n_C_g = n_C_prev // groups, n_C // groups
    P = dy.shape[1]
    n_H_pad = n_H + d_H * (f_H - 1)
    pitch = n_H_pad * n_W_pad
    pitch_dx = max(pitch, P)  # channels of dx_pad: a product row of P never reaches the next channel
    need_dx = dx.shape[0] > 0
    dyf = dy.reshape(n_C * P)
    for i in range(lo, hi):
        for c in range(n_C):
            d = dout[i, c].reshape(n_H * n_W)
            for h in range(n_H):  # wide rows; the discarded columns stay zero
                src0, dst0 = uint64(h * n_W), uint64(c * P + h * n_W_pad)
                for w in range(n_W):
                    dyf[dst0 + uint64(w)] = d[src0 + uint64(w)]
            row = dy[c]
            total = np.float32(0.0)
            for q in range(P):  # a reassociated reduction: vector registers
                total += row[q]
            gb[c] += total
        if stride_1:
            src = _source(x, i, ws_src, pitch, n_H_pad, n_W_pad, p_top, p_left, reach)
        elif need_dx:
            dx[i] = 0.0  # col2im accumulates
        for g in range(groups):
            if stride_1:
                part = src[g * C_g * pitch:]
            else:
                _im2col_image(x[i], g * C_g, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, ws_src, P)
                part = ws_src
            _tile_gradient(dy[g * n_C_g:(g + 1) * n_C_g], part, k_off, G[g], P)
            if not need_dx:
                continue
            dout_g = dyf[g * n_C_g * P:]
            if stride_1:
                # each tap adds Wᵀ·dout to dx_pad shifted by the tap's offset: col2im fused into the product
                ws_dx[:] = 0.0
                for a in range(f_H):
                    for bb in range(f_W):
                        _tile_product(A_dx[g, a * f_W + bb], dout_g, k_off_dx, ws_dx[a * d_H * n_W_pad + bb * d_W:],
                                      pitch_dx, P)
                for c in range(C_g):
                    o = dx[i, g * C_g + c].reshape(n_H_prev * n_W_prev)
                    for y in range(n_H_prev):
                        src0 = uint64(c * pitch_dx + (y + p_top) * n_W_pad + p_left)
                        dst0 = uint64(y * n_W_prev)
                        for w in range(n_W_prev):
                            o[dst0 + uint64(w)] = ws_dx[src0 + uint64(w)]
            else:
                ws_dx[:] = 0.0
                _tile_product(A_dx[g, 0], dout_g, k_off_dx, ws_dx, P, P)  # dcols = Wᵀ·dout
                _col2im_image(ws_dx, P, g * C_g, C_g, f_H, f_W, s_H, s_W, p_top, p_left, d_H, d_W, n_H, n_W, dx[i])


@lanes.body("void(f4[:, :, :, ::1], f4[:, ::1], i8, f4[:, :, :, ::1], f4[::1])", boundscheck=False)
def _sum_lanes(dW_lanes, db_lanes, lanes, dW, db):
    """dW[g·n_C_g + r, c', a, b'] = Σ_t dW_lanes[t, g, r, (c'·f_H + a)·f_W + b'], db = Σ_t db_lanes[t] (if db has rows)."""
    _, C_g, f_H, f_W = dW.shape
    groups, n_C_g = dW_lanes.shape[1], dW_lanes.shape[2]
    dW[...] = 0.0
    for t in range(lanes):
        for g in range(groups):
            for r in range(n_C_g):
                for c in range(C_g):
                    for a in range(f_H):
                        for bb in range(f_W):
                            dW[g * n_C_g + r, c, a, bb] += dW_lanes[t, g, r, (c * f_H + a) * f_W + bb]
    if db.shape[0] > 0:
        db[...] = 0.0
        for t in range(lanes):
            db += db_lanes[t]


@lanes.parallel(_backward_images, _pack_weights_dx, _sum_lanes)
def conv2d_backward(images, pack, sum_lanes, n_lanes, x, dout, W, stride_1, s_H, s_W, p_top, p_left, d_H, d_W,
                    n_W_pad, k_off, reach, k_off_dx, A_dx, ws_src, ws_dy, ws_dx, dW_lanes, db_lanes, dW, db, dx):
    """dW, db and (when dx has rows) dx of conv2d_forward, written into the caller's arrays.

    dout: (m, n_C, n_H, n_W); dW like W; db: (n_C,) or (0,) for none; dx like x, or with 0 rows
    when the input needs no gradient (the network's input). Arguments as conv2d_forward's, and the
    workspaces (ConvPlan.workspace): k_off_dx (n_C_g rounded up to 4,) = c·P, the rows of dout;
    A_dx the packed Wᵀ (_pack_weights_dx); ws_dy (lanes, n_C, P) dout in the wide layout; ws_dx
    (lanes, ·) dx_pad (stride 1) or dcols (im2col); dW_lanes (lanes, groups, n_C_g, K4) and
    db_lanes (lanes, n_C) per-lane sums, added after the parallel loop.
    """
    m = x.shape[0]
    _, _, f_H, f_W = W.shape
    if dx.shape[0] > 0:
        _pack_weights_dx(pack, (W, stride_1, A_dx))
    n_lanes = max(min(n_lanes, ws_src.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns dx[lo:hi], dW_lanes[t], db_lanes[t] and workspace row t
        dW_lanes[t] = 0.0
        db_lanes[t] = 0.0
        _backward_images(images, (t * m // n_lanes, (t + 1) * m // n_lanes, x, dout, f_H, f_W, A_dx,
                                  stride_1, s_H, s_W, p_top, p_left, d_H, d_W, n_W_pad, k_off, k_off_dx,
                                  reach, ws_src[t], ws_dy[t], ws_dx[t], dW_lanes[t], db_lanes[t], dx))
    _sum_lanes(sum_lanes, (dW_lanes, db_lanes, n_lanes, dW, db))


# ------------------------------------------------------------------ 1×1 convolutions: positions × channels

@njit(cache=True, boundscheck=False)
def _to_rows(x, lo, hi, rows):
    """rows[(i − lo)·n_H·n_W + q, c] = x[i, c, q] for images lo … hi − 1; the rows after them zero.

    x: (m, C, n_H, n_W); rows: (R, ≥ C), its columns from C on never written (they stay zero).
    One row per position, the channels along it: the products of a 1×1 convolution then run along
    the channels (16 to 1280 floats) instead of along a 1×1 or 2×2 map.
    """
    _, C, H, W = x.shape
    for i in range(lo, hi):  # plain indices, no views: a view per (i, c) cost more than the copy
        for y in range(H):
            for xx in range(W):
                r = ((i - lo) * H + y) * W + xx
                for c in range(C):
                    rows[r, c] = x[i, c, y, xx]
    for r in range((hi - lo) * H * W, rows.shape[0]):
        for c in range(C):
            rows[r, c] = 0.0


@njit(cache=True, boundscheck=False)
def _from_rows(rows, lo, hi, b, out):
    """out[i, c, q] = rows[(i − lo)·n_H·n_W + q, c] + b[c] for images lo … hi − 1 (b zero-length: no bias)."""
    _, C, H, W = out.shape
    has_bias = b.shape[0] > 0
    for i in range(lo, hi):
        for y in range(H):
            for xx in range(W):
                r = ((i - lo) * H + y) * W + xx
                if has_bias:
                    for c in range(C):
                        out[i, c, y, xx] = rows[r, c] + b[c]
                else:
                    for c in range(C):
                        out[i, c, y, xx] = rows[r, c]


@njit(cache=True, boundscheck=False)
def _to_columns(x, lo, hi, cols):
    """cols[c, (i − lo)·n_H·n_W + q] = x[i, c, q] for images lo … hi − 1; the columns after them zero.
    x: (m, C, n_H, n_W); cols: (C, R)."""
    _, C, H, W = x.shape
    for c in range(C):
        for i in range(lo, hi):
            for y in range(H):
                base = ((i - lo) * H + y) * W
                for xx in range(W):
                    cols[c, base + xx] = x[i, c, y, xx]
        for q in range((hi - lo) * H * W, cols.shape[1]):
            cols[c, q] = 0.0


@lanes.body("void(f4[:, :, :, ::1], f4[:, ::1], f4[:, ::1])", boundscheck=False)
def _pack_pointwise(W, WT, Wp):
    """WT[c', c] = Wp[c, c'] = W[c, c', 0, 0]; WT: (C16, N16), Wp: (N16, C16) (zero beyond W; a
    zero-row Wp, as the network's first layer needs no dx, is left alone)."""
    n_C, C = W.shape[0], W.shape[1]
    pack_dx = Wp.shape[0] >= n_C
    for c in range(n_C):
        for k in range(C):
            WT[k, c] = W[c, k, 0, 0]
            if pack_dx:
                Wp[c, k] = W[c, k, 0, 0]


@lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[::1], i8, f4[:, ::1], i8[::1], f4[:, ::1], f4[:, ::1], f4[:, :, :, "
            "::1])",
            fastmath=FASTMATH, boundscheck=False)
def _pointwise_forward_images(lo, hi, x, b, chunk, WT, k_off_C, XT, YT, out):
    """pointwise_forward for images lo … hi − 1, `chunk` images (XT's rows) per product."""
    YTf = YT.reshape(YT.shape[0] * YT.shape[1])
    for i0 in range(lo, hi, chunk):
        i1 = min(i0 + chunk, hi)
        _to_rows(x, i0, i1, XT)
        YTf[:] = 0.0
        _tile_product(XT, WT.reshape(WT.shape[0] * WT.shape[1]), k_off_C, YTf, YT.shape[1], YT.shape[1])
        _from_rows(YT, i0, i1, b, out)


@lanes.parallel(_pointwise_forward_images, _pack_pointwise)
def pointwise_forward(images, pack, n_lanes, x, W, b, chunk, k_off_C, WT, Wp, ws_rows_x, ws_rows_y, out):
    """out = conv(x, W) + b for a 1×1 kernel, stride 1, no padding, groups 1:
    out[i, c, q] = b[c] + Σ_c' W[c, c', 0, 0] · x[i, c', q].

    x: (m, C, n_H, n_W); W: (n_C, C, 1, 1); b: (n_C,) or (0,); out: (m, n_C, n_H, n_W). With
    C16, N16 = C, n_C rounded up to 16 and R = chunk·n_H·n_W rounded up to 4: lane t takes a
    contiguous share of the batch, `chunk` images at a time as rows of positions ws_rows_x[t]
    (R, C16), and computes ws_rows_y[t] (R, N16) = rows · WT, WT (C16, N16) = Wᵀ packed here (and
    Wp (N16, C16) = W, for backward). k_off_C: (C16,) = c'·N16, WT's rows.
    """
    m = x.shape[0]
    _pack_pointwise(pack, (W, WT, Wp))
    n_lanes = max(min(n_lanes, ws_rows_x.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns out[lo:hi] and workspace row t
        _pointwise_forward_images(images, (t * m // n_lanes, (t + 1) * m // n_lanes, x, b, chunk, WT,
                                           k_off_C, ws_rows_x[t], ws_rows_y[t], out))


@lanes.body("void(i8, i8, f4[:, :, :, ::1], f4[:, :, :, ::1], i8, f4[:, ::1], i8[::1], i8[::1], f4[:, ::1], f4[:, "
            "::1], f4[:, ::1], f4[:, ::1], f4[::1], f4[:, :, :, ::1])",
            fastmath=FASTMATH, boundscheck=False)
def _pointwise_backward_images(lo, hi, x, dout, chunk, Wp, k_off_N, k_off_R, X, dYT, dXT, GT, gb, dx):
    """pointwise_backward for images lo … hi − 1; adds dWᵀ into GT (C, N16) and db into gb."""
    n_C = dout.shape[1]
    need_dx = dx.shape[0] > 0
    N16, C16 = dYT.shape[1], dXT.shape[1]
    dYf = dYT.reshape(dYT.shape[0] * N16)
    for i0 in range(lo, hi, chunk):
        i1 = min(i0 + chunk, hi)
        _to_columns(x, i0, i1, X)
        _to_rows(dout, i0, i1, dYT)
        for r in range(dYT.shape[0]):  # along the channels: vector registers
            d = dYT[r]
            for c in range(n_C):
                gb[c] += d[c]
        # dWᵀ[c', :] += Σ_pos x[c', pos] · dout[pos, :]: positions are the taps, channels the row
        _tile_product(X, dYf, k_off_R, GT.reshape(GT.shape[0] * N16), N16, N16)
        if need_dx:  # dx rows = dout rows · W
            dXf = dXT.reshape(dXT.shape[0] * C16)
            dXf[:] = 0.0
            _tile_product(dYT, Wp.reshape(Wp.shape[0] * C16), k_off_N, dXf, C16, C16)
            _from_rows(dXT, i0, i1, gb[:0], dx)


@lanes.parallel(_pointwise_backward_images)
def pointwise_backward(images, n_lanes, x, dout, W, chunk, k_off_N, k_off_R, Wp, ws_cols_x, ws_rows_y, ws_rows_x,
                       GT_lanes, db_lanes, dW, db, dx):
    """dW, db and (when dx has rows) dx of pointwise_forward, whose packed Wp (N16, C16) it reads.

    Per lane: ws_cols_x[t] (C, R) x as channel rows; ws_rows_y[t] (R, N16) dout as position rows;
    ws_rows_x[t] (R, C16) dx's rows. k_off_N: (N16,) = c·C16, Wp's rows; k_off_R: (R,) = pos·N16,
    dout's rows. GT_lanes (lanes, C, N16) and db_lanes (lanes, n_C): per-lane sums of dWᵀ and db,
    added after the parallel loop.
    """
    m = x.shape[0]
    n_lanes = max(min(n_lanes, ws_rows_x.shape[0], m), 1)
    for t in prange(n_lanes):  # lane t owns dx[lo:hi], GT_lanes[t], db_lanes[t] and workspace row t
        GT_lanes[t] = 0.0
        db_lanes[t] = 0.0
        _pointwise_backward_images(images, (t * m // n_lanes, (t + 1) * m // n_lanes, x, dout, chunk, Wp,
                                            k_off_N, k_off_R, ws_cols_x[t], ws_rows_y[t], ws_rows_x[t],
                                            GT_lanes[t], db_lanes[t], dx))
    n_C, C = W.shape[0], W.shape[1]
    for c in range(n_C):
        for k in range(C):
            total = np.float32(0.0)
            for t in range(n_lanes):
                total += GT_lanes[t, k, c]
            dW[c, k, 0, 0] = total
    if db.shape[0] > 0:
        db[...] = 0.0
        for t in range(n_lanes):
            db += db_lanes[t]


def _prefetch(kernel: str) -> None:
    """Hand the bodies of a kernel (ConvPlan.kernel, or a conv2d path) to the compile helper when Numba's cache
    lacks them: on a cold start they compile in another process meanwhile (layers/lanes.py)."""
    pairs = {"direct": (conv2d_forward, conv2d_backward), "conv2d": (conv2d_forward, conv2d_backward),
             "gemm": (gemm_kernels.gemm_forward, gemm_kernels.gemm_backward),
             "winograd": (winograd_kernels.winograd_forward, winograd_kernels.winograd_backward),
             "pointwise": (pointwise_forward, pointwise_backward),
             "depthwise": (depthwise_forward, depthwise_backward),
             "depthwise_batched": (depthwise_forward_batched, depthwise_backward_batched)}
    lanes.prefetch([body for kernel_fn in pairs.get(kernel, ()) for body in kernel_fn.bodies])


class Conv:
    """A conv layer's kernels with their buffers, for batches of at most m images.

    stride (s_H, s_W), pads (p_top, p_bottom, p_left, p_right), dilation (d_H, d_W), groups;
    n_H, n_W from arith.out_length. Allocates out: (m, n_C, n_H, n_W), dx: (m, n_C_prev, n_H_prev,
    n_W_prev) and the workspace (for numba.config.NUMBA_NUM_THREADS lanes) once; forward and backward
    return views of out and dx (the first rows for a smaller last batch), overwritten by the next call.
    b, db: None for a conv without bias. need_dx False (a conv on the network's input) allocates no
    dx and no dx workspace; backward must then be called with need_dx=False.
    """

    def __init__(self, m, n_C_prev, n_H_prev, n_W_prev, n_C, f, stride, pads, dilation, groups, n_H, n_W,
                 need_dx=True, path=None):
        self.plan = ConvPlan(m, n_C_prev, n_H_prev, n_W_prev, n_C, f[0], f[1], stride[0], stride[1], tuple(pads),
                             dilation[0], dilation[1], groups, n_H, n_W, max(1, numba.config.NUMBA_NUM_THREADS))
        self.need_dx = need_dx
        self.choice = None
        if self.plan.kernel == "conv2d":  # the direct kernels or im2col + sgemm: tuning decides (path forces)
            self.choice = self._choose(path)
            p = self.plan
            if self.choice["path"] == "gemm":
                tuning.pin_scipy_blas()
                chunk = tuning.gemm_chunk(p.share, p.n_H * p.n_W, p.K)
                self.plan = dataclasses.replace(p, gemm_chunk=chunk)
                self.choice["chunk"] = chunk
            elif self.choice["path"] == "winograd":
                tuning.pin_scipy_blas()
                chunk = tuning.winograd_chunk(p.share, p.tiles[0], p.n_C_prev, p.n_C)
                self.plan = dataclasses.replace(p, winograd_chunk=chunk)
                self.choice["chunk"] = chunk
        _prefetch((self.choice or {}).get("path", self.plan.kernel))
        self.ws = self.plan.workspace(need_dx, self.plan.kernel)
        self.arena, self.shared = None, frozenset()  # share(): the arena and the names leased from it
        self.out = np.empty((m, n_C, n_H, n_W), np.float32)
        self.dx = np.empty((m if need_dx else 0, n_C_prev, n_H_prev, n_W_prev), np.float32)
        self._none = np.zeros(0, np.float32)  # the kernels' "no bias"
        self._no_dx = np.zeros((0, n_C_prev, n_H_prev, n_W_prev), np.float32)
        p = self.plan
        self._depthwise_geometry = (p.s_H, p.s_W, p.pads[0], p.pads[2], p.d_H, p.d_W)
        self.x = None

    def _choose(self, path):
        """tuning.choose's record for this layer; path "direct", "gemm" or "winograd" forces one without measuring
        (winograd only where eligible, else direct)."""
        p = self.plan
        candidates = ("direct", "gemm", "winograd") if p.winograd_eligible else ("direct", "gemm")
        if path is not None:
            usable = path == "direct" or (tuning.blas_in_numba() and path in candidates)
            return {"path": path if usable else "direct", "source": "argument"}
        layer = {"m": p.share, "n_C_prev": p.n_C_prev, "n_H_prev": p.n_H_prev, "n_W_prev": p.n_W_prev, "n_C": p.n_C,
                 "f": [p.f_H, p.f_W], "s": [p.s_H, p.s_W], "p": list(p.pads), "d": [p.d_H, p.d_W], "groups": p.groups,
                 "need_dx": self.need_dx}
        macs = p.n_C * p.n_H * p.n_W * p.K

        m1 = min(p.m, p.lanes * tuning.gemm_chunk(p.share, p.n_H * p.n_W, p.K))
        m2 = min(p.m, 2 * m1)
        probes, data = {}, []

        def trial(candidate):
            """Seconds of one forward and backward with that path on the whole batch, estimated from one chunk of
            images per lane and two chunks: t(m) = fixed + per_image·m, so that what a path pays once per call
            (Winograd's filter transform and dW's reduction, the direct path's weight packing) is not scaled up
            with the images as a single size would. Each path's probe layer is built once, so its buffers' first
            touch is in the untimed first trial, not in every one."""
            if not data:
                rng = np.random.default_rng(0)
                data.extend((rng.standard_normal((m2, p.n_C_prev, p.n_H_prev, p.n_W_prev), dtype=np.float32),
                             rng.standard_normal((p.n_C, p.C_g, p.f_H, p.f_W), dtype=np.float32)))
            x, W = data
            if candidate not in probes:
                probes[candidate] = (Conv(m2, p.n_C_prev, p.n_H_prev, p.n_W_prev, p.n_C, (p.f_H, p.f_W), (p.s_H, p.s_W),
                                          p.pads, (p.d_H, p.d_W), p.groups, p.n_H, p.n_W, need_dx=self.need_dx,
                                          path=candidate), np.empty_like(W))
            probe, dW = probes[candidate]
            seconds = []
            for m in (m1, m2) if m2 > m1 else (m1,):
                start = time.perf_counter()
                out = probe.forward(x[:m], W)
                probe.backward(out, W, dW, need_dx=self.need_dx)
                seconds.append(time.perf_counter() - start)
            return tuning.whole_batch(seconds, (m1, m2), p.m)

        # the threads the kernels will run on; before measuring, the helper compiles every candidate's bodies
        return tuning.choose(layer, macs, numba.get_num_threads(), trial, candidates,
                             lambda paths: [_prefetch(path) for path in paths])

    def share(self, arena) -> None:
        """Leases every workspace array but those the plan keeps (ConvPlan.KEEP) from arena (layers/workspace.py):
        arena.allocate() replaces them in self.ws with views of its block."""
        kernel = self.plan.kernel
        keep = ConvPlan.KEEP.get(kernel, ())
        shapes = {k: v for k, v in self.plan.workspace_shapes(self.need_dx, kernel).items() if k not in keep}
        arena.lease(self, shapes, self.ws, ConvPlan.REWRITTEN.get(kernel, ()))
        self.arena, self.shared = arena, frozenset(shapes)

    def forward(self, x, W, b=None):
        """x: (m, n_C_prev, n_H_prev, n_W_prev) → out: (m, n_C, n_H, n_W); keeps x for backward."""
        if self.arena is not None:
            self.arena.claim(self)
        self.x = x = np.ascontiguousarray(x, np.float32)
        ws, out = self.ws, self.out[:x.shape[0]]
        kernel = self.plan.kernel
        if kernel == "depthwise_batched":
            depthwise_forward_batched(numba.get_num_threads(), x, W, self._none if b is None else b,
                                      *self._depthwise_geometry, ws["X"], ws["Y"], out)
            return out
        if kernel == "depthwise":
            depthwise_forward(numba.get_num_threads(), x, W, self._none if b is None else b, *self._depthwise_geometry,
                              ws["xp"], out)
            return out
        if kernel == "pointwise":
            pointwise_forward(numba.get_num_threads(), x, W, self._none if b is None else b, self.plan.chunk,
                              ws["k_off_C"], ws["WT"], ws["Wp"], ws["ws_rows_x"], ws["ws_rows_y"], out)
            return out
        if kernel == "gemm":
            p = self.plan
            gemm_kernels.gemm_forward(numba.get_num_threads(), x, np.ascontiguousarray(W), self._none if b is None else b,
                                      p.s_H, p.s_W, p.pads[0], p.pads[2], p.d_H, p.d_W, p.gemm_chunk, ws["cols"],
                                      ws["y"], out)
            return out
        if kernel == "winograd":  # lanes: the plan's, not the threads running them, so the sums never depend on those
            p = self.plan
            winograd_kernels.winograd_forward(p.lanes, x, np.ascontiguousarray(W), self._none if b is None else b,
                                              p.pads[0], p.pads[2], p.winograd_chunk, ws["U"], ws["plane"], ws["V"],
                                              ws["M"], ws["rows"], ws["out_plane"], out)
            return out
        conv2d_forward(numba.get_num_threads(), x, W, self._none if b is None else b, *self.plan.geometry(),
                       ws["k_off"], self.plan.reach, ws["A"], ws["ws_src"], ws["ws_y"], out)
        return out

    def backward(self, dout, W, dW, db=None, need_dx=True):
        """dout: (m, n_C, n_H, n_W) → dx (None unless need_dx); writes dW (n_C, C_g, f_H, f_W) and db (n_C,)."""
        if self.arena is not None:
            self.arena.claim(self)
        x, ws = self.x, self.ws
        if need_dx and self.dx.shape[0] < x.shape[0]:
            raise ValueError("this Conv was built with need_dx=False: it has no dx buffer")
        dx = self.dx[:x.shape[0]] if need_dx else self._no_dx
        dout = np.ascontiguousarray(dout, np.float32)
        kernel = self.plan.kernel
        if kernel == "depthwise_batched":
            depthwise_backward_batched(numba.get_num_threads(), x, dout, W, *self._depthwise_geometry, ws["X"], ws["Y"],
                                       ws["dX"], ws["acc"], dW, self._none if db is None else db, dx)
            return dx if need_dx else None
        if kernel == "depthwise":
            depthwise_backward(numba.get_num_threads(), x, dout, W, *self._depthwise_geometry, ws["xp"], ws["dxp"], dW,
                               self._none if db is None else db, dx)
            return dx if need_dx else None
        if kernel == "pointwise":
            pointwise_backward(numba.get_num_threads(), x, dout, W, self.plan.chunk, ws["k_off_N"], ws["k_off_R"],
                               ws["Wp"], ws["ws_cols_x"], ws["ws_rows_y"], ws["ws_rows_x"], ws["GT_lanes"],
                               ws["db_lanes"], dW, self._none if db is None else db, dx)
            return dx if need_dx else None
        if kernel == "gemm":
            p = self.plan
            gemm_kernels.gemm_backward(numba.get_num_threads(), x, dout, np.ascontiguousarray(W), p.s_H, p.s_W,
                                       p.pads[0], p.pads[2], p.d_H, p.d_W, p.gemm_chunk, ws["cols"], ws["dy"],
                                       ws["dcols"], ws["G_tmp"], ws["G_lanes"], ws["db_lanes"], dW,
                                       self._none if db is None else db, dx)
            return dx if need_dx else None
        if kernel == "winograd":
            p = self.plan
            winograd_kernels.winograd_backward(p.lanes, x, dout, np.ascontiguousarray(W), p.pads[0], p.pads[2],
                                               p.winograd_chunk, ws["U"], ws["plane"], ws["V"], ws["M"], ws["rows"],
                                               ws["out_plane"], ws["dU_tmp"], ws["dU_lanes"], ws["db_lanes"], dW,
                                               self._none if db is None else db, dx)
            return dx if need_dx else None
        conv2d_backward(numba.get_num_threads(), x, dout, W, *self.plan.geometry(),
                        ws["k_off"], self.plan.reach, ws["k_off_dx"], ws["A_dx"], ws["ws_src"], ws["ws_dy"],
                        ws["ws_dx"], ws["dW_lanes"], ws["db_lanes"], dW, self._none if db is None else db, dx)
        return dx if need_dx else None


def conv_forward(x, W, b, stride=(1, 1), pads=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Allocating form for tests and simple callers: returns (out, cache); b may be None.

    x: (m, n_C_prev, n_H_prev, n_W_prev), W: (n_C, n_C_prev // groups, f_H, f_W) → out: (m, n_C, n_H, n_W),
    n_H = arith.out_length(n_H_prev, f_H, s_H, p_top, p_bottom, d_H).n_out, and the same along W.
    """
    from cnncalc.layers import arith

    x = np.ascontiguousarray(x, np.float32)
    W = np.ascontiguousarray(W, np.float32)
    m, n_C_prev, n_H_prev, n_W_prev = x.shape
    n_C, _, f_H, f_W = W.shape
    n_H = arith.out_length(n_H_prev, f_H, stride[0], pads[0], pads[1], dilation[0]).n_out
    n_W = arith.out_length(n_W_prev, f_W, stride[1], pads[2], pads[3], dilation[1]).n_out
    layer = Conv(m, n_C_prev, n_H_prev, n_W_prev, n_C, (f_H, f_W), stride, pads, dilation, groups, n_H, n_W)
    b = None if b is None else np.ascontiguousarray(b, np.float32)
    out = layer.forward(x, W, b).copy()
    return out, (layer, W, b is not None)


def conv_backward(dout, cache):
    """Returns (dx, dW, db) for the cache of conv_forward; db is None for a conv without bias."""
    layer, W, has_bias = cache
    dW = np.empty_like(W)
    db = np.empty(W.shape[0], np.float32) if has_bias else None
    dx = layer.backward(np.ascontiguousarray(dout, np.float32), W, dW, db).copy()
    return dx, dW, db
