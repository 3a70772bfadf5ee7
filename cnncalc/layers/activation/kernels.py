"""Element-wise activations, softmax and the fused softmax + cross-entropy loss for the trainer.

Arrays are float32 and C-contiguous; x is any activation, (m, n_C, n_H, n_W) or (m, n).

    relu:        out = x if x > 0 else 0                 dx = dout if x > 0 else 0
    leaky_relu:  out = x if x > 0 else α·x               dx = dout if x > 0 else α·dout
    sigmoid:     out = 1/(1 + e^−x)                      dx = dout·out·(1 − out)
    tanh:        out = tanh(x)                           dx = dout·(1 − out²)
    relu6:       out = min(max(x, 0), 6)                 dx = dout if 0 < x < 6 else 0
    hardsigmoid: out = relu6(x + 3)/6                    dx = dout/6 if −3 < x < 3 else 0
    hardswish:   out = x·relu6(x + 3)/6                  dx = 0 | dout·(x/3 + 1/2) | dout  (x ≤ −3 | < 3 | ≥ 3)
    silu:        out = x·σ(x)                            dx = dout·σ(x)·(1 + x·(1 − σ(x)))
    gelu:        out = x·Φ(x), or its tanh form          dx = dout·(Φ(x) + x·φ(x)), or the tanh form's
    elu:         out = x if x > 0 else α·(e^x − 1)       dx = dout if x > 0 else α·e^x·dout
    prelu:       out = x if x > 0 else a_c·x             dx = dout if x > 0 else a_c·dout,
                                                         da_c = Σ_{x ≤ 0} dout·x over batch and map
    softmax over axis 1 (the classes of (m, K), the channels of NCHW, as torch's Softmax(dim=1)):
                 p_k = e^(z_k − max z) / Σ_j e^(z_j − max z)     dz_k = p_k·(dout_k − Σ_j dout_j·p_j)
    softmax_cross_entropy(z, y), z: (m, K) logits, y: (m,) int64 labels, mean over the batch
    as torch.nn.functional.cross_entropy:
                 L = (1/m)·Σ_i (log Σ_j e^(z_ij − max_j z_ij) − (z_iy_i − max_j z_ij))
                 dL/dz = dloss·(p − onehot(y))/m

Two forms of each layer:
  * `X_forward(x, …, out=None) -> (out, cache)` and `X_backward(dout, cache, dx=None) -> dx`.
    Given `out=`/`dx=` they write into the caller's buffers and allocate nothing; without, they
    allocate. The cache only refers to arrays (x for relu/leaky_relu, out for sigmoid/tanh/softmax),
    so the caller must keep those unchanged until backward; relu and leaky_relu therefore need
    out to be a different array from x.
  * the `*_kernel` functions that do the work on the flat (1-D) or (m, K, L) views the wrappers
    pass: Numba-compiled loops (`kernel.py_func` runs the same code in Python, float64 in the
    tests), except the sigmoid and tanh forwards, whose exp and tanh numpy computes in SIMD.
A smaller last batch passes the leading rows of the buffers, `buf[:m]`, which stay contiguous.

Every kernel compiles once: float32 C-contiguous arrays, int64 labels. Serial loops: these are
memory-bound, and on 2 cores a parallel region's start-up and the conv kernels' threads cost more
than they give. Kernels that divide use IEEE division (error_model="numpy": inf/NaN, which the
trainer reports as a NaN loss) instead of Python's zero check. Self-contained file (Numba's cache
does not follow imports).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from cnncalc.layers.buffers import output_buffer as _buffer


def _input(x):
    """float32 C-contiguous, without a copy when it already is."""
    return np.ascontiguousarray(x, dtype=np.float32)




# ------------------------------------------------------------------ relu

@njit(cache=True)
def relu_kernel(x, out):
    """x, out: (N,) flat.  out[i] = 0 if x[i] ≤ 0 else x[i]  (NaN passes, as in torch)."""
    zero = np.float32(0)
    for i in range(x.size):
        v = x[i]
        out[i] = zero if v <= zero else v


@njit(cache=True)
def relu_backward_kernel(dout, x, dx):
    """dout, x, dx: (N,) flat.  dx[i] = 0 if x[i] ≤ 0 else dout[i]."""
    zero = np.float32(0)
    for i in range(x.size):
        dx[i] = zero if x[i] <= zero else dout[i]


def relu_forward(x, *, out=None):
    """out = max(0, x), x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = x)."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    relu_kernel(x.reshape(-1), out.reshape(-1))
    return out, x


