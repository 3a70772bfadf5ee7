"""Dense (fully connected) and flatten for the trainer, forward beside backward; the products are BLAS.

Arrays are float32, C-contiguous; W in PyTorch's Linear layout, so weights move unchanged:
    x:    (m, n_prev)
    W:    (n, n_prev)
    b:    (n,) or None
    out:  (m, n)
    forward   out = x·Wᵀ + b
    backward  dx = dout·W  (m, n_prev),   dW = doutᵀ·x  (n, n_prev),   db = Σ_i dout[i]  (n,)

flatten of an NCHW map x: (m, n_C, n_H, n_W) is a reshape to (m, n_C·n_H·n_W) in (n_C, n_H, n_W)
order, element [i, (c·n_H + h)·n_W + w] = x[i, c, h, w], as torch.flatten(x, 1): the first dense
layer's W: (n, n_C·n_H·n_W) therefore moves to PyTorch unchanged. It is a view, no copy.

With `out=`, `dx=`, `dW=`, `db=` the functions write into the caller's buffers (np.matmul with out=
and np.sum with out= allocate nothing); a smaller last batch passes `buf[:m]`. Without them they
allocate. The products are numpy's matmul (OpenBLAS), called from Python: Numba reaches BLAS
only through SciPy, which cnncalc does not depend on.
"""

from __future__ import annotations

import numpy as np

from cnncalc.layers.buffers import output_buffer as _buffer




def dense_forward(x, W, b=None, *, out=None):
    """out = x·Wᵀ + b, x: (m, n_prev), W: (n, n_prev), b: (n,) or None → (out (m, n), cache = (x, W, has_b))."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    m, n_prev = x.shape
    if W.shape[1] != n_prev:
        raise ValueError(f"dense: x has {n_prev} features per sample but W: (n, n_prev) is {W.shape}")
    out = _buffer(out, (m, W.shape[0]), "out")
    np.matmul(x, W.T, out=out)
    if b is not None:
        out += b
    return out, (x, W, b is not None)


def dense_backward(dout, cache, *, dx=None, dW=None, db=None, need_dx=True):
    """dout: (m, n), cache from dense_forward → (dx (m, n_prev) or None when not need_dx,
    dW (n, n_prev), db (n,) or None without bias); dW and db are overwritten, not accumulated."""
    x, W, has_b = cache
    dout = np.ascontiguousarray(dout, dtype=np.float32)
    dW = _buffer(dW, W.shape, "dW")
    np.matmul(dout.T, x, out=dW)
    if has_b:
        db = _buffer(db, (W.shape[0],), "db")
        np.sum(dout, axis=0, out=db)
    else:
        db = None
    if not need_dx:  # the network's input needs no gradient: skip one product
        return None, dW, db
    dx = _buffer(dx, x.shape, "dx")
    np.matmul(dout, W, out=dx)
    return dx, dW, db


def flatten_forward(x):
    """x: (m, n_C, n_H, n_W) → (out (m, n_C·n_H·n_W), a view in (n_C, n_H, n_W) order; cache = x.shape)."""
    return x.reshape(x.shape[0], -1), x.shape


def flatten_backward(dout, cache):
    """dout: (m, n_C·n_H·n_W), cache: the input's shape (m, n_C, n_H, n_W) → dx, a view of dout."""
    return dout.reshape(cache)
