"""Merges of k inputs: element-wise add, concat along the channels (axis 1), and the product of two.

Arrays are float32, C-contiguous.
    add:     x_1 … x_k of one shape (m, n_C, n_H, n_W) or (m, n)
             out = Σ_j x_j;                     dx_j = dout for every j
    concat:  x_j: (m, n_C_j, n_H, n_W) or (m, n_j), equal but for axis 1
             out: (m, Σ_j n_C_j, n_H, n_W), x_j at channels [Σ_{i<j} n_C_i, Σ_{i≤j} n_C_i)
             dx_j = dout[:, Σ_{i<j} n_C_i : Σ_{i≤j} n_C_i], copied to a C-contiguous array

    mul:     a, b of one shape:   out = a·b;          da = dout·b,  db = dout·a
             x: (m, n_C, n_H, n_W) and a gate s: (m, n_C) or (m, n_C, 1, 1), in either order:
             out[:, c, h, w] = x[:, c, h, w]·s[:, c];
             dx = dout·s (broadcast),   ds[:, c] = Σ_{h, w} dout[:, c, h, w]·x[:, c, h, w]

For add and concat numpy does these in one pass each (np.add, np.concatenate and np.copyto with out= allocate
nothing), so no Numba there; mul's backward sums over n_H×n_W, in Numba kernels (float32 arrays,
each compiles once; `kernel.py_func` is the same loop in Python; self-contained, as Numba's cache
does not follow imports). With `out=` / `dxs=` the functions write into the caller's buffers;
without, add_backward hands back dout itself k times (no copy: the caller must not write into
one dx and expect the others unchanged) and concat_backward allocates contiguous copies.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cnncalc.layers.buffers import output_buffer as _buffer




def add_forward(xs, *, out=None):
    """xs: k ≥ 1 arrays of one shape → (out = Σ_j x_j, cache = k)."""
    shape = xs[0].shape
    for j, x in enumerate(xs):
        if x.shape != shape:
            raise ValueError(f"add needs inputs of one shape; input 0 is {shape} but input {j} is {x.shape}")
    out = _buffer(out, shape, "out")
    if len(xs) == 1:
        np.copyto(out, xs[0])
    else:
        np.add(xs[0], xs[1], out=out)
        for x in xs[2:]:
            out += x
    return out, len(xs)


def add_backward(dout, cache, *, dxs=None):
    """dout: the shape of out, cache: k → [dx_1 … dx_k], each equal to dout."""
    k = cache
    if dxs is None:
        return [dout] * k
    for j, dx in enumerate(dxs):
        np.copyto(_buffer(dx, dout.shape, f"dxs[{j}]"), dout)
    return list(dxs)


def concat_forward(xs, *, out=None):
    """xs: k arrays (m, n_C_j, …) equal but for axis 1 → (out (m, Σ_j n_C_j, …), cache = (n_C_1 … n_C_k))."""
    first = xs[0].shape
    for j, x in enumerate(xs):
        if x.ndim != len(first) or x.shape[0] != first[0] or x.shape[2:] != first[2:]:
            raise ValueError(f"concat needs inputs equal but for axis 1; input 0 is {first} but input {j} "
                             f"is {x.shape}")
    sizes = tuple(x.shape[1] for x in xs)
    out = _buffer(out, (first[0], sum(sizes)) + first[2:], "out")
    np.concatenate(xs, axis=1, out=out)
    return out, sizes


def concat_backward(dout, cache, *, dxs=None):
    """dout: (m, Σ_j n_C_j, …), cache: (n_C_1 … n_C_k) → [dx_1 … dx_k], dx_j: (m, n_C_j, …) C-contiguous."""
    sizes = cache
    grads = []
    start = 0
    for j, n_C in enumerate(sizes):
        part = dout[:, start:start + n_C]
        if dxs is None:
            grads.append(np.ascontiguousarray(part))
        else:
            dx = _buffer(dxs[j], part.shape, f"dxs[{j}]")
            np.copyto(dx, part)
            grads.append(dx)
        start += n_C
    return grads


# ------------------------------------------------------------------ mul

@njit(cache=True)
def mul_kernel(a, b, out):
    """a, b, out: (N,) flat.  out[i] = a[i]·b[i]."""
    for i in range(out.size):
        out[i] = a[i] * b[i]


@njit(cache=True)
def mul_backward_kernel(dout, a, b, da, db):
    """all (N,) flat.  da[i] = dout[i]·b[i],  db[i] = dout[i]·a[i]."""
    for i in range(dout.size):
        da[i] = dout[i] * b[i]
        db[i] = dout[i] * a[i]


@njit(cache=True)
def gate_kernel(x, s, out):
    """x, out: (m, n_C, L), s: (m, n_C).  out[i, c, l] = x[i, c, l]·s[i, c]."""
    m, n_C, L = x.shape
    for i in range(m):
        for c in range(n_C):
            v = s[i, c]
            for l in range(L):
                out[i, c, l] = x[i, c, l] * v


@njit(cache=True)
def gate_backward_kernel(dout, x, s, dx, ds):
    """dout, x, dx: (m, n_C, L), s, ds: (m, n_C).
    dx[i, c, l] = dout[i, c, l]·s[i, c];  ds[i, c] = Σ_l dout[i, c, l]·x[i, c, l] (summed in float64)."""
    m, n_C, L = x.shape
    for i in range(m):
        for c in range(n_C):
            v = s[i, c]
            total = 0.0
            for l in range(L):
                g = dout[i, c, l]
                dx[i, c, l] = g * v
                total += g * x[i, c, l]
            ds[i, c] = total


def _contiguous(x):
    return np.ascontiguousarray(x, dtype=np.float32)


def mul_forward(xs, *, out=None):
    """xs: [a, b], of one shape or a map (m, n_C, n_H, n_W) and a gate (m, n_C) / (m, n_C, 1, 1) in either
    order → (out of the larger shape, cache = (a, b, j)), j the index of the gate or None."""
    if len(xs) != 2:
        raise ValueError(f"mul multiplies two inputs; received {len(xs)}")
    a, b = (_contiguous(x) for x in xs)
    if a.shape == b.shape:
        out = _buffer(out, a.shape, "out")
        mul_kernel(a.reshape(-1), b.reshape(-1), out.reshape(-1))
        return out, (a, b, None)
    j = 1 if a.size >= b.size else 0
    x, s = (a, b) if j == 1 else (b, a)
    if x.ndim != 4 or s.shape not in ((x.shape[0], x.shape[1]), (x.shape[0], x.shape[1], 1, 1)):
        raise ValueError(f"mul needs inputs of one shape, or a map and a gate of its channels; "
                         f"received {a.shape} and {b.shape}")
    out = _buffer(out, x.shape, "out")
    m, n_C = x.shape[:2]
    gate_kernel(x.reshape(m, n_C, -1), s.reshape(m, n_C), out.reshape(m, n_C, -1))
    return out, (a, b, j)


def mul_backward(dout, cache, *, dxs=None):
    """dout: the output's shape, cache: (a, b, j) → [da, db] of a's and b's shapes (into dxs if given)."""
    a, b, j = cache
    dout = _contiguous(dout)
    da = _buffer(None if dxs is None else dxs[0], a.shape, "dxs[0]")
    db = _buffer(None if dxs is None else dxs[1], b.shape, "dxs[1]")
    if j is None:
        mul_backward_kernel(dout.reshape(-1), a.reshape(-1), b.reshape(-1), da.reshape(-1), db.reshape(-1))
        return [da, db]
    x, s, dx, ds = (a, b, da, db) if j == 1 else (b, a, db, da)
    m, n_C = x.shape[:2]
    gate_backward_kernel(dout.reshape(m, n_C, -1), x.reshape(m, n_C, -1), s.reshape(m, n_C),
                         dx.reshape(m, n_C, -1), ds.reshape(m, n_C))
    return [da, db]