def relu_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: x → dx = dout·[x > 0]."""
    x = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    relu_backward_kernel(dout.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


# ------------------------------------------------------------------ leaky relu

@njit(cache=True)
def leaky_relu_kernel(x, alpha, out):
    """x, out: (N,) flat, alpha float32.  out[i] = x[i] if x[i] > 0 else alpha·x[i]."""
    zero = np.float32(0)
    for i in range(x.size):
        v = x[i]
        out[i] = v if v > zero else alpha * v


@njit(cache=True)
def leaky_relu_backward_kernel(dout, x, alpha, dx):
    """dout, x, dx: (N,) flat.  dx[i] = dout[i] if x[i] > 0 else alpha·dout[i] (torch's choice at 0)."""
    zero = np.float32(0)
    for i in range(x.size):
        dx[i] = dout[i] if x[i] > zero else alpha * dout[i]


def leaky_relu_forward(x, alpha=0.01, *, out=None):
    """out = x if x > 0 else α·x, x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = (x, α))."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    leaky_relu_kernel(x.reshape(-1), np.float32(alpha), out.reshape(-1))
    return out, (x, alpha)


def leaky_relu_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: (x, α) → dx = dout if x > 0 else α·dout."""
    x, alpha = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    leaky_relu_backward_kernel(dout.reshape(-1), x.reshape(-1), np.float32(alpha), dx.reshape(-1))
    return dx


# ------------------------------------------------------------------ sigmoid

def sigmoid_kernel(x, out):
    """x, out: (N,) flat, any float dtype.  out = 1/(1 + e^−x), with numpy's SIMD exp (a Numba loop
    calls the scalar exp, 10× slower). Below x ≈ −88, e^−x overflows to inf and out = 0, σ(x) in
    float32 but for denormals, so that warning is silenced; the relative error stays small in both tails."""
    with np.errstate(over="ignore"):
        np.negative(x, out=out)
        np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)


@njit(cache=True)
def sigmoid_backward_kernel(dout, out, dx):
    """dout, out, dx: (N,) flat.  dx = dout·out·(1 − out)."""
    one = np.float32(1)
    for i in range(out.size):
        s = out[i]
        dx[i] = dout[i] * s * (one - s)


def sigmoid_forward(x, *, out=None):
    """out = σ(x), x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = out)."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    sigmoid_kernel(x.reshape(-1), out.reshape(-1))
    return out, out


def sigmoid_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: out = σ(x) → dx = dout·out·(1 − out)."""
    out = cache
    dout = _input(dout)
    dx = _buffer(dx, out.shape, "dx")
    sigmoid_backward_kernel(dout.reshape(-1), out.reshape(-1), dx.reshape(-1))
    return dx


# ------------------------------------------------------------------ tanh

def tanh_kernel(x, out):
    """x, out: (N,) flat, any float dtype.  out = tanh(x), numpy's SIMD tanh (a Numba loop calls
    the scalar tanh, 100× slower)."""
    np.tanh(x, out=out)


@njit(cache=True)
def tanh_backward_kernel(dout, out, dx):
    """dout, out, dx: (N,) flat.  dx = dout·(1 − out²)."""
    one = np.float32(1)
    for i in range(out.size):
        t = out[i]
        dx[i] = dout[i] * (one - t * t)


def tanh_forward(x, *, out=None):
    """out = tanh(x), x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = out); out may be x itself."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    tanh_kernel(x.reshape(-1), out.reshape(-1))
    return out, out


def tanh_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: out = tanh(x) → dx = dout·(1 − out²)."""
    out = cache
    dout = _input(dout)
    dx = _buffer(dx, out.shape, "dx")
    tanh_backward_kernel(dout.reshape(-1), out.reshape(-1), dx.reshape(-1))
    return dx


# ------------------------------------------------------------------ relu6, hardsigmoid, hardswish

