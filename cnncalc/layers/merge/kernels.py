"""Merges of k inputs: element-wise add, and concat along the channels (axis 1).

Arrays are float32, C-contiguous.
    add:     x_1 … x_k of one shape (m, n_C, n_H, n_W) or (m, n)
             out = Σ_j x_j;                     dx_j = dout for every j
    concat:  x_j: (m, n_C_j, n_H, n_W) or (m, n_j), equal but for axis 1
             out: (m, Σ_j n_C_j, n_H, n_W), x_j at channels [Σ_{i<j} n_C_i, Σ_{i≤j} n_C_i)
             dx_j = dout[:, Σ_{i<j} n_C_i : Σ_{i≤j} n_C_i], copied to a C-contiguous array

numpy does these in one pass each (np.add, np.concatenate and np.copyto with out= allocate
nothing), so no Numba here. With `out=` / `dxs=` the functions write into the caller's buffers;
without, add_backward hands back dout itself k times (no copy: the caller must not write into
one dx and expect the others unchanged) and concat_backward allocates contiguous copies.
"""

from __future__ import annotations

import numpy as np

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
