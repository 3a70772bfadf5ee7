"""The depthwise and 1×1 convolution kernels (depthwise_kernels.py, kernels.pointwise_*) against a
float64 shift-and-add reference written with numpy slices, against PyTorch, and, through their
py_func in float64, against central differences; the kernel Conv picks for a layer; several
lanes against one; NaN reaching only the outputs whose window holds it."""

import dataclasses

import numba
import numpy as np
import pytest

from cnncalc.layers import arith
from cnncalc.layers.conv import depthwise_kernels as dw_k
from cnncalc.layers.conv import kernels as conv_k
from helpers import central_difference

pytestmark = pytest.mark.slow  # compiles the Numba kernels

rng = np.random.default_rng(7)


def rand(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def out_size(n, f, s, p_a, p_b, d=1):
    return arith.out_length(n, f, s, p_a, p_b, d).n_out


# ------------------------------------------------------------------ float64 references, numpy slices

def window(x_pad, a, bb, s, d, n_H, n_W):
    """x_pad[..., h·s_H + a·d_H, w·s_W + b'·d_W] for every (h, w): the input one tap (a, b') reads."""
    return x_pad[..., a * d[0]:a * d[0] + (n_H - 1) * s[0] + 1:s[0], bb * d[1]:bb * d[1] + (n_W - 1) * s[1] + 1:s[1]]


def reference(x, W, b, dout, s, pads, d, groups):
    """(out, dx, dW, db) in float64 for groups = channels (W: (n_C, 1, f_H, f_W)) or groups 1 with a
    1×1 kernel: out = b + Σ_taps W_tap · window_tap, and the gradients of Σ out·dout tap by tap."""
    x, W = x.astype(np.float64), W.astype(np.float64)
    m, C, H, Wd = x.shape
    n_C, _, f_H, f_W = W.shape
    n_H, n_W = out_size(H, f_H, s[0], pads[0], pads[1], d[0]), out_size(Wd, f_W, s[1], pads[2], pads[3], d[1])
    x_pad = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[1]), (pads[2], pads[3])))
    out = np.zeros((m, n_C, n_H, n_W)) + (0.0 if b is None else b.astype(np.float64)[:, None, None])
    dx_pad = np.zeros_like(x_pad)
    dW = np.zeros_like(W)
    dout = None if dout is None else dout.astype(np.float64)
    for a in range(f_H):
        for bb in range(f_W):
            view = window(x_pad, a, bb, s, d, n_H, n_W)
            if groups == C:                              # depthwise: channel c by its own filter
                w = W[:, 0, a, bb][None, :, None, None]
                out += w * view
                if dout is not None:
                    dW[:, 0, a, bb] = (dout * view).sum(axis=(0, 2, 3))
                    window(dx_pad, a, bb, s, d, n_H, n_W)[...] += w * dout
            else:                                        # 1×1, groups 1: a matrix over the channels
                out += np.einsum("oc,ichw->iohw", W[:, :, a, bb], view)
                if dout is not None:
                    dW[:, :, a, bb] = np.einsum("iohw,ichw->oc", dout, view)
                    window(dx_pad, a, bb, s, d, n_H, n_W)[...] += np.einsum("oc,iohw->ichw", W[:, :, a, bb], dout)
    if dout is None:
        return out
    dx = dx_pad[:, :, pads[0]:pads[0] + H, pads[2]:pads[2] + Wd]
    return out, dx, dW, dout.sum(axis=(0, 2, 3))


