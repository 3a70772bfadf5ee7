"""Dense and flatten for the trainer (float32), forward beside backward; the products are BLAS.

    x: (m, n_prev), W: (n, n_prev) as PyTorch's Linear, b: (n,)
    forward  out = x·Wᵀ + b
    backward dx = dout·W,  dW = doutᵀ·x,  db = Σ_i dout[i]
flatten of an NCHW map is a reshape in (n_C, n_H, n_W) order, PyTorch's, so the weights of the
first dense layer move to PyTorch unchanged.
"""

from __future__ import annotations

import numpy as np


def dense_forward(x, W, b, out=None):
    out = np.matmul(x, W.T, out=out)
    if b is not None:
        out += b
    return out


def dense_backward(dout, x, W, dW, db):
    np.matmul(dout.T, x, out=dW)
    if db is not None:
        db[...] = dout.sum(axis=0)
    return dout @ W


def flatten_forward(x):
    return x.reshape(x.shape[0], -1)


def flatten_backward(dout, in_shape):
    return dout.reshape(in_shape)
