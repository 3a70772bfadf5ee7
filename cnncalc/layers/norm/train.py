"""Batch normalisation in the trainer: the adapter, its tensors (PyTorch's BatchNorm names) and twin.

    weight γ (n_C,) = 1   bias β (n_C,) = 0   running_mean (n_C,) = 0   running_var (n_C,) = 1
    num_batches_tracked () int64 = 0
An activation asking for He's gain sees through it (it rescales per channel, keeping signs balanced).
"""

from __future__ import annotations

import math

import numpy as np

from cnncalc.layers.adapter import InitRole, Layer, Memory, Param, Trainer, buffer
from cnncalc.layers.norm import kernels as norm_k


class BatchNormLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        n_C = self.out_shape[0]
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0])
        self.save_mean = np.empty(n_C, np.float32)
        self.save_inv_std = np.empty(n_C, np.float32)
        self.ws = {"scratch": norm_k.scratch_for((m,) + tuple(self.in_shapes[0]))}  # or a view of the arena's
        norm_k.prefetch()  # a cold cache: a helper process compiles the kernels' bodies meanwhile
        self.arena = None
        self.eps, self.momentum = node.fields["eps"], node.fields["momentum"]
        # two values per channel are needed in training (torch refuses one too): with one per
        # image (flat features, or a 1×1 map) a batch of one image cannot train
        self.min_train_batch = 2 if math.prod(self.out_shape[1:]) == 1 else 1

    def share(self, arena):
        """The kernels' float64 scratch from the network's arena: written before it is read on every call
        (the sums are zeroed by the kernels), and nothing in it outlives a call."""
        self.arena = arena
        scratch = self.ws["scratch"]
        arena.lease(self, {"scratch": (scratch.shape, scratch.dtype)}, self.ws, rewritten=("scratch",))

    def nbytes(self):
        return super().nbytes() + (0 if self.arena is not None else self.ws["scratch"].nbytes)

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        if self.arena is not None:
            self.arena.claim(self)
        x, own = xs[0], self.own
        out, self.cache = norm_k.batchnorm_forward(
            x, own["weight"], own["bias"], own["running_mean"], own["running_var"], self.eps, self.momentum, train,
            out=self.out[:len(x)], save_mean=self.save_mean, save_inv_std=self.save_inv_std, scratch=self.ws["scratch"])
        if train:
            own["num_batches_tracked"] += 1
        return out

    def backward(self, dout):
        if self.arena is not None:
            self.arena.claim(self)
        g = self.own_grads
        dx, _, _ = norm_k.batchnorm_backward(dout, self.cache, dx=self.dx[:len(dout)], dgamma=g["weight"],
                                             dbeta=g["bias"])
        return [dx]


def tensors(node, row) -> list[Param]:  # noqa: ARG001 — Trainer.tensors' signature
    n_C = row.out_shape[-1]
    return [Param("weight", (n_C,), fill=1.0), Param("bias", (n_C,)),
            Param("running_mean", (n_C,), False), Param("running_var", (n_C,), False, fill=1.0),
            Param("num_batches_tracked", (), False, "int64")]


def memory(row, threads) -> Memory:  # noqa: ARG001 — Trainer.memory's signature
    """The kernels' float64 scratch, SCRATCH_ROWS values per position of one image (norm_k.scratch_for),
    leased from the network's arena."""
    return Memory(scratch=8 * norm_k.SCRATCH_ROWS * math.prod(row.out_shape))


def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from torch import nn

    cls = nn.BatchNorm2d if len(row.out_shape) == 3 else nn.BatchNorm1d
    return cls(row.out_shape[-1], **{k: options[k] for k in ("eps", "momentum") if k in options})


TRAINERS = {"batchnorm": Trainer(BatchNormLayer, tensors, InitRole(fans=None, gain=None, see_through=True), memory,
                                 torch_module)}
