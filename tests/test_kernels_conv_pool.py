"""Conv and pooling kernels, each checked three independent ways.

(a) a naive loop reference written here in float64, as the course writes conv_forward_naive;
(b) central differences in float64 through the kernels' own Python code (py_func, every jitted
    helper swapped for its py_func, float64 arrays and workspace), tolerance 1e-6: conv and average
    pooling are linear, so the differences are exact up to float64 rounding;
(c) PyTorch's conv2d / max_pool2d / avg_pool2d / adaptive_avg_pool2d on random float32 inputs,
    tolerance 1e-4 absolute (float32 sums in a different order).
Shapes are small: the cost of this file is the kernels' first compilation (cached afterwards).
"""

import numba
import numpy as np
import pytest

from cnncalc.layers import arith
from cnncalc.layers.conv import kernels as conv_k
from cnncalc.layers.pool import kernels as pool_k
from helpers import central_difference

pytestmark = pytest.mark.slow  # compiles the Numba kernels

rng = np.random.default_rng(0)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def out_size(n, f, s, p_a, p_b, d=1, ceil=False):
    return arith.out_length(n, f, s, p_a, p_b, d, ceil).n_out


# ------------------------------------------------------------------ naive references (float64 loops)

def naive_conv(x, W, b, s, pads, d, groups):
    """out[i, o, h, w] = b[o] + Σ_{c, a, b'} W[o, c, a, b'] · x_pad[i, g·C_g + c, h·s_H + a·d_H, w·s_W + b'·d_W]
    for o in group g; written as the course's conv_forward_naive, one multiply-add at a time."""
    x, W = x.astype(np.float64), W.astype(np.float64)
    m, _, n_H_prev, n_W_prev = x.shape
    n_C, C_g, f_H, f_W = W.shape
    n_H = out_size(n_H_prev, f_H, s[0], pads[0], pads[1], d[0])
    n_W = out_size(n_W_prev, f_W, s[1], pads[2], pads[3], d[1])
    x_pad = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    out = np.zeros((m, n_C, n_H, n_W))
    for i in range(m):
        for o in range(n_C):
            g = o // (n_C // groups)
            for h in range(n_H):
                for w in range(n_W):
                    total = 0.0 if b is None else float(b[o])
                    for c in range(C_g):
                        for a in range(f_H):
                            for bb in range(f_W):
                                y, xx = h * s[0] + a * d[0], w * s[1] + bb * d[1]
                                total += W[o, c, a, bb] * x_pad[i, g * C_g + c, y, xx]
                    out[i, o, h, w] = total
    return out


def naive_conv_backward(dout, x, W, s, pads, d, groups):
    """The same loops with every product's two factors swapped for its gradient: (dx, dW, db)."""
    dout, x, W = dout.astype(np.float64), x.astype(np.float64), W.astype(np.float64)
    m, _, n_H_prev, n_W_prev = x.shape
    n_C, C_g, f_H, f_W = W.shape
    n_H, n_W = dout.shape[2:]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    dx_pad, dW = np.zeros_like(x_pad), np.zeros_like(W)
    for i in range(m):
        for o in range(n_C):
            g = o // (n_C // groups)
            for h in range(n_H):
                for w in range(n_W):
                    for c in range(C_g):
                        for a in range(f_H):
                            for bb in range(f_W):
                                y, xx = h * s[0] + a * d[0], w * s[1] + bb * d[1]
                                dW[o, c, a, bb] += dout[i, o, h, w] * x_pad[i, g * C_g + c, y, xx]
                                dx_pad[i, g * C_g + c, y, xx] += dout[i, o, h, w] * W[o, c, a, bb]
    dx = dx_pad[:, :, pads[0]:pads[0] + n_H_prev, pads[2]:pads[2] + n_W_prev]
    return dx, dW, dout.sum(axis=(0, 2, 3))


