"""Pooling in the trainer: adapters over kernels.Pool, the global mean and max, the adaptive pools,
memory and PyTorch twins.

No parameters. Max pooling (windowed, global, adaptive) keeps its argmax (int64, one per output) for backward; an activation
asking for He's gain sees through it (the maximum keeps the sign statistics), not through the average.
"""

from __future__ import annotations

import numpy as np

from cnncalc.layers.adapter import PLAIN, InitRole, Layer, Memory, Trainer, buffer, no_memory, no_tensors, \
    out_elements
from cnncalc.layers.pool import kernels as pool_k


class PoolLayer(Layer):
    """maxpool and avgpool over f_H×f_W windows; pads and stride from the analysis (ceil mode in n_H, n_W)."""

    mode = "max"

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        (n_C, n_H_prev, n_W_prev), (_, n_H, n_W) = self.in_shapes[0], self.out_shape
        w = row.window
        self.pool = pool_k.Pool(self.mode, m, n_C, n_H_prev, n_W_prev, w.f, w.s, w.p, n_H, n_W,
                                node.fields.get("count_include_pad", True))

    def nbytes(self):
        p = self.pool
        return p.out.nbytes + p.dx.nbytes + (p.argmax.nbytes if p.argmax is not None else 0)

    def gradient_buffers(self):
        return [(self.pool, "dx")]

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        return self.pool.forward(xs[0])

    def backward(self, dout):
        return [self.pool.backward(dout)]


class AvgPoolLayer(PoolLayer):
    mode = "avg"


class GlobalAvgPoolLayer(Layer):
    """(m, n_C, n_H, n_W) → (m, n_C), the mean over n_H·n_W; (m, n_C, 1, 1) with keep_dims."""

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0])

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        b = len(x)
        out = pool_k.global_avgpool_forward(x, out=self.out[:b].reshape(b, -1))
        return out.reshape((b,) + self.out_shape)  # keep_dims: (b, n_C, 1, 1), a view of the same buffer

    def backward(self, dout):
        b = len(dout)
        return [pool_k.global_avgpool_backward(dout.reshape(b, -1), (b,) + self.in_shapes[0], dx=self.dx[:b])]


class AdaptiveAvgPoolLayer(Layer):
    """(m, n_C, n_H_prev, n_W_prev) → (m, n_C, n_H, n_W): the mean over PyTorch's adaptive windows."""

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0])

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = np.ascontiguousarray(xs[0], np.float32)
        out = self.out[:len(x)]
        pool_k.adaptive_avgpool_forward(x, out)
        return out

    def backward(self, dout):
        dout = np.ascontiguousarray(dout, np.float32)
        dx = self.dx[:len(dout)]
        pool_k.adaptive_avgpool_backward(dout, dx)
        return [dx]


class AdaptiveMaxPoolLayer(Layer):
    """(m, n_C, n_H_prev, n_W_prev) → (m, n_C, n_H, n_W): the maximum over PyTorch's adaptive windows,
    with its int64 argmax. global_maxpool is this layer pooling to 1×1 (its output then flat
    (m, n_C) unless keep_dims)."""

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        n_C = self.in_shapes[0][0]
        self.pooled = (n_C,) + tuple(node.fields["output"]) if "output" in node.fields else (n_C, 1, 1)
        self.out = np.empty((m,) + self.pooled, np.float32)
        self.argmax = np.empty((m,) + self.pooled, np.int64)
        self.dx = buffer(m, self.in_shapes[0])

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = np.ascontiguousarray(xs[0], np.float32)
        b = len(x)
        pool_k.adaptive_maxpool_forward(x, self.out[:b], self.argmax[:b])
        return self.out[:b].reshape((b,) + self.out_shape)

    def backward(self, dout):
        b = len(dout)
        dout = np.ascontiguousarray(dout, np.float32).reshape((b,) + self.pooled)
        dx = self.dx[:b]
        pool_k.maxpool_backward(dout, self.argmax[:b], dx)
        return [dx]


def argmax_memory(row, threads) -> Memory:  # noqa: ARG001 — Trainer.memory's signature
    return Memory(per_sample=8 * out_elements(row))  # the int64 argmax


def argmax_memory_global(row, threads) -> Memory:  # noqa: ARG001 — Trainer.memory's signature
    return Memory(per_sample=8 * row.out_shape[-1])  # one int64 argmax per channel, kept dims or not


def _window_module(kind):
    def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
        from cnncalc.layers.pool.pytorch import Pool2d

        pads = row.window.p if "padding" in options else (0, 0, 0, 0)
        kw = {k: options[k] for k in ("stride", "ceil_mode", "count_include_pad") if k in options}
        return Pool2d(kind, options["kernel"], pads, kw)
    return torch_module


def _global_module(kind):
    def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
        from cnncalc.layers.pool.pytorch import GlobalPool

        return GlobalPool(kind, options.get("keep_dims", False))
    return torch_module


def _adaptive_module(kind):
    def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
        from torch import nn

        module = nn.AdaptiveAvgPool2d if kind == "adaptive_avgpool" else nn.AdaptiveMaxPool2d
        return module(tuple(options["output"]))
    return torch_module


TRAINERS = {
    "maxpool": Trainer(PoolLayer, no_tensors, InitRole(fans=None, gain=None, see_through=True), argmax_memory,
                       _window_module("maxpool")),
    "avgpool": Trainer(AvgPoolLayer, no_tensors, PLAIN, no_memory, _window_module("avgpool")),
    "global_avgpool": Trainer(GlobalAvgPoolLayer, no_tensors, PLAIN, no_memory, _global_module("global_avgpool")),
    "global_maxpool": Trainer(AdaptiveMaxPoolLayer, no_tensors, InitRole(fans=None, gain=None, see_through=True),
                              argmax_memory_global, _global_module("global_maxpool")),
    "adaptive_avgpool": Trainer(AdaptiveAvgPoolLayer, no_tensors, PLAIN, no_memory,
                                _adaptive_module("adaptive_avgpool")),
    "adaptive_maxpool": Trainer(AdaptiveMaxPoolLayer, no_tensors, InitRole(fans=None, gain=None, see_through=True),
                                argmax_memory, _adaptive_module("adaptive_maxpool")),
}
