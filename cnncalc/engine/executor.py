"""Runs the layer graph the analyzer reads: forward in topological order, backward in reverse.

Activations are NCHW float32, (m, n_C, n_H, n_W), or (m, n) after flatten/dense. Shapes and
paddings come from the analysis rows (one formula, in arith), never recomputed here.
Parameters are named as a PyTorch module built from the same spec would name them:
`<layer>.weight`, `<layer>.bias`, `<layer>.running_mean`, `<layer>.running_var`.
"""

from __future__ import annotations

import numpy as np

from cnncalc.analysis import Report
from cnncalc.errors import EngineError
from cnncalc.layers.activation import kernels as act
from cnncalc.layers.conv import kernels as conv_k
from cnncalc.layers.dense import kernels as dense_k
from cnncalc.layers.dropout import kernels as drop_k
from cnncalc.layers.merge import kernels as merge_k
from cnncalc.layers.norm import kernels as norm_k
from cnncalc.layers.pool import kernels as pool_k

RUNNABLE = {"conv", "maxpool", "avgpool", "global_avgpool", "dense", "flatten", "relu", "leaky_relu", "sigmoid",
            "tanh", "softmax", "identity", "batchnorm", "dropout", "add", "concat"}


def nchw(shape):
    """(n_H, n_W, n_C) → (n_C, n_H, n_W); flat shapes unchanged."""
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)


