"""add, concat and mul in the trainer: adapters and PyTorch twins. An activation asking for He's gain
sees through add (a residual sum keeps the statistics), not through concat or mul (a gate rescales)."""

from __future__ import annotations

from cnncalc.layers.adapter import PLAIN, InitRole, Layer, Trainer, buffer, no_memory, no_tensors
from cnncalc.layers.merge import kernels as merge_k


class AddLayer(Layer):
    passes_gradient = True

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        out, self.cache = merge_k.add_forward(xs, out=self.out[:len(xs[0])])
        return out

    def backward(self, dout):
        return merge_k.add_backward(dout, self.cache)  # dout itself for every input: read, never written


class ConcatLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.dxs = [buffer(m, s) for s in self.in_shapes]

    def nbytes(self):
        return self.out.nbytes + sum(d.nbytes for d in self.dxs)

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        out, self.cache = merge_k.concat_forward(xs, out=self.out[:len(xs[0])])
        return out

    def backward(self, dout):
        b = len(dout)
        return merge_k.concat_backward(dout, self.cache, dxs=[d[:b] for d in self.dxs])


class MulLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.dxs = [buffer(m, s) for s in self.in_shapes]

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        out, self.cache = merge_k.mul_forward(xs, out=self.out[:len(xs[0])])
        return out

    def backward(self, dout):
        b = len(dout)
        grads = merge_k.mul_backward(dout, self.cache, dxs=[d[:b] for d in self.dxs])
        return [g if want else None for g, want in zip(grads, self.need_dx)]


def _add_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from cnncalc.layers.merge.pytorch import Add

    return Add()


def _concat_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from cnncalc.layers.merge.pytorch import Concat

    return Concat()


def _mul_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from cnncalc.layers.merge.pytorch import Mul

    return Mul()


TRAINERS = {
    "add": Trainer(AddLayer, no_tensors, InitRole(fans=None, gain=None, see_through=True), no_memory, _add_module),
    "concat": Trainer(ConcatLayer, no_tensors, PLAIN, no_memory, _concat_module),
    "mul": Trainer(MulLayer, no_tensors, PLAIN, no_memory, _mul_module),
}
