"""The training loop: seeded shuffles, one forward/backward/update per mini-batch, evaluation.

Plain functions and one small class over an executor.Network; the run directory and checkpoints
live in run.py and rundir.py, and what a run shows in render.training. Reproducibility: the weights come from engine.init seeded with the
run's seed; the shuffles and dropout masks come from one numpy Generator seeded with
[seed, 1] whose state a checkpoint keeps after every epoch, so a resumed run draws exactly what
an uninterrupted one would. The kernels sum in a fixed order for a given thread count, so the
same seed, machine and --threads give the same losses bit for bit.
"""

from __future__ import annotations

import math

import numpy as np

from cnncalc import api
from cnncalc.engine.executor import Network, check_runnable, nchw
from cnncalc.engine.optim import DEFAULT_LR, OPTIMIZERS  # noqa: F401 — their one definition, re-exported
from cnncalc.engine.resources import freeze_heap
from cnncalc.errors import EngineError
from cnncalc.layers.activation.kernels import (
    softmax,
    softmax_cross_entropy,
    softmax_cross_entropy_backward,
    softmax_cross_entropy_forward,
)
from cnncalc.shapes import elements


def analyse(spec_text: str, file: str, input_override=None):
    """The analysis report of a spec's text, through the one front door (cnncalc.api), checked to
    be trainable (EngineError before any work)."""
    report = api.report_text(spec_text, file, tuple(input_override) if input_override else None)
    check_runnable(report)
    return report


def build(spec_text: str, file: str, batch: int, input_override=None):
    """(report, network) for a spec's text: the network's buffers are allocated for `batch`."""
    report = analyse(spec_text, file, input_override)
    network = Network(report, batch)
    network.source = (spec_text, file, input_override)  # for the compile helper (engine/prewarm.py)
    return report, network


def training_rng(seed: int) -> np.random.Generator:
    """The Generator of the shuffles and dropout masks; engine.init draws the weights from seed itself."""
    return np.random.default_rng([seed, 1])


def make_optimizer(network: Network, name: str, lr: float, momentum: float = 0.9, weight_decay: float = 0.0):
    from cnncalc.engine import optim

    if name not in OPTIMIZERS:
        raise EngineError("unknown optimiser", received=name, allowed=", ".join(OPTIMIZERS))
    return optim.make_optimizer(name, network.params, lr, momentum, weight_decay)


def to_engine(x: np.ndarray, input_shape: tuple) -> np.ndarray:
    """Images x: (m, n_H, n_W, n_C) → the engine's layout, float32 C-contiguous: (m, n_C, n_H, n_W),
    or (m, n) for a network whose input is a vector (the image flattened in (n_H, n_W, n_C) order).
    One copy for the whole split, so that a batch is a gather into a reused buffer."""
    m = x.shape[0]
    if len(input_shape) == 1:
        return np.ascontiguousarray(x.reshape(m, -1), np.float32)
    if x.ndim == 4 and x.shape[3] == 1:  # one channel: NHWC and NCHW are the same bytes
        return np.ascontiguousarray(x, np.float32).reshape(m, 1, x.shape[1], x.shape[2])
    out = np.empty((m,) + tuple(input_shape), np.float32)
    step = 4096
    for start in range(0, m, step):  # in chunks: no full-size temporary
        out[start:start + step] = x[start:start + step].transpose(0, 3, 1, 2)
    return out


