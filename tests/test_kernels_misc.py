"""Kernels other than conv and pooling: activations, softmax and the loss, dense, batchnorm, dropout, merges.

Each is checked twice, independently: its backward against central differences of its forward
in float64 (the jitted kernels' py_func on float64 arrays, or a float64 formula for the numpy
layers), and forward and backward against PyTorch on random float32 inputs.
"""

import tracemalloc

import numpy as np
import pytest
from helpers import numeric_grad

from cnncalc.layers.activation import kernels as act
from cnncalc.layers.dense import kernels as dense_k
from cnncalc.layers.dropout import kernels as drop_k
from cnncalc.layers.merge import kernels as merge_k
from cnncalc.layers.norm import kernels as norm_k

rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)



def away_from_zero(*shape):
    """float64 values with |x| ≥ 0.1, so a ±1e-6 step never crosses relu's kink."""
    x = rng.standard_normal(shape)
    return np.where(np.abs(x) < 0.1, np.sign(x) * 0.1 + x, x)


# ------------------------------------------------------------------ finite differences (float64)

# (name, forward(x, out), backward(dout, x, out, dx)) on flat float64 arrays, through the kernels' py_func
# (the sigmoid and tanh forwards are numpy, any dtype)
ELEMENTWISE = [
    ("relu", act.relu_kernel.py_func, lambda d, x, o, dx: act.relu_backward_kernel.py_func(d, x, dx)),  # noqa: ARG005 — backward(d, x, o, dx)
    ("leaky_relu", lambda x, o: act.leaky_relu_kernel.py_func(x, 0.1, o),
     lambda d, x, o, dx: act.leaky_relu_backward_kernel.py_func(d, x, 0.1, dx)),  # noqa: ARG005 — backward(d, x, o, dx)
    ("leaky_relu negative α", lambda x, o: act.leaky_relu_kernel.py_func(x, -0.3, o),
     lambda d, x, o, dx: act.leaky_relu_backward_kernel.py_func(d, x, -0.3, dx)),  # noqa: ARG005 — backward(d, x, o, dx)
    ("sigmoid", act.sigmoid_kernel, lambda d, x, o, dx: act.sigmoid_backward_kernel.py_func(d, o, dx)),  # noqa: ARG005 — backward(d, x, o, dx)
    ("tanh", act.tanh_kernel, lambda d, x, o, dx: act.tanh_backward_kernel.py_func(d, o, dx)),  # noqa: ARG005 — backward(d, x, o, dx)
]


@pytest.mark.parametrize("name, forward, backward", ELEMENTWISE, ids=[e[0] for e in ELEMENTWISE])
def test_elementwise_backward_by_finite_differences(name, forward, backward):  # noqa: ARG001 — the id column
    """Tolerance 1e-8: float64 central differences with step 1e-6 are good to about 1e-10."""
    x = away_from_zero(12)
    w = rng.standard_normal(12)
    out = np.zeros(12)

    def loss():
        forward(x, out)
        return (out * w).sum()

    num = numeric_grad(loss, x)
    forward(x, out)
    dx = np.zeros(12)
    backward(w, x, out, dx)
    np.testing.assert_allclose(dx, num, rtol=0, atol=1e-8)


def test_sigmoid_is_stable_and_relatively_accurate_in_its_tails():
    x = np.array([-200, -90, -30, 30, 90, 200], np.float32)
    out, _ = act.sigmoid_forward(x)
    assert out[0] == 0.0 and out[-1] == 1.0 and out[-2] == 1.0
    np.testing.assert_allclose(out[2], 1 / (1 + np.exp(30.0)), rtol=1e-6)


def test_softmax_backward_by_finite_differences():
    """Over axis 1 of an NCHW map (K = 3 channels, L = 2·2 positions); tolerance 1e-8."""
    z = rng.standard_normal((2, 3, 4))
    w = rng.standard_normal(z.shape)
    p = np.zeros_like(z)

    def loss():
        act.softmax_kernel.py_func(z, p)
        return (p * w).sum()

    num = numeric_grad(loss, z)
    act.softmax_kernel.py_func(z, p)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-12)
    dz = np.zeros_like(z)
    act.softmax_backward_kernel.py_func(w, p, dz)
    np.testing.assert_allclose(dz, num, rtol=0, atol=1e-8)


