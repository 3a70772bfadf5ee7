"""Convolution in the trainer: the adapter over kernels.Conv, its tensors, init role, memory and PyTorch twin.

    weight (n_C, n_C_prev/groups, f_H, f_W)   bias (n_C,)        PyTorch's nn.Conv2d layout
    fan_in = n_C_prev/groups·f_H·f_W, fan_out = n_C·f_H·f_W     (torch.nn.init's rule)
"""

from __future__ import annotations

import dataclasses
from math import prod

import numpy as np

from cnncalc.layers.adapter import InitRole, Layer, Memory, Param, Trainer, buffer, no_memory
from cnncalc.layers.conv import kernels as conv_k
from cnncalc.layers.conv import transpose_kernels as convt_k


class ConvLayer(Layer):
    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        (n_C_prev, n_H_prev, n_W_prev), (n_C, n_H, n_W) = self.in_shapes[0], self.out_shape
        w = row.window
        self.conv = conv_k.Conv(m, n_C_prev, n_H_prev, n_W_prev, n_C, w.f, w.s, w.p, w.d, w.groups, n_H, n_W)

    def nbytes(self):
        """out, dx and the workspace arrays not leased from the network's arena (Network.nbytes counts that once)."""
        c = self.conv
        return c.out.nbytes + c.dx.nbytes + sum(v.nbytes for k, v in c.ws.items() if k not in c.shared)

    def share(self, arena):
        self.conv.share(arena)

    def gradient_buffers(self):
        return [(self.conv, "dx")]

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
    """The workspaces per thread: for conv2d, im2col columns (taps × n_H·n_W) and the padded input and
    output rows, forward and backward (an upper bound), or the im2col + sgemm path's panels, or for a
    3×3 stride-1 layer the Winograd path's, if larger (tuning may choose any); for the depthwise and 1×1
    kernels, their plan's arrays at the largest batch share. What the plan keeps per layer
    (ConvPlan.KEEP) is `workspace`, the rest `scratch` (leased from the network's arena)."""
    (n_H_prev, n_W_prev, n_C_prev), (n_H, n_W, n_C) = row.in_shapes[0], row.out_shape
    w = row.window
    plan = conv_k.ConvPlan(1 << 20, n_C_prev, n_H_prev, n_W_prev, n_C, w.f[0], w.f[1], w.s[0], w.s[1], tuple(w.p),
                           w.d[0], w.d[1], w.groups, n_H, n_W, max(threads, 1))
    if plan.kernel != "conv2d":
        keep = conv_k.ConvPlan.KEEP.get(plan.kernel, ())
        size = {name: np.dtype(dtype).itemsize * prod(shape)
                for name, (shape, dtype) in plan.workspace_shapes(True, plan.kernel).items()}
        return Memory(workspace=sum(v for k, v in size.items() if k in keep),
                      scratch=sum(v for k, v in size.items() if k not in keep))
    gemm = winograd = 0
    if conv_k.tuning.blas_in_numba():  # the layer may take the im2col + sgemm or the Winograd path: the largest
        chunk = conv_k.tuning.gemm_chunk(plan.share, n_H * n_W, plan.K)
        gemm_plan = dataclasses.replace(plan, gemm_chunk=chunk)
        gemm = sum(np.dtype(dtype).itemsize * prod(shape) for shape, dtype in gemm_plan.workspace_shapes(True, "gemm").values())
        if plan.winograd_eligible:
            chunk = conv_k.tuning.winograd_chunk(plan.share, plan.tiles[0], n_C_prev, n_C)
            shapes = dataclasses.replace(plan, winograd_chunk=chunk).workspace_shapes(True, "winograd").values()
            winograd = sum(np.dtype(dtype).itemsize * prod(shape) for shape, dtype in shapes)
    t_, b_, l_, r_ = row.window.p
    taps = row.macs // max(n_H * n_W * n_C, 1)  # n_C_prev/groups · f_H · f_W
    reach = (n_H_prev + t_ + b_ + 2 * n_H) * (n_W_prev + l_ + r_ + 2 * n_W)  # padded rows, both ways
    direct = 4 * threads * (taps * (n_H * n_W + 16) + (n_C_prev + 3 * n_C) * reach + 4 * n_C * taps)
    kept = 8 * (plan.K4 + plan.n_C_g + 4)  # the int64 tap offsets (ConvPlan.KEEP)
    return Memory(workspace=kept, scratch=max(direct, gemm, winograd))


def torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    """nn.Conv2d, after an explicit F.pad when the padding is asymmetric ('same' with an even kernel)."""
    from cnncalc.layers.conv.pytorch import conv2d

    return conv2d(row, options)


class ConvTransposeLayer(Layer):
    """conv_transpose over transpose_kernels: the scatter forward, its adjoint for dx, and dW."""

    def __init__(self, node, row, m, own, own_grads, need_dx):
        super().__init__(node, row, m, own, own_grads, need_dx)
        w = row.window
        self.geometry = (w.s[0], w.s[1], w.p[0], w.p[2], w.d[0], w.d[1], w.groups)
        self.out = buffer(m, self.out_shape)
        self.dx = buffer(m if need_dx[0] else 0, self.in_shapes[0])
        self._none = np.zeros(0, np.float32)

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        self.x = x = np.ascontiguousarray(xs[0], np.float32)
        out = self.out[:len(x)]
        b = self.own.get("bias")
        convt_k.conv_transpose_forward_kernel(x, self.own["weight"], self._none if b is None else b, *self.geometry,
                                              out)
        return out

    def backward(self, dout):
        dout = np.ascontiguousarray(dout, np.float32)
        g = self.own_grads
        db = g.get("bias")
        convt_k.conv_transpose_dw_kernel(self.x, dout, *self.geometry, g["weight"], self._none if db is None else db)
        if not self.need_dx[0]:
            return [None]
        dx = self.dx[:len(dout)]
        convt_k.conv_transpose_dx_kernel(dout, self.own["weight"], *self.geometry, dx)
        return [dx]


def transpose_tensors(node, row) -> list[Param]:
    """weight (n_C_prev, n_C/groups, f_H, f_W), bias (n_C,): PyTorch's ConvTranspose2d layout."""
    w, n_C = row.window, row.out_shape[2]
    out = [Param("weight", (row.in_shapes[0][2], n_C // w.groups) + tuple(w.f))]
    if node.fields["bias"]:
        out.append(Param("bias", (n_C,)))
    return out


def transpose_fans(shapes) -> tuple[int, int]:
    """torch.nn.init's rule on the weight as PyTorch stores it: fan_in = size(1)·f_H·f_W = (n_C/groups)·f_H·f_W,
    fan_out = size(0)·f_H·f_W = n_C_prev·f_H·f_W."""
    n_C_prev, n_C_g, f_H, f_W = shapes["weight"]
    return n_C_g * f_H * f_W, n_C_prev * f_H * f_W


def transpose_torch_module(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from cnncalc.layers.conv.pytorch import conv_transpose2d

    return conv_transpose2d(row, options)


TRAINERS = {
    "conv": Trainer(ConvLayer, tensors, InitRole(fans=fans, gain=None, see_through=False), memory, torch_module),
    "conv_transpose": Trainer(ConvTransposeLayer, transpose_tensors,
                              InitRole(fans=transpose_fans, gain=None, see_through=False), no_memory,
                              transpose_torch_module),
}
