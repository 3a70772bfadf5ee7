"""Inverted dropout: zero each element with probability rate, scale the rest by 1/(1 − rate); and
drop path (stochastic depth): the same per sample, a whole map at once (below).

Arrays are float32, C-contiguous; x: any activation, (m, n_C, n_H, n_W) or (m, n).

    train:  u ~ U[0, 1) from the caller's numpy Generator (float32, one draw per element, in C order)
            mask = 1/(1 − rate) where u ≥ rate, else 0;   out = x·mask;   dx = dout·mask
            rate = 1 zeroes everything, as torch.nn.functional.dropout(p=1)
    eval, or rate = 0:  out = x, dx = dout   (torch's F.dropout(training=False))

The mask depends only on the Generator's state, so a seed reproduces it; the draws are those of
`rng.random(x.shape, dtype=np.float32)`. The mask holds the scale itself (0 or 1/(1 − rate)), so
backward is one product. With `out=`, `mask=`, `dx=` the functions write into the caller's
buffers (the draws go straight into mask: `Generator.random(out=)`) and allocate nothing.
Self-contained file (Numba's cache does not follow imports).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from cnncalc.layers.buffers import output_buffer as _buffer


@njit(cache=True)
def dropout_kernel(x, rate, scale, mask, out):
    """x, mask, out: (N,) flat; rate, scale: float32. mask holds u ~ U[0, 1) on entry and
    mask = scale if u ≥ rate else 0 on exit; out = x·mask."""
    zero = np.float32(0)
    for i in range(x.size):
        keep = scale if mask[i] >= rate else zero
        mask[i] = keep
        out[i] = x[i] * keep




def dropout_forward(x, rate, rng, train=True, *, out=None, mask=None):
    """x: (m, n_C, n_H, n_W) or (m, n), rate in [0, 1], rng: numpy Generator → (out, cache = mask, or None when the
    layer is the identity: eval mode or rate 0; then out is x itself, or a copy in the caller's out)."""
    if not 0.0 <= rate <= 1.0:
        raise ValueError(f"dropout rate must be in [0, 1]; received {rate}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not train or rate == 0.0:
        if out is None:
            return x, None
        out = _buffer(out, x.shape, "out")
        np.copyto(out, x)
        return out, None
    out = _buffer(out, x.shape, "out")
    mask = _buffer(mask, x.shape, "mask")
    rng.random(dtype=np.float32, out=mask)
    scale = np.float32(0.0 if rate == 1.0 else 1.0 / (1.0 - rate))
    dropout_kernel(x.reshape(-1), np.float32(rate), scale, mask.reshape(-1), out.reshape(-1))
    return out, mask


def dropout_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: mask or None → dx = dout·mask (dout itself, or its copy in dx,
    when the layer was the identity)."""
    mask = cache
    dout = np.ascontiguousarray(dout, dtype=np.float32)
    if mask is None:
        if dx is None:
            return dout
        dx = _buffer(dx, dout.shape, "dx")
        np.copyto(dx, dout)
        return dx
    dx = _buffer(dx, mask.shape, "dx")
    np.multiply(dout, mask, out=dx)
    return dx


# ---------------------------------------------------------------- drop path (stochastic depth)
# torchvision.ops.stochastic_depth(x, p, mode="row", training=True): one draw per sample,
#     keep = 1/(1 − p) where u ≥ p, else 0;   out[i] = x[i]·keep[i];   dx[i] = dout[i]·keep[i]
# The draws are those of `rng.random(m, dtype=np.float32)`: one per sample, not one per element.


@njit(cache=True)
def drop_path_kernel(x, rate, scale, keep, out):
    """x, out: (m, N), a sample's map flattened; rate, scale: float32; keep: (m,), u ~ U[0, 1)
    on entry, keep = scale if u ≥ rate else 0 on exit; out[i] = x[i]·keep[i]."""
    zero = np.float32(0)
    for i in range(x.shape[0]):
        k = scale if keep[i] >= rate else zero
        keep[i] = k
        for j in range(x.shape[1]):
            out[i, j] = x[i, j] * k


@njit(cache=True)
def drop_path_backward_kernel(dout, keep, dx):
    """dout, dx: (m, N); keep: (m,) the forward's per-sample scale → dx[i] = dout[i]·keep[i]."""
    for i in range(dout.shape[0]):
        k = keep[i]
        for j in range(dout.shape[1]):
            dx[i, j] = dout[i, j] * k


def drop_path_forward(x, rate, rng, train=True, *, out=None, keep=None):
    """x: (m, n_C, n_H, n_W) or (m, n), rate in [0, 1), rng: numpy Generator → (out, cache = keep,
    the (m,) per-sample scale, or None when the layer is the identity: eval mode or rate 0; then
    out is x itself, or a copy in the caller's out)."""
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"drop_path rate must be in [0, 1); received {rate}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not train or rate == 0.0:
        if out is None:
            return x, None
        out = _buffer(out, x.shape, "out")
        np.copyto(out, x)
        return out, None
    m = x.shape[0]
    out = _buffer(out, x.shape, "out")
    keep = _buffer(keep, (m,), "keep")
    rng.random(dtype=np.float32, out=keep)
    scale = np.float32(1.0 / (1.0 - rate))
    drop_path_kernel(x.reshape(m, -1), np.float32(rate), scale, keep, out.reshape(m, -1))
    return out, keep


def drop_path_backward(dout, cache, *, dx=None):
    """dout: the shape of x, cache: keep (m,) or None → dx = dout·keep per sample (dout itself, or
    its copy in dx, when the layer was the identity)."""
    keep = cache
    dout = np.ascontiguousarray(dout, dtype=np.float32)
    if keep is None:
        if dx is None:
            return dout
        dx = _buffer(dx, dout.shape, "dx")
        np.copyto(dx, dout)
        return dx
    m = dout.shape[0]
    dx = _buffer(dx, dout.shape, "dx")
    drop_path_backward_kernel(dout.reshape(m, -1), keep, dx.reshape(m, -1))
    return dx
