"""The activations in the trainer: one element-wise adapter each, their init roles and PyTorch twins.

relu and leaky_relu ask the weighted layer before them for He's gain √(2/(1 + α²)) (α = 0 for
relu; torch.nn.init.calculate_gain); identity passes that request on. The final softmax of a
network is fused with the cross-entropy loss: its input are the logits.
"""

from __future__ import annotations

import math

from cnncalc.layers.activation import kernels as act_k
from cnncalc.layers.adapter import PLAIN, Elementwise, InitRole, Layer, Trainer, no_memory, no_tensors


class ReluLayer(Elementwise):
    forward_fn, backward_fn = act_k.relu_forward, act_k.relu_backward


class LeakyReluLayer(Elementwise):
    forward_fn, backward_fn = act_k.leaky_relu_forward, act_k.leaky_relu_backward
    args = ("alpha",)


class SigmoidLayer(Elementwise):
    forward_fn, backward_fn = act_k.sigmoid_forward, act_k.sigmoid_backward


class TanhLayer(Elementwise):
    forward_fn, backward_fn = act_k.tanh_forward, act_k.tanh_backward


class SoftmaxLayer(Elementwise):
    """Over the channels: a softmax in the middle of a network (the final one is fused with the loss)."""

    forward_fn, backward_fn = act_k.softmax_forward, act_k.softmax_backward


class IdentityLayer(Layer):
    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        return xs[0]

    def backward(self, dout):
        return [dout]


def he_gain(fields) -> float:
    alpha = fields.get("alpha", 0.0)
    return math.sqrt(2.0 / (1.0 + alpha * alpha))


def _module(name, option=None, torch_name=None):
    """The torch.nn class `name`, given the field `option` (as torch's `torch_name`) when it is stated."""
    def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
        from torch import nn

        kw = {torch_name: options[option]} if option in options else {}
        return getattr(nn, name)(**kw)
    return torch_module


def _softmax_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from torch import nn

    return nn.Softmax(dim=1)


ASKS_HE = InitRole(fans=None, gain=he_gain, see_through=False)

TRAINERS = {
    "relu": Trainer(ReluLayer, no_tensors, ASKS_HE, no_memory, _module("ReLU")),
    "leaky_relu": Trainer(LeakyReluLayer, no_tensors, ASKS_HE, no_memory,
                          _module("LeakyReLU", "alpha", "negative_slope")),
    "sigmoid": Trainer(SigmoidLayer, no_tensors, PLAIN, no_memory, _module("Sigmoid")),
    "tanh": Trainer(TanhLayer, no_tensors, PLAIN, no_memory, _module("Tanh")),
    "softmax": Trainer(SoftmaxLayer, no_tensors, PLAIN, no_memory, _softmax_module, loss_input=True),
    "identity": Trainer(IdentityLayer, no_tensors, InitRole(fans=None, gain=None, see_through=True), no_memory,
                        _module("Identity")),
}
