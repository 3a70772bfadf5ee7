"""Runs the layer graph the analyzer reads: forward in topological order, backward in reverse.

Activations are NCHW float32, x: (m, n_C, n_H, n_W), or (m, n) after flatten, dense or global
pooling; PyTorch's layout, so weights move between the two unchanged (engine.params names them).
Every shape and padding comes from the analysis rows (one formula, in layers/arith), never
recomputed here.

Memory is allocated once, when the Network is built for a batch size m: every layer owns its
output buffer (m, …) and the buffer of the gradient it sends back (m, …); a smaller last batch
uses the leading rows, buf[:b], which stay contiguous. A layer's output must stay unchanged
until its backward has run (the kernels' caches refer to it), so no layer writes in place.

Gradients flow back along the edges: a layer read by one consumer receives that consumer's dx
buffer as it is; a layer read by several (a residual's shortcut, the branches of a concat) sums
them into a buffer of its own, copy for the first arrival and add for the rest.
Layers that no trainable parameter lies behind (a pool right after the input) run no backward,
and the first conv or dense layer computes no input gradient.
"""

from __future__ import annotations

import math

import numpy as np

from cnncalc.engine.params import Params
from cnncalc.errors import EngineError
from cnncalc.layers.activation import kernels as act_k
from cnncalc.layers.conv import kernels as conv_k
from cnncalc.layers.dense import kernels as dense_k
from cnncalc.layers.dropout import kernels as drop_k
from cnncalc.layers.merge import kernels as merge_k
from cnncalc.layers.norm import kernels as norm_k
from cnncalc.layers.pool import kernels as pool_k

INPUT = "input"


def nchw(shape) -> tuple:
    """The analyzer's (n_H, n_W, n_C) → the engine's (n_C, n_H, n_W); flat shapes (n,) unchanged."""
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)


def _buffer(m, shape):
    return np.empty((m,) + tuple(shape), np.float32)


# ------------------------------------------------------------------ one class per layer family
# forward(xs, train, rng) -> out;  backward(dout) -> [dx per input, None where none is needed]

class Layer:
    def __init__(self, node, row, m, store, need_dx):
        self.node, self.row, self.m = node, row, m
        self.name, self.fields = node.name, node.fields
        self.need_dx = need_dx  # per input: does the producer want a gradient?
        self.in_shapes = [nchw(s) for s in row.in_shapes]
        self.out_shape = nchw(row.out_shape)
        self.own = store.of(node.name)
        self.own_grads = store.grads_of(node.name)

    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))


class ConvLayer(Layer):
    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        (n_C_prev, n_H_prev, n_W_prev), (n_C, n_H, n_W) = self.in_shapes[0], self.out_shape
        f = node.fields
        self.conv = conv_k.Conv(m, n_C_prev, n_H_prev, n_W_prev, n_C, f["kernel"], f["stride"], row.resolved["pads"],
                                f["dilation"], row.resolved["groups"], n_H, n_W)

    def nbytes(self):
        c = self.conv
        return c.out.nbytes + c.dx.nbytes + sum(v.nbytes for v in c.ws.values())

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        return self.conv.forward(xs[0], self.own["weight"], self.own.get("bias"))

    def backward(self, dout):
        g = self.own_grads
        return [self.conv.backward(dout, self.own["weight"], g["weight"], g.get("bias"), need_dx=self.need_dx[0])]


class DenseLayer(Layer):
    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        self.out = _buffer(m, self.out_shape)
        self.dx = _buffer(m, self.in_shapes[0]) if need_dx[0] else None

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        out, self.cache = dense_k.dense_forward(x, self.own["weight"], self.own.get("bias"), out=self.out[:len(x)])
        return out

    def backward(self, dout):
        g = self.own_grads
        dx, _, _ = dense_k.dense_backward(dout, self.cache, dx=self.dx[:len(dout)] if self.need_dx[0] else None,
                                          dW=g["weight"], db=g.get("bias"), need_dx=self.need_dx[0])
        return [dx]