def naive_pool(x, kind, f, s, pads, ceil, include_pad=True):
    """(out, dx_of) where dx_of(dout) is the backward; max: scan row by row, replace if larger or NaN."""
    m, n_C, n_H_prev, n_W_prev = x.shape
    n_H = out_size(n_H_prev, f[0], s[0], pads[0], pads[1], ceil=ceil)
    n_W = out_size(n_W_prev, f[1], s[1], pads[2], pads[3], ceil=ceil)
    out = np.zeros((m, n_C, n_H, n_W))
    taps = {}  # (i, c, h, w) → [(y, x, weight)] for the backward
    for i, c, h, w in np.ndindex(out.shape):
        y0, x0 = h * s[0] - pads[0], w * s[1] - pads[2]
        inside = [(y, xx) for y in range(y0, y0 + f[0]) for xx in range(x0, x0 + f[1])
                  if 0 <= y < n_H_prev and 0 <= xx < n_W_prev]
        if kind == "max":
            best = inside[0]
            for y, xx in inside[1:]:
                v = x[i, c, y, xx]
                if v > x[i, c][best] or v != v:
                    best = (y, xx)
            out[i, c, h, w] = x[i, c][best]
            taps[i, c, h, w] = [(*best, 1.0)]
        else:
            if include_pad:
                divisor = (min(y0 + f[0], n_H_prev + pads[1]) - y0) * (min(x0 + f[1], n_W_prev + pads[3]) - x0)
            else:
                divisor = len(inside)
            out[i, c, h, w] = sum(float(x[i, c, y, xx]) for y, xx in inside) / divisor
            taps[i, c, h, w] = [(y, xx, 1.0 / divisor) for y, xx in inside]

    def backward(dout):
        dx = np.zeros(x.shape)
        for (i, c, h, w), window in taps.items():
            for y, xx, weight in window:
                dx[i, c, y, xx] += dout[i, c, h, w] * weight
        return dx

    return out, backward


# ------------------------------------------------------------------ float64 through the kernels' own code

@pytest.fixture
def python_kernels(monkeypatch):
    """Every jitted function of both files replaced by its py_func, so the kernels run as Python
    on float64 arrays (no float64 compilation)."""
    for module in (conv_k, pool_k):
        for name, value in list(vars(module).items()):
            if hasattr(value, "py_func"):
                monkeypatch.setattr(module, name, value.py_func)


def conv_float64(x, W, s, pads, d, groups):
    """(forward, backward) of conv2d through the kernels' Python code, all in float64."""
    m, n_C_prev, n_H_prev, n_W_prev = x.shape
    n_C, _, f_H, f_W = W.shape
    n_H = out_size(n_H_prev, f_H, s[0], pads[0], pads[1], d[0])
    n_W = out_size(n_W_prev, f_W, s[1], pads[2], pads[3], d[1])
    plan = conv_k.ConvPlan(m, n_C_prev, n_H_prev, n_W_prev, n_C, f_H, f_W, s[0], s[1], pads, d[0], d[1], groups,
                           n_H, n_W, 2)
    ws = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in plan.workspace().items()}

    def forward(x, W, b):
        out = np.zeros((m, n_C, n_H, n_W))
        conv_k.conv2d_forward(2, x, W, b, *plan.geometry(), ws["k_off"], plan.reach, ws["A"], ws["ws_src"],
                              ws["ws_y"], out)
        return out

    def backward(dout, x, W):
        dx, dW, db = np.zeros(x.shape), np.zeros(W.shape), np.zeros(n_C)
        conv_k.conv2d_backward(2, x, dout, W, *plan.geometry(), ws["k_off"], plan.reach, ws["k_off_dx"], ws["A_dx"],
                               ws["ws_src"], ws["ws_dy"], ws["ws_dx"], ws["dW_lanes"], ws["db_lanes"], dW, db, dx)
        return dx, dW, db

    return forward, backward


# ------------------------------------------------------------------ conv

CONV_CASES = [  # (n_C_prev, n_C, f, stride, pads (top, bottom, left, right), dilation, groups)
    (3, 4, (5, 5), (1, 1), (0, 0, 0, 0), (1, 1), 1),      # LeNet-like, no padding: x read in place
    (3, 13, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),     # 13 filters: the 8-, 4- and 1-row tiles
    (4, 6, (3, 3), (2, 2), (0, 1, 0, 1), (1, 1), 2),      # TensorFlow 'same' (odd pixel bottom/right), grouped
    (4, 4, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), 4),      # depthwise, dilated
    (2, 3, (1, 3), (1, 2), (1, 1, 0, 2), (1, 1), 1),      # strided along W only, asymmetric
    (3, 5, (2, 3), (1, 1), (4, 0, 0, 3), (1, 1), 1),      # padding larger than the kernel: dx crops
    (6, 4, (3, 2), (3, 1), (1, 0, 2, 1), (2, 1), 2),      # stride, dilation and groups at once
]