def test_softmax_cross_entropy_by_finite_differences():
    """dL/dz against differences of the mean loss; tolerance 1e-8. Large logits do not overflow."""
    z = rng.standard_normal((4, 5)) * 3
    y = np.array([0, 4, 2, 2], np.int64)
    p = np.zeros_like(z)
    num = numeric_grad(lambda: act.softmax_cross_entropy_kernel.py_func(z, y, p), z)
    act.softmax_cross_entropy_kernel.py_func(z, y, p)
    dz = np.zeros_like(z)
    act.softmax_cross_entropy_backward_kernel.py_func(p, y, 1.0 / 4, dz)
    np.testing.assert_allclose(dz, num, rtol=0, atol=1e-8)
    loss, _ = act.softmax_cross_entropy_forward(np.array([[1000.0, 0.0], [0.0, -1000.0]], np.float32), [1, 0])
    assert loss == pytest.approx(500.0)


@pytest.mark.parametrize("shape, train", [((3, 2, 2, 3), True), ((5, 3), True), ((3, 2, 2, 3), False)])
def test_batchnorm_backward_by_finite_differences(shape, train):
    """dx, dγ, dβ of Σ out·w through the kernels' py_func in float64 (the running statistics are
    copied afresh for every evaluation); tolerance 1e-7 (differences of step 1e-6 on values ~1)."""
    x = rng.standard_normal(shape)
    n_C = shape[1]
    gamma, beta = rng.standard_normal(n_C), rng.standard_normal(n_C)
    running = (rng.standard_normal(n_C), rng.random(n_C) + 0.5)
    w = rng.standard_normal(shape)
    view = (lambda a: a.reshape(a.shape[0], a.shape[1], -1))
    out, mean, inv_std = np.zeros(shape), np.zeros(n_C), np.zeros(n_C)

    def loss():
        norm_k.batchnorm_forward_kernel.py_func(view(x), gamma, beta, 1e-5, 0.1, train, running[0].copy(),
                                                running[1].copy(), view(out), mean, inv_std, norm_k.scratch_for(shape))
        return (out * w).sum()

    num_x, num_gamma, num_beta = numeric_grad(loss, x), numeric_grad(loss, gamma), numeric_grad(loss, beta)
    loss()
    dx, dgamma, dbeta = np.zeros(shape), np.zeros(n_C), np.zeros(n_C)
    norm_k.batchnorm_backward_kernel.py_func(view(w), view(x), gamma, mean, inv_std, train, view(dx), dgamma, dbeta,
                                             norm_k.scratch_for(shape))
    np.testing.assert_allclose(dx, num_x, rtol=0, atol=1e-7)
    np.testing.assert_allclose(dgamma, num_gamma, rtol=0, atol=1e-7)
    np.testing.assert_allclose(dbeta, num_beta, rtol=0, atol=1e-7)


def test_dense_backward_by_finite_differences():
    """The float32 layer's gradients against differences of the float64 formula x·Wᵀ + b;
    tolerance 1e-5 (float32 products of 4 terms)."""
    x, W, b = rng.standard_normal((3, 4)), rng.standard_normal((2, 4)), rng.standard_normal(2)
    w = rng.standard_normal((3, 2))
    loss = (lambda: ((x @ W.T + b) * w).sum())
    num = [numeric_grad(loss, a) for a in (x, W, b)]
    out, cache = dense_k.dense_forward(x.astype(np.float32), W.astype(np.float32), b.astype(np.float32))
    np.testing.assert_allclose(out, x @ W.T + b, rtol=0, atol=1e-5)
    grads = dense_k.dense_backward(w.astype(np.float32), cache)
    for ours, ref in zip(grads, num):
        np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-5)


def test_merges_are_adjoint():
    """⟨concat(xs), d⟩ = Σ_j ⟨x_j, dx_j⟩ and ⟨Σ x_j, d⟩ = Σ_j ⟨x_j, dx_j⟩ define the backward passes
    (inner products in float64; add rounds its sum to float32, hence 1e-6 of Σ|out·d|)."""
    def inner(a, b):
        return (a.astype(np.float64) * b).sum()

    xs = [rand(2, c, 3, 3) for c in (1, 4, 2)]
    out, sizes = merge_k.concat_forward(xs)
    d = rand(*out.shape)
    dxs = merge_k.concat_backward(d, sizes)
    assert all(dx.flags.c_contiguous and dx.shape == x.shape for dx, x in zip(dxs, xs))
    assert np.isclose(inner(out, d), sum(inner(x, dx) for x, dx in zip(xs, dxs)), rtol=1e-12)
    xs = [rand(4, 5) for _ in range(3)]
    out, k = merge_k.add_forward(xs)
    np.testing.assert_allclose(out, xs[0] + xs[1] + xs[2], rtol=1e-6)
    d = rand(4, 5)
    dxs = merge_k.add_backward(d, k)
    assert len(dxs) == 3
    scale = np.abs(out.astype(np.float64) * d).sum()
    assert abs(inner(out, d) - sum(inner(x, dx) for x, dx in zip(xs, dxs))) <= 1e-6 * scale


