"""Element-wise activations and the fused softmax + cross-entropy loss (float32).

Each forward returns what its backward needs; backward(dout, saved) → dx.
    relu: max(0, x)            leaky_relu: x if x ≥ 0 else α·x
    sigmoid: 1/(1 + e^−x)      tanh
    softmax_cross_entropy(z, y): L = −(1/m)·Σ_i log softmax(z_i)[y_i];  dL/dz = (softmax(z) − onehot(y))/m
"""

from __future__ import annotations

import numpy as np


def relu_forward(x):
    return np.maximum(x, 0, dtype=np.float32)


def relu_backward(dout, x):
    return dout * (x > 0)


def leaky_relu_forward(x, alpha):
    return np.where(x >= 0, x, np.float32(alpha) * x).astype(np.float32)


def leaky_relu_backward(dout, x, alpha):
    return np.where(x >= 0, dout, np.float32(alpha) * dout).astype(np.float32)


def sigmoid_forward(x):
    return (1.0 / (1.0 + np.exp(-x))).astype(np.float32)


def sigmoid_backward(dout, out):
    return dout * out * (1.0 - out)


def tanh_forward(x):
    return np.tanh(x)


def tanh_backward(dout, out):
    return dout * (1.0 - out * out)


def softmax(z):
    """Softmax over the last axis, shifted by the row maximum for stability."""
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32)


def softmax_backward(dout, out):
    return out * (dout - (dout * out).sum(axis=-1, keepdims=True))


def softmax_cross_entropy(z, y):
    """z: (m, K) logits, y: (m,) int labels → (mean loss as float, dz (m, K), probabilities)."""
    m = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    log_sum = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_sum
    loss = float(-log_p[np.arange(m), y].astype(np.float64).mean())
    p = np.exp(log_p).astype(np.float32)
    dz = p.copy()
    dz[np.arange(m), y] -= 1.0
    dz /= np.float32(m)
    return loss, dz, p