DEPTHWISE = [  # (m, C, H, W, f, stride, pads (top, bottom, left, right), dilation, bias)
    (3, 5, 6, 5, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),       # MobileNet's 3×3, small map: images as vector
    (70, 4, 3, 2, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),      # 70 images: two passes of 64, the second of 6
    (5, 6, 9, 8, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), False),      # stride 2, no bias
    (4, 3, 9, 9, (5, 5), (2, 2), (2, 2, 2, 2), (1, 1), True),       # EfficientNet's 5×5, stride 2
    (3, 4, 9, 9, (3, 2), (1, 2), (2, 0, 1, 3), (2, 3), True),       # asymmetric padding, dilation, stride along W
    (2, 3, 7, 20, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), True),      # 20 columns: along the rows
    (2, 3, 8, 35, (3, 3), (2, 2), (0, 1, 0, 1), (1, 1), True),      # along the rows, strided, 'same' padding
    (2, 2, 9, 24, (3, 3), (1, 1), (2, 2, 2, 2), (2, 2), False),     # along the rows, dilated
]
POINTWISE = [  # (m, C, n_C, H, W, bias)
    (5, 7, 13, 3, 3, True),
    (64, 33, 40, 1, 1, True),       # a 1×1 map: one row per image
    (9, 5, 6, 2, 2, False),
    (7, 20, 33, 16, 16, True),      # 16×16: one image per product, 7 products
    (6, 700, 30, 2, 2, True),       # many channels: a few images per product, the last product short
]


def conv_both(x, W, b, s, pads, d, groups, dout):
    """Forward and backward through conv_k.Conv (the kernels it picks), float32."""
    out, cache = conv_k.conv_forward(x, W, b, s, pads, d, groups)
    dx, dW, db = conv_k.conv_backward(dout, cache)
    return out, dx, dW, db, cache[0].plan


def close(ours, ref, scale_atol=1e-5):
    return np.allclose(ours, ref, rtol=1e-4, atol=scale_atol * max(1.0, np.abs(ref).max()))


@pytest.mark.parametrize("m, C, H, W_, f, s, pads, d, bias", DEPTHWISE)
def test_depthwise_matches_the_reference(m, C, H, W_, f, s, pads, d, bias):
    x, W = rand(m, C, H, W_), rand(C, 1, *f)
    b = rand(C) if bias else None
    n_H, n_W = out_size(H, f[0], s[0], pads[0], pads[1], d[0]), out_size(W_, f[1], s[1], pads[2], pads[3], d[1])
    dout = rand(m, C, n_H, n_W)
    out, dx, dW, db, plan = conv_both(x, W, b, s, pads, d, C, dout)
    assert plan.kernel == ("depthwise_batched" if n_W <= 16 else "depthwise")
    ref_out, ref_dx, ref_dW, ref_db = reference(x, W, b, dout, s, pads, d, C)
    assert out.shape == ref_out.shape and dx.shape == x.shape
    assert close(out, ref_out) and close(dx, ref_dx) and close(dW, ref_dW)
    assert (db is None) == (not bias) and (db is None or close(db, ref_db))


@pytest.mark.parametrize("m, C, n_C, H, W_, bias", POINTWISE)
def test_pointwise_matches_the_reference(m, C, n_C, H, W_, bias):
    x, W = rand(m, C, H, W_), rand(n_C, C, 1, 1)
    b = rand(n_C) if bias else None
    dout = rand(m, n_C, H, W_)
    out, dx, dW, db, plan = conv_both(x, W, b, (1, 1), (0, 0, 0, 0), (1, 1), 1, dout)
    assert plan.kernel == "pointwise"
    ref_out, ref_dx, ref_dW, ref_db = reference(x, W, b, dout, (1, 1), (0, 0, 0, 0), (1, 1), 1)
    assert close(out, ref_out) and close(dx, ref_dx) and close(dW, ref_dW)
    assert (db is None) == (not bias) and (db is None or close(db, ref_db))