# ------------------------------------------------------------------ dropout

def test_dropout_mask_is_reproducible_and_scaled():
    x = rand(64, 8, 5, 5)
    out, mask = drop_k.dropout_forward(x, 0.3, np.random.default_rng(7))
    out2, mask2 = drop_k.dropout_forward(x, 0.3, np.random.default_rng(7))
    assert np.array_equal(mask, mask2) and np.array_equal(out, out2)
    u = np.random.default_rng(7).random(x.shape, dtype=np.float32)  # the documented draws
    np.testing.assert_array_equal(mask, np.where(u >= np.float32(0.3), np.float32(1 / 0.7), 0))
    np.testing.assert_array_equal(out, x * mask)
    assert abs((mask == 0).mean() - 0.3) < 0.02  # 12 800 draws: σ ≈ 0.004
    dout = rand(*x.shape)
    np.testing.assert_array_equal(drop_k.dropout_backward(dout, mask), dout * mask)
    same, cache = drop_k.dropout_forward(x, 0.3, rng, train=False)
    assert same is x and cache is None and drop_k.dropout_backward(dout, cache) is dout
    zeros, mask = drop_k.dropout_forward(x, 1.0, rng)
    assert not zeros.any() and not mask.any()
    with pytest.raises(ValueError, match="received 1.5"):
        drop_k.dropout_forward(x, 1.5, rng)


# ------------------------------------------------------------------ buffers

def test_kernels_write_into_the_callers_buffers_without_allocating():
    """One training step's worth of calls with buffers given allocates nothing array-sized (< 4 KiB
    in all, for 0.5 MiB activations); the results are the caller's buffers."""
    m, n_C, n_H, n_W = 16, 8, 32, 32
    x, dout = rand(m, n_C, n_H, n_W), rand(m, n_C, n_H, n_W)
    gamma, beta = rand(n_C), rand(n_C)
    running_mean, running_var = np.zeros(n_C, np.float32), np.ones(n_C, np.float32)
    out, dx, mask = (np.empty_like(x) for _ in range(3))
    stats = [np.empty(n_C, np.float32) for _ in range(4)]
    scratch = norm_k.scratch_for(x.shape)
    z, W, b = rand(m, n_C * n_H * n_W), rand(10, n_C * n_H * n_W), rand(10)
    logits, dlogits, p, dz_flat, dW, db = (np.empty((m, 10), np.float32), np.empty((m, 10), np.float32),
                                           np.empty((m, 10), np.float32), np.empty_like(z), np.empty_like(W),
                                           np.empty(10, np.float32))
    y = np.arange(m, dtype=np.int64) % 10
    generator = np.random.default_rng(0)

    def step():
        results = []
        for forward, backward in ((act.relu_forward, act.relu_backward),
                                  (act.sigmoid_forward, act.sigmoid_backward),
                                  (act.tanh_forward, act.tanh_backward)):
            o, cache = forward(x, out=out)
            results += [o, backward(dout, cache, dx=dx)]
        o, cache = act.leaky_relu_forward(x, 0.2, out=out)
        results += [o, act.leaky_relu_backward(dout, cache, dx=dx)]
        o, cache = norm_k.batchnorm_forward(x, gamma, beta, running_mean, running_var, out=out,
                                            save_mean=stats[0], save_inv_std=stats[1], scratch=scratch)
        results += [o, *norm_k.batchnorm_backward(dout, cache, dx=dx, dgamma=stats[2], dbeta=stats[3])]
        o, cache = drop_k.dropout_forward(x, 0.5, generator, out=out, mask=mask)
        results += [o, cache, drop_k.dropout_backward(dout, cache, dx=dx)]
        o, cache = dense_k.dense_forward(z, W, b, out=logits)
        loss, dl, probabilities = act.softmax_cross_entropy(o, y, dz=dlogits, p=p)
        results += [o, dl, probabilities, *dense_k.dense_backward(dl, cache, dx=dz_flat, dW=dW, db=db)]
        return results

    step()  # compiles
    tracemalloc.start()
    results = step()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4096, peak
    buffers = [out, dx] * 4 + [out, dx, *stats[2:], out, mask, dx, logits, dlogits, p, dz_flat, dW, db]
    assert all(r is buf for r, buf in zip(results, buffers))