@njit(cache=True)
def relu6_kernel(x, out):
    """x, out: (N,) flat.  out[i] = min(max(x[i], 0), 6)  (NaN passes, as torch's hardtanh)."""
    zero, six = np.float32(0), np.float32(6)
    for i in range(x.size):
        v = x[i]
        out[i] = zero if v <= zero else (six if v >= six else v)


@njit(cache=True)
def relu6_backward_kernel(dout, x, dx):
    """dout, x, dx: (N,) flat.  dx[i] = dout[i] if 0 < x[i] < 6 else 0 (torch's hardtanh_backward)."""
    zero, six = np.float32(0), np.float32(6)
    for i in range(x.size):
        v = x[i]
        dx[i] = dout[i] if zero < v < six else zero


def relu6_forward(x, *, out=None):
    """out = min(max(x, 0), 6), x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = x)."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    relu6_kernel(x.reshape(-1), out.reshape(-1))
    return out, x


def relu6_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: x → dx = dout·[0 < x < 6]."""
    x = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    relu6_backward_kernel(dout.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


@njit(cache=True)
def hardsigmoid_kernel(x, out):
    """x, out: (N,) flat.  out[i] = 0 if x ≤ −3, 1 if x ≥ 3, else x/6 + 1/2  (= relu6(x + 3)/6)."""
    zero, one, three, six = np.float32(0), np.float32(1), np.float32(3), np.float32(6)
    half = np.float32(0.5)
    for i in range(x.size):
        v = x[i]
        out[i] = zero if v <= -three else (one if v >= three else v / six + half)


@njit(cache=True)
def hardsigmoid_backward_kernel(dout, x, dx):
    """dout, x, dx: (N,) flat.  dx[i] = dout[i]/6 if −3 < x[i] < 3 else 0 (torch's choice at ±3)."""
    zero, three, six = np.float32(0), np.float32(3), np.float32(6)
    for i in range(x.size):
        v = x[i]
        dx[i] = dout[i] / six if -three < v < three else zero


def hardsigmoid_forward(x, *, out=None):
    """out = relu6(x + 3)/6, x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = x)."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    hardsigmoid_kernel(x.reshape(-1), out.reshape(-1))
    return out, x


def hardsigmoid_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: x → dx = dout/6·[−3 < x < 3]."""
    x = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    hardsigmoid_backward_kernel(dout.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


@njit(cache=True)
def hardswish_kernel(x, out):
    """x, out: (N,) flat.  out[i] = x·min(max(x + 3, 0), 6)/6: 0 for x ≤ −3, x for x ≥ 3."""
    zero, three, six = np.float32(0), np.float32(3), np.float32(6)
    for i in range(x.size):
        v = x[i]
        out[i] = v * min(max(v + three, zero), six) / six


@njit(cache=True)
def hardswish_backward_kernel(dout, x, dx):
    """dout, x, dx: (N,) flat.  dx = 0 for x ≤ −3, dout·(x/3 + 1/2) for −3 < x < 3, dout from 3 on
    (torch's hardswish_backward, whose choice at the kinks this is)."""
    zero, three = np.float32(0), np.float32(3)
    half = np.float32(0.5)
    for i in range(x.size):
        v = x[i]
        if v <= -three:
            dx[i] = zero
        elif v < three:
            dx[i] = dout[i] * (v / three + half)
        else:
            dx[i] = dout[i]


def hardswish_forward(x, *, out=None):
    """out = x·relu6(x + 3)/6, x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = x)."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    hardswish_kernel(x.reshape(-1), out.reshape(-1))
    return out, x


def hardswish_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: x → dx = dout·(0 | x/3 + 1/2 | 1)."""
    x = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    hardswish_backward_kernel(dout.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


# ------------------------------------------------------------------ silu, gelu, elu (float64 inside)

@njit(cache=True)
def silu_kernel(x, out):
    """x, out: (N,) flat.  out = x·σ(x) = x/(1 + e^−x), in float64, rounded once."""
    for i in range(x.size):
        v = np.float64(x[i])
        out[i] = v / (1.0 + np.exp(-v))


@njit(cache=True)
def silu_backward_kernel(dout, x, dx):
    """dout, x, dx: (N,) flat.  dx = dout·σ(x)·(1 + x·(1 − σ(x)))."""
    for i in range(x.size):
        v = np.float64(x[i])
        s = 1.0 / (1.0 + np.exp(-v))
        dx[i] = dout[i] * (s * (1.0 + v * (1.0 - s)))


def silu_forward(x, *, out=None):
    """out = x·σ(x), x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = x)."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    silu_kernel(x.reshape(-1), out.reshape(-1))
    return out, x


def silu_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: x → dx = dout·σ(x)·(1 + x·(1 − σ(x)))."""
    x = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    silu_backward_kernel(dout.reshape(-1), x.reshape(-1), dx.reshape(-1))
    return dx


@njit(cache=True)
def gelu_kernel(x, tanh_form, out):
    """x, out: (N,) flat, tanh_form: bool.  In float64, rounded once:
    exact:  out = x·Φ(x) = x/2·(1 + erf(x/√2))
    tanh:   out = x/2·(1 + tanh(√(2/π)·(x + 0.044715·x³)))   (torch's approximate='tanh')."""
    k = np.sqrt(2.0 / np.pi)
    for i in range(x.size):
        v = np.float64(x[i])
        if tanh_form:
            out[i] = 0.5 * v * (1.0 + np.tanh(k * (v + 0.044715 * v * v * v)))
        else:
            out[i] = 0.5 * v * (1.0 + math.erf(v / np.sqrt(2.0)))


@njit(cache=True)
def gelu_backward_kernel(dout, x, tanh_form, dx):
    """dout, x, dx: (N,) flat.
    exact:  dx = dout·(Φ(x) + x·φ(x)),  φ(x) = e^(−x²/2)/√(2π)
    tanh:   dx = dout·(½(1 + t) + ½x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)),  t the forward's tanh."""
    k = np.sqrt(2.0 / np.pi)
    for i in range(x.size):
        v = np.float64(x[i])
        if tanh_form:
            t = np.tanh(k * (v + 0.044715 * v * v * v))
            d = 0.5 * (1.0 + t) + 0.5 * v * (1.0 - t * t) * k * (1.0 + 3.0 * 0.044715 * v * v)
        else:
            d = 0.5 * (1.0 + math.erf(v / np.sqrt(2.0))) + v * np.exp(-0.5 * v * v) / np.sqrt(2.0 * np.pi)
        dx[i] = dout[i] * d


def gelu_forward(x, approximate="none", *, out=None):
    """out = GELU(x), approximate 'none' (x·Φ(x)) or 'tanh'; x: (m, n_C, n_H, n_W) or (m, n)
    → (out, cache = (x, approximate))."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    gelu_kernel(x.reshape(-1), approximate == "tanh", out.reshape(-1))
    return out, (x, approximate)


def gelu_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: (x, approximate) → dx = dout·GELU′(x)."""
    x, approximate = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    gelu_backward_kernel(dout.reshape(-1), x.reshape(-1), approximate == "tanh", dx.reshape(-1))
    return dx


@njit(cache=True)
def elu_kernel(x, alpha, out):
    """x, out: (N,) flat, alpha float64.  out = x if x > 0 else α·(e^x − 1), in float64 (expm1)."""
    for i in range(x.size):
        v = np.float64(x[i])
        out[i] = v if v > 0.0 else alpha * np.expm1(v)


@njit(cache=True)
def elu_backward_kernel(dout, x, alpha, dx):
    """dout, x, dx: (N,) flat.  dx = dout if x > 0 else dout·α·e^x (torch's choice at 0: α·dout)."""
    for i in range(x.size):
        v = np.float64(x[i])
        dx[i] = dout[i] if v > 0.0 else dout[i] * (alpha * np.exp(v))


def elu_forward(x, alpha=1.0, *, out=None):
    """out = x if x > 0 else α·(e^x − 1), x: (m, n_C, n_H, n_W) or (m, n) → (out, cache = (x, α))."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    elu_kernel(x.reshape(-1), float(alpha), out.reshape(-1))
    return out, (x, alpha)


def elu_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: (x, α) → dx = dout if x > 0 else α·e^x·dout."""
    x, alpha = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    elu_backward_kernel(dout.reshape(-1), x.reshape(-1), float(alpha), dx.reshape(-1))
    return dx


# ------------------------------------------------------------------ prelu (a learned slope)

@njit(cache=True)
def prelu_kernel(x, a, out):
    """x, out: (m, K, L) with K channels (L = n_H·n_W, or 1 for (m, n) vectors); a: (K,) or (1,),
    one slope per channel or one for all.  out = x if x > 0 else a_k·x."""
    m, K, L = x.shape
    shared = a.size == 1
    zero = np.float32(0)
    for i in range(m):
        for k in range(K):
            slope = a[0] if shared else a[k]
            for l in range(L):
                v = x[i, k, l]
                out[i, k, l] = v if v > zero else slope * v


@njit(cache=True)
def prelu_backward_kernel(dout, x, a, dx, da):
    """dout, x, dx: (m, K, L); a, da: (K,) or (1,).  dx = dout if x > 0 else a_k·dout;
    da_k = Σ over x ≤ 0 of dout·x (over the batch, the map, and the channels when a is shared),
    summed in float64 and overwritten, not accumulated."""
    m, K, L = x.shape
    shared = a.size == 1
    zero = np.float32(0)
    sums = np.zeros(a.size)
    for i in range(m):
        for k in range(K):
            j = 0 if shared else k
            slope = a[j]
            total = 0.0
            for l in range(L):
                v = x[i, k, l]
                g = dout[i, k, l]
                if v > zero:
                    dx[i, k, l] = g
                else:
                    dx[i, k, l] = slope * g
                    total += np.float64(g) * np.float64(v)
            sums[j] += total
    for j in range(a.size):
        da[j] = sums[j]


def _channels(a):
    """(m, K, …) → the (m, K, L) view the prelu kernels take."""
    return a.reshape(a.shape[0], a.shape[1], -1)


def prelu_forward(x, a, *, out=None):
    """out = x if x > 0 else a·x, x: (m, n_C, n_H, n_W) or (m, n), a: (n_C,) or (1,) float32
    → (out, cache = (x, a)); the caller keeps x and a unchanged until backward."""
    x = _input(x)
    out = _buffer(out, x.shape, "out")
    prelu_kernel(_channels(x), a, _channels(out))
    return out, (x, a)


def prelu_backward(dout, cache, *, dx=None, da=None):
    """dout: the shape of x, cache: (x, a) → (dx, da), da the shape of a (overwritten)."""
    x, a = cache
    dout = _input(dout)
    dx = _buffer(dx, x.shape, "dx")
    da = _buffer(da, a.shape, "da")
    prelu_backward_kernel(_channels(dout), _channels(x), a, _channels(dx), da)
    return dx, da


# ------------------------------------------------------------------ softmax

@njit(cache=True, error_model="numpy")
def softmax_kernel(z, p):
    """z, p: (m, K, L), softmax over K for every (i, l); L = n_H·n_W, or 1 for (m, K) scores.
    p_k = e^(z_k − max z − log Σ_j e^(z_j − max z)), in float64, rounded once to float32."""
    m, K, L = z.shape
    for i in range(m):
        for l in range(L):
            top = np.float64(z[i, 0, l])
            for k in range(1, K):
                top = max(top, np.float64(z[i, k, l]))
            total = 0.0
            for k in range(K):
                total += np.exp(np.float64(z[i, k, l]) - top)
            shift = top + np.log(total)
            for k in range(K):
                p[i, k, l] = np.exp(np.float64(z[i, k, l]) - shift)


@njit(cache=True)
def softmax_backward_kernel(dout, p, dz):
    """dout, p, dz: (m, K, L).  dz_k = p_k·(dout_k − Σ_j dout_j·p_j) over K; the sum in float64."""
    m, K, L = p.shape
    for i in range(m):
        for l in range(L):
            dot = 0.0
            for k in range(K):
                dot += dout[i, k, l] * p[i, k, l]
            for k in range(K):
                dz[i, k, l] = p[i, k, l] * (dout[i, k, l] - dot)


def _rows(a):
    """(m, K, …) → the (m, K, L) view the softmax kernels take."""
    if a.ndim < 2:
        raise ValueError(f"softmax needs (m, K) scores or (m, n_C, n_H, n_W) maps; received shape {a.shape}")
    return a.reshape(a.shape[0], a.shape[1], -1)


def softmax(z, *, out=None):
    """Probabilities p = softmax over axis 1 of z: (m, K) or (m, n_C, n_H, n_W); for inference."""
    z = _input(z)
    out = _buffer(out, z.shape, "out")
    softmax_kernel(_rows(z), _rows(out))
    return out


def softmax_forward(z, *, out=None):
    """p = softmax over axis 1 of z: (m, K) or (m, n_C, n_H, n_W) → (p, cache = p)."""
    p = softmax(z, out=out)
    return p, p


def softmax_backward(dout, cache, *, dx=None):
    """dout: the shape of z, cache: p → dz = p·(dout − Σ_k dout_k·p_k)."""
    p = cache
    dout = _input(dout)
    dx = _buffer(dx, p.shape, "dx")
    softmax_backward_kernel(_rows(dout), _rows(p), _rows(dx))
    return dx


# ------------------------------------------------------------------ softmax + cross-entropy

@njit(cache=True, error_model="numpy")
def softmax_cross_entropy_kernel(z, y, p):
    """z, p: (m, K), y: (m,) int64 in [0, K) → mean loss (float64); writes p = softmax(z).
    L_i = log Σ_j e^(z_ij − max_j z_ij) − (z_iy_i − max_j z_ij), in float64."""
    m, K = z.shape
    loss = 0.0
    for i in range(m):
        top = np.float64(z[i, 0])
        for k in range(1, K):
            top = max(top, np.float64(z[i, k]))
        total = 0.0
        for k in range(K):
            total += np.exp(np.float64(z[i, k]) - top)
        log_total = np.log(total)
        loss += log_total - (np.float64(z[i, y[i]]) - top)
        for k in range(K):
            p[i, k] = np.exp(np.float64(z[i, k]) - top - log_total)
    return loss / m  # m = 0 gives NaN, as torch's mean of nothing


@njit(cache=True)
def softmax_cross_entropy_backward_kernel(p, y, scale, dz):
    """p, dz: (m, K), y: (m,) int64 → dz = scale·(p − onehot(y)), scale = dloss/m as float32."""
    m, K = p.shape
    for i in range(m):
        for k in range(K):
            dz[i, k] = scale * p[i, k]
        dz[i, y[i]] = scale * (p[i, y[i]] - np.float32(1))


def _labels(y, z):
    y = np.ascontiguousarray(y, dtype=np.int64)
    if z.ndim != 2 or y.shape != (z.shape[0],):
        raise ValueError(f"cross-entropy needs logits z: (m, K) and labels y: (m,); received z {z.shape}, "
                         f"y {y.shape}")
    if y.size and (y.min() < 0 or y.max() >= z.shape[1]):
        bad = y[(y < 0) | (y >= z.shape[1])][0]
        raise ValueError(f"label {bad} is outside the {z.shape[1]} classes 0 … {z.shape[1] - 1}")
    return y


def softmax_cross_entropy_forward(z, y, *, p=None):
    """Mean cross-entropy of the logits z: (m, K) against labels y: (m,) → (loss, cache = (p, y))."""
    z = _input(z)
    y = _labels(y, z)
    p = _buffer(p, z.shape, "p")
    loss = softmax_cross_entropy_kernel(z, y, p)
    return float(loss), (p, y)


def softmax_cross_entropy_backward(dloss, cache, *, dz=None):
    """dloss: the upstream gradient of the loss (1.0 for the loss itself), cache: (p, y)
    → dz: (m, K) = dloss·(p − onehot(y))/m."""
    p, y = cache
    dz = _buffer(dz, p.shape, "dz")
    softmax_cross_entropy_backward_kernel(p, y, np.float32(dloss / max(p.shape[0], 1)), dz)
    return dz


def softmax_cross_entropy(z, y, *, dz=None, p=None):
    """The trainer's loss step: (mean loss as a Python float, dz (m, K) = (p − onehot(y))/m, p (m, K))."""
    loss, cache = softmax_cross_entropy_forward(z, y, p=p)
    return loss, softmax_cross_entropy_backward(1.0, cache, dz=dz), cache[0]
