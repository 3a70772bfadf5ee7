"""The executor, its weights and initialisation: finite differences, PyTorch as the oracle, buffers.

Tolerances. The kernels run in float32, so the finite differences are directional (the change of
the loss along a random unit direction of one weight tensor, central, step 1e-3) and must match
the gradient's projection to 3% + 3e-4. float32 rounding of the loss is up to ~1.5e-7 per
evaluation (measured through batchnorm), ~1e-4 after dividing by 2·step (1e-3); the rest is
curvature and the kinks a step may cross, so the nets use smooth activations where they can
(a ReLU-heavy net needs steps below 3e-4 to come within 1%, where the rounding takes over).
Against PyTorch (float32 too): logits and gradients to 1e-5 absolute / 1e-4 relative, 50-step
loss trajectories to 1e-4 relative.
"""

import math
import tracemalloc

import numpy as np
import pytest

from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise, scheme_for
from cnncalc.engine.params import layout
from cnncalc.errors import EngineError
from cnncalc.layers.activation.kernels import softmax_cross_entropy
from helpers import spec

# add (a residual), concat of three branches, layers read by two consumers (tanh1, maxpool1),
# batchnorm over maps and over features, grouped, dilated, strided-'same' (asymmetric pads) convs
BRANCHY = """- conv: {{filters: 4, kernel: 3, padding: 1, name: c1}}
- batchnorm
- tanh
- parallel:
    - - conv: {{filters: 4, kernel: 3, padding: same, groups: 2}}
      - sigmoid
    - []
  merge: add
- maxpool: {{kernel: 2}}
- parallel:
    - [conv: {{filters: 3, kernel: 1}}]
    - [avgpool: {{kernel: 3, stride: 1, padding: 1}}]
    - [conv: {{filters: 2, kernel: 3, dilation: 2, padding: same}}]
- conv: {{filters: 6, kernel: 3, stride: 2, padding: same, bias: false}}
- leaky_relu: 0.1
{extra}- flatten
- dense: 12
- batchnorm
- tanh
- dense: 5
- softmax"""
NET = spec(BRANCHY.format(extra=""), (8, 8, 2))
NET_DROPOUT = spec(BRANCHY.format(extra="- dropout: 0.25\n"), (8, 8, 2))
# global average pooling, a softmax over channels in the middle, a max pool on the input
# (no backward runs for it), and no final softmax: the last dense layer's output are the logits
GAP = spec("""- maxpool: {kernel: 2, stride: 1}
- conv: {filters: 5, kernel: 3, padding: same}
- softmax
- conv: {filters: 6, kernel: 3}
- sigmoid
- global_avgpool
- dense: 4""", (7, 7, 3))


def build(text=NET, batch=6, seed=0):
    report, net = tr.build(text, "t.yaml", batch)
    initialise(net, seed)
    return report, net


