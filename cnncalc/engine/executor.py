"""Runs the layer graph the analyzer reads: forward in topological order, backward in reverse.

Activations are NCHW float32, x: (m, n_C, n_H, n_W), or (m, n) after flatten, dense or global
pooling; PyTorch's layout, so weights move between the two unchanged (engine.params names them).
Every shape and padding comes from the analysis rows (one formula, in layers/arith), never
recomputed here.

Memory is allocated once, when the Network is built for a batch size m: every layer owns its
output buffer (m, …) and the buffer of the gradient it sends back (m, …); a smaller last batch
uses the leading rows, buf[:b], which stay contiguous. The layers' scratch arrays (conv workspaces)
are leased from one arena per network, sized to the largest (layers/workspace.py). A layer's output
must stay unchanged until its backward has run (the kernels' caches refer to it), so no layer
writes in place.

Gradients flow back along the edges: a layer read by one consumer receives that consumer's dx
buffer as it is; a layer read by several (a residual's shortcut, the branches of a concat) sums
them into a buffer of its own, copy for the first arrival and add for the rest. The dx buffers and
these sums are views of one block, placed by their lifetimes in the backward pass (_share_gradients).
Layers that no trainable parameter lies behind (a pool right after the input) run no backward,
and the first conv or dense layer computes no input gradient.

Auxiliary heads (the spec's `aux:`) run only in a training forward: their logits are seeds of
backward beside the main logits' (the loss adds weight · CE of each); an eval forward skips them.
"""

from __future__ import annotations

import numpy as np

from cnncalc import layers as registry
from cnncalc.engine.params import Params
from cnncalc.engine.resources import freeze_heap
from cnncalc.errors import EngineError
from cnncalc.graph import INPUT
from cnncalc.layers import workspace
from cnncalc.layers.adapter import Layer, buffer as _buffer, nchw
from cnncalc.shapes import shape_text



def _trainers(graph) -> dict:
    """{kind: its layers.adapter.Trainer} for every kind in the graph; EngineError for one without."""
    out = {}
    for node in graph.nodes[1:]:
        if node.kind not in out:
            role = registry.trainer(node.kind)
            if role is None:
                kind = registry.lookup(node.kind)
                why = f" ({kind.analysis_only})" if kind is not None and kind.analysis_only else ""
                raise EngineError(f"{node.name}: the trainer cannot run {node.kind} layers{why}", node.mark,
                                  allowed=", ".join(sorted(registry.trainable_names())))
            out[node.kind] = role
    return out


def logits_of(graph, trainers, output: str | None = None) -> str:
    """The layer whose output are the logits: the network's output (or an aux head's, `output`), or the
    input of a final layer that is fused with the loss (a softmax: cross-entropy applies it)."""
    last = graph.node(graph.output if output is None else output)
    role = trainers.get(last.kind)  # none for a graph that is only its input
    return last.inputs[0] if role is not None and role.loss_input else last.name