@pytest.mark.parametrize("C, O, f, s, pads, d, groups", CONV_CASES)
def test_conv_matches_naive_loops(C, O, f, s, pads, d, groups):
    x, W, b = rand(2, C, 7, 6), rand(O, C // groups, *f), rand(O)
    out, cache = conv_k.conv_forward(x, W, b, s, pads, d, groups)
    assert out.dtype == np.float32
    assert np.allclose(out, naive_conv(x, W, b, s, pads, d, groups), atol=1e-4)
    dout = rand(*out.shape)
    dx, dW, db = conv_k.conv_backward(dout, cache)
    ref_dx, ref_dW, ref_db = naive_conv_backward(dout, x, W, s, pads, d, groups)
    assert np.allclose(dx, ref_dx, atol=1e-4)
    assert np.allclose(dW, ref_dW, atol=1e-4)
    assert np.allclose(db, ref_db, atol=1e-4)


@pytest.mark.usefixtures("python_kernels")
@pytest.mark.parametrize("C, O, f, s, pads, d, groups", [CONV_CASES[2], CONV_CASES[3], CONV_CASES[5]])
def test_conv_gradients_by_finite_differences(C, O, f, s, pads, d, groups):
    """The kernels' Python code in float64: backward against central differences of Σ out·G."""
    f64 = np.random.default_rng(1)
    x, W, b = f64.standard_normal((2, C, 5, 6)), f64.standard_normal((O, C // groups, *f)), f64.standard_normal(O)
    forward, backward = conv_float64(x, W, s, pads, d, groups)
    G = f64.standard_normal(forward(x, W, b).shape)
    dx, dW, db = backward(G, x, W)
    loss = lambda: float((forward(x, W, b) * G).sum())  # noqa: E731
    for idx in [(0, 0, 0, 0), (1, C - 1, 4, 5), (0, 1, 2, 3)]:
        assert np.isclose(central_difference(loss, x, idx), dx[idx], atol=1e-6)
    for idx in [(0, 0, 0, 0), (O - 1, C // groups - 1, f[0] - 1, f[1] - 1)]:
        assert np.isclose(central_difference(loss, W, idx), dW[idx], atol=1e-6)
    assert np.isclose(central_difference(loss, b, (O - 1,)), db[O - 1], atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("C, O, f, s, pads, d, groups", CONV_CASES + [
    (16, 32, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),    # a VGG layer in small
    (8, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 8),      # MobileNet's strided depthwise
])
def test_conv_matches_torch(C, O, f, s, pads, d, groups):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x, W, b = rand(3, C, 11, 10), rand(O, C // groups, *f), rand(O)
    out, cache = conv_k.conv_forward(x, W, b, s, pads, d, groups)
    xt, Wt, bt = (torch.tensor(v, requires_grad=True) for v in (x, W, b))
    ref = F.conv2d(F.pad(xt, (pads[2], pads[3], pads[0], pads[1])), Wt, bt, s, 0, d, groups)
    assert out.shape == tuple(ref.shape)
    assert np.allclose(out, ref.detach().numpy(), atol=1e-4)
    dout = rand(*out.shape)
    ref.backward(torch.tensor(dout))
    dx, dW, db = conv_k.conv_backward(dout, cache)
    assert np.allclose(dx, xt.grad.numpy(), atol=1e-4)
    assert np.allclose(dW, Wt.grad.numpy(), atol=1e-3)
    assert np.allclose(db, bt.grad.numpy(), atol=1e-3)


def test_conv_layer_reuses_its_buffers_across_batches_and_threads():
    """One Conv for batches of 5: a batch of 3 uses the leading rows; 1 and 2 threads agree; the
    buffers keep their identity (allocated once)."""
    C, O, f, pads = 3, 6, (3, 3), (1, 1, 1, 1)
    layer = conv_k.Conv(5, C, 8, 8, O, f, (1, 1), pads, (1, 1), 1, 8, 8)
    W, b = rand(O, C, *f), rand(O)
    buffers = [id(layer.out), id(layer.dx)] + [id(v) for v in layer.ws.values()]
    results = []
    threads = numba.get_num_threads()
    try:
        for n in sorted({1, min(2, numba.config.NUMBA_NUM_THREADS)}):
            numba.set_num_threads(n)
            for m in (5, 3):
                x = np.random.default_rng(m).standard_normal((m, C, 8, 8)).astype(np.float32)
                out = layer.forward(x, W, b)
                dout = np.ones_like(out)
                dW, db = np.empty_like(W), np.empty_like(b)
                dx = layer.backward(dout, W, dW, db)
                ref_out, ref_cache = conv_k.conv_forward(x, W, b, (1, 1), pads)
                ref_dx, ref_dW, ref_db = conv_k.conv_backward(dout, ref_cache)
                assert out.shape == (m, O, 8, 8) and dx.shape == x.shape
                assert np.allclose(out, ref_out, atol=1e-5) and np.allclose(dx, ref_dx, atol=1e-5)
                assert np.allclose(dW, ref_dW, atol=1e-3) and np.allclose(db, ref_db, atol=1e-3)
                results.append((out.copy(), dW))
    finally:
        numba.set_num_threads(threads)
    assert np.allclose(results[0][0], results[-2][0]) and np.allclose(results[0][1], results[-2][1], atol=1e-3)
    assert buffers == [id(layer.out), id(layer.dx)] + [id(v) for v in layer.ws.values()]


def test_conv_without_bias_or_input_gradient():
    x, W = rand(2, 3, 6, 6), rand(4, 3, 3, 3)
    out, cache = conv_k.conv_forward(x, W, None)
    assert np.allclose(out, naive_conv(x, W, None, (1, 1), (0,) * 4, (1, 1), 1), atol=1e-4)
    dx, dW, db = conv_k.conv_backward(np.ones_like(out), cache)
    assert db is None
    first = conv_k.Conv(2, 3, 6, 6, 4, (3, 3), (1, 1), (0,) * 4, (1, 1), 1, 4, 4, need_dx=False)
    first.forward(x, W)
    dW_first = np.empty_like(W)
    assert first.backward(np.ones_like(out), W, dW_first, need_dx=False) is None
    assert np.allclose(dW_first, dW, atol=1e-5)
    with pytest.raises(ValueError, match="need_dx=False"):
        first.backward(np.ones_like(out), W, dW_first, need_dx=True)


def test_conv_propagates_nan_exactly_where_torch_would():
    """No fastmath that assumes finite values: a NaN input reaches exactly the outputs whose window
    holds it, and no others (the discarded columns of the wide rows must not leak it)."""
    x, W = rand(2, 2, 7, 7), rand(3, 2, 3, 3)
    x[1, 1, 3, 0] = np.nan
    out, cache = conv_k.conv_forward(x, W, None, pads=(1, 1, 1, 1))
    reach = np.zeros(x.shape)
    reach[1, 1, 3, 0] = 1
    expected = naive_conv(reach, np.ones_like(W), None, (1, 1), (1, 1, 1, 1), (1, 1), 1) > 0
    assert np.array_equal(np.isnan(out), expected)


def test_conv_workspace_is_what_the_plan_says():
    plan = conv_k.ConvPlan(4, 8, 14, 14, 16, 5, 5, 1, 1, (0, 0, 0, 0), 1, 1, 1, 10, 10, 2)
    ws = plan.workspace()
    assert plan.stride_1 and plan.n_W_pad == 14 and plan.P == 144 and plan.K4 == 200  # rows of 16 floats, taps of 4
    assert ws["ws_src"].shape[0] == ws["ws_y"].shape[0] == 2 and ws["A"].shape == (1, 16, 200)
    assert all(v.flags.c_contiguous and not v.any() for v in ws.values() if v.dtype == np.float32)


# ------------------------------------------------------------------ pools

POOL_CASES = [  # (kind, f, stride, pads, ceil, count_include_pad)
    ("max", (2, 2), (2, 2), (0, 0, 0, 0), False, True),
    ("max", (3, 3), (2, 2), (1, 1, 1, 1), True, True),     # ceil mode: the last window hangs over
    ("max", (3, 2), (1, 2), (0, 1, 1, 0), True, True),     # asymmetric window, stride, padding
    ("avg", (2, 2), (2, 2), (0, 0, 0, 0), False, True),
    ("avg", (3, 3), (2, 2), (1, 1, 1, 1), True, True),
    ("avg", (3, 3), (2, 2), (1, 1, 1, 1), True, False),
    ("avg", (2, 3), (2, 1), (1, 0, 0, 1), True, False),
]


@pytest.mark.parametrize("kind, f, s, pads, ceil, include", POOL_CASES)
def test_pool_matches_naive_loops(kind, f, s, pads, ceil, include):
    x = rand(2, 3, 7, 8)
    x[0, 0, :2, :2] = 1.0  # ties: the first in the scan wins
    x[1, 2, 3, 3] = np.nan
    x[1, 1, 4] = -np.inf
    if kind == "avg":
        x = np.nan_to_num(x, nan=0.5, neginf=-2.0)
    out, cache = pool_k.pool_forward(x, kind, f, s, pads, ceil, include)
    ref, ref_backward = naive_pool(x, kind, f, s, pads, ceil, include)
    assert np.allclose(out, ref, atol=1e-6, equal_nan=True)
    dout = rand(*out.shape)
    assert np.allclose(pool_k.pool_backward(dout, cache), ref_backward(dout), atol=1e-5)


@pytest.mark.usefixtures("python_kernels")
@pytest.mark.parametrize("kind, f, s, pads, ceil, include", [POOL_CASES[1], POOL_CASES[5], POOL_CASES[6]])
def test_pool_gradients_by_finite_differences(kind, f, s, pads, ceil, include):
    x = np.random.default_rng(2).standard_normal((1, 2, 6, 7))
    n_H = out_size(6, f[0], s[0], pads[0], pads[1], ceil=ceil)
    n_W = out_size(7, f[1], s[1], pads[2], pads[3], ceil=ceil)
    G = np.random.default_rng(3).standard_normal((1, 2, n_H, n_W))
    out, argmax = np.zeros(G.shape), np.zeros(G.shape, np.int64)

    def loss():
        if kind == "max":
            pool_k.maxpool_forward(x, *f, *s, pads[0], pads[2], out, argmax)
        else:
            pool_k.avgpool_forward(x, *f, *s, *pads, include, out)
        return float((out * G).sum())

    loss()
    dx = np.zeros(x.shape)
    if kind == "max":
        pool_k.maxpool_backward(G, argmax.copy(), dx)
    else:
        pool_k.avgpool_backward(G, *f, *s, *pads, include, dx)
    for idx in np.ndindex(x.shape):
        assert np.isclose(central_difference(loss, x, idx, eps=1e-6), dx[idx], atol=1e-6)


@pytest.mark.torch
@pytest.mark.parametrize("f, s, p, ceil", [(2, 2, 0, False), (3, 2, 1, True), (3, 3, 0, True), (2, 1, 1, False),
                                           (3, 2, 1, False)])
def test_pools_match_torch(f, s, p, ceil):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 3, 9, 8)
    x[0, 1, 2, 2] = np.nan
    x[1, 0, :3, :3] = 0.25  # ties
    out, cache = pool_k.pool_forward(x, "max", (f, f), (s, s), (p,) * 4, ceil)
    xt = torch.tensor(x, requires_grad=True)
    ref, indices = F.max_pool2d(xt, f, s, p, ceil_mode=ceil, return_indices=True)
    assert np.array_equal(out, ref.detach().numpy(), equal_nan=True)
    assert np.array_equal(cache.argmax, indices.numpy())
    dout = rand(*out.shape)
    ref.backward(torch.tensor(dout))
    assert np.allclose(pool_k.pool_backward(dout, cache), xt.grad.numpy(), atol=1e-5)
    x = np.nan_to_num(x)
    for include in (True, False):
        out, cache = pool_k.pool_forward(x, "avg", (f, f), (s, s), (p,) * 4, ceil, include)
        xt = torch.tensor(x, requires_grad=True)
        ref = F.avg_pool2d(xt, f, s, p, ceil_mode=ceil, count_include_pad=include)
        assert np.allclose(out, ref.detach().numpy(), atol=1e-5)
        ref.backward(torch.tensor(dout))
        assert np.allclose(pool_k.pool_backward(dout, cache), xt.grad.numpy(), atol=1e-5)


@pytest.mark.torch
def test_global_avgpool_matches_torch():
    torch = pytest.importorskip("torch")
    x = rand(3, 5, 4, 6)
    out = np.empty((3, 5), np.float32)
    assert pool_k.global_avgpool_forward(x, out=out) is out
    xt = torch.tensor(x, requires_grad=True)
    ref = torch.nn.functional.adaptive_avg_pool2d(xt, 1).flatten(1)
    assert np.allclose(out, ref.detach().numpy(), atol=1e-6)
    dout = rand(3, 5)
    ref.backward(torch.tensor(dout))
    dx = np.empty_like(x)
    assert pool_k.global_avgpool_backward(dout, x.shape, dx=dx) is dx
    assert np.allclose(dx, xt.grad.numpy(), atol=1e-7)
    assert np.allclose(pool_k.global_avgpool_backward(dout, x.shape), dx)


def test_pool_layer_reuses_its_buffers():
    layer = pool_k.Pool("max", 4, 2, 6, 6, (2, 2), (2, 2), (0, 0, 0, 0), 3, 3)
    x = rand(4, 2, 6, 6)
    out = layer.forward(x)
    assert out.base is layer.out
    first = out.copy()
    assert np.array_equal(layer.forward(x[:2]), first[:2])
    dx = layer.backward(np.ones((2, 2, 3, 3), np.float32))
    assert dx.shape == (2, 2, 6, 6) and dx.sum() == 2 * 2 * 9
    with pytest.raises(ValueError, match="received 'min'"):
        pool_k.Pool("min", 4, 2, 6, 6, (2, 2), (2, 2), (0, 0, 0, 0), 3, 3)


# `padding: same` on an even input pads one more row and column after than before:
#   n = 8, f = 3, s = 2: ⌈8/2⌉ = 4 outputs, total = (4 − 1)·2 + 3 − 8 = 1 → top 0, bottom 1
#   n = 8, f = 2, s = 1: total = 7·1 + 2 − 8 = 1 → 0 before, 1 after
# so the last window of each axis holds one padding row (column): with count_include_pad it divides
# by the whole window, f_H·f_W, without it by the real pixels only.
SAME_ON_EVEN = [((3, 3), (2, 2), (0, 1, 0, 1)), ((2, 2), (1, 1), (0, 1, 0, 1)), ((3, 2), (2, 1), (0, 1, 0, 1))]


@pytest.mark.parametrize("f, s, pads", SAME_ON_EVEN)
def test_same_padding_on_an_even_input_is_asymmetric_for_avgpool(f, s, pads):
    from helpers import row, run

    r = run(f"- avgpool: {{kernel: {list(f)}, stride: {list(s)}, padding: same}}", (8, 8, 2))
    assert row(r, "avgpool1").window.p == pads
    assert row(r, "avgpool1").out_shape == (-(-8 // s[0]), -(-8 // s[1]), 2)


@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("f, s, pads", SAME_ON_EVEN)
def test_avgpool_asymmetric_padding_matches_naive_loops(f, s, pads, include):
    x = rand(2, 3, 8, 8)
    out, cache = pool_k.pool_forward(x, "avg", f, s, pads, False, include)
    ref, ref_backward = naive_pool(x, "avg", f, s, pads, False, include)
    assert np.allclose(out, ref, atol=1e-6)
    dout = rand(*out.shape)
    assert np.allclose(pool_k.pool_backward(dout, cache), ref_backward(dout), atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("include", [True, False])
@pytest.mark.parametrize("f, s, pads", SAME_ON_EVEN)
def test_avgpool_asymmetric_padding_matches_torch(f, s, pads, include):
    """PyTorch has no asymmetric padding for avg_pool2d: F.pad with zeros, then pool unpadded. That
    divides by f_H·f_W everywhere (count_include_pad=True); without it, the sum over the window is
    divided by the number of real pixels in it, the same pooling applied to a padded mask of ones."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 3, 8, 8)
    t, b, l, r = pads
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    pooled = F.avg_pool2d(F.pad(xt, (l, r, t, b)), f, s, count_include_pad=True)
    if include:
        ref = pooled
    else:
        ones = F.pad(torch.ones(1, 1, 8, 8, dtype=torch.float64), (l, r, t, b))
        ref = pooled / F.avg_pool2d(ones, f, s, count_include_pad=True)
    out, cache = pool_k.pool_forward(x, "avg", f, s, pads, False, include)
    assert out.shape == tuple(ref.shape)
    assert np.allclose(out, ref.detach().numpy(), atol=1e-5)
    dout = rand(*out.shape)
    ref.backward(torch.tensor(dout, dtype=torch.float64))
    assert np.allclose(pool_k.pool_backward(dout, cache), xt.grad.numpy(), atol=1e-5)
