"""Convolution in the trainer: the adapter over kernels.Conv, its tensors, init role, memory and PyTorch twin.

    weight (n_C, n_C_prev/groups, f_H, f_W)   bias (n_C,)        PyTorch's nn.Conv2d layout
    fan_in = n_C_prev/groups·f_H·f_W, fan_out = n_C·f_H·f_W     (torch.nn.init's rule)
"""

from __future__ import annotations

from cnncalc.layers.adapter import InitRole, Layer, Memory, Param, Trainer
from cnncalc.layers.conv import kernels as conv_k


class ConvLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        (n_C_prev, n_H_prev, n_W_prev), (n_C, n_H, n_W) = self.in_shapes[0], self.out_shape
        w = row.window
        self.conv = conv_k.Conv(m, n_C_prev, n_H_prev, n_W_prev, n_C, w.f, w.s, w.p, w.d, w.groups, n_H, n_W)

    def nbytes(self):
        c = self.conv
        return c.out.nbytes + c.dx.nbytes + sum(v.nbytes for v in c.ws.values())

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        return self.conv.forward(xs[0], self.own["weight"], self.own.get("bias"))

    def backward(self, dout):
        g = self.own_grads
        return [self.conv.backward(dout, self.own["weight"], g["weight"], g.get("bias"), need_dx=self.need_dx[0])]


def tensors(node, row) -> list[Param]:
    w, n_C = row.window, row.out_shape[2]
    out = [Param("weight", (n_C, row.in_shapes[0][2] // w.groups) + tuple(w.f))]
    if node.fields["bias"]:
        out.append(Param("bias", (n_C,)))
    return out


def fans(shapes) -> tuple[int, int]:
    n_C, C_g, f_H, f_W = shapes["weight"]
    return C_g * f_H * f_W, n_C * f_H * f_W


def memory(row, threads) -> Memory:
    """The workspaces per thread: im2col columns (taps × n_H·n_W) and the padded input and output
    rows, forward and backward (an upper bound)."""
    (n_H_prev, n_W_prev, n_C_prev), (n_H, n_W, n_C) = row.in_shapes[0], row.out_shape
    t_, b_, l_, r_ = row.window.p
    taps = row.macs // max(n_H * n_W * n_C, 1)  # n_C_prev/groups · f_H · f_W
    reach = (n_H_prev + t_ + b_ + 2 * n_H) * (n_W_prev + l_ + r_ + 2 * n_W)  # padded rows, both ways
    return Memory(workspace=4 * threads * (taps * (n_H * n_W + 16) + (n_C_prev + 3 * n_C) * reach + 4 * n_C * taps))


def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    """nn.Conv2d, after an explicit F.pad when the padding is asymmetric ('same' with an even kernel)."""
    from cnncalc.layers.conv.pytorch import conv2d

    return conv2d(row, options)


TRAINERS = {"conv": Trainer(ConvLayer, tensors, InitRole(fans=fans, gain=None, see_through=False), memory,
                            torch_module)}