def test_a_wrong_buffer_or_label_is_refused_with_what_was_received():
    x = rand(4, 3)
    with pytest.raises(ValueError, match=r"shape \(4, 3\); received float32 \(3, 4\)"):
        act.relu_forward(x, out=np.empty((3, 4), np.float32))
    with pytest.raises(ValueError, match="float64"):
        act.tanh_forward(x, out=np.empty((4, 3)))
    with pytest.raises(ValueError, match="not C-contiguous"):
        dense_k.dense_forward(x, rand(2, 3), out=np.empty((2, 4), np.float32).T)
    with pytest.raises(ValueError, match="label 3 is outside the 3 classes 0 … 2"):
        act.softmax_cross_entropy(x, [0, 1, 3, 2])
    with pytest.raises(ValueError, match="more than one value per channel"):
        norm_k.batchnorm_forward(rand(1, 3), *(np.ones(3, np.float32) for _ in range(4)))


def test_jitted_kernels_match_their_py_func():
    """The compiled float32 code against the same source run by Python, on float32 arrays."""
    x, d = rand(40), rand(40)
    alpha = np.float32(0.1)
    for kernel, args in ((act.relu_kernel, (x,)), (act.relu_backward_kernel, (d, x)),
                         (act.leaky_relu_kernel, (x, alpha)), (act.leaky_relu_backward_kernel, (d, x, alpha)),
                         (act.sigmoid_backward_kernel, (d, x)), (act.tanh_backward_kernel, (d, x))):
        a, b = np.empty(40, np.float32), np.empty(40, np.float32)
        kernel(*args, a)
        kernel.py_func(*args, b)
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


# ------------------------------------------------------------------ PyTorch

@pytest.mark.torch
@pytest.mark.parametrize("name", ["relu", "leaky_relu", "sigmoid", "tanh"])
def test_activations_match_torch(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(4, 3, 5, 5) * 4
    x[0, 0, 0, :3] = [0.0, -60.0, 60.0]  # relu's kink at 0 takes torch's side; sigmoid saturates
    forward, backward, ref = {
        "relu": (act.relu_forward, act.relu_backward, F.relu),
        "leaky_relu": (lambda v: act.leaky_relu_forward(v, 0.05), act.leaky_relu_backward,
                       lambda v: F.leaky_relu(v, 0.05)),
        "sigmoid": (act.sigmoid_forward, act.sigmoid_backward, torch.sigmoid),
        "tanh": (act.tanh_forward, act.tanh_backward, torch.tanh)}[name]
    xt = torch.tensor(x, requires_grad=True)
    r = ref(xt)
    out, cache = forward(x)
    np.testing.assert_allclose(out, r.detach().numpy(), rtol=1e-6, atol=1e-7)
    dout = rand(*x.shape)
    r.backward(torch.tensor(dout))
    # near saturation 1 − out² magnifies the ulp or two by which numpy's tanh and exp differ from torch's
    np.testing.assert_allclose(backward(dout, cache), xt.grad.numpy(), rtol=1e-6, atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(6, 10), (2, 4, 3, 3)])
