"""conv_transpose and upsample: hand-worked sizes, counts and receptive fields, brute-force oracles,
finite differences, the adjoint identity, the kernels against their py_func, and PyTorch."""

import re

import numpy as np
import pytest

from cnncalc.errors import DimensionError, SpecError
from cnncalc.layers import arith
from helpers import row, run

# ------------------------------------------------------------------ sizes, counts, receptive fields


@pytest.mark.parametrize("args, n_out", [
    # (n, f, s, p_a, p_b, d, output_padding)
    ((5, 3, 2, 1, 1, 1, 1), 10),  # (5 − 1)·2 − 1 − 1 + 1·(3 − 1) + 1 + 1 = 8 − 2 + 2 + 2 = 10
    ((7, 4, 2, 1, 1, 1, 0), 14),  # DCGAN's 4×4 s2 p1 doubles: 6·2 − 2 + 3 + 0 + 1 = 14
    ((3, 3, 1, 0, 0, 2, 0), 7),   # 2·1 − 0 + 2·2 + 0 + 1 = 7
    ((3, 3, 2, 0, 1, 2, 1), 9),   # 2·2 − 0 − 1 + 2·2 + 1 + 1 = 9
    ((1, 1, 1, 0, 0, 1, 0), 1),   # 0 + 0 + 1 = 1
])
def test_transposed_length_by_hand(args, n_out):
    n, f, s, p_a, p_b, d, op = args
    rec = arith.transposed_length(n, f, s, p_a, p_b, d, op)
    assert rec.n_out == n_out
    # brute force: the last position the scatter reaches, plus one, less the crops, plus output_padding
    reached = max(h * s + a * d for h in range(n) for a in range(f)) + 1
    assert rec.full == reached and n_out == reached - p_a - p_b + op


def test_conv_transpose_counts_by_hand():
    r = run("- conv_transpose: {filters: 6, kernel: 3, stride: 2, padding: 1, output_padding: 1, groups: 2}",
            (5, 5, 4))
    ct = row(r, "conv_transpose1")
    assert ct.out_shape == (10, 10, 6)       # (5 − 1)·2 − 2 + 2 + 1 + 1 = 10
    assert ct.trainable == 114               # weight 4·(6/2)·3·3 = 108, bias 6
    assert ct.macs == 2700                   # 5·5·4·(6/2)·3·3 = 25·4·27 = 2700
    assert ct.other_ops == 600               # one bias add per output, 10·10·6


def test_conv_transpose_params_equal_pytorch():
    torch = pytest.importorskip("torch")
    for f, n_C_prev, n_C, groups, bias in ((3, 4, 6, 2, True), (2, 8, 4, 1, False), (4, 6, 6, 6, True)):
        module = torch.nn.ConvTranspose2d(n_C_prev, n_C, f, groups=groups, bias=bias)
        r = run(f"- conv_transpose: {{filters: {n_C}, kernel: {f}, groups: {groups}, bias: {str(bias).lower()}}}",
                (5, 5, n_C_prev))
        assert row(r, "conv_transpose1").trainable == sum(p.numel() for p in module.parameters())
        assert row(r, "conv_transpose1").out_shape[:2] == tuple(module(torch.zeros(1, n_C_prev, 5, 5)).shape[2:])


def error_of(text, shape=(8, 8, 3)):
    """The error the analysis stops at (it returns it in the report), as (type, its one line)."""
    error = run(text, shape).error
    assert error is not None
    assert "\n" not in str(error) and "t.yaml:4:5:" in str(error)  # one line, located: the file and line
    return type(error), str(error)


def test_conv_transpose_refuses_what_pytorch_refuses():
    kind, text = error_of("- conv_transpose: {filters: 2, kernel: 3, stride: 2, output_padding: 2}")
    assert kind is SpecError
    assert re.search(r"output_padding.*max\(2, 1\) = 2.*received 2.*an integer 0 … 1", text), text
    # dilation 3 allows output_padding 2 (max(1, 3) = 3): 7·1 − 0 + 3·2 + 2 + 1 = 16
    assert row(run("- conv_transpose: {filters: 2, kernel: 3, dilation: 3, output_padding: 2}"),
               "conv_transpose1").out_shape == (16, 16, 2)
    kind, text = error_of("- conv_transpose: {filters: 2, kernel: 3, padding: same}")
    assert kind is SpecError and "'same' padding" in text
    # (2 − 1)·1 − 2 − 2 + 1·(3 − 1) + 0 + 1 = 1 − 4 + 2 + 1 = 0; the scatter covers 1 + 2 + 1 = 4 rows
    kind, text = error_of("- conv_transpose: {filters: 2, kernel: 3, padding: 2}", (2, 2, 1))
    assert kind is DimensionError and "(2 − 1)·1 − 2 − 2 + 1·(3 − 1) + 0 + 1 = 0" in text and "at most 3 rows" in text, text


