"""Batch normalisation with PyTorch's semantics (BatchNorm2d on NCHW, BatchNorm1d on (m, n)).

Arrays are float32, C-contiguous. x: (m, n_C, n_H, n_W), normalised per channel over the
N = m·n_H·n_W values of (m, n_H, n_W); or x: (m, n), per feature over N = m (then n_C = n).
gamma, beta, running_mean, running_var: (n_C,).

train:   μ = (1/N)·Σ x,   σ² = (1/N)·Σ (x − μ)²  (biased, two passes, float64 sums)
         inv_std = 1/√(σ² + ε),   out = γ·(x − μ)·inv_std + β
         (computed as x·a + (β − μ·a) with a = γ·inv_std, as PyTorch's CPU kernel folds it)
         running_mean ← (1 − momentum)·running_mean + momentum·μ
         running_var  ← (1 − momentum)·running_var + momentum·σ²·N/(N − 1)   (the unbiased variance)
eval:    μ, inv_std from running_mean and 1/√(running_var + ε); the running statistics are left alone
backward, x̂ = (x − μ)·inv_std:
         dβ = Σ dout,   dγ = Σ dout·x̂
         train: dx = γ·inv_std·(dout − dβ/N − x̂·dγ/N)      eval: dx = γ·inv_std·dout
eps 1e-5 and momentum 0.1 are PyTorch's defaults.

`batchnorm_forward(..., out=, save_mean=, save_inv_std=)` and `batchnorm_backward(..., dx=,
dgamma=, dbeta=)` write into the caller's buffers and allocate nothing; without them they allocate.
The cache refers to x, so the caller keeps x unchanged until backward (no x̂ buffer is kept:
backward recomputes it). The kernels work on (m, n_C, L) views, L = n_H·n_W or 1, so one
compiled specialisation serves both layouts. Parallel over channels (prange): a channel owns its
float64 sums and its outputs, so the result is the serial one bit for bit; serial, batchnorm took a
third of a 2-thread MobileNetV2 step. Self-contained file (Numba's cache does not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cnncalc.layers.buffers import output_buffer as _buffer


@njit(cache=True, error_model="numpy", parallel=True)
def batchnorm_forward_kernel(x, gamma, beta, eps, momentum, train, running_mean, running_var, out,
                             save_mean, save_inv_std):
    """x, out: (m, n_C, L); gamma, beta, running_mean, running_var, save_mean, save_inv_std: (n_C,);
    eps, momentum: float64; train: bool. The formulas are the module docstring's; scalars in
    float64, rounded once when stored (so py_func on float64 arrays is float64 throughout).
    Writes out, save_mean (μ) and save_inv_std; in train mode updates running_mean and running_var."""
    m, n_C, L = x.shape
    N = m * L
    for c in prange(n_C):  # a channel owns its sums and its outputs: the threads split the channels
        if train:
            total = 0.0
            for i in range(m):
                for l in range(L):
                    total += x[i, c, l]
            mean = total / N
            squares = 0.0
            for i in range(m):
                for l in range(L):
                    d = x[i, c, l] - mean
                    squares += d * d
            var = squares / N
            running_mean[c] = (1.0 - momentum) * running_mean[c] + momentum * mean
            running_var[c] = (1.0 - momentum) * running_var[c] + momentum * var * N / (N - 1)
        else:
            mean = np.float64(running_mean[c])
            var = np.float64(running_var[c])
        inv_std = 1.0 / np.sqrt(var + eps)
        save_mean[c] = mean
        save_inv_std[c] = inv_std
        a = gamma[c] * inv_std
        shift = beta[c] - mean * a
        for i in range(m):
            for l in range(L):
                out[i, c, l] = x[i, c, l] * a + shift


@njit(cache=True, parallel=True)
def batchnorm_backward_kernel(dout, x, gamma, save_mean, save_inv_std, train, dx, dgamma, dbeta):
    """dout, x, dx: (m, n_C, L); gamma, save_mean, save_inv_std, dgamma, dbeta: (n_C,); train: bool.
    dβ = Σ dout, dγ = Σ dout·(x − μ)·inv_std (float64 sums);
    dx = a·(dout − dβ/N − (x − μ)·k) with a = γ·inv_std, k = dγ·inv_std/N in train mode,
    dx = a·dout in eval mode; scalars in float64, rounded once when stored."""
    m, n_C, L = x.shape
    N = m * L
    for c in prange(n_C):  # a channel owns its sums and its outputs: the threads split the channels
        mean = np.float64(save_mean[c])
        inv_std = np.float64(save_inv_std[c])
        total = 0.0
        dot = 0.0
        for i in range(m):
            for l in range(L):
                d = dout[i, c, l]
                total += d
                dot += d * (x[i, c, l] - mean)
        dbeta[c] = total
        dgamma[c] = dot * inv_std
        a = gamma[c] * inv_std
        if train:
            mean_dout = total / N
            k = dot * inv_std * inv_std / N
            for i in range(m):
                for l in range(L):
                    dx[i, c, l] = a * (dout[i, c, l] - mean_dout - (x[i, c, l] - mean) * k)
        else:
            for i in range(m):
                for l in range(L):
                    dx[i, c, l] = a * dout[i, c, l]


def _view(a):
    """(m, n_C, n_H, n_W) or (m, n) → the (m, n_C, L) view the kernels take."""
    if a.ndim not in (2, 4):
        raise ValueError(f"batchnorm takes x: (m, n_C, n_H, n_W) or (m, n); received shape {a.shape}")
    return a.reshape(a.shape[0], a.shape[1], -1)




def batchnorm_forward(x, gamma, beta, running_mean, running_var, eps=1e-5, momentum=0.1, train=True, *,
                      out=None, save_mean=None, save_inv_std=None):
    """x: (m, n_C, n_H, n_W) or (m, n); gamma, beta, running_mean, running_var: (n_C,) float32
    → (out (shape of x), cache = (x, gamma, save_mean, save_inv_std, train)); in train mode the
    running statistics are updated in place."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    n_C = x.shape[1] if x.ndim > 1 else 0
    for name, v in (("gamma", gamma), ("beta", beta), ("running_mean", running_mean),
                    ("running_var", running_var)):
        if v.shape != (n_C,) or v.dtype != np.float32 or not v.flags.c_contiguous:
            raise ValueError(f"batchnorm: {name} must be float32 of shape ({n_C},) for x {x.shape}; "
                             f"received {v.dtype} {v.shape}")
    x3 = _view(x)
    if train and x3.shape[0] * x3.shape[2] < 2:
        # PyTorch refuses too: the unbiased variance of one value divides by zero
        raise ValueError(f"batchnorm in train mode needs more than one value per channel; received x {x.shape}")
    out = _buffer(out, x.shape, "out")
    save_mean = _buffer(save_mean, (n_C,), "save_mean")
    save_inv_std = _buffer(save_inv_std, (n_C,), "save_inv_std")
    batchnorm_forward_kernel(x3, gamma, beta, float(eps), float(momentum), bool(train), running_mean, running_var,
                             _view(out), save_mean, save_inv_std)
    return out, (x, gamma, save_mean, save_inv_std, bool(train))


def batchnorm_backward(dout, cache, *, dx=None, dgamma=None, dbeta=None):
    """dout: the shape of x, cache from batchnorm_forward → (dx, dgamma (n_C,), dbeta (n_C,));
    dgamma and dbeta are overwritten, not accumulated."""
    x, gamma, save_mean, save_inv_std, train = cache
    dout = np.ascontiguousarray(dout, dtype=np.float32)
    n_C = x.shape[1]
    dx = _buffer(dx, x.shape, "dx")
    dgamma = _buffer(dgamma, (n_C,), "dgamma")
    dbeta = _buffer(dbeta, (n_C,), "dbeta")
    batchnorm_backward_kernel(_view(dout), _view(x), gamma, save_mean, save_inv_std, train, _view(dx), dgamma, dbeta)
    return dx, dgamma, dbeta
