"""What a kind gives the trainer: one `Trainer` record per kind, in its family's `train.py`.

    adapter  a Layer subclass: built once for a batch of at most m samples, it allocates its
             buffers; forward(xs, train, rng) -> out, backward(dout) -> [dx per input, None
             where the producer wants none]; nbytes() the bytes it holds; share(arena) leases
             its scratch arrays from the network's arena (layers/workspace.py), if it has any;
             gradient_buffers() where its dx buffers are; passes_gradient True when backward
             may return dout itself (add, flatten, identity, dropout in eval)
    tensors  (node, row) -> [Param]: its parameter tensors, PyTorch's roles and shapes
             (`weight` (n_C, n_C_prev/groups, f_H, f_W), …); the engine prefixes the layer name,
             so the names are the PyTorch module's state_dict keys and weights map one to one
    init     an InitRole: fans of the weight engine.init draws, the gain an activation asks of
             the layer before it, and whether that request passes through the kind
    memory   (row, threads) -> Memory: what training keeps beyond the output and the gradient
             sent back, for train.estimate
    torch    (node, row, options) -> torch.nn.Module: the PyTorch equivalent, options being the
             fields to pass (the oracle passes only the stated ones); imports torch itself

A family's `rules.py` names its `train.py` in `Kind.trainer`; the engine imports it only when it
trains, so the analysis commands never load numpy or Numba.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from cnncalc.shapes import elements


@dataclass(frozen=True)
class Param:
    """One tensor a layer owns: its role (the state_dict suffix), shape, whether it trains, and
    PyTorch's value for a fresh layer (before engine.init draws the weights)."""

    role: str
    shape: tuple
    trainable: bool = True
    dtype: str = "float32"
    fill: float = 0.0


@dataclass(frozen=True)
class InitRole:
    """The kind's part in initialisation.

    fans: (shapes) -> (fan_in, fan_out), shapes the {role: shape} of its tensors, for a kind whose
          `weight` engine.init draws (and whose `bias` it sets); None for the others.
    gain: (fields) -> the gain this kind asks of the weighted layer before it (He's √(2/(1 + α²))
          for the ReLU family); None when it asks for none (Glorot then).
    see_through: an asking activation after this kind still sees the layer before it (the kind
          keeps the sign statistics He's derivation relies on: batchnorm, dropout, max pooling, add).
    """

    fans: Callable | None
    gain: Callable | None
    see_through: bool


@dataclass(frozen=True)
class Memory:
    """What training keeps per layer beyond its output and the gradient it sends back.

    per_sample: bytes per sample (maxpool's int64 argmax, dropout's mask);
    workspace: bytes the layer keeps for itself, whatever the batch (conv's tap offsets, packed weights);
    scratch: bytes of scratch arrays leased from the network's arena (layers/workspace.py: conv's im2col
             columns and padded rows, per thread): one block for all layers, so the estimate counts the
             largest layer's, not the sum."""

    per_sample: int = 0
    workspace: int = 0
    scratch: int = 0


@dataclass(frozen=True)
class Trainer:
    """Every role the trainer needs of one kind; see the module's docstring."""

    adapter: type
    tensors: Callable
    init: InitRole
    memory: Callable
    torch: Callable
    loss_input: bool = False  # a final layer of this kind is fused with the loss: its input are the logits


def no_tensors(node, row) -> list:  # noqa: ARG001 — Trainer.tensors' signature
    return []


def no_memory(row, threads) -> Memory:  # noqa: ARG001 — Trainer.memory's signature
    return Memory()


PLAIN = InitRole(fans=None, gain=None, see_through=False)  # neither drawn, nor asking, nor seen through


def nchw(shape) -> tuple:
    """The analyzer's (n_H, n_W, n_C) → the engine's (n_C, n_H, n_W); flat shapes (n,) unchanged."""
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)


def buffer(m, shape):
    return np.empty((m,) + tuple(shape), np.float32)


class Layer:
    """The adapters' base: the layer's node and row, its shapes in NCHW, its arrays by role.

    own: {role: array} its parameters and buffers; own_grads: {role: array} their gradients;
    need_dx: per input, whether the producer wants a gradient. Buffers are allocated once for m
    samples; a smaller last batch uses the leading rows, buf[:b]."""

    min_train_batch = 1  # the smallest batch training accepts (batchnorm with one value per channel: 2)
    passes_gradient = False  # backward may return dout itself (or a view of it) as an input's gradient

    def __init__(self, node, row, m, own, own_grads, need_dx):
        self.node, self.row, self.m = node, row, m
        self.name, self.fields = node.name, node.fields
        self.need_dx = need_dx
        self.in_shapes = [nchw(s) for s in row.in_shapes]
        self.out_shape = nchw(row.out_shape)
        self.own = own
        self.own_grads = own_grads

    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    def share(self, arena) -> None:
        """Leases the layer's scratch arrays from the network's arena (layers/workspace.py); most kinds have none."""

    def gradient_buffers(self) -> list[tuple]:
        """[(holder, key)]: where the layer keeps the buffers its backward writes input gradients into,
        holder.key (an object's attribute) or holder[key] (a list's item); the executor may replace each
        with a view of the same shape into a block that layers whose gradients are not alive at the same
        time share (executor.Network). A kind that keeps them elsewhere says so."""
        out = [(self, "dx")] if isinstance(getattr(self, "dx", None), np.ndarray) else []
        return out + [(self.dxs, i) for i in range(len(getattr(self, "dxs", ())))]


class Elementwise(Layer):
    """An element-wise kind with a `*_forward(x, *args, out=)` / `*_backward(dout, cache, dx=)` pair:
    a subclass names the pair (`forward_fn`, `backward_fn`) and the fields passed as args."""

    forward_fn: Callable
    backward_fn: Callable
    args: tuple[str, ...] = ()

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0])
        self.values = tuple(node.fields[a] for a in self.args)

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        out, self.cache = type(self).forward_fn(x, *self.values, out=self.out[:len(x)])
        return out

    def backward(self, dout):
        return [type(self).backward_fn(dout, self.cache, dx=self.dx[:len(dout)])]


def out_elements(row) -> int:
    return elements(row.out_shape)