def test_softmax_matches_torch(shape):
    torch = pytest.importorskip("torch")
    z = rand(*shape) * 5
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.softmax(zt, dim=1)
    p, cache = act.softmax_forward(z)
    np.testing.assert_allclose(p, ref.detach().numpy(), rtol=1e-6, atol=1e-7)
    dout = rand(*shape)
    ref.backward(torch.tensor(dout))
    # dz = p·(dout − Σ dout·p) cancels where dout ≈ the sum, which torch takes in float32 and we in float64
    np.testing.assert_allclose(act.softmax_backward(dout, cache), zt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_softmax_cross_entropy_matches_torch():
    torch = pytest.importorskip("torch")
    z = rand(32, 10) * 3
    y = rng.integers(0, 10, 32)
    zt = torch.tensor(z, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(zt, torch.tensor(y))
    ref.backward()
    loss, dz, p = act.softmax_cross_entropy(z, y)
    assert loss == pytest.approx(ref.item(), rel=1e-6)
    np.testing.assert_allclose(dz, zt.grad.numpy(), rtol=0, atol=1e-8)
    np.testing.assert_allclose(p, torch.softmax(torch.tensor(z), 1).numpy(), rtol=1e-6, atol=1e-8)
    loss2, cache = act.softmax_cross_entropy_forward(z, y)
    assert loss2 == loss
    np.testing.assert_allclose(act.softmax_cross_entropy_backward(2.0, cache), 2 * dz, rtol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("shape", [(8, 3, 5, 4), (16, 6)])
def test_batchnorm_matches_torch_module_over_steps(shape):
    """Three train steps (outputs, gradients, running statistics with the unbiased variance), then eval."""
    torch = pytest.importorskip("torch")
    n_C = shape[1]
    module = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(n_C, eps=1e-5, momentum=0.1)
    gamma, beta = rand(n_C), rand(n_C)
    with torch.no_grad():
        module.weight.copy_(torch.tensor(gamma))
        module.bias.copy_(torch.tensor(beta))
    running_mean, running_var = np.zeros(n_C, np.float32), np.ones(n_C, np.float32)
    for step, train in enumerate([True, True, True, False]):
        x = rand(*shape) * 2 + step
        module.train(train)
        module.zero_grad()
        xt = torch.tensor(x, requires_grad=True)
        ref = module(xt)
        out, cache = norm_k.batchnorm_forward(x, gamma, beta, running_mean, running_var, 1e-5, 0.1, train)
        np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(running_mean, module.running_mean.numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(running_var, module.running_var.numpy(), rtol=1e-6, atol=1e-7)
        dout = rand(*shape)
        ref.backward(torch.tensor(dout))
        dx, dgamma, dbeta = norm_k.batchnorm_backward(dout, cache)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(dgamma, module.weight.grad.numpy(), rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(dbeta, module.bias.grad.numpy(), rtol=1e-5, atol=1e-4)


@pytest.mark.torch
def test_dense_and_flatten_match_torch():
    """flatten is torch.flatten(x, 1), so the dense layer after it takes W in PyTorch's layout unchanged."""
    torch = pytest.importorskip("torch")
    x, W, b = rand(5, 3, 4, 2), rand(7, 24), rand(7)
    xt, Wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, W, b))
    ref = torch.nn.functional.linear(torch.flatten(xt, 1), Wt, bt)
    flat, shape = dense_k.flatten_forward(x)
    assert np.shares_memory(flat, x)
    out, cache = dense_k.dense_forward(flat, W, b)
    np.testing.assert_allclose(out, ref.detach().numpy(), rtol=1e-5, atol=1e-5)
    dout = rand(*out.shape)
    ref.backward(torch.tensor(dout))
    dflat, dW, db = dense_k.dense_backward(dout, cache)
    np.testing.assert_allclose(dense_k.flatten_backward(dflat, shape), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(dW, Wt.grad.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=1e-5, atol=1e-5)
    out, cache = dense_k.dense_forward(flat, W)  # no bias, and no input gradient for a first layer
    dx, dW2, db2 = dense_k.dense_backward(dout, cache, need_dx=False)
    assert dx is None and db2 is None and np.array_equal(dW2, dW)


@pytest.mark.torch
def test_dropout_scales_as_torch():
    """torch's generator differs, but where both keep an element they give it the same value x/(1 − p)."""
    torch = pytest.importorskip("torch")
    x = rand(1000) + 3
    ref = torch.nn.functional.dropout(torch.tensor(x), 0.25, training=True).numpy()
    out, _ = drop_k.dropout_forward(x, 0.25, rng)
    both = (ref != 0) & (out != 0)
    assert both.sum() > 400
    np.testing.assert_array_equal(out[both], ref[both])


@pytest.mark.torch
def test_merges_match_torch():
    torch = pytest.importorskip("torch")
    xs = [rand(2, c, 3, 4) for c in (3, 1, 2)]
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    ref = torch.cat(ts, 1)
    out, sizes = merge_k.concat_forward(xs, out=np.empty((2, 6, 3, 4), np.float32))
    np.testing.assert_array_equal(out, ref.detach().numpy())
    dout = rand(*out.shape)
    ref.backward(torch.tensor(dout))
    dxs = merge_k.concat_backward(dout, sizes, dxs=[np.empty_like(x) for x in xs])
    for dx, t in zip(dxs, ts):
        np.testing.assert_array_equal(dx, t.grad.numpy())
    xs = [rand(2, 3, 4, 4) for _ in range(2)]
    ts = [torch.tensor(x, requires_grad=True) for x in xs]
    ref = ts[0] + ts[1]
    out, k = merge_k.add_forward(xs)
    np.testing.assert_array_equal(out, ref.detach().numpy())
    dout = rand(*out.shape)
    ref.backward(torch.tensor(dout))
    for dx, t in zip(merge_k.add_backward(dout, k, dxs=[np.empty_like(x) for x in xs]), ts):
        np.testing.assert_array_equal(dx, t.grad.numpy())
