"""engine.profile: the time of a training step by layer kind and pass.

The accounting is checked with a counting clock instead of the real one: every layer's forward and
backward, the loss and the optimiser advance it by a cost of their own, so what each kind and pass
must total is known exactly (cost × calls), and nothing else in the step advances it, so the step's
own length on that clock must equal the profile's total. No assertion depends on the machine's speed.
"""

import numpy as np
import pytest

from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
from cnncalc.engine.profile import LOSS, OPTIMISER, Profile

from helpers import spec

pytestmark = pytest.mark.slow  # compiles the kernels of the kinds below

# every layer group the profile reports: conv (general, 1×1) and dense; batchnorm; pooling;
# element-wise (relu, add, dropout, flatten); and the softmax fused with the loss
LAYERS = """
- conv: {filters: 4, kernel: 3, padding: 1}
- batchnorm
- relu
- parallel:
    - [conv: {filters: 4, kernel: 1}]
    - []
  merge: add
- maxpool: 2
- dropout: 0.25
- flatten
- dense: 5
- softmax
"""
# the kinds the step runs, read off LAYERS: the final softmax is not one (cross-entropy applies it)
KINDS = ["conv", "batchnorm", "relu", "add", "maxpool", "dropout", "flatten", "dense"]
# conv appears twice, batchnorm, relu, … once: forward calls per step
CALLS = {"conv": 2, "batchnorm": 1, "relu": 1, "add": 1, "maxpool": 1, "dropout": 1, "flatten": 1, "dense": 1}
M = 6


def make_loop():
    text = spec(LAYERS, (6, 6, 3))
    _, net = tr.build(text, "t.yaml", M)
    initialise(net, 0)
    loop = tr.Loop(net, tr.make_optimizer(net, "sgd", 0.01, 0.9), M)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((M,) + net.input_shape).astype(np.float32)
    y = rng.integers(0, net.n_classes, M)
    return loop, x, y


class Counter:
    """A clock that moves only when told to."""

    def __init__(self):
        self.now = 0

    def __call__(self):
        return self.now


def costed(loop, clock, split_cost=None):
    """Make each layer's calls, the loss and the optimiser advance `clock`: forward by 10·(kind's index + 1),
    backward by 1000·(index + 1); a backward of a layer that sends a gradient back called with every
    need_dx off (the split's extra call) by split_cost[kind] instead. Returns the costs."""
    forward_cost = {k: 10 * (i + 1) for i, k in enumerate(KINDS)}
    backward_cost = {k: 1000 * (i + 1) for i, k in enumerate(KINDS)}
    for layer in loop.network.layers:
        kind = layer.node.kind

        def fwd(xs, train, rng, real=layer.forward, kind=kind):
            clock.now += forward_cost[kind]
            return real(xs, train, rng)

        def bwd(dout, real=layer.backward, kind=kind, layer=layer, sends=any(layer.need_dx)):
            alone = split_cost is not None and kind in split_cost and sends and not any(layer.need_dx)
            clock.now += split_cost[kind] if alone else backward_cost[kind]
            return real(dout)

        layer.forward, layer.backward = fwd, bwd
    loss, step = loop.loss, loop.optimizer.step

    def costly_loss(logits, y):
        clock.now += 7
        return loss(logits, y)

    def costly_step(grads):
        clock.now += 3
        return step(grads)

    loop.loss, loop.optimizer.step = costly_loss, costly_step
    return forward_cost, backward_cost


def test_each_kind_and_pass_gets_exactly_its_time_and_the_total_is_the_step():
    loop, x, y = make_loop()
    clock = Counter()
    forward_cost, backward_cost = costed(loop, clock)
    profile = Profile()
    profile.clock = clock
    profile.attach(loop)
    steps = 3
    rng = np.random.default_rng(0)
    start = clock()
    for _ in range(steps):
        loop.step(x, y, rng)
    elapsed = clock() - start
    profile.detach()
    rows = {r.kind: r for r in profile.rows()}
    assert list(rows) == KINDS + ["sum of gradients", LOSS, OPTIMISER]
    # the first conv sends no gradient back, but still runs backward (its weight gradient)
    backward_calls = dict(CALLS)
    for kind in KINDS:
        assert rows[kind].forward == steps * CALLS[kind] * forward_cost[kind], kind
        assert rows[kind].backward == steps * backward_calls[kind] * backward_cost[kind], kind
        assert rows[kind].calls == steps * CALLS[kind]
        assert rows[kind].weight_gradient is None  # not split
    assert rows[LOSS].total == steps * 7
    assert rows[OPTIMISER].total == steps * 3
    assert rows["sum of gradients"].total == 0  # the counter does not move there
    assert profile.steps == steps
    assert profile.total() == elapsed
    assert sum(profile.groups().values()) == elapsed


