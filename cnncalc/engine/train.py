"""The training loop: mini-batches shuffled by (seed, epoch), so a resumed run repeats exactly.

Plain functions over a Network; the CLI's rendering and the run directory live in api.py.
"""

from __future__ import annotations

import math

import numpy as np

from cnncalc.analysis import analyze
from cnncalc.engine.executor import Network
from cnncalc.engine.optim import SGD, Adam
from cnncalc.errors import EngineError
from cnncalc.layers.activation.kernels import softmax_cross_entropy
from cnncalc.spec.parser import parse_text


def build(spec_text: str, file: str, batch: int, input_override=None):
    """(report, network) for a spec's text; EngineError when it does not analyse or cannot run."""
    report = analyze(parse_text(spec_text, file, input_override))
    return report, Network(report, batch)


def to_engine(x: np.ndarray, input_shape: tuple) -> np.ndarray:
    """(m, n_H, n_W, n_C) → NCHW, or (m, n) for a vector input; contiguous float32."""
    if len(input_shape) == 1:
        return np.ascontiguousarray(x.reshape(x.shape[0], -1), np.float32)
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2), np.float32)


def make_optimizer(network: Network, name: str, lr: float, momentum: float, weight_decay: float):
    if name == "sgd":
        return SGD(network.params, lr, momentum, weight_decay)
    if name == "adam":
        return Adam(network.params, lr, weight_decay=weight_decay)
    raise EngineError("unknown optimiser", received=name, allowed="sgd, adam")


def train_step(network: Network, optimizer, x, y, rng) -> tuple[float, int]:
    """One forward, backward and update; returns (mean loss, correct predictions).

    Overflow in a diverging run is reported once, by the caller's check of the loss, not as
    numpy warnings from every kernel."""
    with np.errstate(over="ignore", invalid="ignore"):
        logits = network.forward(x, True, rng)
        loss, dlogits, _ = softmax_cross_entropy(logits, y)
        network.backward(dlogits)
        optimizer.step(network.grads)
    return loss, int((logits.argmax(axis=1) == y).sum())


def batches(n: int, batch_size: int, seed: int, epoch: int):
    order = np.random.default_rng([seed, epoch]).permutation(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def run_epoch(network, optimizer, split, batch_size, seed, epoch, input_shape, on_batch=None):
    """One pass over split in a (seed, epoch)-shuffled order; returns (mean loss, accuracy)."""
    rng = np.random.default_rng([seed, epoch, 1])
    total_loss, correct, seen = 0.0, 0, 0
    for idx in batches(len(split.y), batch_size, seed, epoch):
        x, y = to_engine(split.x[idx], input_shape), split.y[idx]
        loss, right = train_step(network, optimizer, x, y, rng)
        if not math.isfinite(loss):
            return loss, correct / max(seen, 1)
        total_loss += loss * len(y)
        correct += right
        seen += len(y)
        if on_batch:
            on_batch(len(y), total_loss / seen, correct / seen)
    return total_loss / seen, correct / seen


def predict_split(network, x, batch_size, input_shape):
    """Softmax probabilities (m, K) in eval mode."""
    from cnncalc.layers.activation.kernels import softmax

    out = []
    for start in range(0, len(x), batch_size):
        out.append(softmax(network.forward(to_engine(x[start:start + batch_size], input_shape), False)))
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


def evaluate_split(network, split, batch_size, input_shape):
    """(mean loss, accuracy, predicted labels) in eval mode."""
    p = predict_split(network, split.x, batch_size, input_shape)
    m = len(split.y)
    loss = float(-np.log(np.maximum(p[np.arange(m), split.y], 1e-30)).astype(np.float64).mean())
    pred = p.argmax(axis=1)
    return loss, float((pred == split.y).mean()), pred