class Network:
    """The executable form of an analysed graph for batches of at most `batch` samples."""

    def __init__(self, report: Report, batch: int):
        if report.error is not None:
            raise EngineError(f"the spec does not analyse: {report.error.line()}")
        graph = report.graph
        for node in graph.nodes[1:]:
            if node.kind not in RUNNABLE:
                raise EngineError(f"{node.name}: the trainer cannot run {node.kind} layers", node.mark,
                                  allowed=", ".join(sorted(RUNNABLE)))
        self.report = report
        self.graph = graph
        self.rows = {r.name: r for r in report.rows}
        self.batch = batch
        self.nodes = graph.nodes[1:]
        self.output = graph.output
        last = graph.node(graph.output)
        # a final softmax is fused with the cross-entropy loss: the network's logits are its input
        self.logits = last.inputs[0] if last.kind == "softmax" else last.name
        if len(self.rows[self.logits].out_shape) != 1:
            shape = "×".join(map(str, self.rows[self.logits].out_shape))
            raise EngineError(f"the network ends in a {shape} feature map; training needs one score per class",
                              last.mark, fix="end the spec with flatten (or global_avgpool) and dense: K")
        self.params: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.conv: dict[str, conv_k.Conv] = {}
        self.rng = np.random.default_rng(0)
        for node in self.nodes:
            self._allocate(node)
        self.trainable = [k for k in self.params]

    def _allocate(self, node):
        row = self.rows[node.name]
        f = node.fields
        name = node.name
        if node.kind == "conv":
            n_H_prev, n_W_prev, n_C_prev = row.in_shapes[0]
            n_H, n_W, n_C = row.out_shape
            groups = row.resolved["groups"]
            self.params[f"{name}.weight"] = np.zeros((n_C, n_C_prev // groups) + f["kernel"], np.float32)
            if f["bias"]:
                self.params[f"{name}.bias"] = np.zeros(n_C, np.float32)
            self.conv[name] = conv_k.Conv(self.batch, n_C_prev, n_H_prev, n_W_prev, n_C, f["kernel"], f["stride"],
                                          row.resolved["pads"], f["dilation"], groups, n_H, n_W)
        elif node.kind == "dense":
            n_prev, n = row.in_shapes[0][0], row.out_shape[0]
            self.params[f"{name}.weight"] = np.zeros((n, n_prev), np.float32)
            if f["bias"]:
                self.params[f"{name}.bias"] = np.zeros(n, np.float32)
        elif node.kind == "batchnorm":
            n_C = row.out_shape[-1]
            self.params[f"{name}.weight"] = np.ones(n_C, np.float32)
            self.params[f"{name}.bias"] = np.zeros(n_C, np.float32)
            self.buffers[f"{name}.running_mean"] = np.zeros(n_C, np.float32)
            self.buffers[f"{name}.running_var"] = np.ones(n_C, np.float32)
        for key in list(self.params):
            if key.startswith(name + ".") and key not in self.grads:
                self.grads[key] = np.zeros_like(self.params[key])

    # ------------------------------------------------------------ forward

    def forward(self, x, train: bool, rng=None):
        """x: (m, n_C, n_H, n_W) or (m, n) → logits (m, K); keeps what backward needs."""
        self.train_mode = train
        rng = rng if rng is not None else self.rng
        values = {"input": x}
        self.saved = {}
        for node in self.nodes:
            if node.name == self.output and node.name != self.logits:
                break  # the fused softmax is applied by the loss
            xs = [values[i] for i in node.inputs]
            values[node.name] = self._forward(node, xs, train, rng)
        self.values = values
        return values[self.logits]

    def _forward(self, node, xs, train, rng):
        f, name, kind, x = node.fields, node.name, node.kind, xs[0]
        p = self.params
        if kind == "conv":
            return self.conv[name].forward(x, p[f"{name}.weight"], p.get(f"{name}.bias"))
        if kind in ("maxpool", "avgpool"):
            row = self.rows[name]
            n_H, n_W, n_C = row.out_shape
            out = np.empty((x.shape[0], n_C, n_H, n_W), np.float32)
            t, b, l, r = row.resolved["pads"]
            (f_H, f_W), (s_H, s_W) = f["kernel"], row.resolved["stride"]
            if kind == "maxpool":
                argmax = np.empty(out.shape, np.int64)
                pool_k.maxpool_forward(x, f_H, f_W, s_H, s_W, t, l, out, argmax)
                self.saved[name] = argmax
            else:
                pool_k.avgpool_forward(x, f_H, f_W, s_H, s_W, t, b, l, r, f["count_include_pad"], out)
            return out
        if kind == "global_avgpool":
            return pool_k.global_avgpool_forward(x)
        if kind == "flatten":
            return dense_k.flatten_forward(x)
        if kind == "dense":
            return dense_k.dense_forward(x, p[f"{name}.weight"], p.get(f"{name}.bias"))
        if kind == "relu":
            return act.relu_forward(x)
        if kind == "leaky_relu":
            return act.leaky_relu_forward(x, f["alpha"])
        if kind == "sigmoid":
            return act.sigmoid_forward(x)
        if kind == "tanh":
            return act.tanh_forward(x)
        if kind == "softmax":
            return act.softmax(x)
        if kind == "identity":
            return x
        if kind == "batchnorm":
            out, cache = norm_k.batchnorm_forward(
                x, p[f"{name}.weight"], p[f"{name}.bias"], self.buffers[f"{name}.running_mean"],
                self.buffers[f"{name}.running_var"], f["eps"], f["momentum"], train)
            self.saved[name] = cache
            return out
        if kind == "dropout":
            out, mask = drop_k.dropout_forward(x, f["rate"], rng, train)
            self.saved[name] = mask
            return out
        if kind == "add":
            return merge_k.add_forward(xs)
        if kind == "concat":
            return merge_k.concat_forward(xs)
        raise EngineError(f"{name}: cannot run {kind}")

    # ------------------------------------------------------------ backward

    def backward(self, dlogits):
        """Gradients of every parameter into self.grads, from d loss / d logits (m, K)."""
        grads = {self.logits: dlogits}
        order = [n for n in self.nodes if n.name in self.values]
        for node in reversed(order):
            dout = grads.pop(node.name, None)
            if dout is None:
                continue
            dxs = self._backward(node, dout)
            for i, dx in zip(node.inputs, dxs):
                if i == "input":
                    continue
                if i in grads:
                    grads[i] = grads[i] + dx
                else:
                    grads[i] = dx

    def _backward(self, node, dout):
        f, name, kind = node.fields, node.name, node.kind
        xs = [self.values[i] for i in node.inputs]
        x, out = xs[0], self.values[name]
        p, g = self.params, self.grads
        if kind == "conv":
            return [self.conv[name].backward(dout, p[f"{name}.weight"], g[f"{name}.weight"], g.get(f"{name}.bias"),
                                             need_dx=node.inputs[0] != "input")]
        if kind in ("maxpool", "avgpool"):
            row = self.rows[name]
            dx = np.empty(x.shape, np.float32)
            dout = np.ascontiguousarray(dout, np.float32)
            if kind == "maxpool":
                pool_k.maxpool_backward(dout, self.saved[name], dx)
            else:
                t, b, l, r = row.resolved["pads"]
                (f_H, f_W), (s_H, s_W) = f["kernel"], row.resolved["stride"]
                pool_k.avgpool_backward(dout, f_H, f_W, s_H, s_W, t, b, l, r, f["count_include_pad"], dx)
            return [dx]
        if kind == "global_avgpool":
            return [pool_k.global_avgpool_backward(dout, x.shape)]
        if kind == "flatten":
            return [dense_k.flatten_backward(dout, x.shape)]
        if kind == "dense":
            return [dense_k.dense_backward(dout, x, p[f"{name}.weight"], g[f"{name}.weight"], g.get(f"{name}.bias"))]
        if kind == "relu":
            return [act.relu_backward(dout, x)]
        if kind == "leaky_relu":
            return [act.leaky_relu_backward(dout, x, f["alpha"])]
        if kind == "sigmoid":
            return [act.sigmoid_backward(dout, out)]
        if kind == "tanh":
            return [act.tanh_backward(dout, out)]
        if kind == "softmax":
            return [act.softmax_backward(dout, out)]
        if kind == "identity":
            return [dout]
        if kind == "batchnorm":
            return [norm_k.batchnorm_backward(dout, self.saved[name], g[f"{name}.weight"], g[f"{name}.bias"])]
        if kind == "dropout":
            return [drop_k.dropout_backward(dout, self.saved[name])]
        if kind == "add":
            return merge_k.add_backward(dout, len(xs))
        if kind == "concat":
            return merge_k.concat_backward(dout, [v.shape[1] for v in xs])
        raise EngineError(f"{name}: cannot run {kind}")

    # ------------------------------------------------------------ state

    def state(self) -> dict[str, np.ndarray]:
        return {**self.params, **self.buffers}

    def load_state(self, state: dict) -> None:
        for key, target in list(self.params.items()) + list(self.buffers.items()):
            if key not in state:
                raise EngineError(f"the checkpoint has no {key}", allowed="weights saved for the same spec")
            value = np.asarray(state[key], np.float32)
            if value.shape != target.shape:
                raise EngineError(f"{key} has shape {value.shape} in the checkpoint but {target.shape} in the spec")
            target[...] = value
