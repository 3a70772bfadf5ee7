"""Dropout in the trainer: the adapter (a mask per batch in training, the identity otherwise), its
memory (the mask) and its PyTorch twin. An activation asking for He's gain sees through it."""

from __future__ import annotations

from cnncalc.layers.adapter import InitRole, Layer, Memory, Trainer, buffer, no_tensors, out_elements
from cnncalc.layers.dropout import kernels as drop_k


class DropoutLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.mask = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0])
        self.rate = node.fields["rate"]

    def forward(self, xs, train, rng):
        x = xs[0]
        if not train:  # the identity: no copy
            self.cache = None
            return x
        b = len(x)
        out, self.cache = drop_k.dropout_forward(x, self.rate, rng, True, out=self.out[:b], mask=self.mask[:b])
        return out

    def backward(self, dout):
        if self.cache is None:
            return [dout]
        return [drop_k.dropout_backward(dout, self.cache, dx=self.dx[:len(dout)])]


def memory(row, threads) -> Memory:  # noqa: ARG001 — Trainer.memory's signature
    return Memory(per_sample=4 * out_elements(row))  # the float32 mask


def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from torch import nn

    return nn.Dropout(**({"p": options["rate"]} if "rate" in options else {}))


TRAINERS = {"dropout": Trainer(DropoutLayer, no_tensors, InitRole(fans=None, gain=None, see_through=True), memory,
                               torch_module)}
