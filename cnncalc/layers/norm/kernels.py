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
compiled specialisation serves both layouts.

Sums, in the same order in the compiled kernels and their py_func: per position (c, l), over the
images i = 0 … m − 1 (a contiguous vector loop over a block of channels' positions), then per
channel over l = 0 … L − 1; float64 throughout. Parallel over blocks of channels (prange): a block
owns its sums and its outputs, so the result is the same bit for bit on any number of threads;
serial, batchnorm took a third of a 2-thread MobileNetV2 step, and summed one value at a time along
a channel, it could not use the vector registers (rows are sliced per block: no negative-index test
in the inner loops, which would stop the vectoriser). The sums and per-position constants live in a
float64 scratch of SCRATCH_ROWS × n_C·L (scratch_for(x): the caller's, reused every step), so the
kernels allocate nothing. Each block is a lane body (layers/lanes.py), compiled once on its own.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from cnncalc.layers import lanes
from cnncalc.layers.buffers import output_buffer as _buffer
from cnncalc.layers.norm.rules import SCRATCH_ROWS  # read by Python code only, never by the jitted kernels


@njit(cache=True)
def _channel_block(n_C, L):
    """Channels per block of the parallel loop: about 16 blocks (work for up to 16 threads), each
    block's (c, l) positions at most 4,096 (L1/L2) or one channel. The blocking never changes a
    result: every sum runs in the same order whatever the block (see the module docstring)."""
    return max(1, min(-(-n_C // 16), 4096 // max(L, 1)))


@lanes.body("void(i8, i8, i8, f4[:, ::1], f4[::1], f4[::1], f8, f8, b1, f4[::1], f4[::1], f4[:, ::1], f4[::1], "
            "f4[::1], f8[:, ::1])", error_model="numpy")
def _forward_block(c0, c1, L, x2, gamma, beta, eps, momentum, train, running_mean, running_var, out2, save_mean,
                   save_inv_std, scratch):
    """batchnorm_forward_kernel for channels c0 … c1 − 1 (x2, out2: (m, n_C·L)): its sums and its outputs."""
    m = x2.shape[0]
    N = m * L
    j0, J = c0 * L, (c1 - c0) * L
    mean_j = scratch[0, j0:j0 + J]  # μ of each (c, l) position's channel, then a and the shift
    a_j = scratch[1, j0:j0 + J]
    shift_j = scratch[2, j0:j0 + J]
    acc = scratch[3, j0:j0 + J]  # Σ over the images of each (c, l): contiguous, a vector loop
    if train:
        acc[:] = 0.0
        for i in range(m):
            row = x2[i, j0:j0 + J]
            for j in range(J):
                acc[j] += row[j]
        for c in range(c0, c1):
            total = 0.0
            for l in range(L):
                total += acc[(c - c0) * L + l]
            for l in range(L):
                mean_j[(c - c0) * L + l] = total / N
        acc[:] = 0.0
        for i in range(m):
            row = x2[i, j0:j0 + J]
            for j in range(J):
                d = row[j] - mean_j[j]
                acc[j] += d * d
    for c in range(c0, c1):
        if train:
            mean = mean_j[(c - c0) * L]
            squares = 0.0
            for l in range(L):
                squares += acc[(c - c0) * L + l]
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
        for l in range(L):
            a_j[(c - c0) * L + l] = a
            shift_j[(c - c0) * L + l] = shift
    for i in range(m):
        row = x2[i, j0:j0 + J]
        dst = out2[i, j0:j0 + J]
        for j in range(J):
            dst[j] = row[j] * a_j[j] + shift_j[j]


@lanes.parallel(_forward_block)
def batchnorm_forward_kernel(block_body, x, gamma, beta, eps, momentum, train, running_mean, running_var, out,
                             save_mean, save_inv_std, scratch):
    """x, out: (m, n_C, L); gamma, beta, running_mean, running_var, save_mean, save_inv_std: (n_C,);
    eps, momentum: float64; train: bool. The formulas are the module docstring's; scalars in
    float64, rounded once when stored (so py_func on float64 arrays is float64 throughout).
    Writes out, save_mean (μ) and save_inv_std; in train mode updates running_mean and running_var.
    scratch: float64 (SCRATCH_ROWS, n_C·L), the per-position sums and constants (its contents are not kept)."""
    m, n_C, L = x.shape
    x2, out2 = x.reshape(m, n_C * L), out.reshape(m, n_C * L)
    cb = _channel_block(n_C, L)
    for block in prange(-(-n_C // cb)):  # a block of channels owns its sums and its outputs
        _forward_block(block_body, (block * cb, min(block * cb + cb, n_C), L, x2, gamma, beta, eps, momentum, train,
                                    running_mean, running_var, out2, save_mean, save_inv_std, scratch))


@lanes.body("void(i8, i8, i8, f4[:, ::1], f4[:, ::1], f4[::1], f4[::1], f4[::1], b1, f4[:, ::1], f4[::1], "
            "f4[::1], f8[:, ::1])")
def _backward_block(c0, c1, L, d2, x2, gamma, save_mean, save_inv_std, train, dx2, dgamma, dbeta, scratch):
    """batchnorm_backward_kernel for channels c0 … c1 − 1 (d2, x2, dx2: (m, n_C·L)): its sums and its outputs."""
    m = x2.shape[0]
    N = m * L
    j0, J = c0 * L, (c1 - c0) * L
    mean_j = scratch[0, j0:j0 + J]
    for c in range(c0, c1):
        for l in range(L):
            mean_j[(c - c0) * L + l] = save_mean[c]
    acc_total = scratch[1, j0:j0 + J]  # Σ dout and Σ dout·(x − μ) over the images, per (c, l)
    acc_dot = scratch[2, j0:j0 + J]
    acc_total[:] = 0.0
    acc_dot[:] = 0.0
    for i in range(m):
        drow, xrow = d2[i, j0:j0 + J], x2[i, j0:j0 + J]
        for j in range(J):
            d = drow[j]
            acc_total[j] += d
            acc_dot[j] += d * (xrow[j] - mean_j[j])
    a_j = scratch[3, j0:j0 + J]  # a, then dβ/N and k per position (train)
    mean_dout_j = scratch[4, j0:j0 + J]
    k_j = scratch[5, j0:j0 + J]
    for c in range(c0, c1):
        inv_std = np.float64(save_inv_std[c])
        total = 0.0
        dot = 0.0
        for l in range(L):
            total += acc_total[(c - c0) * L + l]
            dot += acc_dot[(c - c0) * L + l]
        dbeta[c] = total
        dgamma[c] = dot * inv_std
        a = gamma[c] * inv_std
        for l in range(L):
            a_j[(c - c0) * L + l] = a
            if train:
                mean_dout_j[(c - c0) * L + l] = total / N
                k_j[(c - c0) * L + l] = dot * inv_std * inv_std / N
    for i in range(m):
        drow, xrow, dst = d2[i, j0:j0 + J], x2[i, j0:j0 + J], dx2[i, j0:j0 + J]
        if train:
            for j in range(J):
                dst[j] = a_j[j] * (drow[j] - mean_dout_j[j] - (xrow[j] - mean_j[j]) * k_j[j])
        else:
            for j in range(J):
                dst[j] = a_j[j] * drow[j]


@lanes.parallel(_backward_block)
def batchnorm_backward_kernel(block_body, dout, x, gamma, save_mean, save_inv_std, train, dx, dgamma, dbeta, scratch):
    """dout, x, dx: (m, n_C, L); gamma, save_mean, save_inv_std, dgamma, dbeta: (n_C,); train: bool.
    dβ = Σ dout, dγ = Σ dout·(x − μ)·inv_std (float64 sums);
    dx = a·(dout − dβ/N − (x − μ)·k) with a = γ·inv_std, k = dγ·inv_std/N in train mode,
    dx = a·dout in eval mode; scalars in float64, rounded once when stored. scratch: as the forward's."""
    m, n_C, L = x.shape
    x2, d2, dx2 = x.reshape(m, n_C * L), dout.reshape(m, n_C * L), dx.reshape(m, n_C * L)
    cb = _channel_block(n_C, L)
    for block in prange(-(-n_C // cb)):  # a block of channels owns its sums and its outputs
        _backward_block(block_body, (block * cb, min(block * cb + cb, n_C), L, d2, x2, gamma, save_mean, save_inv_std,
                                     train, dx2, dgamma, dbeta, scratch))




def prefetch() -> None:
    """Hand the kernels' bodies to the compile helper when Numba's cache lacks them (layers/lanes.py)."""
    lanes.prefetch(batchnorm_forward_kernel.bodies + batchnorm_backward_kernel.bodies)


def scratch_for(shape) -> np.ndarray:
    """The float64 scratch the kernels take for x of this shape ((m, n_C, n_H, n_W) or (m, n))."""
    per_image = int(np.prod(shape[1:], dtype=np.int64))
    return np.empty((SCRATCH_ROWS, per_image), np.float64)


def _view(a):
    """(m, n_C, n_H, n_W) or (m, n) → the (m, n_C, L) view the kernels take."""
    if a.ndim not in (2, 4):
        raise ValueError(f"batchnorm takes x: (m, n_C, n_H, n_W) or (m, n); received shape {a.shape}")
    return a.reshape(a.shape[0], a.shape[1], -1)


def _scratch(scratch, shape):
    """The caller's scratch, checked (float64, C-contiguous, (SCRATCH_ROWS, n_C·L)), or a new one."""
    if scratch is None:
        return scratch_for(shape)
    per_image = int(np.prod(shape[1:], dtype=np.int64))
    if scratch.shape != (SCRATCH_ROWS, per_image) or scratch.dtype != np.float64 or not scratch.flags.c_contiguous:
        raise ValueError(f"batchnorm: scratch must be float64 C-contiguous of shape ({SCRATCH_ROWS}, {per_image}); "
                         f"received {scratch.dtype} {scratch.shape}")
    return scratch


def batchnorm_forward(x, gamma, beta, running_mean, running_var, eps=1e-5, momentum=0.1, train=True, *,
                      out=None, save_mean=None, save_inv_std=None, scratch=None):
    """x: (m, n_C, n_H, n_W) or (m, n); gamma, beta, running_mean, running_var: (n_C,) float32
    → (out (shape of x), cache = (x, gamma, save_mean, save_inv_std, train, scratch)); in train mode the
    running statistics are updated in place. scratch: scratch_for(x.shape), or None to allocate one."""
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
    scratch = _scratch(scratch, x.shape)
    batchnorm_forward_kernel(x3, gamma, beta, float(eps), float(momentum), bool(train), running_mean, running_var,
                             _view(out), save_mean, save_inv_std, scratch)
    return out, (x, gamma, save_mean, save_inv_std, bool(train), scratch)


def batchnorm_backward(dout, cache, *, dx=None, dgamma=None, dbeta=None):
    """dout: the shape of x, cache from batchnorm_forward → (dx, dgamma (n_C,), dbeta (n_C,));
    dgamma and dbeta are overwritten, not accumulated."""
    x, gamma, save_mean, save_inv_std, train, scratch = cache
    dout = np.ascontiguousarray(dout, dtype=np.float32)
    n_C = x.shape[1]
    dx = _buffer(dx, x.shape, "dx")
    dgamma = _buffer(dgamma, (n_C,), "dgamma")
    dbeta = _buffer(dbeta, (n_C,), "dbeta")
    batchnorm_backward_kernel(_view(dout), _view(x), gamma, save_mean, save_inv_std, train, _view(dx), dgamma, dbeta,
                              scratch)
    return dx, dgamma, dbeta
