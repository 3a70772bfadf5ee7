"""Upsampling in the trainer: the adapter over kernels' interpolation tables, and nn.Upsample as its twin.

No parameters; the tables (two int64 and one float32 per output row and column) are all it keeps.
"""

from __future__ import annotations

from cnncalc.layers.adapter import PLAIN, Layer, Trainer, buffer, no_memory, no_tensors
from cnncalc.layers.upsample import kernels as up_k


class UpsampleLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        (_, n_H_prev, n_W_prev), (_, n_H, n_W) = self.in_shapes[0], self.out_shape
        self.tables = up_k.tables(n_H_prev, n_W_prev, n_H, n_W, node.fields["mode"])
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m, self.in_shapes[0])

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        out = self.out[:len(x)]
        up_k.upsample_forward_kernel(x, *self.tables, out)
        return out

    def backward(self, dout):
        dx = self.dx[:len(dout)]
        up_k.upsample_backward_kernel(dout, *self.tables, dx)
        return [dx]


def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    """nn.Upsample with the stated scale or size and mode; bilinear with align_corners=False, the rule we use."""
    from torch import nn

    kw = {"scale_factor": options["scale"]} if "scale" in options else {"size": tuple(options["size"])}
    if "mode" in options:
        kw["mode"] = options["mode"]
        if options["mode"] == "bilinear":
            kw["align_corners"] = False
    return nn.Upsample(**kw)


TRAINERS = {"upsample": Trainer(UpsampleLayer, no_tensors, PLAIN, no_memory, torch_module)}
