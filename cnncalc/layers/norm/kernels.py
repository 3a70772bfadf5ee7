"""Batch normalisation with PyTorch's semantics (float32).

x: (m, n_C, n_H, n_W) normalised per channel over (m, n_H, n_W), or (m, n) per feature over m.
train:  μ, σ² (biased) of the batch;  x̂ = (x − μ)/√(σ² + ε);  out = γ·x̂ + β;
        running ← (1 − momentum)·running + momentum·batch, with the unbiased variance (×N/(N−1))
eval:   the running statistics instead of the batch's
backward (train): dx = (γ/√(σ²+ε))·(dout − mean(dout) − x̂·mean(dout·x̂)), dγ = Σ dout·x̂, dβ = Σ dout
"""

from __future__ import annotations

import numpy as np


def _axes(x):
    return (0, 2, 3) if x.ndim == 4 else (0,)


def _bcast(v, x):
    return v[None, :, None, None] if x.ndim == 4 else v[None, :]


def batchnorm_forward(x, gamma, beta, running_mean, running_var, eps, momentum, train):
    """Returns (out, cache); updates the running statistics in place when training."""
    axes = _axes(x)
    if train:
        mean = x.mean(axis=axes, dtype=np.float64)
        var = x.var(axis=axes, dtype=np.float64)
        n = x.size // x.shape[1]
        running_mean *= 1 - momentum
        running_mean += (momentum * mean).astype(np.float32)
        running_var *= 1 - momentum
        running_var += (momentum * var * n / max(n - 1, 1)).astype(np.float32)
        mean, var = mean.astype(np.float32), var.astype(np.float32)
    else:
        mean, var = running_mean, running_var
    inv_std = (1.0 / np.sqrt(var + np.float32(eps))).astype(np.float32)
    x_hat = (x - _bcast(mean, x)) * _bcast(inv_std, x)
    out = x_hat * _bcast(gamma, x) + _bcast(beta, x)
    return out.astype(np.float32), (x_hat, inv_std, gamma, train)


def batchnorm_backward(dout, cache, dgamma, dbeta):
    x_hat, inv_std, gamma, train = cache
    axes = _axes(dout)
    dbeta[...] = dout.sum(axis=axes)
    dgamma[...] = (dout * x_hat).sum(axis=axes)
    scale = _bcast(gamma * inv_std, dout)
    if not train:
        return (dout * scale).astype(np.float32)
    n = dout.size // dout.shape[1]
    mean_d = _bcast(dbeta / n, dout)
    mean_dx = _bcast(dgamma / n, dout)
    return (scale * (dout - mean_d - x_hat * mean_dx)).astype(np.float32)