def check_runnable(report) -> None:
    """EngineError, before any work, for a spec the trainer cannot run."""
    if report.error is not None:
        raise EngineError(f"the spec does not analyse: {report.error.line()}")
    graph = report.graph
    trainers = _trainers(graph)
    rows = {r.name: r for r in report.rows}
    if len(graph.input_shape) not in (1, 3):
        raise EngineError(f"the trainer takes images n_H×n_W×n_C or vectors (n,); the input is "
                          f"{shape_text(graph.input_shape)}")
    last = graph.node(graph.output)
    logits = logits_of(graph, trainers)
    shape = rows[logits].out_shape
    if logits == INPUT or len(shape) != 1:
        raise EngineError(f"the network ends in a {shape_text(shape)} "
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
    a buffer that the next forward overwrites; backward(dlogits, aux_dlogits) fills grads.
    aux: [(layer, weight)], the aux heads' logits layers; after a training forward,
    aux_logits() gives their (m, K) outputs in that order.
    """

    def __init__(self, report, batch: int):
        check_runnable(report)
        if batch < 1:
            raise EngineError("the batch size must be at least 1", received=batch)
        graph = report.graph
        self.report, self.graph, self.batch = report, graph, batch
        rows = {r.name: r for r in report.rows}
        trainers = _trainers(graph)
        # a final softmax is fused with the cross-entropy loss: the network's logits are its input
        self.logits = logits_of(graph, trainers)
        self.n_classes = rows[self.logits].out_shape[0]
        self.input_shape = nchw(graph.input_shape)
        # the layers that lead to the logits; a dead branch (the analyzer warns of it) is not run
        self.inference = graph.reaching(self.logits)
        self.aux = [(logits_of(graph, trainers, head.name), head.weight) for head in graph.aux]
        active = set(self.inference)
        for name, _ in self.aux:
            active |= graph.reaching(name)
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
            layer = trainers[node.kind].adapter(node, rows[node.name], batch, self.store.of(node.name),
                                                self.store.grads_of(node.name), need_dx)
            layer.runs_backward = wants_grad[node.name]
            self.layers.append(layer)
            for i in node.inputs:
                consumers[i] = consumers.get(i, 0) + 1
        for name in [self.logits] + [name for name, _ in self.aux]:  # each loss reads its logits too
            consumers[name] = consumers.get(name, 0) + 1
        # a layer read by several consumers sums their gradients in a buffer of its own
        self.sums = {name: _buffer(batch, nchw(rows[name].out_shape)) for name, k in consumers.items()
                     if k > 1 and wants_grad.get(name)}
        self.wants_grad = wants_grad
        # the layers run one at a time: their scratch arrays are one block (layers/workspace.py)
        self.arena = None
        if workspace.ENABLED:
            self.arena = workspace.Arena()
            for layer in self.layers:
                layer.share(self.arena)
            self.arena.allocate()
        self.gradients = self._share_gradients() if workspace.ENABLED else None
        # the optimiser updates only what backward reaches (torch skips a parameter without .grad)
        self.params = {k: v for k, v in self.store.params.items() if _owner(k) in active}
        self.grads = {k: self.store.grads[k] for k in self.params}
        self.buffers = self.store.buffers
        self.values: dict[str, np.ndarray] = {}
        # batchnorm needs two values per channel in training (its adapter says so)
        self.min_train_batch = max((layer.min_train_batch for layer in self.layers), default=1)
        self.profile = None  # an engine.profile.Profile times every layer's passes while attached
        self.source = None  # (spec text, file, input override) where train.build made it: the compile helper's
        freeze_heap()  # the kernel modules (and Numba) are imported by now

    def _share_gradients(self):
        """One block for the layers' input-gradient (dx) buffers and the sums of layers read twice, each placed
        where no buffer alive at the same time lies (workspace.place); returns it, after replacing every
        buffer with a view of it.

        The lifetimes are workspace.gradient_lives' walk of backward() (the memory planner takes the same walk on
        sizes alone). backward() checks that no layer hands on a view of a shared buffer that is neither its own
        nor, for a pass-through kind, dout."""
        owned = []  # [(holder, key, array)]
        own_of = {}  # layer name → indices into owned
        for layer in self.layers:
            own_of[layer.name] = []
            for holder, key in layer.gradient_buffers():
                array = holder[key] if isinstance(holder, list) else getattr(holder, key)
                if array.size:
                    own_of[layer.name].append(len(owned))
                    owned.append((holder, key, array))
        sum_of = {}  # layer name → index of its sum
        for name, array in self.sums.items():
            sum_of[name] = len(owned)
            owned.append((self.sums, name, array))
        seeds = [self.logits] + [name for name, _ in self.aux if self.wants_grad.get(name)]
        lives = workspace.gradient_lives(self.layers, own_of, sum_of, seeds, self.wants_grad, len(owned))
        self.gradient_lives = lives
        offsets, size = workspace.place([a.nbytes for _, _, a in owned], lives)
        block = workspace.aligned_zeros(size)
        self.gradient_views = []  # beside gradient_lives: the tests poison each buffer once its life is over
        for (holder, key, array), offset in zip(owned, offsets):
            view = block[offset:offset + array.nbytes].view(array.dtype).reshape(array.shape)
            self.gradient_views.append(view)
            if isinstance(holder, (list, dict)):
                holder[key] = view
            else:
                setattr(holder, key, view)
        self._gradient_bytes = sum(a.nbytes for _, _, a in owned)
        return block

    # ------------------------------------------------------------ forward and backward

    def forward(self, x: np.ndarray, train: bool, rng=None) -> np.ndarray:
        """x: (b, n_C, n_H, n_W) or (b, n) float32, b ≤ batch → logits (b, K).

        train: batch statistics and dropout (rng: the numpy Generator that draws the masks), and the
        aux heads run too; in eval they are skipped."""
        if x.shape[1:] != self.input_shape or not 0 < len(x) <= self.batch:
            raise EngineError(f"internal: a batch of shape {x.shape} for a network built for "
                              f"({self.batch}, {', '.join(map(str, self.input_shape))})")
        if train and rng is None:
            rng = np.random.default_rng(0)
        values = {INPUT: x}
        profile = self.profile
        for layer in self.layers:
            if train or layer.name in self.inference:
                xs = [values[i] for i in layer.node.inputs]
                values[layer.name] = (layer.forward(xs, train, rng) if profile is None
                                      else profile.forward(layer, xs, train, rng))
        self.values = values
        return values[self.logits]

    def aux_logits(self) -> list[np.ndarray]:
        """The aux heads' logits (b, K) of the last training forward, in the spec's order."""
        return [self.values[name] for name, _ in self.aux]

    def backward(self, dlogits: np.ndarray, aux_dlogits=()) -> None:
        """Gradients of every trainable array into self.grads, from dloss/dlogits (b, K) and, after a
        training forward, dloss/d(aux logits) (b, K) for each aux head (the weight already applied);
        an aux head given none gets zero gradients."""
        incoming: dict[str, np.ndarray] = {}
        arrived: dict[str, int] = {}

        def send(name, dx):
            total = self.sums.get(name)
            if total is None:
                incoming[name] = dx
                return
            b = len(dx)
            if arrived.get(name):
                total[:b] += dx
            else:
                np.copyto(total[:b], dx)
                incoming[name] = total[:b]
            arrived[name] = arrived.get(name, 0) + 1

        send(self.logits, dlogits)
        for (name, _), d in zip(self.aux, aux_dlogits):
            if self.wants_grad.get(name):
                send(name, d)
        profile = self.profile
        for layer in reversed(self.layers):
            if not layer.runs_backward:
                continue
            dout = incoming.pop(layer.name, None)
            if dout is None:  # no path to the logits carries a gradient here
                for g in layer.own_grads.values():
                    g[...] = 0.0
                continue
            dxs = layer.backward(dout) if profile is None else profile.backward(layer, dout)
            if self.gradients is not None:
                self._check_shared(layer, dout, dxs)
            start = 0.0 if profile is None else profile.clock()
            for name, dx in zip(layer.node.inputs, dxs):
                if dx is None or not self.wants_grad[name]:
                    continue
                send(name, dx)
            if profile is not None:
                profile.add(profile.SUMS, "backward", profile.clock() - start)

    def _check_shared(self, layer, dout, dxs) -> None:
        """EngineError when a layer hands on a view of the shared gradient block that its lifetimes did not
        plan for: neither its own buffers nor, for a kind that passes gradients on, dout."""
        for dx in dxs:
            if dx is None or not np.may_share_memory(dx, self.gradients):
                continue
            own = [holder[key] if isinstance(holder, list) else getattr(holder, key)
                   for holder, key in layer.gradient_buffers()]
            if any(np.may_share_memory(dx, a) for a in own):
                continue
            if layer.passes_gradient and np.may_share_memory(dx, dout):
                continue
            raise EngineError(f"internal: {layer.name} ({layer.node.kind}) returned a gradient in another layer's "
                              f"buffer; its adapter must set passes_gradient")

    # ------------------------------------------------------------ state

    def state(self) -> dict[str, np.ndarray]:
        """{name: array} under PyTorch's state_dict names; views of the live arrays."""
        return self.store.state()

    def load_state(self, state: dict, where: str = "the checkpoint") -> None:
        self.store.load(state, where)

    def nbytes(self) -> int:
        """Bytes of every buffer allocated for the batch (activations, gradients, workspaces)."""
        # the views of the gradient block are counted above as their layers' and sums' buffers: the block once
        shared = 0 if self.gradients is None else self.gradients.nbytes - self._gradient_bytes
        return (sum(layer.nbytes() for layer in self.layers) + sum(s.nbytes for s in self.sums.values())
                + (0 if self.arena is None else self.arena.nbytes) + shared)


def _owner(name: str) -> str:
    """`layer1.0.conv1.weight` → `layer1.0.conv1`."""
    return name.rsplit(".", 1)[0]
