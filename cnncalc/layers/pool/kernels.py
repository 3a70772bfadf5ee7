"""Pooling kernels for the trainer (float32, NCHW), each forward beside its backward.

    x: (m, n_C, n_H_prev, n_W_prev) → out: (m, n_C, n_H, n_W); n_H, n_W from arith.out_length
    (floor or ceil mode) and read here from out's shape
    window (h, w) covers rows y0 = h·s_H − p_top … y0 + f_H − 1
                     and columns x0 = w·s_W − p_left … x0 + f_W − 1;
    positions outside the input are padding, so ceil-mode windows that hang over the bottom/right edge work.

max:  out = the largest input in the window, PyTorch's rule exactly: scanning the window row by row,
      a value replaces the best if it is larger or NaN (so NaN wins and a diverging run is noticed;
      ties keep the first). argmax: (m, n_C, n_H, n_W) int64 holds y·n_W_prev + x of the winner, the
      cache of the backward pass, which adds dout there.
avg:  out = Σ window / divisor, PyTorch's divisor: with count_include_pad, the window clipped to the
      padded input (n + p_b, so the part of a ceil-mode window beyond the padding does not count);
      without, the number of input positions covered. The backward spreads dout / divisor back.
global average: x: (m, n_C, n_H, n_W) → (m, n_C), the mean over n_H·n_W (numpy).
adaptive (PyTorch's AdaptiveAvgPool2d / AdaptiveMaxPool2d): output (h, w) reads rows ⌊h·n_H_prev/n_H⌋ …
      ⌈(h + 1)·n_H_prev/n_H⌉ − 1, the same along W; windows may overlap. Max keeps an argmax as above
      (its backward is maxpool_backward); global max pooling is the adaptive max to 1×1.

Speed: the windows that lie inside the input's columns are computed apart from the few that cross
the left/right edge, without bounds tests; average pooling runs one loop over the output columns per
window tap (vectorisable); max pooling of 2×2 windows is unrolled. Each parallel kernel is a thin
`prange` over the batch (each iteration owning its out/argmax/dx slice) calling a serial function
for one image: the same loops compiled inside the prange body ran 3× slower (numba 0.68).
Self-contained but for layers/lanes.py's call to the lane bodies (Numba's cache does not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cnncalc.layers import lanes


@njit(cache=True)
def _inner_columns(n_W, n_W_prev, f_W, s_W, p_left):
    """[w_lo, w_hi): the output columns whose window lies wholly inside the input's columns."""
    w_lo = min(-(-p_left // s_W), n_W)  # x0 = w·s_W − p_left ≥ 0
    w_hi = w_lo
    while w_hi < n_W and w_hi * s_W - p_left + f_W <= n_W_prev:
        w_hi += 1
    return w_lo, w_hi


@njit(cache=True)
def _max_window(xp, n_W_prev, y0, a_lo, a_hi, x0, b_lo, b_hi):
    """(max, flat index) of one window clipped to rows y0+a_lo…y0+a_hi−1, columns x0+b_lo…x0+b_hi−1 of the
    flat plane xp; scanned row by row, a value replaces the best if larger or NaN. Empty: (−inf, −1)."""
    if a_lo >= a_hi or b_lo >= b_hi:
        return np.float32(-np.inf), -1
    bk = (y0 + a_lo) * n_W_prev + x0 + b_lo
    bv = xp[bk]
    for a in range(a_lo, a_hi):
        base = (y0 + a) * n_W_prev + x0
        for b in range(b_lo, b_hi):
            v = xp[base + b]
            if v > bv or v != v:
                bv = v
                bk = base + b
    return bv, bk


@lanes.body("void(f4[:, :, ::1], i8, i8, i8, i8, i8, i8, f4[:, :, ::1], i8[:, :, ::1])")
def _maxpool_image(x, f_H, f_W, s_H, s_W, p_top, p_left, out, argmax):
    """maxpool_forward for one image: x (n_C, n_H_prev, n_W_prev) → out, argmax (n_C, n_H, n_W)."""
    n_C, n_H_prev, n_W_prev = x.shape
    n_H, n_W = out.shape[1], out.shape[2]
    w_lo, w_hi = _inner_columns(n_W, n_W_prev, f_W, s_W, p_left)
    for c in range(n_C):
        xp = x[c].reshape(n_H_prev * n_W_prev)
        for h in range(n_H):
            y0 = h * s_H - p_top
            a_lo = max(-y0, 0)
            a_hi = min(f_H, n_H_prev - y0)
            best = out[c, h]
            where = argmax[c, h]
            unrolled = f_H == 2 and f_W == 2 and a_lo == 0 and a_hi == 2
            if unrolled:
                # 2×2 inside the input: with the four taps in registers the comparisons become selects
                k0 = y0 * n_W_prev
                k1 = k0 + n_W_prev
                for w in range(w_lo, w_hi):
                    x0 = w * s_W - p_left
                    bk = k0 + x0
                    bv = xp[bk]
                    v = xp[k0 + x0 + 1]
                    if v > bv or v != v:
                        bv = v
                        bk = k0 + x0 + 1
                    v = xp[k1 + x0]
                    if v > bv or v != v:
                        bv = v
                        bk = k1 + x0
                    v = xp[k1 + x0 + 1]
                    if v > bv or v != v:
                        bv = v
                        bk = k1 + x0 + 1
                    best[w] = bv
                    where[w] = bk
            for w in range(n_W):  # every other window, clipped to the input
                if unrolled and w_lo <= w < w_hi:
                    continue
                x0 = w * s_W - p_left
                best[w], where[w] = _max_window(xp, n_W_prev, y0, a_lo, a_hi, x0, max(-x0, 0), min(f_W, n_W_prev - x0))


@lanes.parallel(_maxpool_image)
def maxpool_forward(image, x, f_H, f_W, s_H, s_W, p_top, p_left, out, argmax):
    """out[i, c, h, w] = max of the window; argmax[i, c, h, w] = y·n_W_prev + x of the winner.

    x: (m, n_C, n_H_prev, n_W_prev); out, argmax: (m, n_C, n_H, n_W). The bottom/right padding is
    implied by out's shape (ceil mode included). A window wholly in the padding (possible only
    with p ≥ f, which PyTorch refuses) gives −inf with argmax −1.
    """
    for i in prange(x.shape[0]):
        _maxpool_image(image, (x[i], f_H, f_W, s_H, s_W, p_top, p_left, out[i], argmax[i]))


@lanes.body("void(f4[:, :, ::1], i8[:, :, ::1], f4[:, :, ::1])")
def _maxpool_backward_image(dout, argmax, dx):
    """maxpool_backward for one image: dout, argmax (n_C, n_H, n_W) → dx (n_C, n_H_prev, n_W_prev)."""
    n_C, n_H, n_W = dout.shape
    plane_size = dx.shape[1] * dx.shape[2]
    dx[...] = 0.0
    for c in range(n_C):
        plane = dx[c].reshape(plane_size)  # flat: no division per element
        for h in range(n_H):
            g = dout[c, h]
            k = argmax[c, h]
            for w in range(n_W):
                if k[w] >= 0:
                    plane[k[w]] += g[w]


@lanes.parallel(_maxpool_backward_image)
def maxpool_backward(image, dout, argmax, dx):
    """dx[i, c] gets each dout[i, c, h, w] at the flat position argmax[i, c, h, w], zero elsewhere.

    dout, argmax: (m, n_C, n_H, n_W); dx: (m, n_C, n_H_prev, n_W_prev).
    """
    for i in prange(dout.shape[0]):
        _maxpool_backward_image(image, (dout[i], argmax[i], dx[i]))


@njit(cache=True)
def _avg_divisors(n_H, n_W, n_H_prev, n_W_prev, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left, p_right, include_pad):
    """(1/rows, 1/cols): the divisor of window (h, w) is rows[h]·cols[w] (see the module docstring).
    A window wholly in the padding (p ≥ f, refused by PyTorch) covers nothing: counted as 1, it gives 0."""
    rows = np.empty(n_H, np.float32)
    cols = np.empty(n_W, np.float32)
    for h in range(n_H):
        y0 = h * s_H - p_top
        if include_pad:
            rows[h] = min(y0 + f_H, n_H_prev + p_bottom) - y0
        else:
            rows[h] = max(min(y0 + f_H, n_H_prev) - max(y0, 0), 1)
    for w in range(n_W):
        x0 = w * s_W - p_left
        if include_pad:
            cols[w] = min(x0 + f_W, n_W_prev + p_right) - x0
        else:
            cols[w] = max(min(x0 + f_W, n_W_prev) - max(x0, 0), 1)
    return np.float32(1.0) / rows, np.float32(1.0) / cols


@lanes.body("void(f4[:, :, ::1], i8, i8, i8, i8, i8, i8, f4[::1], f4[::1], f4[:, :, ::1])")
def _avgpool_image(x, f_H, f_W, s_H, s_W, p_top, p_left, inv_rows, inv_cols, out):
    """avgpool_forward for one image: x (n_C, n_H_prev, n_W_prev) → out (n_C, n_H, n_W)."""
    n_C, n_H_prev, n_W_prev = x.shape
    n_H, n_W = out.shape[1], out.shape[2]
    w_lo, w_hi = _inner_columns(n_W, n_W_prev, f_W, s_W, p_left)
    n_in = w_hi - w_lo
    x_in = w_lo * s_W - p_left  # first input column of the inner windows, ≥ 0
    for c in range(n_C):
        for h in range(n_H):
            y0 = h * s_H - p_top
            o = out[c, h]
            o[:] = 0.0
            o_in = o[w_lo:w_hi]
            for a in range(max(-y0, 0), min(f_H, n_H_prev - y0)):
                row = x[c, y0 + a]
                for b in range(f_W):
                    seg = row[x_in + b:]  # a slice keeps the index provably ≥ 0: the loop vectorises
                    for j in range(n_in):
                        o_in[j] += seg[j * s_W]
                for w in range(n_W):
                    if w_lo <= w < w_hi:
                        continue
                    x0 = w * s_W - p_left
                    for xx in range(max(x0, 0), min(x0 + f_W, n_W_prev)):
                        o[w] += row[xx]
            for w in range(n_W):
                o[w] = o[w] * inv_rows[h] * inv_cols[w]


@lanes.parallel(_avgpool_image)
def avgpool_forward(image, x, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left, p_right, include_pad, out):
    """out[i, c, h, w] = Σ window / divisor. x: (m, n_C, n_H_prev, n_W_prev); out: (m, n_C, n_H, n_W)."""
    m, n_C, n_H_prev, n_W_prev = x.shape
    n_H, n_W = out.shape[2], out.shape[3]
    inv_rows, inv_cols = _avg_divisors(n_H, n_W, n_H_prev, n_W_prev, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left,
                                       p_right, include_pad)
    for i in prange(m):
        _avgpool_image(image, (x[i], f_H, f_W, s_H, s_W, p_top, p_left, inv_rows, inv_cols, out[i]))


@lanes.body("void(f4[:, :, ::1], i8, i8, i8, i8, i8, i8, f4[::1], f4[::1], f4[:, :, ::1])")
def _avgpool_backward_image(dout, f_H, f_W, s_H, s_W, p_top, p_left, inv_rows, inv_cols, dx):
    """avgpool_backward for one image: dout (n_C, n_H, n_W) → dx (n_C, n_H_prev, n_W_prev)."""
    n_C, n_H, n_W = dout.shape
    n_H_prev, n_W_prev = dx.shape[1], dx.shape[2]
    w_lo, w_hi = _inner_columns(n_W, n_W_prev, f_W, s_W, p_left)
    n_in = w_hi - w_lo
    x_in = w_lo * s_W - p_left
    inv_in = inv_cols[w_lo:w_hi]
    dx[...] = 0.0
    for c in range(n_C):
        for h in range(n_H):
            y0 = h * s_H - p_top
            d = dout[c, h]
            d_in = d[w_lo:w_hi]
            for a in range(max(-y0, 0), min(f_H, n_H_prev - y0)):
                row = dx[c, y0 + a]
                for b in range(f_W):
                    seg = row[x_in + b:]
                    for j in range(n_in):
                        seg[j * s_W] += d_in[j] * inv_rows[h] * inv_in[j]
                for w in range(n_W):
                    if w_lo <= w < w_hi:
                        continue
                    x0 = w * s_W - p_left
                    for xx in range(max(x0, 0), min(x0 + f_W, n_W_prev)):
                        row[xx] += d[w] * inv_rows[h] * inv_cols[w]


@lanes.parallel(_avgpool_backward_image)
def avgpool_backward(image, dout, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left, p_right, include_pad, dx):
    """dx gets dout / divisor at every input position of each window.

    dout: (m, n_C, n_H, n_W); dx: (m, n_C, n_H_prev, n_W_prev).
    """
    m, n_C, n_H, n_W = dout.shape
    n_H_prev, n_W_prev = dx.shape[2], dx.shape[3]
    inv_rows, inv_cols = _avg_divisors(n_H, n_W, n_H_prev, n_W_prev, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left,
                                       p_right, include_pad)
    for i in prange(m):
        _avgpool_backward_image(image, (dout[i], f_H, f_W, s_H, s_W, p_top, p_left, inv_rows, inv_cols, dx[i]))


# ------------------------------------------------------------------ adaptive pooling (PyTorch's windows)

@njit(cache=True)
def _adaptive_bounds(n, n_out):
    """start, end (n_out,) int64: window i covers start[i] … end[i] − 1, with start = ⌊i·n/n_out⌋ and
    end = ⌈(i + 1)·n/n_out⌉ written ⌊((i + 1)·n + n_out − 1)/n_out⌋ (arith.AdaptiveLength.window)."""
    start = np.empty(n_out, np.int64)
    end = np.empty(n_out, np.int64)
    for i in range(n_out):
        start[i] = (i * n) // n_out
        end[i] = ((i + 1) * n + n_out - 1) // n_out
    return start, end


@njit(cache=True)
def _adaptive_avg_image(x, r0, r1, c0, c1, out):
    """adaptive_avgpool_forward for one image: x (n_C, n_H_prev, n_W_prev) → out (n_C, n_H, n_W)."""
    n_C, n_H, n_W = out.shape
    for c in range(n_C):
        for h in range(n_H):
            for w in range(n_W):
                total = np.float32(0.0)
                for y in range(r0[h], r1[h]):
                    for xx in range(c0[w], c1[w]):
                        total += x[c, y, xx]
                out[c, h, w] = total / np.float32((r1[h] - r0[h]) * (c1[w] - c0[w]))


@njit(parallel=True, cache=True)
def adaptive_avgpool_forward(x, out):
    """out[i, c, h, w] = the mean of x[i, c] over rows r0[h] … r1[h] − 1 and columns c0[w] … c1[w] − 1,
    PyTorch's adaptive windows (see _adaptive_bounds). x: (m, n_C, n_H_prev, n_W_prev);
    out: (m, n_C, n_H, n_W), its n_H, n_W the output size."""
    r0, r1 = _adaptive_bounds(x.shape[2], out.shape[2])
    c0, c1 = _adaptive_bounds(x.shape[3], out.shape[3])
    for i in prange(x.shape[0]):
        _adaptive_avg_image(x[i], r0, r1, c0, c1, out[i])


@njit(cache=True)
def _adaptive_avg_backward_image(dout, r0, r1, c0, c1, dx):
    """adaptive_avgpool_backward for one image: dout (n_C, n_H, n_W) → dx (n_C, n_H_prev, n_W_prev)."""
    n_C, n_H, n_W = dout.shape
    dx[...] = 0.0
    for c in range(n_C):
        for h in range(n_H):
            for w in range(n_W):
                g = dout[c, h, w] / np.float32((r1[h] - r0[h]) * (c1[w] - c0[w]))
                for y in range(r0[h], r1[h]):
                    for xx in range(c0[w], c1[w]):
                        dx[c, y, xx] += g  # overlapping windows (n % n_out ≠ 0) both add


@njit(parallel=True, cache=True)
def adaptive_avgpool_backward(dout, dx):
    """dx[i, c] gets dout[i, c, h, w] / (window size) at every position of window (h, w).

    dout: (m, n_C, n_H, n_W); dx: (m, n_C, n_H_prev, n_W_prev)."""
    r0, r1 = _adaptive_bounds(dx.shape[2], dout.shape[2])
    c0, c1 = _adaptive_bounds(dx.shape[3], dout.shape[3])
    for i in prange(dout.shape[0]):
        _adaptive_avg_backward_image(dout[i], r0, r1, c0, c1, dx[i])


@njit(cache=True)
def _adaptive_max_image(x, r0, r1, c0, c1, out, argmax):
    """adaptive_maxpool_forward for one image: x (n_C, n_H_prev, n_W_prev) → out, argmax (n_C, n_H, n_W)."""
    n_C, n_H, n_W = out.shape
    n_W_prev = x.shape[2]
    for c in range(n_C):
        for h in range(n_H):
            for w in range(n_W):
                bv = x[c, r0[h], c0[w]]
                bk = r0[h] * n_W_prev + c0[w]
                for y in range(r0[h], r1[h]):
                    for xx in range(c0[w], c1[w]):
                        v = x[c, y, xx]
                        if v > bv or v != v:
                            bv = v
                            bk = y * n_W_prev + xx
                out[c, h, w] = bv
                argmax[c, h, w] = bk


@njit(parallel=True, cache=True)
def adaptive_maxpool_forward(x, out, argmax):
    """out[i, c, h, w] = the largest x[i, c] in PyTorch's adaptive window (h, w), scanned row by row, a
    value replacing the best if larger or NaN (PyTorch's rule: NaN wins, ties keep the first);
    argmax[i, c, h, w] = y·n_W_prev + x of the winner, for maxpool_backward.
    x: (m, n_C, n_H_prev, n_W_prev); out, argmax: (m, n_C, n_H, n_W)."""
    r0, r1 = _adaptive_bounds(x.shape[2], out.shape[2])
    c0, c1 = _adaptive_bounds(x.shape[3], out.shape[3])
    for i in prange(x.shape[0]):
        _adaptive_max_image(x[i], r0, r1, c0, c1, out[i], argmax[i])


# the backward of adaptive max pooling is maxpool_backward: dout added at each argmax

def global_avgpool_forward(x, out=None):
    """x: (m, n_C, n_H, n_W) → out: (m, n_C), the mean over the n_H·n_W positions (written into out if given)."""
    m, n_C = x.shape[:2]
    return np.mean(x.reshape(m, n_C, -1), axis=2, dtype=np.float32, out=out)


def global_avgpool_backward(dout, in_shape, dx=None):
    """dout: (m, n_C) → dx: (m, n_C, n_H, n_W), every position dout / (n_H·n_W) (written into dx if given)."""
    m, n_C, n_H, n_W = in_shape
    if dx is None:
        dx = np.empty(in_shape, np.float32)
    np.multiply(dout[:, :, None, None], np.float32(1.0 / (n_H * n_W)), out=dx)
    return dx


# ------------------------------------------------------------------ allocating forms and a buffer-owning layer

class Pool:
    """A pool layer's kernels with its buffers, for batches of at most m images.

    kind "max" or "avg"; f (f_H, f_W), stride (s_H, s_W), pads (p_top, p_bottom, p_left, p_right);
    n_H, n_W from arith.out_length (ceil_mode there). Allocates out, argmax (max) and dx once;
    forward/backward return views of them (the first m rows for a smaller last batch), overwritten
    by the next call.
    """

    def __init__(self, kind, m, n_C, n_H_prev, n_W_prev, f, stride, pads, n_H, n_W, count_include_pad=True):
        if kind not in ("max", "avg"):
            raise ValueError(f"pool kind must be 'max' or 'avg'; received {kind!r}")
        self.kind, self.f, self.stride, self.pads = kind, tuple(f), tuple(stride), tuple(pads)
        self.count_include_pad = bool(count_include_pad)
        self.out = np.empty((m, n_C, n_H, n_W), np.float32)
        self.argmax = np.empty((m, n_C, n_H, n_W), np.int64) if kind == "max" else None
        self.dx = np.empty((m, n_C, n_H_prev, n_W_prev), np.float32)
        kernels = (maxpool_forward, maxpool_backward) if kind == "max" else (avgpool_forward, avgpool_backward)
        lanes.prefetch([b for k in kernels for b in k.bodies])  # a cold cache: the helper compiles them meanwhile

    def forward(self, x):
        """x: (m, n_C, n_H_prev, n_W_prev) → out: (m, n_C, n_H, n_W)."""
        x = np.ascontiguousarray(x, np.float32)
        m = x.shape[0]
        (f_H, f_W), (s_H, s_W), (p_top, p_bottom, p_left, p_right) = self.f, self.stride, self.pads
        out = self.out[:m]
        if self.kind == "max":
            maxpool_forward(x, f_H, f_W, s_H, s_W, p_top, p_left, out, self.argmax[:m])
        else:
            avgpool_forward(x, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left, p_right, self.count_include_pad, out)
        return out

    def backward(self, dout):
        """dout: (m, n_C, n_H, n_W) → dx: (m, n_C, n_H_prev, n_W_prev)."""
        dout = np.ascontiguousarray(dout, np.float32)
        m = dout.shape[0]
        dx = self.dx[:m]
        if self.kind == "max":
            maxpool_backward(dout, self.argmax[:m], dx)
        else:
            (f_H, f_W), (s_H, s_W), (p_top, p_bottom, p_left, p_right) = self.f, self.stride, self.pads
            avgpool_backward(dout, f_H, f_W, s_H, s_W, p_top, p_bottom, p_left, p_right, self.count_include_pad, dx)
        return dx


def pool_forward(x, kind, f, stride, pads=(0, 0, 0, 0), ceil_mode=False, count_include_pad=True):
    """Allocating form for tests and simple callers: returns (out, cache).

    x: (m, n_C, n_H_prev, n_W_prev) → out: (m, n_C, n_H, n_W),
    n_H = arith.out_length(n_H_prev, f_H, s_H, p_top, p_bottom, ceil=ceil_mode).n_out, the same along W.
    cache holds the layer (with the argmax indices for max pooling).
    """
    from cnncalc.layers import arith

    m, n_C, n_H_prev, n_W_prev = x.shape
    n_H = arith.out_length(n_H_prev, f[0], stride[0], pads[0], pads[1], ceil=ceil_mode).n_out
    n_W = arith.out_length(n_W_prev, f[1], stride[1], pads[2], pads[3], ceil=ceil_mode).n_out
    layer = Pool(kind, m, n_C, n_H_prev, n_W_prev, f, stride, pads, n_H, n_W, count_include_pad)
    return layer.forward(x).copy(), layer


def pool_backward(dout, cache):
    """Returns dx for the cache of pool_forward."""
    return cache.backward(dout).copy()