class Loop:
    """One network's training and evaluation, with every per-batch array allocated once."""

    def __init__(self, network: Network, optimizer, batch_size: int):
        self.network, self.optimizer, self.batch_size = network, optimizer, batch_size
        k = network.n_classes
        self.x = np.empty((batch_size,) + network.input_shape, np.float32)
        self.y = np.empty(batch_size, np.int64)
        self.dz = np.empty((batch_size, k), np.float32)
        self.p = np.empty((batch_size, k), np.float32)
        self.aux_dz = [np.empty((batch_size, k), np.float32) for _ in network.aux]
        self.aux_p = [np.empty((batch_size, k), np.float32) for _ in network.aux]

    def loss(self, logits, y) -> tuple[float, np.ndarray, list[np.ndarray]]:
        """After a training forward: (loss, dloss/dlogits, [dloss/d(aux logits)]) of the mean cross-entropy
        of the main logits plus Σ weight · the aux heads' (GoogLeNet's recipe): each aux gradient is
        weight·(p − onehot(y))/b."""
        b = len(y)
        loss, dz, _ = softmax_cross_entropy(logits, y, dz=self.dz[:b], p=self.p[:b])
        aux_dz = []
        for (_, weight), aux_logits, d, p in zip(self.network.aux, self.network.aux_logits(), self.aux_dz,
                                                  self.aux_p):
            aux_loss, cache = softmax_cross_entropy_forward(aux_logits, y, p=p[:b])
            loss += weight * aux_loss
            aux_dz.append(softmax_cross_entropy_backward(weight, cache, dz=d[:b]))
        return loss, dz, aux_dz

    def warm_up(self) -> float:
        """Compile (or load from Numba's cache) every kernel of a training step before the first
        epoch's clock starts, with a forward and backward pass on zeros; nothing the run keeps
        changes (the running statistics are put back, the optimiser does not step). Returns seconds."""
        import time

        net = self.network
        start = time.perf_counter()
        saved = {k: v.copy() for k, v in net.buffers.items()}
        b = min(self.batch_size, max(2, net.min_train_batch))
        if net.source is not None:  # a cold cache's helper compiles from the other end
            from cnncalc.engine import prewarm
            from cnncalc.layers import lanes

            lanes.hand_over("cnncalc.engine.prewarm:walk", prewarm.payload(net, b))
        x, y = self.x[:b], self.y[:b]
        x[...] = 0.0
        y[...] = 0
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            logits = net.forward(x, True, np.random.default_rng(0))
            _, dz, aux_dz = self.loss(logits, y)
            net.backward(dz, aux_dz)
            softmax(net.forward(x, False), out=self.p[:b])
        for k, v in saved.items():
            net.buffers[k][...] = v
        freeze_heap()
        return time.perf_counter() - start

    def step(self, x, y, rng) -> tuple[float, int]:
        """One forward, backward and update on x: (b, …), y: (b,) → (mean loss, correct predictions).

        The loss is the training loss the gradients follow: with aux heads, CE(main) + Σ weight · CE(aux);
        the correct predictions are the main output's.

        A diverging run's overflow is reported once, by the caller's check of the loss, not as
        numpy warnings from every kernel."""
        net = self.network
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            logits = net.forward(x, True, rng)
            loss, dz, aux_dz = self.loss(logits, y)
            correct = int(np.count_nonzero(logits.argmax(axis=1) == y))
            if math.isfinite(loss):
                net.backward(dz, aux_dz)
                self.optimizer.step(net.grads)
        return loss, correct

    def epoch(self, X, Y, rng, on_batch=None) -> tuple[float, float]:
        """One pass over X: (m, …) engine layout, Y: (m,) in an order drawn from rng → (mean loss, accuracy).

        Stops at the first non-finite loss and returns it (the weights are not updated by that batch).
        on_batch(images, mean loss so far, accuracy so far) after every batch."""
        m, bs = len(Y), self.batch_size
        order = rng.permutation(m)
        total, correct, seen = 0.0, 0, 0
        for start in range(0, m, bs):
            idx = order[start:start + bs]
            b = len(idx)
            if b < self.network.min_train_batch:
                break  # a last batch of one sample: batchnorm over features cannot train on it
            x, y = self.x[:b], self.y[:b]
            # mode="clip": the indices are valid, and "raise" would gather through a temporary
            np.take(X, idx, axis=0, out=x, mode="clip")
            np.take(Y, idx, out=y, mode="clip")
            loss, right = self.step(x, y, rng)
            if not math.isfinite(loss):
                return loss, correct / max(seen, 1)
            total += loss * b
            correct += right
            seen += b
            if on_batch is not None:
                on_batch(b, total / seen, correct / seen)
        return total / max(seen, 1), correct / max(seen, 1)

    def probabilities(self, X) -> np.ndarray:
        """Softmax probabilities (m, K) in eval mode (running statistics, no dropout)."""
        return probabilities(self.network, X, self.batch_size, self.x)

    def evaluate(self, X, Y):
        """(mean loss, accuracy, predicted labels) in eval mode."""
        return evaluate(self.network, X, Y, self.batch_size, self.x)


def train_step(network: Network, optimizer, x, y, rng) -> tuple[float, int]:
    """One forward, backward and update outside a Loop (allocates its loss buffers): (loss, correct)."""
    return Loop(network, optimizer, len(y)).step(x, np.asarray(y, np.int64), rng)