@pytest.mark.torch
@pytest.mark.parametrize("case", DEPTHWISE[:6] + [(m, C, 0, H, W_, bias) for m, C, _, H, W_, bias in POINTWISE[:4]])
def test_depthwise_and_pointwise_match_torch(case):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    if len(case) == 9:
        m, C, H, W_, f, s, pads, d, bias = case
        W, groups = rand(C, 1, *f), C
    else:  # a POINTWISE case: 1×1 kernel, C → C + 3 channels
        m, C, _, H, W_, bias = case
        f, s, pads, d, groups = (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1
        W = rand(C + 3, C, 1, 1)
    x, b = rand(m, C, H, W_), rand(W.shape[0]) if bias else None
    xt, Wt = torch.tensor(x, requires_grad=True), torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True) if bias else None
    ref = F.conv2d(F.pad(xt, (pads[2], pads[3], pads[0], pads[1])), Wt, bt, s, 0, d, groups)
    dout = rand(*ref.shape)
    ref.backward(torch.tensor(dout))
    out, dx, dW, db, _ = conv_both(x, W, b, s, pads, d, groups, dout)
    assert np.allclose(out, ref.detach().numpy(), atol=1e-4)
    assert np.allclose(dx, xt.grad.numpy(), atol=1e-4)
    assert np.allclose(dW, Wt.grad.numpy(), rtol=1e-4, atol=1e-3)
    assert not bias or np.allclose(db, bt.grad.numpy(), rtol=1e-4, atol=1e-3)


# ------------------------------------------------------------------ float64 through the kernels' own code

@pytest.fixture
def python_kernels(monkeypatch):
    """Every jitted function of both files replaced by its py_func: the kernels run as Python on float64."""
    for module in (conv_k, dw_k):
        for name, value in list(vars(module).items()):
            if hasattr(value, "py_func"):
                monkeypatch.setattr(module, name, value.py_func)


def float64_layer(m, C, n_C, H, W_, f, s, pads, d, groups, lanes=2):
    """(forward(x, W, b), backward(dout, x, W) -> (dx, dW, db)) of the kernel Conv picks, in float64,
    with `lanes` lanes; conv_k.Conv's own dispatch (forward, backward) runs on float64 workspaces."""
    n_H, n_W = out_size(H, f[0], s[0], pads[0], pads[1], d[0]), out_size(W_, f[1], s[1], pads[2], pads[3], d[1])
    layer = conv_k.Conv(m, C, H, W_, n_C, f, s, pads, d, groups, n_H, n_W)
    layer.plan = dataclasses.replace(layer.plan, lanes=lanes)
    layer.ws = {k: v.astype(np.float64) if v.dtype == np.float32 else v
                for k, v in layer.plan.workspace(True, layer.plan.kernel).items()}
    layer.out, layer.dx = np.zeros((m, n_C, n_H, n_W)), np.zeros((m, C, H, W_))
    layer._none = np.zeros(0)

    def forward(x, W, b):
        layer.x = x
        kernel = layer.plan.kernel
        ws, out = layer.ws, layer.out
        if kernel == "pointwise":
            conv_k.pointwise_forward(lanes, x, W, b, layer.plan.chunk, ws["k_off_C"], ws["WT"], ws["Wp"],
                                     ws["ws_rows_x"], ws["ws_rows_y"], out)
        elif kernel == "depthwise_batched":
            dw_k.depthwise_forward_batched(lanes, x, W, b, *layer._depthwise_geometry, ws["X"], ws["Y"], out)
        else:
            dw_k.depthwise_forward(lanes, x, W, b, *layer._depthwise_geometry, ws["xp"], out)
        return out.copy()

    def backward(dout, x, W):
        kernel, ws = layer.plan.kernel, layer.ws
        dx, dW, db = np.zeros(x.shape), np.zeros(W.shape), np.zeros(n_C)
        if kernel == "pointwise":
            conv_k.pointwise_backward(lanes, x, dout, W, layer.plan.chunk, ws["k_off_N"], ws["k_off_R"], ws["Wp"],
                                      ws["ws_cols_x"], ws["ws_rows_y"], ws["ws_rows_x"], ws["GT_lanes"],
                                      ws["db_lanes"], dW, db, dx)
        elif kernel == "depthwise_batched":
            dw_k.depthwise_backward_batched(lanes, x, dout, W, *layer._depthwise_geometry, ws["X"], ws["Y"], ws["dX"],
                                            ws["acc"], dW, db, dx)
        else:
            dw_k.depthwise_backward(lanes, x, dout, W, *layer._depthwise_geometry, ws["xp"], ws["dxp"], dW, db, dx)
        return dx, dW, db

    return forward, backward