def batch_of(net, m, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((m,) + net.input_shape).astype(np.float32)
    return x, np.arange(m) % net.n_classes


def loss_and_grads(net, x, y, seed=5):
    logits = net.forward(x, True, np.random.default_rng(seed))
    loss, dz, _ = softmax_cross_entropy(logits, y)
    net.backward(dz)
    return loss, {k: g.copy() for k, g in net.grads.items()}


# ------------------------------------------------------------------ gradients

@pytest.mark.parametrize("text", [NET_DROPOUT, GAP], ids=["branches-bn-dropout", "gap-channel-softmax"])
def test_whole_network_gradient_matches_finite_differences(text):
    _, net = build(text)
    x, y = batch_of(net, 6)
    _, grads = loss_and_grads(net, x, y)
    rng = np.random.default_rng(7)
    step = 1e-3
    for name, w in net.params.items():
        for _ in range(2):
            v = rng.standard_normal(w.shape).astype(np.float32)
            v /= np.linalg.norm(v)
            w0 = w.copy()
            w[...] = w0 + step * v
            up = softmax_cross_entropy(net.forward(x, True, np.random.default_rng(5)), y)[0]
            w[...] = w0 - step * v
            down = softmax_cross_entropy(net.forward(x, True, np.random.default_rng(5)), y)[0]
            w[...] = w0
            numeric = (up - down) / (2 * step)
            analytic = float(np.dot(grads[name].ravel().astype(np.float64), v.ravel()))
            assert abs(numeric - analytic) <= 3e-4 + 0.03 * abs(analytic), (name, numeric, analytic)


def test_a_layer_read_twice_sums_both_gradients():
    # y = relu(x)·W1 + relu(x)·W2 through add: the shared relu's gradient is the sum of both paths
    text = spec("""- dense: {units: 6, name: d0}
- relu: {name: shared}
- parallel:
    - [dense: {units: 3, name: a}]
    - [dense: {units: 3, name: b}]
  merge: add
- softmax""", (5,))
    _, net = build(text, batch=4)
    x, y = batch_of(net, 4)
    _, grads = loss_and_grads(net, x, y)
    P = net.params
    Wa, Wb = P["parallel1.b0.a.weight"], P["parallel1.b1.b.weight"]
    h = np.maximum(x @ P["d0.weight"].T + P["d0.bias"], 0)
    z = h @ (Wa + Wb).T + P["parallel1.b0.a.bias"] + P["parallel1.b1.b.bias"]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dz = (p - np.eye(3)[y]) / 4
    dh = dz @ (Wa + Wb) * (h > 0)
    assert np.allclose(grads["parallel1.b0.a.weight"], dz.T @ h, atol=1e-6)
    assert np.allclose(grads["d0.weight"], dh.T @ x, atol=1e-6)


def test_a_dead_branch_is_neither_run_nor_trained():
    text = spec("""- conv: {filters: 4, kernel: 3, name: c}
- relu: {name: r}
- conv: {filters: 2, kernel: 1, name: unused}
- flatten: {from: r}
- dense: 3""", (6, 6, 1))
    _, net = build(text, batch=4)
    assert "unused.weight" in net.state() and "unused.weight" not in net.params
    assert [layer.name for layer in net.layers] == ["c", "r", "flatten1", "dense1"]
    assert not net.layers[0].need_dx[0]  # the first conv sends no gradient to the input
    x, y = batch_of(net, 4)
    loss_and_grads(net, x, y)


def test_a_smaller_last_batch_uses_the_leading_rows():
    _, net = build(batch=6)
    x, _ = batch_of(net, 6)
    full = net.forward(x, False).copy()
    part = net.forward(x[:4], False)
    assert part.shape == (4, 5)
    assert np.allclose(part, full[:4], atol=1e-6)


def test_buffers_are_allocated_once():
    _, net = build(batch=256)
    x, y = batch_of(net, 256)
    opt = tr.make_optimizer(net, "adam", 1e-3)
    loop = tr.Loop(net, opt, 256)
    rng = np.random.default_rng(0)
    loop.step(x, y, rng)
    first = net.forward(x, True, rng)
    second = net.forward(x, True, rng)
    assert second.shape == (256, net.n_classes) and np.shares_memory(first, second)   # the same logits buffer
    tracemalloc.start()
    try:
        for _ in range(3):
            loop.step(x, y, rng)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Python's own small objects and the argmax of the logits; nothing that grows with the batch
    assert peak < 64 * 1024 and peak < 0.01 * net.nbytes(), (peak, net.nbytes())


def test_the_memory_estimate_covers_what_is_allocated():
    report, net = build(NET_DROPOUT, batch=64)
    est = tr.estimate(report, 64, 1000, "adam", threads=2)
    assert est["activations"] + est["workspace"] >= net.nbytes()
    assert est["activations"] + est["workspace"] <= 3 * net.nbytes()
    assert est["weights"] == 4 * report.totals.params
    assert est["optimizer"] == 8 * report.totals.trainable


# ------------------------------------------------------------------ weights, names, initialisation

def test_layout_counts_what_the_analyzer_counts():
    report, net = build()
    tensors = layout(report)
    assert sum(int(np.prod(t.shape)) for t in tensors if t.trainable) == report.totals.trainable
    running = sum(int(np.prod(t.shape)) for t in tensors if t.role in ("running_mean", "running_var"))
    assert running == report.totals.non_trainable
    assert net.store.flat.size == report.totals.trainable
    # every parameter is a view into the one flat block
    assert all(np.shares_memory(w, net.store.flat) for w in net.params.values())


@pytest.mark.torch
@pytest.mark.parametrize("text", [NET_DROPOUT, GAP], ids=["branches-bn-dropout", "gap-channel-softmax"])
def test_weight_names_and_layouts_are_pytorchs(text):
    pytest.importorskip("torch")
    from torch_builder import SpecModule

    report, net = build(text)
    theirs = {k: tuple(v.shape) for k, v in SpecModule(report).state_dict().items()}
    ours = {k: v.shape for k, v in net.state().items()}
    assert ours == theirs


def test_initialisation_is_he_before_relu_and_glorot_otherwise():
    text = spec("""- dense: {units: 400, name: a}
- batchnorm
- relu
- dense: {units: 300, name: b}
- leaky_relu: 0.2
- dense: {units: 200, name: c}
- softmax""", (500,))
    report, net = tr.build(text, "t.yaml", 2)
    schemes = initialise(net, 3, "he-glorot")
    assert schemes["a"] == "he_normal" and schemes["c"] == "glorot_uniform"
    assert schemes["b"].startswith("he_normal (gain")
    assert scheme_for(report.graph, "c") == ("glorot_uniform", 1.0)
    a, b, c = (net.params[f"{k}.weight"] for k in "abc")
    assert a.std() == pytest.approx(math.sqrt(2 / 500), rel=0.02) and abs(a.mean()) < 1e-3
    assert b.std() == pytest.approx(math.sqrt(2 / 1.04) / math.sqrt(400), rel=0.02)
    limit = math.sqrt(6 / (300 + 200))
    assert c.max() <= limit and c.min() >= -limit and c.std() == pytest.approx(limit / math.sqrt(3), rel=0.02)
    assert not net.params["a.bias"].any()
    assert (net.params["batchnorm1.weight"] == 1).all() and not net.params["batchnorm1.bias"].any()
    assert (net.buffers["batchnorm1.running_var"] == 1).all() and net.buffers["batchnorm1.num_batches_tracked"] == 0
    again = tr.build(text, "t.yaml", 2)[1]
    initialise(again, 3, "he-glorot")
    assert all(np.array_equal(net.params[k], again.params[k]) for k in net.params)
    initialise(again, 4, "he-glorot")
    assert not np.array_equal(net.params["a.weight"], again.params["a.weight"])


def test_same_seed_same_losses_bit_for_bit():
    def run():
        _, net = build(NET_DROPOUT, batch=8, seed=11)
        opt = tr.make_optimizer(net, "sgd", 0.05, 0.9, 1e-4)
        loop = tr.Loop(net, opt, 8)
        x, y = batch_of(net, 8)
        rng = tr.training_rng(11)
        return [loop.step(x, y, rng)[0] for _ in range(5)]
    assert run() == run()


# ------------------------------------------------------------------ what the engine refuses

@pytest.mark.parametrize("layers, shape, fragment", [
    ("- conv: {filters: 2, kernel: 3}", (8, 8, 1), "training needs one score per class"),
    ("- conv: {filters: 2, kernel: 30}", (8, 8, 1), "does not analyse"),
    ("- flatten\n- dense: 1", (4, 4, 1), "classification needs one per class"),
    ("- identity", (6,), "no trainable parameters"),
    ("- flatten", (1, 1, 3), "no trainable parameters"),
])
def test_specs_the_engine_cannot_run_are_refused_before_any_work(layers, shape, fragment):
    with pytest.raises(EngineError, match=fragment):
        tr.analyse(spec(layers, shape), "t.yaml")


# ------------------------------------------------------------------ PyTorch as the oracle

def _torch_copy(report, net):
    from torch_builder import from_engine

    return from_engine(report, net.state())


def _assert_step_matches(torch, net, model, x, y):
    """One training-mode forward and backward of ours against the PyTorch copy: logits, loss,
    every parameter's gradient and the running statistics it updates."""
    loss, grads = loss_and_grads(net, x, y)
    ref_logits = model(torch.tensor(x))
    ref = torch.nn.functional.cross_entropy(ref_logits, torch.tensor(y))
    ref.backward()
    assert net.values[net.logits].shape == tuple(ref_logits.shape)
    assert np.allclose(net.values[net.logits], ref_logits.detach().numpy(), atol=1e-5)
    assert loss == pytest.approx(ref.item(), rel=1e-5)
    named = dict(model.named_parameters())
    for k, g in grads.items():
        assert np.allclose(g, named[k].grad.numpy(), atol=1e-5, rtol=1e-4), k
    for k, v in model.state_dict().items():
        if k in net.buffers:
            assert np.allclose(net.buffers[k], v.numpy(), atol=1e-6), k


@pytest.mark.torch
def test_logits_gradients_and_running_statistics_match_pytorch():
    torch = pytest.importorskip("torch")
    report, net = build(NET, batch=8)
    model = _torch_copy(report, net)
    x, y = batch_of(net, 8)
    _assert_step_matches(torch, net, model, x, y)
    # eval mode: the running statistics, no dropout
    model.eval()
    assert np.allclose(net.forward(x, False), model(torch.tensor(x)).detach().numpy(), atol=1e-5)


# no bias before a batchnorm (it would only learn float noise, which Adam amplifies)
BN_NET = spec("""- conv: {filters: 6, kernel: 3, padding: 1, bias: false}
- batchnorm
- relu
- maxpool: 2
- conv: {filters: 8, kernel: 3, bias: false}
- batchnorm
- relu
- flatten
- dense: {units: 16, bias: false}
- batchnorm
- relu
- dense: 4
- softmax""", (10, 10, 3))
RESIDUAL_NET = spec("""- conv: {filters: 6, kernel: 3, padding: 1}
- relu
- parallel:
    - - conv: {filters: 6, kernel: 3, padding: 1}
      - relu
      - conv: {filters: 6, kernel: 3, padding: 1}
    - []
  merge: add
- relu
- parallel:
    - [conv: {filters: 4, kernel: 1}]
    - [avgpool: {kernel: 3, stride: 1, padding: 1}]
- conv: {filters: 8, kernel: 3, stride: 2}
- relu
- global_avgpool
- dense: 4
- softmax""", (9, 9, 2))


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("text", [BN_NET, RESIDUAL_NET], ids=["batchnorm", "residual"])
def test_fifty_steps_match_pytorch(text, optimizer):
    torch = pytest.importorskip("torch")
    report, net = build(text, batch=16, seed=2)
    model = _torch_copy(report, net)
    lr = 0.05 if optimizer == "sgd" else 2e-3
    opt = tr.make_optimizer(net, optimizer, lr, 0.9, 1e-3)
    ref_opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9, weight_decay=1e-3) if optimizer == "sgd"
               else torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-3))
    loop = tr.Loop(net, opt, 16)
    data = np.random.default_rng(3)
    x_all = data.standard_normal((64,) + net.input_shape).astype(np.float32)
    y_all = data.integers(0, 4, 64)
    ours, theirs = [], []
    for step in range(50):
        idx = (np.arange(16) + 16 * step) % 64
        x, y = x_all[idx], y_all[idx]
        ours.append(loop.step(x, y, None)[0])
        ref_opt.zero_grad()
        ref = torch.nn.functional.cross_entropy(model(torch.tensor(x)), torch.tensor(y))
        ref.backward()
        ref_opt.step()
        theirs.append(ref.item())
    ratio = np.abs(np.array(ours) / np.array(theirs) - 1)
    assert ratio.max() < 1e-4, (ratio.argmax(), ratio.max())
    assert ours[-1] < ours[0]
    for k, v in model.state_dict().items():
        assert np.allclose(net.state()[k], v.numpy(), atol=1e-4, rtol=1e-3), k


