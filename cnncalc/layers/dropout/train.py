"""Dropout and drop path in the trainer: the adapters (a mask per batch in training, the identity
otherwise), their memory (dropout's per-element mask, drop path's per-sample scale) and their
PyTorch twins. An activation asking for He's gain sees through both."""

from __future__ import annotations

from cnncalc.layers.adapter import InitRole, Layer, Memory, Trainer, buffer, no_tensors, out_elements
from cnncalc.layers.dropout import kernels as drop_k


class DropoutLayer(Layer):
    passes_gradient = True  # dout itself when no mask was drawn (eval, rate 0)

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


class DropPathLayer(Layer):
    passes_gradient = True  # dout itself when no mask was drawn

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.keep = buffer(m, ())  # one scale per sample: 0 or 1/(1 − rate)
        self.dx = buffer(m, self.in_shapes[0])
        self.rate = node.fields["rate"]

    def forward(self, xs, train, rng):
        x = xs[0]
        if not train or self.rate == 0.0:  # the identity: no copy
            self.cache = None
            return x
        b = len(x)
        out, self.cache = drop_k.drop_path_forward(x, self.rate, rng, True, out=self.out[:b], keep=self.keep[:b])
        return out

    def backward(self, dout):
        if self.cache is None:
            return [dout]
        return [drop_k.drop_path_backward(dout, self.cache, dx=self.dx[:len(dout)])]


def drop_path_memory(row, threads) -> Memory:  # noqa: ARG001 — Trainer.memory's signature
    return Memory(per_sample=4)  # the float32 scale of each sample


def drop_path_torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    """torchvision's StochasticDepth(p, "row") where torchvision is already imported (importing it
    here could fail half-way on a machine without its compiled ops), else the same computation."""
    import sys

    rate = options["rate"]
    tv = sys.modules.get("torchvision")
    if tv is not None and hasattr(getattr(tv, "ops", None), "StochasticDepth"):
        return tv.ops.StochasticDepth(rate, "row")
    return _drop_path_module(rate)


def _drop_path_module(rate):
    from cnncalc.layers.dropout.pytorch import DropPath

    return DropPath(rate)


_SEE_THROUGH = InitRole(fans=None, gain=None, see_through=True)
TRAINERS = {"dropout": Trainer(DropoutLayer, no_tensors, _SEE_THROUGH, memory, torch_module),
            "drop_path": Trainer(DropPathLayer, no_tensors, _SEE_THROUGH, drop_path_memory, drop_path_torch_module)}
