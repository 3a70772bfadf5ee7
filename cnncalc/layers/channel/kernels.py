"""Channel slice and channel shuffle for the trainer: copies along axis 1.

Arrays are float32 and C-contiguous; x is (m, n_C_prev, n_H, n_W) or (m, n_prev), which the
wrappers view as (m, n_C, L) with L = n_H·n_W (1 for a flat vector).

    channel_slice [a, b):  out[:, c] = x[:, a + c] for 0 ≤ c < b − a
                           dx[:, c] = dout[:, c − a] for a ≤ c < b, 0 elsewhere
    channel_shuffle g:     out[:, j·g + i] = x[:, i·q + j], q = n_C/g, 0 ≤ i < g, 0 ≤ j < q
                           (PyTorch: x.view(m, g, q, n_H, n_W).transpose(1, 2).reshape(x.shape))
                           dx[:, i·q + j] = dout[:, j·g + i], which is the shuffle with q groups:
                           out'[:, j'·q + i'] = dout[:, i'·g + j'] with i' = j, j' = i.

`X_forward(x, …, out=None) -> (out, cache)` and `X_backward(dout, cache, dx=None) -> dx`: given
`out=`/`dx=` they write into the caller's buffers, else they allocate. Each kernel compiles once
(float32 arrays, int64 counts); serial loops, memory-bound. Self-contained file (Numba's cache does
not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cnncalc.layers.buffers import output_buffer as _buffer


def _input(x):
    """float32 C-contiguous, without a copy when it already is."""
    return np.ascontiguousarray(x, dtype=np.float32)


def _rows(a):
    """(m, n_C, n_H, n_W) or (m, n) → the (m, n_C, L) view the kernels loop over."""
    return a.reshape(a.shape[0], a.shape[1], -1)


# ------------------------------------------------------------------ channel slice

@njit(cache=True)
def slice_kernel(x, start, out):
    """x: (m, n_C_prev, L), out: (m, n_C, L).  out[i, c, l] = x[i, start + c, l]."""
    m, n_C, L = out.shape
    for i in range(m):
        for c in range(n_C):
            for l in range(L):
                out[i, c, l] = x[i, start + c, l]


@njit(cache=True)
def slice_backward_kernel(dout, start, dx):
    """dout: (m, n_C, L), dx: (m, n_C_prev, L).  dx[i, c] = dout[i, c − start] inside the slice, else 0."""
    m, n_C_prev, L = dx.shape
    n_C = dout.shape[1]
    zero = np.float32(0)
    for i in range(m):
        for c in range(n_C_prev):
            k = c - start
            if 0 <= k < n_C:
                for l in range(L):
                    dx[i, c, l] = dout[i, k, l]
            else:
                for l in range(L):
                    dx[i, c, l] = zero


def channel_slice_forward(x, start, stop, *, out=None):
    """x: (m, n_C_prev, …) → (out = x[:, start:stop] as a contiguous array, cache = (start, x.shape))."""
    x = _input(x)
    if not 0 <= start < stop <= x.shape[1]:
        raise ValueError(f"channel slice [{start}, {stop}) outside the {x.shape[1]} channels of {x.shape}")
    out = _buffer(out, (x.shape[0], stop - start) + x.shape[2:], "out")
    slice_kernel(_rows(x), start, _rows(out))
    return out, (start, x.shape)


def channel_slice_backward(dout, cache, *, dx=None):
    """dout: (m, stop − start, …), cache: (start, x's shape) → dx: x's shape, zero outside the slice."""
    start, x_shape = cache
    dout = _input(dout)
    dx = _buffer(dx, (dout.shape[0],) + x_shape[1:], "dx")
    slice_backward_kernel(_rows(dout), start, _rows(dx))
    return dx


# ------------------------------------------------------------------ channel shuffle

@njit(cache=True)
def shuffle_kernel(x, g, out):
    """x, out: (m, n_C, L), g divides n_C, q = n_C/g.  out[:, j·g + i] = x[:, i·q + j]."""
    m, n_C, L = x.shape
    q = n_C // g
    for n in range(m):
        for i in range(g):
            for j in range(q):
                for l in range(L):
                    out[n, j * g + i, l] = x[n, i * q + j, l]


def channel_shuffle_forward(x, groups, *, out=None):
    """x: (m, n_C, …) with groups | n_C → (out of x's shape, cache = groups)."""
    x = _input(x)
    if x.shape[1] % groups:
        raise ValueError(f"channel shuffle: {x.shape[1]} channels do not divide into {groups} groups")
    out = _buffer(out, x.shape, "out")
    shuffle_kernel(_rows(x), groups, _rows(out))
    return out, groups


def channel_shuffle_backward(dout, cache, *, dx=None):
    """dout: (m, n_C, …), cache: g → dx, the inverse permutation: the shuffle with n_C/g groups."""
    g = cache
    dout = _input(dout)
    dx = _buffer(dx, dout.shape, "dx")
    shuffle_kernel(_rows(dout), dout.shape[1] // g, _rows(dx))
    return dx
