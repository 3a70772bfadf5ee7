"""The activations in the trainer: one element-wise adapter each, their init roles and PyTorch twins.

relu and leaky_relu ask the weighted layer before them for He's gain √(2/(1 + α²)) (α = 0 for
relu; torch.nn.init.calculate_gain); identity passes that request on. The final softmax of a
network is fused with the cross-entropy loss: its input are the logits.

The activations calculate_gain does not list: relu6, hardswish, silu, gelu and elu keep the
positive half and damp the negative one as relu does, so they ask for relu's √2 (He's argument
holds to first order; torchvision draws MobileNetV3's and EfficientNet's convs with He's normal);
prelu asks √(2/(1 + a²)) for its starting slope a (the `init` field, 0.25), as
calculate_gain('leaky_relu', a); hardsigmoid, bounded and centred at 1/2 like sigmoid, asks
for nothing (Glorot), as sigmoid does.

    prelu's tensor: weight (num_parameters,) = init, torch.nn.PReLU's name, shape and value.
"""

from __future__ import annotations

import math

from cnncalc.layers.activation import kernels as act_k
from cnncalc.layers.adapter import PLAIN, Elementwise, InitRole, Layer, Param, Trainer, buffer, no_memory, no_tensors


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


class Relu6Layer(Elementwise):
    forward_fn, backward_fn = act_k.relu6_forward, act_k.relu6_backward


class HardsigmoidLayer(Elementwise):
    forward_fn, backward_fn = act_k.hardsigmoid_forward, act_k.hardsigmoid_backward


class HardswishLayer(Elementwise):
    forward_fn, backward_fn = act_k.hardswish_forward, act_k.hardswish_backward


class SiluLayer(Elementwise):
    forward_fn, backward_fn = act_k.silu_forward, act_k.silu_backward


class GeluLayer(Elementwise):
    forward_fn, backward_fn = act_k.gelu_forward, act_k.gelu_backward
    args = ("approximate",)


class EluLayer(Elementwise):
    forward_fn, backward_fn = act_k.elu_forward, act_k.elu_backward
    args = ("alpha",)


class PreluLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0])

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        out, self.cache = act_k.prelu_forward(x, self.own["weight"], out=self.out[:len(x)])
        return out

    def backward(self, dout):
        dx, _ = act_k.prelu_backward(dout, self.cache, dx=self.dx[:len(dout)], da=self.own_grads["weight"])
        return [dx]


class IdentityLayer(Layer):
    passes_gradient = True

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        return xs[0]

    def backward(self, dout):
        return [dout]


def he_gain(fields) -> float:
    alpha = fields.get("alpha", 0.0)
    return math.sqrt(2.0 / (1.0 + alpha * alpha))


def relu_gain(fields) -> float:  # noqa: ARG001 — InitRole.gain's signature
    return math.sqrt(2.0)


def prelu_gain(fields) -> float:
    a = fields["init"]
    return math.sqrt(2.0 / (1.0 + a * a))


def prelu_tensors(node, row) -> list[Param]:  # noqa: ARG001 — Trainer.tensors' signature
    return [Param("weight", (node.fields["num_parameters"],), fill=node.fields["init"])]


def _prelu_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from torch import nn

    return nn.PReLU(num_parameters=node.fields["num_parameters"], init=node.fields["init"])


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
ASKS_RELU_GAIN = InitRole(fans=None, gain=relu_gain, see_through=False)

TRAINERS = {
    "relu": Trainer(ReluLayer, no_tensors, ASKS_HE, no_memory, _module("ReLU")),
    "leaky_relu": Trainer(LeakyReluLayer, no_tensors, ASKS_HE, no_memory,
                          _module("LeakyReLU", "alpha", "negative_slope")),
    "sigmoid": Trainer(SigmoidLayer, no_tensors, PLAIN, no_memory, _module("Sigmoid")),
    "tanh": Trainer(TanhLayer, no_tensors, PLAIN, no_memory, _module("Tanh")),
    "softmax": Trainer(SoftmaxLayer, no_tensors, PLAIN, no_memory, _softmax_module, loss_input=True),
    "relu6": Trainer(Relu6Layer, no_tensors, ASKS_RELU_GAIN, no_memory, _module("ReLU6")),
    "hardsigmoid": Trainer(HardsigmoidLayer, no_tensors, PLAIN, no_memory, _module("Hardsigmoid")),
    "hardswish": Trainer(HardswishLayer, no_tensors, ASKS_RELU_GAIN, no_memory, _module("Hardswish")),
    "silu": Trainer(SiluLayer, no_tensors, ASKS_RELU_GAIN, no_memory, _module("SiLU")),
    "gelu": Trainer(GeluLayer, no_tensors, ASKS_RELU_GAIN, no_memory, _module("GELU", "approximate", "approximate")),
    "elu": Trainer(EluLayer, no_tensors, ASKS_RELU_GAIN, no_memory, _module("ELU", "alpha", "alpha")),
    "prelu": Trainer(PreluLayer, prelu_tensors, InitRole(fans=None, gain=prelu_gain, see_through=False), no_memory,
                     _prelu_module),
    "identity": Trainer(IdentityLayer, no_tensors, InitRole(fans=None, gain=None, see_through=True), no_memory,
                        _module("Identity")),
}
