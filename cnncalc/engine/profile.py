"""Where a training step's time goes: per layer kind and per pass, measured with time.perf_counter.

    profile = Profile()            # split=True also times the weight gradient of conv and dense apart
    profile.attach(loop)           # loop: a train.Loop; its network times every layer's forward and backward
    for _ in range(n):
        loop.step(x, y, rng)
    profile.detach()
    profile.rows()                 # [KindTime]: kind, group, forward, backward, weight gradient, calls

Off (no Profile attached, network.profile is None) the executor pays one `is None` test per layer
and pass, nothing in the kernels.

What is timed (seconds summed over the steps run while attached):
    (kind, "forward")   each layer's forward call, summed by kind;
    (kind, "backward")  each layer's backward call, input and weight gradient together, as the
                        adapters compute them in one call;
    (kind, "weight gradient")  with split=True, for conv, conv_transpose and dense layers that send a
                        gradient back: one extra backward call with the input gradient switched off
                        (the adapter's need_dx), timed before the real call; its time is NOT part of
                        the step's total (Profile.extra sums it), and the input gradient is read as
                        backward − weight gradient (an estimate: the two calls see different cache states). For a layer that
                        sends no gradient back (a first conv) the backward is all weight gradient;
    ("sum of gradients", "backward")  the executor adding the gradients of a layer read twice;
    ("loss", "forward")  softmax cross-entropy and its gradient (Loop.loss);
    ("optimiser", "update")  the optimiser's step.
The sum over every entry but the split's extra calls is the step's time less the loop's own
Python overhead (argmax of the predictions, dictionary traffic between layers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cnncalc import layers as registry

# kinds whose adapters compute dx only when need_dx asks for it, so that the weight gradient can be timed alone
WEIGHTED = ("conv", "conv_transpose", "dense")
SUMS, LOSS, OPTIMISER = "sum of gradients", "loss", "optimiser"

# the group each family's kinds are reported under (the families are the folders of cnncalc/layers)
GROUPS = {"conv": "conv & dense", "dense": "conv & dense", "norm": "batchnorm", "pool": "pooling",
          "activation": "element-wise", "merge": "element-wise", "dropout": "element-wise",
          "channel": "element-wise", "upsample": "element-wise"}


def group_of(kind: str) -> str:
    """The report group of a kind: conv & dense (flatten, a view, is element-wise), batchnorm, pooling,
    element-wise, or the kind itself for the loss, the optimiser and the sums of gradients."""
    found = registry.lookup(kind)
    if found is None or found.trainer is None:
        return kind
    if kind == "flatten":
        return "element-wise"
    return GROUPS.get(found.trainer.split(".")[2], "other")


@dataclass(frozen=True)
class KindTime:
    """One kind's seconds over the profiled steps. input_gradient = backward − weight_gradient for a
    split kind (None otherwise); weight_gradient is None where it was not measured apart."""

    kind: str
    group: str
    forward: float
    backward: float
    weight_gradient: float | None
    calls: int

    @property
    def input_gradient(self) -> float | None:
        return None if self.weight_gradient is None else self.backward - self.weight_gradient

    @property
    def total(self) -> float:
        return self.forward + self.backward


class Profile:
    """Seconds by (kind, pass), accumulated while attached to a Loop (or a Network alone)."""

    SUMS = SUMS

    @staticmethod
    def clock() -> float:  # an instance may be given another clock (the tests give a counter)
        return time.perf_counter()

    def __init__(self, split: bool = False):
        self.split = split
        self.seconds: dict[tuple[str, str], float] = {}
        self.calls: dict[str, int] = {}
        self.steps = 0
        self.extra = 0.0  # seconds of the split's extra calls, outside every real step's work
        self._loop = None
        self._network = None
        self._saved = []

    # ------------------------------------------------------------ what the executor calls

    def add(self, kind: str, what: str, seconds: float) -> None:
        key = (kind, what)
        self.seconds[key] = self.seconds.get(key, 0.0) + seconds

    def forward(self, layer, xs, train, rng):
        kind = layer.node.kind
        start = self.clock()
        out = layer.forward(xs, train, rng)
        self.add(kind, "forward", self.clock() - start)
        self.calls[kind] = self.calls.get(kind, 0) + 1
        return out

    def backward(self, layer, dout):
        kind = layer.node.kind
        wants = layer.need_dx
        if self.split and kind in WEIGHTED and layer.own_grads:
            if any(wants):
                layer.need_dx = [False] * len(wants)
                try:
                    start = self.clock()
                    layer.backward(dout)
                    seconds = self.clock() - start
                    self.add(kind, "weight gradient", seconds)
                    self.extra += seconds
                finally:
                    layer.need_dx = wants
                start = self.clock()
                dxs = layer.backward(dout)
                self.add(kind, "backward", self.clock() - start)
                return dxs
            start = self.clock()
            dxs = layer.backward(dout)
            seconds = self.clock() - start
            self.add(kind, "backward", seconds)
            self.add(kind, "weight gradient", seconds)  # nothing else to compute
            return dxs
        start = self.clock()
        dxs = layer.backward(dout)
        self.add(kind, "backward", self.clock() - start)
        return dxs

    # ------------------------------------------------------------ attaching

    def attach(self, loop) -> Profile:
        """Time every step of `loop` (a train.Loop): its network's layers, its loss and its optimiser."""
        self.detach()
        self.attach_network(loop.network)
        self._loop = loop
        loss, step = loop.loss, loop.optimizer.step
        # what the instances held themselves (none, unless someone else wrapped them), put back by detach
        self._saved = [(obj, name, vars(obj)[name]) for obj, name in ((loop, "loss"), (loop.optimizer, "step"))
                       if name in vars(obj)]

        def timed_loss(logits, y):
            start = self.clock()
            out = loss(logits, y)
            self.add(LOSS, "forward", self.clock() - start)
            return out

        def timed_step(grads):
            start = self.clock()
            step(grads)
            self.add(OPTIMISER, "update", self.clock() - start)
            self.steps += 1

        loop.loss, loop.optimizer.step = timed_loss, timed_step
        return self

    def attach_network(self, network) -> Profile:
        """Time only a network's layers (its forward and backward, called directly or by a Loop)."""
        if self._network is not None and self._network is not network:
            self.detach()
        network.profile = self
        self._network = network
        return self

    def detach(self) -> None:
        """Stop timing: the network's profile is None again and the loop's loss and optimiser are its own."""
        if self._network is not None:
            self._network.profile = None
        if self._loop is not None:
            del self._loop.loss
            del self._loop.optimizer.step
            for obj, name, value in self._saved:
                setattr(obj, name, value)
        self._network = self._loop = None
        self._saved = []

    def reset(self) -> None:
        """Forget what was timed (after a profiled warm-up step: the first calls compile)."""
        self.seconds.clear()
        self.calls.clear()
        self.steps = 0
        self.extra = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.detach()

    # ------------------------------------------------------------ results

    def rows(self) -> list[KindTime]:
        """One KindTime per kind timed, in the order first seen (forward order), then the sums of
        gradients, the loss and the optimiser."""
        seen = list(dict.fromkeys(kind for kind, _ in self.seconds))
        last = (SUMS, LOSS, OPTIMISER)
        kinds = [k for k in seen if k not in last] + [k for k in last if k in seen]
        out = []
        for kind in kinds:
            s = self.seconds
            backward = s.get((kind, "backward"), 0.0) + s.get((kind, "update"), 0.0)
            out.append(KindTime(kind, group_of(kind), s.get((kind, "forward"), 0.0), backward,
                                s.get((kind, "weight gradient")), self.calls.get(kind, 0)))
        return out

    def total(self) -> float:
        """Seconds of everything timed that is part of a real step (not the split's extra calls)."""
        return sum(v for (_, what), v in self.seconds.items() if what != "weight gradient")

    def groups(self) -> dict[str, float]:
        """Seconds by group and pass: conv & dense split into forward, input gradient and weight
        gradient (backward when not split), the other groups whole, then the loss and the optimiser."""
        out: dict[str, float] = {}

        def add(name, seconds):
            out[name] = out.get(name, 0.0) + seconds

        for row in self.rows():
            if row.group == "conv & dense":
                add("conv & dense: forward", row.forward)
                if row.weight_gradient is None:
                    add("conv & dense: backward (input and weight gradient)", row.backward)
                else:
                    add("conv & dense: input gradient", row.input_gradient)
                    add("conv & dense: weight gradient", row.weight_gradient)
            else:
                add(row.group, row.total)
        return out
