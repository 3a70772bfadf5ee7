"""The optimisers' update kernels: one Numba pass per parameter, in float32, rounding where
torch's single-tensor CPU code rounds (engine.optim documents the rules). Self-contained file
(Numba's cache does not follow imports); imported by engine.optim only when a step runs.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def fma32(a, b, c):
    """a·b + c rounded once to float32, as the fused multiply-add torch's CPU kernels use for
    add(alpha=), lerp_ and addcmul_ (a float32 product is exact in float64)."""
    return np.float32(np.float64(a) * np.float64(b) + np.float64(c))


@njit(cache=True)
def sgd_kernel(w, g, v, lr, momentum, weight_decay, first):
    """w, g, v: (N,) flat float32; lr, momentum, weight_decay: float32; first: bool (t = 1).
    d = g + λ·w;  v = d if first else v·μ + d;  w = w − lr·v  (d in place of v when μ = 0)."""
    for i in range(w.size):
        d = g[i]
        if weight_decay != 0:
            d = fma32(weight_decay, w[i], d)  # grad.add(param, alpha=λ)
        if momentum != 0:
            if not first:
                d = v[i] * momentum + d  # buf.mul_(μ).add_(grad): two roundings
            v[i] = d
        w[i] = fma32(-lr, d, w[i])  # param.add_(grad, alpha=−lr)


@njit(cache=True, error_model="numpy")
def adam_kernel(w, g, m, v, one_minus_beta1, beta2, one_minus_beta2, step_size, bias_correction2_sqrt, eps,
                weight_decay):
    """w, g, m, v: (N,) flat float32; the rest float32 scalars, step_size = lr/(1 − β1^t),
    bias_correction2_sqrt = √(1 − β2^t).
    d = g + λ·w;  m = m + (1 − β1)·(d − m);  v = v·β2 + ((1 − β2)·d)·d;
    w = w − (step_size·m)/(√v/bias_correction2_sqrt + ε)."""
    for i in range(w.size):
        d = g[i]
        if weight_decay != 0:
            d = fma32(weight_decay, w[i], d)  # grad.add(param, alpha=λ)
        m_i = fma32(one_minus_beta1, d - m[i], m[i])  # exp_avg.lerp_(grad, 1 − β1)
        v_i = fma32(one_minus_beta2 * d, d, v[i] * beta2)  # exp_avg_sq.mul_(β2).addcmul_(grad, grad, value=1 − β2)
        m[i] = m_i
        v[i] = v_i
        # param.addcdiv_(exp_avg, exp_avg_sq.sqrt()/√(1 − β2^t) + ε, value=−step_size)
        w[i] = w[i] + (-step_size * m_i) / (np.sqrt(v_i) / bias_correction2_sqrt + eps)