def _brute_rf(n, f, s, p, d):
    """The widest span of input pixels one output pixel reads (jump 1 before the layer)."""
    n_out = arith.transposed_length(n, f, s, p, p, d).n_out
    spans = []
    for y in range(n_out):
        hs = [h for h in range(n) for a in range(f) if h * s - p + a * d == y]
        if hs:
            spans.append(max(hs) - min(hs) + 1)
    return max(spans)


@pytest.mark.parametrize("f, s, p, d", [(3, 1, 0, 1), (2, 2, 0, 1), (3, 2, 1, 1), (4, 2, 1, 1), (5, 3, 0, 1),
                                        (3, 2, 0, 2), (3, 3, 0, 2)])
def test_conv_transpose_receptive_field_against_brute_force(f, s, p, d):
    r = run(f"- conv_transpose: {{filters: 1, kernel: {f}, stride: {s}, padding: {p}, dilation: {d}}}", (9, 9, 1))
    rf = row(r, "conv_transpose1").rf
    assert rf.r_H == rf.r_W == _brute_rf(9, f, s, p, d)
    assert rf.j_H == 1  # ⌈1/s⌉


def test_upsample_shapes_counts_and_fields_by_hand():
    r = run("- upsample: 2\n- upsample: {size: [5, 7], mode: bilinear}\n- upsample: {scale: 3, mode: Nearest}",
            (3, 2, 4))
    assert row(r, "upsample1").out_shape == (6, 4, 4)             # 3·2, 2·2
    assert row(r, "upsample2").out_shape == (5, 7, 4)
    assert row(r, "upsample3").out_shape == (15, 21, 4)           # 5·3, 7·3
    assert row(r, "upsample1").other_ops == 6 * 4 * 4             # one read per output
    assert row(r, "upsample2").other_ops == 4 * 5 * 7 * 4         # four weighted reads per output
    assert row(r, "upsample1").trainable == row(r, "upsample1").macs == 0
    rf1, rf2 = row(r, "upsample1").rf, row(r, "upsample2").rf
    assert (rf1.r_H, rf1.j_H) == (1, 1)                           # nearest reads one pixel; ⌈1·3/6⌉ = 1
    assert (rf2.r_H, rf2.j_H) == (2, 2)                           # bilinear two neighbours: 1 + 1·1; ⌈1·6/5⌉ = 2


def test_upsample_refuses_both_or_neither_and_unknown_modes():
    for text in ("- upsample: {scale: 2, size: 8}", "- upsample: {mode: bilinear}"):
        kind, message = error_of(text)
        assert kind is SpecError and "exactly one of scale and size" in message
    with pytest.raises(SpecError, match=r"unknown mode.*received 'bicubic'.*'nearest' or 'bilinear'"):
        run("- upsample: {scale: 2, mode: bicubic}")  # a field's value: refused by the parser


def test_upsample_tables_by_hand():
    from cnncalc.layers.upsample.kernels import axis_table

    i0, i1, lam = axis_table(3, 5, "nearest")           # ⌊y·3/5⌋ for y = 0 … 4: 0, 0, 1, 1, 2
    assert i0.tolist() == i1.tolist() == [0, 0, 1, 1, 2] and not lam.any()
    # bilinear 2 → 4: src = max((y + ½)·½ − ½, 0) = 0 (clamped from −¼), ¼, ¾, 1¼
    i0, i1, lam = axis_table(2, 4, "bilinear")
    assert i0.tolist() == [0, 0, 0, 1] and i1.tolist() == [1, 1, 1, 1]  # the last row repeats at the edge
    assert lam.tolist() == [0.0, 0.25, 0.75, 0.25]


# ------------------------------------------------------------------ kernels

def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# (stride, pads (top, bottom, left, right), dilation, groups, output_padding)
GEOMETRIES = [
    ((2, 2), (1, 1, 1, 1), (1, 1), 2, 1),   # U-Net's and DCGAN's: stride 2, padding 1, output_padding 1, groups 2
    ((1, 1), (0, 0, 0, 0), (2, 2), 1, 0),
    ((3, 2), (0, 1, 1, 0), (1, 2), 1, 1),   # asymmetric crops, unequal strides
    ((2, 2), (0, 0, 0, 0), (1, 1), 4, 0),   # depthwise
]