def test_split_times_the_weight_gradient_apart_and_leaves_it_out_of_the_total():
    loop, x, y = make_loop()
    clock = Counter()
    split_cost = {"conv": 300, "dense": 200}
    forward_cost, backward_cost = costed(loop, clock, split_cost)
    profile = Profile(split=True)
    profile.clock = clock
    profile.attach(loop)
    start = clock()
    loop.step(x, y, np.random.default_rng(0))
    elapsed = clock() - start
    profile.detach()
    rows = {r.kind: r for r in profile.rows()}
    # conv: the first sends no gradient back, so its backward is all weight gradient (measured once, 1000);
    # the 1×1 conv sends one: an extra weight-only call (300) beside its real backward (1000)
    assert rows["conv"].backward == 2 * backward_cost["conv"]
    assert rows["conv"].weight_gradient == backward_cost["conv"] + 300
    assert rows["conv"].input_gradient == backward_cost["conv"] - 300
    assert rows["dense"].weight_gradient == 200
    assert rows["dense"].input_gradient == backward_cost["dense"] - 200
    assert rows["batchnorm"].weight_gradient is None
    extra = 300 + 200  # the split's extra calls: on the clock, not in the total
    assert profile.total() == elapsed - extra
    assert profile.extra == extra
    groups = profile.groups()
    assert groups["conv & dense: weight gradient"] + groups["conv & dense: input gradient"] == (
        rows["conv"].backward + rows["dense"].backward)
    assert sum(groups.values()) == elapsed - extra


def test_split_changes_no_gradient():
    """The extra weight-only call leaves the step's results as they were: the same weights after two
    steps with and without the split, bit for bit (the kernels sum in a fixed order)."""
    results = []
    for profile in (None, Profile(split=True)):
        loop, x, y = make_loop()
        if profile is not None:
            profile.attach(loop)
        rng = np.random.default_rng(0)
        losses = [loop.step(x, y, rng)[0] for _ in range(2)]
        results.append((losses, {k: v.copy() for k, v in loop.network.params.items()}))
    (losses_off, params_off), (losses_on, params_on) = results
    assert losses_off == losses_on
    for k in params_off:
        np.testing.assert_array_equal(params_on[k], params_off[k], err_msg=k)


def test_real_clock_times_every_kind_within_the_step():
    loop, x, y = make_loop()
    profile = Profile().attach(loop)
    rng = np.random.default_rng(0)
    loop.step(x, y, rng)  # compiles
    profile.reset()
    import time

    start = time.perf_counter()
    loop.step(x, y, rng)
    elapsed = time.perf_counter() - start
    profile.detach()
    rows = {r.kind: r for r in profile.rows()}
    assert set(KINDS) <= set(rows)
    for kind in KINDS:
        assert rows[kind].forward > 0 and rows[kind].backward > 0, kind
    # disjoint intervals inside the step: their sum cannot exceed it
    assert 0 < profile.total() <= elapsed


def test_off_means_no_entries_and_the_loop_as_it_was():
    loop, x, y = make_loop()
    assert loop.network.profile is None  # off by default
    loss, step = loop.loss, loop.optimizer.step
    profile = Profile().attach(loop)
    rng = np.random.default_rng(0)
    loop.step(x, y, rng)
    profile.detach()
    assert loop.network.profile is None
    assert "loss" not in vars(loop) and "step" not in vars(loop.optimizer)
    assert loop.loss == loss and loop.optimizer.step == step
    seconds = dict(profile.seconds)
    steps = profile.steps
    loop.step(x, y, rng)
    assert profile.seconds == seconds and profile.steps == steps
    # never attached: nothing at all
    idle = Profile()
    loop.step(x, y, rng)
    assert idle.seconds == {} and idle.rows() == [] and idle.total() == 0