@pytest.mark.usefixtures("python_kernels")
@pytest.mark.parametrize("m, C, n_C, H, W_, f, s, pads, d, groups", [
    (3, 3, 3, 5, 6, (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), 3),       # batched depthwise, stride 2
    (2, 2, 2, 6, 18, (3, 2), (1, 2), (2, 0, 1, 1), (2, 1), 2),      # along the rows: dilation, asymmetric
    (3, 4, 5, 2, 3, (1, 1), (1, 1), (0, 0, 0, 0), (1, 1), 1),       # pointwise
])
def test_gradients_by_finite_differences(m, C, n_C, H, W_, f, s, pads, d, groups):
    """The kernels' Python code in float64, two lanes: backward against central differences of Σ out·G."""
    g = np.random.default_rng(3)
    x, W, b = g.standard_normal((m, C, H, W_)), g.standard_normal((n_C, C // groups, *f)), g.standard_normal(n_C)
    forward, backward = float64_layer(m, C, n_C, H, W_, f, s, pads, d, groups)
    G = g.standard_normal(forward(x, W, b).shape)
    dx, dW, db = backward(G, x, W)
    loss = lambda: float((forward(x, W, b) * G).sum())  # noqa: E731
    for idx in [(0, 0, 0, 0), (m - 1, C - 1, H - 1, W_ - 1), (1, C // 2, H // 2, 1)]:
        assert np.isclose(central_difference(loss, x, idx), dx[idx], atol=1e-6)
    for idx in [(0, 0, 0, 0), (n_C - 1, C // groups - 1, f[0] - 1, f[1] - 1)]:
        assert np.isclose(central_difference(loss, W, idx), dW[idx], atol=1e-6)
    assert np.isclose(central_difference(loss, b, (n_C - 1,)), db[n_C - 1], atol=1e-6)


@pytest.mark.parametrize("m, C, n_C, H, W_, f, s, pads, groups", [
    (70, 5, 5, 3, 3, (3, 3), (1, 1), (1, 1, 1, 1), 5),
    (4, 3, 3, 6, 20, (3, 3), (2, 2), (1, 1, 1, 1), 3),
    (9, 6, 7, 2, 2, (1, 1), (1, 1), (0, 0, 0, 0), 1),
])
def test_lanes_agree_with_one_lane(m, C, n_C, H, W_, f, s, pads, groups):
    """The jitted kernels with 1, 2 and 3 lanes give the same results (lanes own their outputs)."""
    x, W, b = rand(m, C, H, W_), rand(n_C, C // groups, *f), rand(n_C)
    n_H, n_W = out_size(H, f[0], s[0], pads[0], pads[1]), out_size(W_, f[1], s[1], pads[2], pads[3])
    dout = rand(m, n_C, n_H, n_W)
    results = []
    for lanes in (1, 2, 3):
        layer = conv_k.Conv(m, C, H, W_, n_C, f, s, pads, (1, 1), groups, n_H, n_W)
        layer.plan = dataclasses.replace(layer.plan, lanes=lanes)
        layer.ws = layer.plan.workspace(True, layer.plan.kernel)
        out = layer.forward(x, W, b).copy()
        dW, db = np.empty_like(W), np.empty_like(b)
        dx = layer.backward(dout, W, dW, db).copy()
        results.append((out, dx, dW, db))
    for other in results[1:]:
        for ours, first in zip(other, results[0]):
            assert np.allclose(ours, first, rtol=1e-5, atol=1e-4)


def test_nan_reaches_only_the_outputs_whose_window_holds_it():
    """Image 10 of 70 holds a NaN: it reaches exactly the outputs whose window holds it. With 64 images
    per pass, image 10's plane stays in the workspace's column 10; a later batch of 6 images (one
    pass of 6 columns) must read none of it, forward or backward."""
    m, C = 70, 3
    x, W = rand(m, C, 4, 4), rand(C, 1, 3, 3)
    x[10, 1, 0, 2] = np.nan
    layer = conv_k.Conv(m, C, 4, 4, C, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), C, 4, 4)
    assert layer.plan.kernel == "depthwise_batched"
    out = layer.forward(x, W)
    reach = np.zeros(x.shape)
    reach[10, 1, 0, 2] = 1
    expected = reference(reach, np.ones_like(W), None, None, (1, 1), (1, 1, 1, 1), (1, 1), C) > 0
    assert np.array_equal(np.isnan(out), expected)
    layer.backward(np.ones_like(out), W, np.empty_like(W))  # leaves NaN in dX's and X's column 10
    small, dout = rand(6, C, 4, 4), rand(6, C, 4, 4)
    out = layer.forward(small, W)
    dW = np.empty_like(W)
    dx = layer.backward(dout, W, dW)
    ref_out, ref_dx, ref_dW, _ = reference(small, W, None, dout, (1, 1), (1, 1, 1, 1), (1, 1), C)
    assert close(out, ref_out) and close(dx, ref_dx) and close(dW, ref_dW)


def test_which_kernel_a_layer_gets():
    plan = lambda C, n_C, H, f, s, p, groups: conv_k.ConvPlan(  # noqa: E731
        64, C, H, H, n_C, f, f, s, s, (p,) * 4, 1, 1, groups, out_size(H, f, s, p, p), out_size(H, f, s, p, p), 2)
    assert plan(32, 32, 16, 3, 1, 1, 32).kernel == "depthwise_batched"   # 16 columns
    assert plan(32, 32, 17, 3, 1, 1, 32).kernel == "depthwise"           # 17 columns
    assert plan(32, 64, 8, 3, 1, 1, 32).kernel == "conv2d"               # two filters per channel: grouped
    assert plan(32, 64, 8, 1, 1, 0, 1).kernel == "pointwise"
    assert plan(32, 64, 8, 1, 2, 0, 1).kernel == "conv2d"                # 1×1 with stride 2
    assert plan(32, 64, 8, 1, 1, 1, 1).kernel == "conv2d"                # 1×1 with padding
    assert plan(32, 64, 8, 1, 1, 0, 2).kernel == "conv2d"                # grouped 1×1
    assert plan(32, 64, 8, 3, 1, 1, 1).kernel == "conv2d"


def test_the_memory_estimate_covers_a_mobilenet():
    """engine.train.estimate's workspace for the depthwise and 1×1 kernels covers what Conv allocates."""
    from pathlib import Path

    from cnncalc.engine import train as tr

    spec = Path(__file__).resolve().parent.parent / "specs" / "mobilenet_v3_small.yaml"
    report, net = tr.build(spec.read_text(encoding="utf-8"), str(spec), 8, (32, 32, 3))
    est = tr.estimate(report, 8, 100, "sgd", threads=numba.config.NUMBA_NUM_THREADS)
    assert est["activations"] + est["workspace"] >= net.nbytes()


@pytest.mark.parametrize("C, n_C, H, f, p, groups", [(6, 9, 2, 1, 0, 1), (5, 5, 3, 3, 1, 5), (4, 4, 18, 3, 1, 4)])
def test_without_input_gradient(C, n_C, H, f, p, groups):
    """A first layer (need_dx False) allocates no dx workspace and gives the same dW and db."""
    x, W, b = rand(3, C, H, H), rand(n_C, C // groups, f, f), rand(n_C)
    dout = rand(3, n_C, H, H)
    full = conv_both(x, W, b, (1, 1), (p,) * 4, (1, 1), groups, dout)
    first = conv_k.Conv(3, C, H, H, n_C, (f, f), (1, 1), (p,) * 4, (1, 1), groups, H, H, need_dx=False)
    assert np.allclose(first.forward(x, W, b), full[0], atol=1e-5)
    dW, db = np.empty_like(W), np.empty_like(b)
    assert first.backward(dout, W, dW, db, need_dx=False) is None
    assert np.allclose(dW, full[2], atol=1e-4) and np.allclose(db, full[3], atol=1e-4)