def _case(stride, pads, dilation, groups, op, seed=0):
    from cnncalc.layers.conv import transpose_kernels as ct

    x = rand(2, 4, 3, 4, seed=seed)
    W = rand(4, 8 // groups, 3, 2, seed=seed + 1)
    b = rand(8, seed=seed + 2)
    out, cache = ct.conv_transpose_forward(x, W, b, stride, pads, dilation, groups, op)
    return x, W, b, out, cache


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_transpose_is_the_adjoint_of_conv(geometry):
    # <conv_transpose(x), y> = <x, conv(y)>: the same W read as a conv from n_C to n_C_prev channels
    from cnncalc.layers.conv import kernels as conv_k
    from cnncalc.layers.conv import transpose_kernels as ct

    stride, pads, dilation, groups, op = geometry
    x, W, _, _, _ = _case(*geometry)
    out, _ = ct.conv_transpose_forward(x, W, None, stride, pads, dilation, groups, op)
    y = rand(*out.shape, seed=9)
    back, _ = conv_k.conv_forward(y, W, None, stride, pads, dilation, groups)
    assert back.shape == x.shape
    lhs, rhs = float(np.vdot(out.astype(np.float64), y)), float(np.vdot(x.astype(np.float64), back))
    assert lhs == pytest.approx(rhs, rel=1e-5)


@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_transpose_backward_by_finite_differences(geometry):
    from cnncalc.layers.conv import transpose_kernels as ct

    x, W, b, out, cache = _case(*geometry)
    R = rand(*out.shape, seed=5)
    dx, dW, db = ct.conv_transpose_backward(R, cache)
    stride, pads, dilation, groups, op = geometry

    def loss(x_, W_, b_):
        o, _ = ct.conv_transpose_forward(x_, W_, b_, stride, pads, dilation, groups, op)
        return float(np.vdot(o.astype(np.float64), R))

    eps = 1e-2  # the loss is linear in each argument: central differences are exact up to rounding
    rng = np.random.default_rng(1)
    for array, grad, name in ((x, dx, "x"), (W, dW, "W"), (b, db, "b")):
        for idx in [tuple(rng.integers(0, n) for n in array.shape) for _ in range(6)]:
            args = {"x": x, "W": W, "b": b}
            plus, minus = array.copy(), array.copy()
            plus[idx] += eps
            minus[idx] -= eps
            numeric = (loss(**{**{k + "_": v for k, v in args.items()}, name + "_": plus})
                       - loss(**{**{k + "_": v for k, v in args.items()}, name + "_": minus})) / (2 * eps)
            assert grad[idx] == pytest.approx(numeric, rel=2e-3, abs=2e-3), (name, idx)


def test_upsample_backward_by_finite_differences():
    from cnncalc.layers.upsample import kernels as up

    for n_H, n_W, mode in ((7, 5, "bilinear"), (6, 9, "nearest"), (2, 3, "bilinear")):
        x = rand(2, 3, 4, 3)
        out, cache = up.upsample_forward(x, n_H, n_W, mode)
        R = rand(*out.shape, seed=3)
        dx = up.upsample_backward(R, cache)
        for idx in ((0, 0, 0, 0), (1, 2, 3, 2), (0, 1, 2, 1)):
            plus, minus = x.copy(), x.copy()
            plus[idx] += 1e-2
            minus[idx] -= 1e-2
            numeric = (np.vdot(up.upsample_forward(plus, n_H, n_W, mode)[0].astype(np.float64), R)
                       - np.vdot(up.upsample_forward(minus, n_H, n_W, mode)[0].astype(np.float64), R)) / 2e-2
            assert dx[idx] == pytest.approx(numeric, rel=2e-3, abs=2e-3), (mode, idx)


def test_decoder_kernels_match_their_py_func():
    from cnncalc.layers.conv import transpose_kernels as ct
    from cnncalc.layers.upsample import kernels as up

    x, W, b = rand(2, 4, 3, 4), rand(4, 4, 3, 2, seed=1), rand(8, seed=2)
    geometry = (2, 3, 1, 0, 1, 2, 2)  # s_H, s_W, p_top, p_left, d_H, d_W, groups
    out_j, out_p = np.empty((2, 8, 6, 10), np.float32), np.empty((2, 8, 6, 10), np.float32)
    ct.conv_transpose_forward_kernel(x, W, b, *geometry, out_j)
    ct.conv_transpose_forward_kernel.py_func(x, W, b, *geometry, out_p)
    np.testing.assert_allclose(out_j, out_p, rtol=1e-5, atol=1e-5)
    R = rand(*out_j.shape, seed=4)
    dx_j, dx_p = np.empty_like(x), np.empty_like(x)
    ct.conv_transpose_dx_kernel(R, W, *geometry, dx_j)
    ct.conv_transpose_dx_kernel.py_func(R, W, *geometry, dx_p)
    np.testing.assert_allclose(dx_j, dx_p, rtol=1e-5, atol=1e-5)
    dW_j, dW_p, db_j, db_p = np.empty_like(W), np.empty_like(W), np.empty_like(b), np.empty_like(b)
    ct.conv_transpose_dw_kernel(x, R, *geometry, dW_j, db_j)
    ct.conv_transpose_dw_kernel.py_func(x, R, *geometry, dW_p, db_p)
    np.testing.assert_allclose(dW_j, dW_p, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(db_j, db_p, rtol=1e-5, atol=1e-5)
    t = up.tables(3, 4, 7, 5, "bilinear")
    o_j, o_p = np.empty((2, 4, 7, 5), np.float32), np.empty((2, 4, 7, 5), np.float32)
    up.upsample_forward_kernel(x, *t, o_j)
    up.upsample_forward_kernel.py_func(x, *t, o_p)
    np.testing.assert_allclose(o_j, o_p, rtol=1e-6, atol=1e-6)
    d_j, d_p = np.empty_like(x), np.empty_like(x)
    up.upsample_backward_kernel(o_j, *t, d_j)
    up.upsample_backward_kernel.py_func(o_j, *t, d_p)
    np.testing.assert_allclose(d_j, d_p, rtol=1e-5, atol=1e-5)


@pytest.mark.torch
@pytest.mark.parametrize("geometry", GEOMETRIES)
def test_conv_transpose_matches_torch(geometry):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    stride, pads, dilation, groups, op = geometry
    x, W, b, out, cache = _case(*geometry)
    xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, W, b))
    t, bottom, left, right = pads
    full = F.conv_transpose2d(xt, Wt, None, stride, 0, 0, groups, dilation)  # uncropped, then cropped by hand
    full = F.pad(full, (0, op, 0, op))
    theirs = full[:, :, t:full.shape[2] - bottom, left:full.shape[3] - right] + bt.view(1, -1, 1, 1)
    if t == bottom and left == right:  # PyTorch's own padding and output_padding agree with the crop
        direct = F.conv_transpose2d(xt, Wt, bt, stride, (t, left), op, groups, dilation)
        np.testing.assert_allclose(direct.detach().numpy(), theirs.detach().numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out, theirs.detach().numpy(), rtol=1e-5, atol=1e-5)
    R = rand(*out.shape, seed=5)
    (theirs * torch.tensor(R)).sum().backward()
    from cnncalc.layers.conv import transpose_kernels as ct

    dx, dW, db = ct.conv_transpose_backward(R, cache)
    for ours, t_ in ((dx, xt), (dW, Wt), (db, bt)):
        np.testing.assert_allclose(ours, t_.grad.numpy(), rtol=1e-4, atol=1e-4)


@pytest.mark.torch
@pytest.mark.parametrize("n_H, n_W, mode, scale", [(6, 8, "nearest", 2), (9, 12, "nearest", 3), (7, 5, "nearest", None),
                                                   (2, 3, "nearest", None), (6, 8, "bilinear", 2),
                                                   (7, 5, "bilinear", None), (2, 3, "bilinear", None)])
def test_upsample_matches_torch(n_H, n_W, mode, scale):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    from cnncalc.layers.upsample import kernels as up

    x = rand(2, 3, 3, 4)
    out, cache = up.upsample_forward(x, n_H, n_W, mode)
    xt = torch.tensor(x, requires_grad=True)
    kw = {"scale_factor": scale} if scale else {"size": (n_H, n_W)}
    theirs = F.interpolate(xt, mode=mode, **kw, **({"align_corners": False} if mode == "bilinear" else {}))
    np.testing.assert_allclose(out, theirs.detach().numpy(), rtol=1e-5, atol=1e-6)
    R = rand(*out.shape, seed=7)
    (theirs * torch.tensor(R)).sum().backward()
    np.testing.assert_allclose(up.upsample_backward(R, cache), xt.grad.numpy(), rtol=1e-5, atol=1e-5)
