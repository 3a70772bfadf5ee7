"""The trainer's kernels: adjoint and finite-difference checks on their own, and PyTorch where installed."""

import numpy as np
import pytest

from cnncalc.layers.conv import kernels as conv_k
from cnncalc.layers.pool import kernels as pool_k
from cnncalc.layers.norm import kernels as norm_k
from cnncalc.layers.activation import kernels as act

rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


@pytest.mark.parametrize("f, s, pads, d", [((3, 3), (1, 1), (0, 0, 0, 0), (1, 1)),
                                           ((3, 2), (2, 1), (0, 1, 1, 0), (1, 2))])
def test_col2im_is_the_adjoint_of_im2col(f, s, pads, d):
    """⟨im2col(x), c⟩ = ⟨x, col2im(c)⟩ exactly defines the backward pass, independent of any framework."""
    from cnncalc.layers import arith

    x = rng.standard_normal((2, 3, 6, 5))
    n_H = arith.out_length(6, f[0], s[0], pads[0], pads[1], d[0]).n_out
    n_W = arith.out_length(5, f[1], s[1], pads[2], pads[3], d[1]).n_out
    cols = np.zeros((3 * f[0] * f[1], 2 * n_H * n_W))
    args = (f[0], f[1], s[0], s[1], pads[0], pads[2], d[0], d[1], n_H, n_W)
    conv_k.im2col.py_func(x, *args, cols)
    c = rng.standard_normal(cols.shape)
    dx = np.zeros_like(x)
    conv_k.col2im.py_func(c, *args, dx)
    assert np.isclose((cols * c).sum(), (x * dx).sum(), rtol=1e-12)


def test_pool_gradients_by_finite_differences():
    """float64 through the kernels' py_func: central differences of Σ out·w against backward."""
    x = rng.standard_normal((1, 2, 5, 5))
    out = np.zeros((1, 2, 3, 3))
    w = rng.standard_normal(out.shape)
    args = (3, 3, 2, 2, 1, 1, 1, 1, True)

    def avg(x):
        o = np.zeros_like(out)
        pool_k.avgpool_forward.py_func(x, *args, o)
        return (o * w).sum()

    dx = np.zeros_like(x)
    pool_k.avgpool_backward.py_func(w, *args, dx)
    eps = 1e-6
    for idx in [(0, 0, 0, 0), (0, 1, 2, 3), (0, 0, 4, 4)]:
        e = np.zeros_like(x)
        e[idx] = eps
        assert np.isclose((avg(x + e) - avg(x - e)) / (2 * eps), dx[idx], atol=1e-6)

    def mx(x):
        o, am = np.zeros_like(out), np.zeros(out.shape, np.int64)
        pool_k.maxpool_forward.py_func(x, 3, 3, 2, 2, 1, 1, o, am)
        return (o * w).sum(), am

    _, am = mx(x)
    dx = np.zeros_like(x)
    pool_k.maxpool_backward.py_func(w, am, dx)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        assert np.isclose((mx(x + e)[0] - mx(x - e)[0]) / (2 * eps), dx[idx], atol=1e-6)


def test_batchnorm_and_softmax_ce_by_finite_differences():
    x = rng.standard_normal((4, 3)).astype(np.float64)
    gamma, beta = rng.standard_normal(3), rng.standard_normal(3)
    w = rng.standard_normal((4, 3))

    def f(x):
        out, cache = norm_k.batchnorm_forward(x, gamma, beta, np.zeros(3), np.ones(3), 1e-5, 0.1, True)
        return (out * w).sum(), cache

    _, cache = f(x)
    dx = norm_k.batchnorm_backward(w, cache, np.zeros(3), np.zeros(3))
    eps = 1e-2  # the kernel computes in float32: a larger step keeps rounding far below the tolerance
    num = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[idx] = eps
        num[idx] = (f(x + e)[0] - f(x - e)[0]) / (2 * eps)
    assert np.allclose(num, dx, atol=2e-3)
    z = rng.standard_normal((3, 4)).astype(np.float32)
    y = np.array([0, 3, 1])
    loss, dz, _ = act.softmax_cross_entropy(z, y)
    for idx in [(0, 0), (2, 3), (1, 1)]:
        e = np.zeros_like(z, dtype=np.float64)
        e[idx] = 1e-3
        num = (act.softmax_cross_entropy((z + e).astype(np.float64), y)[0]
               - act.softmax_cross_entropy((z - e).astype(np.float64), y)[0]) / 2e-3
        assert np.isclose(num, dz[idx], atol=1e-4)


@pytest.mark.parametrize("M, K, N", [(8, 75, 50000), (5000, 300, 4), (10, 60000, 10), (3, 4, 5)])
def test_gemm_split_over_threads_equals_matmul(M, K, N):
    """Each way of splitting (columns, rows, inner dimension with partial sums, none) gives a·b."""
    a, b = rand(M, K), rand(K, N)
    out = conv_k.gemm(a, b, np.empty((M, N), np.float32))
    assert np.allclose(out, a.astype(np.float64) @ b, rtol=1e-4, atol=1e-3)
    t = rand(N, K).T  # a transposed operand, as the backward pass passes cols.T
    assert np.allclose(conv_k.gemm(a, t, np.empty((M, N), np.float32)), a @ t, rtol=1e-4, atol=1e-3)


torch = pytest.importorskip("torch")
F = torch.nn.functional


