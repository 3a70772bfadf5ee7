"""The network's weights as named arrays, named and laid out as PyTorch names them.

A PyTorch module built from the same spec (one submodule per layer, nested along the dotted
layer names: `layer1.0.conv1`) has the state_dict this module describes. Each kind declares
its tensors in its family's train.py (`Trainer.tensors`); for example

    conv       <layer>.weight  (n_C, n_C_prev/groups, f_H, f_W)     <layer>.bias  (n_C,)
    dense      <layer>.weight  (n, n_prev)                           <layer>.bias  (n,)
               a dense layer after flatten reads its input in (n_C, n_H, n_W) order, torch.flatten's
    batchnorm  <layer>.weight γ (n_C,)   <layer>.bias β (n_C,)
               <layer>.running_mean (n_C,)   <layer>.running_var (n_C,)   <layer>.num_batches_tracked ()

so `torch_module.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()})` takes the
weights unchanged. Trainable parameters live in one contiguous float32 block (and their
gradients in another), each name a view into it: a checkpoint, an optimiser or a zeroing pass
sees plain arrays, and nothing is allocated per step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnncalc.errors import EngineError
from cnncalc.shapes import elements


@dataclass(frozen=True)
class Tensor:
    """One named array: which layer owns it, its role, shape and dtype, and whether it trains."""

    name: str
    node: str
    role: str  # weight, bias, running_mean, running_var, num_batches_tracked (layers.adapter.Param)
    shape: tuple
    trainable: bool
    dtype: str = "float32"
    fill: float = 0.0  # PyTorch's value for a fresh layer (before engine.init draws the weights)


def layout(report) -> list[Tensor]:
    """Every named array of the analysed network, in the order of its layers (topological).

    Each kind's trainer says which tensors it owns (`Trainer.tensors`, shapes from the analysis
    rows: the conv's resolved groups and channel counts, the dense layer's input length); the
    name is the layer's, dotted with the role. Nothing is recomputed here."""
    from cnncalc import layers

    tensors: list[Tensor] = []
    rows = {r.name: r for r in report.rows}
    for node in report.graph.nodes[1:]:
        role = layers.trainer(node.kind)
        if role is None:
            continue
        for p in role.tensors(node, rows[node.name]):
            tensors.append(Tensor(f"{node.name}.{p.role}", node.name, p.role, tuple(p.shape), p.trainable, p.dtype,
                                  p.fill))
    return tensors


class Params:
    """The arrays of `layout(report)`: params and grads (views into two flat float32 blocks), buffers.

    params:  {name: float32 array} trainable, what the optimiser updates
    grads:   {name: float32 array} of the same shapes, written by backward
    buffers: {name: array} running statistics (float32) and num_batches_tracked (int64, shape ())
    Initial values are PyTorch's for a fresh layer: weights 0 until engine.init fills them,
    biases 0, γ 1, β 0, running mean 0, running variance 1, num_batches_tracked 0.
    """

    def __init__(self, report):
        self.tensors = layout(report)
        trainable = [t for t in self.tensors if t.trainable]
        total = sum(elements(t.shape) for t in trainable)
        # the analyzer counts the same parameters independently (arith); a mismatch is our bug
        if total != report.totals.trainable:
            raise EngineError(f"internal: {total} trainable values laid out but the analysis counts "
                              f"{report.totals.trainable}")
        self.flat = np.zeros(total, np.float32)
        self.flat_grad = np.zeros(total, np.float32)
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        start = 0
        for t in trainable:
            n = elements(t.shape)
            self.params[t.name] = self.flat[start:start + n].reshape(t.shape)
            self.grads[t.name] = self.flat_grad[start:start + n].reshape(t.shape)
            start += n
        for t in self.tensors:
            if not t.trainable:
                self.buffers[t.name] = np.zeros(t.shape, t.dtype)
            (self.params if t.trainable else self.buffers)[t.name][...] = t.fill

    def of(self, node: str) -> dict[str, np.ndarray]:
        """{role: array} of one layer's params and buffers, e.g. {'weight': …, 'bias': …}."""
        out = {}
        for t in self.tensors:
            if t.node == node:
                out[t.role] = self.params[t.name] if t.trainable else self.buffers[t.name]
        return out

    def grads_of(self, node: str) -> dict[str, np.ndarray]:
        return {t.role: self.grads[t.name] for t in self.tensors if t.node == node and t.trainable}

    def state(self) -> dict[str, np.ndarray]:
        """Every named array (params and buffers), as PyTorch's state_dict names them; views, not copies."""
        return {t.name: self.params[t.name] if t.trainable else self.buffers[t.name] for t in self.tensors}

    def load(self, state: dict, where: str = "the checkpoint") -> None:
        """Copy state's arrays in; EngineError naming the first missing, extra or misshapen array."""
        names = {t.name for t in self.tensors}
        extra = sorted(set(state) - names)
        if extra:
            raise EngineError(f"{where} has {extra[0]}, which the spec does not have",
                              allowed="weights saved for the same spec")
        for t in self.tensors:
            if t.name not in state:
                raise EngineError(f"{where} has no {t.name}", allowed="weights saved for the same spec")
            value = np.asarray(state[t.name])
            if value.shape != t.shape:
                raise EngineError(f"{t.name} is {value.shape} in {where} but {t.shape} in the spec")
            if not np.issubdtype(value.dtype, np.number):
                raise EngineError(f"{t.name} holds {value.dtype} values in {where}", allowed="numbers")
            target = self.params[t.name] if t.trainable else self.buffers[t.name]
            target[...] = value