class ElementwiseLayer(Layer):
    """relu, leaky_relu, sigmoid, tanh and softmax (over the channels: not the fused final one)."""

    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        self.out = _buffer(m, self.out_shape)
        self.dx = _buffer(m, self.in_shapes[0])
        kind = node.kind
        self.fwd = getattr(act_k, f"{kind}_forward")
        self.bwd = getattr(act_k, f"{kind}_backward")
        self.args = (node.fields["alpha"],) if kind == "leaky_relu" else ()

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        out, self.cache = self.fwd(x, *self.args, out=self.out[:len(x)])
        return out

    def backward(self, dout):
        return [self.bwd(dout, self.cache, dx=self.dx[:len(dout)])]


class PoolLayer(Layer):
    """maxpool and avgpool over f_H×f_W windows; pads and stride from the analysis (ceil mode in n_H, n_W)."""

    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        (n_C, n_H_prev, n_W_prev), (_, n_H, n_W) = self.in_shapes[0], self.out_shape
        f = node.fields
        self.pool = pool_k.Pool("max" if node.kind == "maxpool" else "avg", m, n_C, n_H_prev, n_W_prev, f["kernel"],
                                row.resolved["stride"], row.resolved["pads"], n_H, n_W,
                                f.get("count_include_pad", True))

    def nbytes(self):
        p = self.pool
        return p.out.nbytes + p.dx.nbytes + (p.argmax.nbytes if p.argmax is not None else 0)

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        return self.pool.forward(xs[0])

    def backward(self, dout):
        return [self.pool.backward(dout)]


class GlobalAvgPoolLayer(Layer):
    """(m, n_C, n_H, n_W) → (m, n_C), the mean over n_H·n_W."""

    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        self.out = _buffer(m, self.out_shape)
        self.dx = _buffer(m, self.in_shapes[0])

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x = xs[0]
        return pool_k.global_avgpool_forward(x, out=self.out[:len(x)])

    def backward(self, dout):
        b = len(dout)
        return [pool_k.global_avgpool_backward(dout, (b,) + self.in_shapes[0], dx=self.dx[:b])]


class FlattenLayer(Layer):
    """A view in (n_C, n_H, n_W) order, torch.flatten's: no copy either way."""

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        out, self.cache = dense_k.flatten_forward(xs[0])
        return out

    def backward(self, dout):
        return [dense_k.flatten_backward(dout, self.cache)]


class IdentityLayer(Layer):
    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        return xs[0]

    def backward(self, dout):
        return [dout]


class BatchNormLayer(Layer):
    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        n_C = self.out_shape[0]
        self.out = _buffer(m, self.out_shape)
        self.dx = _buffer(m, self.in_shapes[0])
        self.save_mean = np.empty(n_C, np.float32)
        self.save_inv_std = np.empty(n_C, np.float32)
        self.eps, self.momentum = node.fields["eps"], node.fields["momentum"]

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        x, own = xs[0], self.own
        out, self.cache = norm_k.batchnorm_forward(
            x, own["weight"], own["bias"], own["running_mean"], own["running_var"], self.eps, self.momentum, train,
            out=self.out[:len(x)], save_mean=self.save_mean, save_inv_std=self.save_inv_std)
        if train:
            own["num_batches_tracked"] += 1
        return out

    def backward(self, dout):
        g = self.own_grads
        dx, _, _ = norm_k.batchnorm_backward(dout, self.cache, dx=self.dx[:len(dout)], dgamma=g["weight"],
                                             dbeta=g["bias"])
        return [dx]


class DropoutLayer(Layer):
    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        self.out = _buffer(m, self.out_shape)
        self.mask = _buffer(m, self.out_shape)
        self.dx = _buffer(m, self.in_shapes[0])
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


class AddLayer(Layer):
    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        self.out = _buffer(m, self.out_shape)

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        out, self.cache = merge_k.add_forward(xs, out=self.out[:len(xs[0])])
        return out

    def backward(self, dout):
        return merge_k.add_backward(dout, self.cache)  # dout itself for every input: read, never written


