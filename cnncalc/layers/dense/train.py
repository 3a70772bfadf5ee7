"""Dense and flatten in the trainer: adapters, tensors, init role and PyTorch twins.

    weight (n, n_prev)   bias (n,)        PyTorch's nn.Linear layout; a dense layer after flatten
                                          reads its input in (n_C, n_H, n_W) order, torch.flatten's
    fan_in = n_prev, fan_out = n
"""

from __future__ import annotations

from cnncalc.layers.adapter import PLAIN, InitRole, Layer, Param, Trainer, buffer, no_memory, no_tensors
from cnncalc.layers.dense import kernels as dense_k


class DenseLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0]) if need_dx[0] else None

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        out, self.cache = dense_k.dense_forward(x, self.own["weight"], self.own.get("bias"), out=self.out[:len(x)])
        return out

    def backward(self, dout):
        g = self.own_grads
        dx, _, _ = dense_k.dense_backward(dout, self.cache, dx=self.dx[:len(dout)] if self.need_dx[0] else None,
                                          dW=g["weight"], db=g.get("bias"), need_dx=self.need_dx[0])
        return [dx]


class FlattenLayer(Layer):
    passes_gradient = True  # dx is dout reshaped

    """A view in (n_C, n_H, n_W) order, torch.flatten's: no copy either way."""

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        out, self.cache = dense_k.flatten_forward(xs[0])
        return out

    def backward(self, dout):
        return [dense_k.flatten_backward(dout, self.cache)]


def dense_tensors(node, row) -> list[Param]:
    n_prev, n = row.in_shapes[0][0], row.out_shape[0]
    out = [Param("weight", (n, n_prev))]
    if node.fields["bias"]:
        out.append(Param("bias", (n,)))
    return out


def dense_fans(shapes) -> tuple[int, int]:
    n, n_prev = shapes["weight"]
    return n_prev, n


def dense_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from torch import nn

    return nn.Linear(row.in_shapes[0][0], options["units"], **({"bias": options["bias"]} if "bias" in options else {}))


def flatten_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from torch import nn

    return nn.Flatten()


TRAINERS = {
    "dense": Trainer(DenseLayer, dense_tensors, InitRole(fans=dense_fans, gain=None, see_through=False), no_memory,
                     dense_module),
    "flatten": Trainer(FlattenLayer, no_tensors, PLAIN, no_memory, flatten_module),
}