@pytest.mark.torch
@pytest.mark.parametrize("C, O, f, s, pads, d, groups", [
    (3, 4, (5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1),
    (4, 6, (3, 3), (2, 2), (0, 1, 0, 1), (1, 1), 2),       # asymmetric 'same'-style padding, groups
    (4, 4, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 4),       # depthwise, dilated
    (2, 3, (1, 3), (1, 2), (1, 1, 0, 2), (1, 1), 1),
])
def test_conv_matches_torch(C, O, f, s, pads, d, groups):
    x, W, b = rand(3, C, 9, 8), rand(O, C // groups, *f), rand(O)
    out, cache = conv_k.conv_forward(x, W, b, s, pads, d, groups)
    xt, Wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, W, b))
    ref = F.conv2d(F.pad(xt, (pads[2], pads[3], pads[0], pads[1])), Wt, bt, s, 0, d, groups)
    assert np.allclose(out, ref.detach().numpy(), atol=1e-4)
    dout = rand(*out.shape)
    ref.backward(torch.tensor(dout))
    dx, dW, db = conv_k.conv_backward(dout, cache)
    assert np.allclose(dx, xt.grad.numpy(), atol=1e-4)
    assert np.allclose(dW, Wt.grad.numpy(), atol=1e-3)
    assert np.allclose(db, bt.grad.numpy(), atol=1e-4)


@pytest.mark.torch
@pytest.mark.parametrize("f, s, p, ceil, include", [(2, 2, 0, False, True), (3, 2, 1, True, True),
                                                     (3, 2, 1, True, False), (3, 3, 0, True, True)])
def test_pools_match_torch(f, s, p, ceil, include):
    from cnncalc.layers import arith

    x = rand(2, 3, 8, 7)
    n_H = arith.out_length(8, f, s, p, p, ceil=ceil).n_out
    n_W = arith.out_length(7, f, s, p, p, ceil=ceil).n_out
    out, am = np.empty((2, 3, n_H, n_W), np.float32), np.empty((2, 3, n_H, n_W), np.int64)
    pool_k.maxpool_forward(x, f, f, s, s, p, p, out, am)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.max_pool2d(xt, f, s, p, ceil_mode=ceil)
    assert np.array_equal(out, ref.detach().numpy())
    dout = rand(*out.shape)
    ref.backward(torch.tensor(dout))
    dx = np.empty_like(x)
    pool_k.maxpool_backward(dout, am, dx)
    assert np.allclose(dx, xt.grad.numpy(), atol=1e-5)

    pool_k.avgpool_forward(x, f, f, s, s, p, p, p, p, include, out)
    xt = torch.tensor(x, requires_grad=True)
    ref = F.avg_pool2d(xt, f, s, p, ceil_mode=ceil, count_include_pad=include)
    assert np.allclose(out, ref.detach().numpy(), atol=1e-5)
    ref.backward(torch.tensor(dout))
    pool_k.avgpool_backward(dout, f, f, s, s, p, p, p, p, include, dx)
    assert np.allclose(dx, xt.grad.numpy(), atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("train", [True, False])
def test_batchnorm_matches_torch(train):
    x = rand(4, 3, 5, 5)
    gamma, beta = rand(3), rand(3)
    rm, rv = rand(3), np.abs(rand(3)) + 0.5
    rm_t, rv_t = torch.tensor(rm), torch.tensor(rv)
    out, cache = norm_k.batchnorm_forward(x, gamma, beta, rm, rv, 1e-5, 0.1, train)
    xt, gt, bt = (torch.tensor(v, requires_grad=True) for v in (x, gamma, beta))
    ref = F.batch_norm(xt, rm_t, rv_t, gt, bt, train, 0.1, 1e-5)
    assert np.allclose(out, ref.detach().numpy(), atol=1e-5)
    assert np.allclose(rm, rm_t.numpy(), atol=1e-6) and np.allclose(rv, rv_t.numpy(), atol=1e-6)
    dout = rand(*x.shape)
    ref.backward(torch.tensor(dout))
    dg, db = np.empty(3, np.float32), np.empty(3, np.float32)
    dx = norm_k.batchnorm_backward(dout, cache, dg, db)
    assert np.allclose(dx, xt.grad.numpy(), atol=1e-4)
    assert np.allclose(dg, gt.grad.numpy(), atol=1e-4) and np.allclose(db, bt.grad.numpy(), atol=1e-4)


@pytest.mark.torch
def test_activations_and_loss_match_torch():
    x = rand(5, 7)
    y = np.array([0, 6, 3, 3, 1])
    for ours, back, ref in ((act.relu_forward, lambda d, x, o: act.relu_backward(d, x), F.relu),
                            (act.sigmoid_forward, lambda d, x, o: act.sigmoid_backward(d, o), torch.sigmoid),
                            (act.tanh_forward, lambda d, x, o: act.tanh_backward(d, o), torch.tanh),
                            (lambda v: act.leaky_relu_forward(v, 0.1),
                             lambda d, x, o: act.leaky_relu_backward(d, x, 0.1), lambda v: F.leaky_relu(v, 0.1))):
        xt = torch.tensor(x, requires_grad=True)
        r = ref(xt)
        out = ours(x)
        assert np.allclose(out, r.detach().numpy(), atol=1e-6)
        d = rand(*x.shape)
        r.backward(torch.tensor(d))
        assert np.allclose(back(d, x, out), xt.grad.numpy(), atol=1e-6)
    zt = torch.tensor(x, requires_grad=True)
    ref = F.cross_entropy(zt, torch.tensor(y))
    ref.backward()
    loss, dz, p = act.softmax_cross_entropy(x, y)
    assert np.isclose(loss, ref.item(), rtol=1e-6)
    assert np.allclose(dz, zt.grad.numpy(), atol=1e-6)
    assert np.allclose(p, F.softmax(torch.tensor(x), 1).numpy(), atol=1e-6)