class ConcatLayer(Layer):
    def __init__(self, node, row, m, store, need_dx):
        super().__init__(node, row, m, store, need_dx)
        self.out = _buffer(m, self.out_shape)
        self.dxs = [_buffer(m, s) for s in self.in_shapes]

    def nbytes(self):
        return self.out.nbytes + sum(d.nbytes for d in self.dxs)

    def forward(self, xs, train, rng):  # noqa: ARG002 — Layer.forward's signature
        out, self.cache = merge_k.concat_forward(xs, out=self.out[:len(xs[0])])
        return out

    def backward(self, dout):
        b = len(dout)
        return merge_k.concat_backward(dout, self.cache, dxs=[d[:b] for d in self.dxs])


LAYERS = {"conv": ConvLayer, "dense": DenseLayer, "maxpool": PoolLayer, "avgpool": PoolLayer,
          "global_avgpool": GlobalAvgPoolLayer, "flatten": FlattenLayer, "relu": ElementwiseLayer,
          "leaky_relu": ElementwiseLayer, "sigmoid": ElementwiseLayer, "tanh": ElementwiseLayer,
          "softmax": ElementwiseLayer, "identity": IdentityLayer, "batchnorm": BatchNormLayer,
          "dropout": DropoutLayer, "add": AddLayer, "concat": ConcatLayer}
RUNNABLE = tuple(sorted(LAYERS))


def check_runnable(report) -> None:
    """EngineError, before any work, for a spec the trainer cannot run."""
    if report.error is not None:
        raise EngineError(f"the spec does not analyse: {report.error.line()}")
    graph = report.graph
    for node in graph.nodes[1:]:
        if node.kind not in LAYERS:
            raise EngineError(f"{node.name}: the trainer cannot run {node.kind} layers", node.mark,
                              allowed=", ".join(RUNNABLE))
    rows = {r.name: r for r in report.rows}
    if len(graph.input_shape) not in (1, 3):
        raise EngineError(f"the trainer takes images n_H×n_W×n_C or vectors (n,); the input is "
                          f"{'×'.join(map(str, graph.input_shape))}")
    last = graph.node(graph.output)
    logits = last.inputs[0] if last.kind == "softmax" else last.name
    shape = rows[logits].out_shape
    if logits == INPUT or len(shape) != 1:
        raise EngineError(f"the network ends in a {'×'.join(map(str, shape))} "
                          f"{'input' if logits == INPUT else 'feature map'}; training needs one score per class",
                          last.mark, fix="end the spec with flatten (or global_avgpool) and dense: K")
    if shape[0] < 2:
        raise EngineError(f"the network ends in {shape[0]} score; classification needs one per class (K ≥ 2)",
                          last.mark, fix="end the spec with dense: K, K the number of classes")
    if report.totals.trainable == 0:
        raise EngineError("the network has no trainable parameters", last.mark,
                          fix="add a conv or dense layer to learn")