def probabilities(network: Network, X, batch_size: int, work=None) -> np.ndarray:
    """Softmax probabilities (m, K) of X: (m, …) in the engine's layout, eval mode."""
    m = len(X)
    batch_size = min(batch_size, network.batch)
    out = np.empty((m, network.n_classes), np.float32)
    work = work if work is not None else np.empty((batch_size,) + network.input_shape, np.float32)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        for start in range(0, m, batch_size):
            b = min(batch_size, m - start)
            x = work[:b]
            np.copyto(x, X[start:start + b])
            softmax(network.forward(x, False), out=out[start:start + b])
    return out


def evaluate(network: Network, X, Y, batch_size: int, work=None):
    """(mean cross-entropy, accuracy, predicted labels (m,)) of X, Y in eval mode."""
    p = probabilities(network, X, batch_size, work)
    m = len(Y)
    if m == 0:
        return float("nan"), float("nan"), np.zeros(0, np.int64)
    picked = p[np.arange(m), Y].astype(np.float64)
    loss = float(-np.log(np.maximum(picked, 1e-45)).mean())
    pred = p.argmax(axis=1)
    return loss, float(np.count_nonzero(pred == Y) / m), pred


# ------------------------------------------------------------------ estimates before a run

# Conservative sustained float32 rate of the engine per thread, for the time estimate (the
# benchmarks measure 30–100 GFLOP/s per thread on LeNets and a small VGG on a Zen 5 core;
# small layers, batchnorm and pooling make some nets slower per FLOP).
GFLOPS_PER_THREAD = 10.0


def estimate(report, batch_size: int, n_train: int, optimizer: str, momentum: float = 0.9,
             threads: int = 1) -> dict:
    """Memory in bytes and seconds per epoch, before anything is allocated.

    memory = weights + gradients + optimiser state (SGD: 1 slot with momentum, Adam: 2)
             + batch × (4 bytes × Σ_layers (output + the gradient sent to each input
               + the sum of a layer read twice) + what each kind keeps per sample (Trainer.memory:
               maxpool's argmax (8 bytes), dropout's mask))
             + what each kind keeps whatever the batch (Trainer.memory's workspace: conv's tap
               offsets and packed weights)
             + the largest layer's scratch (Trainer.memory's scratch: conv's workspaces per thread,
               im2col columns and the padded input and output rows, an upper bound): the layers
               lease them from one arena (layers/workspace.py), so they count once, not summed
    The input gradients are counted as if each layer kept its own: an upper bound, as the network
    shares one block among the buffers not alive at the same time (executor.Network).
    time   = n_train × 3 × forward FLOPs (backward ≈ twice forward) / (GFLOPS_PER_THREAD × threads)
    """
    from cnncalc import layers

    t = report.totals
    slots = {"adam": 2, "sgd": 1 if momentum else 0}.get(optimizer, 2)
    weights = 4 * t.params
    gradients = 4 * t.trainable
    state = 4 * t.trainable * slots
    readers: dict[str, int] = {}
    for row in report.rows[1:]:
        for i in row.inputs:
            readers[i] = readers.get(i, 0) + 1
    per_sample = 0
    kept = 0  # bytes per sample the kinds keep beyond outputs and gradients
    workspace = scratch = 0
    for row in report.rows[1:]:
        out = elements(row.out_shape)
        per_sample += out + sum(elements(s) for s in row.in_shapes)
        if readers.get(row.name, 0) > 1:
            per_sample += out
        role = layers.trainer(row.kind)
        if role is not None:
            memory = role.memory(row, threads)
            kept += memory.per_sample
            workspace += memory.workspace
            scratch = max(scratch, memory.scratch)
    workspace += scratch
    activations = 4 * batch_size * per_sample + batch_size * kept
    flops = 3 * (t.flops + t.aux_flops)  # training runs the aux heads too
    seconds = n_train * flops / (GFLOPS_PER_THREAD * 1e9 * max(threads, 1))
    total = weights + gradients + state + activations + workspace
    return {"bytes": total, "weights": weights, "gradients": gradients, "optimizer": state,
            "activations": activations, "workspace": workspace, "seconds_per_epoch": seconds,
            "flops_per_image": flops, "gflops_assumed": GFLOPS_PER_THREAD * max(threads, 1)}


def input_shape_of(report) -> tuple:
    """The engine's input shape (n_C, n_H, n_W) or (n,)."""
    return nchw(report.graph.input_shape)