# Pools whose options are left to the defaults, against PyTorch built from its own defaults
# (torch_builder passes torch only what a spec states): 'same' on an even width pads (0, 1), so the
# first avgpool's last column divides by the whole window (count_include_pad, PyTorch's default);
# the floor-mode maxpool on 5 rows gives ⌊(5 − 2)/2⌋ + 1 = 2 (ceil would give 3); the stated ceil
# pool gives ⌈(9 − 2)/2⌉ + 1 = 5 rows; the last avgpool excludes its (asymmetric) padding; leaky_relu's
# slope is PyTorch's 0.01.
POOL_NET = spec("""- avgpool: {kernel: 2, stride: 1, padding: same}
- leaky_relu
- conv: {filters: 3, kernel: 3, padding: 1}
- maxpool: {kernel: 2, ceil_mode: true}
- maxpool: 2
- avgpool: {kernel: 3, stride: 1, padding: 1}
- avgpool: {kernel: 2, stride: 1, padding: [0, 1, 0, 1], count_include_pad: false}
- flatten
- dense: 3""", (9, 8, 2))


@pytest.mark.torch
@pytest.mark.parametrize("text", [POOL_NET, NET], ids=["pools", "branchy"])
def test_defaults_agree_with_pytorchs_own(text):
    torch = pytest.importorskip("torch")
    report, net = build(text, batch=4)
    model = _torch_copy(report, net)
    x, y = batch_of(net, 4)
    _assert_step_matches(torch, net, model, x, y)