class Network:
    """The executable form of an analysed graph for batches of at most `batch` samples.

    params, grads: {name: float32 array} (engine.params), the trainable arrays and their
    gradients; buffers: running statistics. forward(x, train, rng) → logits (m, K), a view of
    a buffer that the next forward overwrites; backward(dlogits) fills grads.
    """

    def __init__(self, report, batch: int):
        check_runnable(report)
        if batch < 1:
            raise EngineError("the batch size must be at least 1", received=batch)
        graph = report.graph
        self.report, self.graph, self.batch = report, graph, batch
        rows = {r.name: r for r in report.rows}
        last = graph.node(graph.output)
        # a final softmax is fused with the cross-entropy loss: the network's logits are its input
        self.logits = last.inputs[0] if last.kind == "softmax" else last.name
        self.n_classes = rows[self.logits].out_shape[0]
        self.input_shape = nchw(graph.input_shape)
        # the layers that lead to the logits; a dead branch (the analyzer warns of it) is not run
        active = {self.logits}
        for node in reversed(graph.nodes):
            if node.name in active:
                active.update(node.inputs)
        self.store = Params(report)
        wants_grad = {INPUT: False}
        self.layers: list[Layer] = []
        consumers: dict[str, int] = {}
        for node in graph.nodes[1:]:
            if node.name not in active:
                continue
            has_params = bool(self.store.grads_of(node.name))
            wants_grad[node.name] = has_params or any(wants_grad[i] for i in node.inputs)
            need_dx = [wants_grad[i] for i in node.inputs]
            layer = LAYERS[node.kind](node, rows[node.name], batch, self.store, need_dx)
            layer.runs_backward = wants_grad[node.name]
            self.layers.append(layer)
            for i in node.inputs:
                consumers[i] = consumers.get(i, 0) + 1
        # a layer read by several consumers sums their gradients in a buffer of its own
        self.sums = {name: _buffer(batch, nchw(rows[name].out_shape)) for name, k in consumers.items()
                     if k > 1 and wants_grad.get(name)}
        self.wants_grad = wants_grad
        # the optimiser updates only what backward reaches (torch skips a parameter without .grad)
        self.params = {k: v for k, v in self.store.params.items() if _owner(k) in active}
        self.grads = {k: self.store.grads[k] for k in self.params}
        self.buffers = self.store.buffers
        self.values: dict[str, np.ndarray] = {}
        # batchnorm needs two values per channel in training (torch refuses one too): with one per
        # image (flat features, or a 1×1 map) a batch of one image cannot train
        self.min_train_batch = 2 if any(isinstance(l, BatchNormLayer) and math.prod(l.out_shape[1:]) == 1
                                        for l in self.layers) else 1

    # ------------------------------------------------------------ forward and backward

    def forward(self, x: np.ndarray, train: bool, rng=None) -> np.ndarray:
        """x: (b, n_C, n_H, n_W) or (b, n) float32, b ≤ batch → logits (b, K).

        train: batch statistics and dropout (rng: the numpy Generator that draws the masks)."""
        if x.shape[1:] != self.input_shape or not 0 < len(x) <= self.batch:
            raise EngineError(f"internal: a batch of shape {x.shape} for a network built for "
                              f"({self.batch}, {', '.join(map(str, self.input_shape))})")
        if train and rng is None:
            rng = np.random.default_rng(0)
        values = {INPUT: x}
        for layer in self.layers:
            values[layer.name] = layer.forward([values[i] for i in layer.node.inputs], train, rng)
        self.values = values
        return values[self.logits]

    def backward(self, dlogits: np.ndarray) -> None:
        """Gradients of every trainable array into self.grads, from dloss/dlogits (b, K)."""
        incoming = {self.logits: dlogits}
        arrived: dict[str, int] = {}
        for layer in reversed(self.layers):
            if not layer.runs_backward:
                continue
            dout = incoming.pop(layer.name, None)
            if dout is None:  # no path to the logits carries a gradient here
                for g in layer.own_grads.values():
                    g[...] = 0.0
                continue
            for name, dx in zip(layer.node.inputs, layer.backward(dout)):
                if dx is None or not self.wants_grad[name]:
                    continue
                total = self.sums.get(name)
                if total is None:
                    incoming[name] = dx
                else:
                    b = len(dx)
                    if arrived.get(name):
                        total[:b] += dx
                    else:
                        np.copyto(total[:b], dx)
                        incoming[name] = total[:b]
                    arrived[name] = arrived.get(name, 0) + 1

    # ------------------------------------------------------------ state

    def state(self) -> dict[str, np.ndarray]:
        """{name: array} under PyTorch's state_dict names; views of the live arrays."""
        return self.store.state()

    def load_state(self, state: dict, where: str = "the checkpoint") -> None:
        self.store.load(state, where)

    def nbytes(self) -> int:
        """Bytes of every buffer allocated for the batch (activations, gradients, workspaces)."""
        return sum(layer.nbytes() for layer in self.layers) + sum(s.nbytes for s in self.sums.values())


def _owner(name: str) -> str:
    """`layer1.0.conv1.weight` → `layer1.0.conv1`."""
    return name.rsplit(".", 1)[0]
