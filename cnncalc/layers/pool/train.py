"""Pooling in the trainer: adapters over kernels.Pool and the global mean, memory and PyTorch twins.

No parameters. Max pooling keeps its argmax (int64, one per output) for backward; an activation
asking for He's gain sees through it (the maximum keeps the sign statistics), not through the average.
"""

from __future__ import annotations

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

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        return self.pool.forward(xs[0])

    def backward(self, dout):
        return [self.pool.backward(dout)]


class AvgPoolLayer(PoolLayer):
    mode = "avg"


class GlobalAvgPoolLayer(Layer):
    """(m, n_C, n_H, n_W) → (m, n_C), the mean over n_H·n_W."""

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0])

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        return pool_k.global_avgpool_forward(x, out=self.out[:len(x)])

    def backward(self, dout):
        b = len(dout)
        return [pool_k.global_avgpool_backward(dout, (b,) + self.in_shapes[0], dx=self.dx[:b])]


def argmax_memory(row, threads) -> Memory:  # noqa: ARG001 — Trainer.memory's signature
    return Memory(per_sample=8 * out_elements(row))  # the int64 argmax


def _window_module(kind):
    def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
        from cnncalc.layers.pool.pytorch import Pool2d

        pads = row.window.p if "padding" in options else (0, 0, 0, 0)
        kw = {k: options[k] for k in ("stride", "ceil_mode", "count_include_pad") if k in options}
        return Pool2d(kind, options["kernel"], pads, kw)
    return torch_module


def _global_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from cnncalc.layers.pool.pytorch import GlobalAvgPool

    return GlobalAvgPool()


TRAINERS = {
    "maxpool": Trainer(PoolLayer, no_tensors, InitRole(fans=None, gain=None, see_through=True), argmax_memory,
                       _window_module("maxpool")),
    "avgpool": Trainer(AvgPoolLayer, no_tensors, PLAIN, no_memory, _window_module("avgpool")),
    "global_avgpool": Trainer(GlobalAvgPoolLayer, no_tensors, PLAIN, no_memory, _global_module),
}
