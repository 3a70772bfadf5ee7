"""Adaptive and global pooling: PyTorch's adaptive windows, their counts, kernels and receptive field.

Independent sources: windows worked by hand from start = ⌊i·n/out⌋, end = ⌈(i + 1)·n/out⌉; the
same windows read back from PyTorch's adaptive_avg_pool1d of one-hot rows; the kernels against
PyTorch (values, argmax, gradients), against their own py_func, and their backward against
central differences of their forward in float64.
"""

import numpy as np
import pytest

from cnncalc.layers import arith
from cnncalc.layers.pool import kernels as pool_k
from cnncalc.render.messages import notation_text
from helpers import numeric_grad, row, run

rng = np.random.default_rng(7)


def rand(*shape, dtype=np.float32):
    return rng.standard_normal(shape).astype(dtype)


# ------------------------------------------------------------------ the windows (arith.adaptive_length)

@pytest.mark.parametrize("n, n_out, windows, f_max, reads", [
    # starts ⌊0·5/3⌋, ⌊5/3⌋, ⌊10/3⌋ = 0, 1, 3; ends ⌈5/3⌉, ⌈10/3⌉, ⌈15/3⌉ = 2, 4, 5: overlapping windows;
    # 5 % 3 = 2 > gcd 1, so one is ⌈5/3⌉ + 1 = 3 wide; reads 2 + 3 + 2 = 7 = 5 + 3 − 1
    (5, 3, [(0, 2), (1, 4), (3, 5)], 3, 7),
    # starts 0, 2, 4; ends ⌈7/3⌉, ⌈14/3⌉, 7 = 3, 5, 7; 7 % 3 = 1 = gcd: no window wider than ⌈7/3⌉ = 3
    (7, 3, [(0, 3), (2, 5), (4, 7)], 3, 9),
    # 10 = 2·4 + 2 and gcd(10, 4) = 2: r = g, every window ⌈10/4⌉ = 3 wide; starts 0, 2, 5, 7
    (10, 4, [(0, 3), (2, 5), (5, 8), (7, 10)], 3, 12),
    # out > n: starts ⌊3i/7⌋ = 0,0,0,1,1,2,2; ends ⌈3(i+1)/7⌉ = 1,1,2,2,3,3,3; reads 9 = 3 + 7 − 1
    (3, 7, [(0, 1), (0, 1), (0, 2), (1, 2), (1, 3), (2, 3), (2, 3)], 2, 9),
    # exact: 12/4 = 3, a plain pool of f = s = 3
    (12, 4, [(0, 3), (3, 6), (6, 9), (9, 12)], 3, 12),
    (9, 1, [(0, 9)], 9, 9),                                        # global
])
def test_adaptive_windows_worked_by_hand(n, n_out, windows, f_max, reads):
    rec = arith.adaptive_length(n, n_out)
    assert [rec.window(i) for i in range(n_out)] == windows
    assert rec.f_max == f_max and rec.reads == reads
    assert rec.exact == (n % n_out == 0)


def test_adaptive_closed_forms_against_scanning_every_window():
    for n in range(1, 40):
        for n_out in range(1, 45):
            rec = arith.adaptive_length(n, n_out)
            widths = [e - s for s, e in map(rec.window, range(n_out))]
            starts = [rec.window(i)[0] for i in range(n_out)]
            assert rec.f_max == max(widths) <= -(-n // n_out) + 1, (n, n_out)
            assert rec.reads == sum(widths), (n, n_out)
            assert all(b - a <= rec.s_max for a, b in zip(starts, starts[1:])), (n, n_out)
            if rec.exact:
                assert set(widths) == {n // n_out} and rec.s_max == n // n_out


def test_adaptive_windows_are_pytorchs():
    torch = pytest.importorskip("torch")
    for n in range(1, 14):
        for n_out in range(1, 16):
            # row j of the identity is one-hot at j: output i is nonzero exactly when j is in window i
            out = torch.nn.functional.adaptive_avg_pool1d(torch.eye(n)[None], n_out)[0]
            rec = arith.adaptive_length(n, n_out)
            for i in range(n_out):
                start, end = rec.window(i)
                assert [j for j in range(n) if out[j, i] > 0] == list(range(start, end)), (n, n_out, i)


# ------------------------------------------------------------------ rules

def rf(r):
    return (r.rf.r_H, r.rf.r_W, r.rf.j_H, r.rf.j_W)


def test_adaptive_pool_rules_worked_by_hand():
    r = run("- adaptive_avgpool: {output: [3, 2]}", (5, 6, 2))
    a = row(r, "adaptive_avgpool1")
    assert a.out_shape == (3, 2, 2)
    # rows 5 → 3: reads 7, f_max 3, step ⌈5/3⌉ = 2; columns 6 → 2: exact, f = s = 3, reads 6
    assert a.other_ops == 84                                      # 7·6·2
    assert rf(a) == (3, 3, 2, 3)                                  # 1 + (3 − 1)·1, 1 + (3 − 1)·1; jumps 2, 3
    assert (a.trainable, a.non_trainable, a.macs) == (0, 0, 0)
    assert notation_text(a.layer_type) == "adaptive avgpool 3×2"
    m = row(run("- adaptive_maxpool: 4", (7, 9, 1)), "adaptive_maxpool1")
    assert m.out_shape == (4, 4, 1)                               # the short form sets output
    assert m.other_ops == (7 + 4 - 1) * (9 + 4 - 1)               # 10·12 = 120


def test_exact_adaptive_pool_is_the_plain_pool():
    # 6 % 2 == 0 and 6 % 3 == 0: adaptive 6×6 → 2×3 is avgpool f = s = [3, 2], the same shape, reads and field
    before = "- conv: {filters: 4, kernel: 3, padding: 1, stride: 2}\n"
    a = run(before + "- adaptive_avgpool: [2, 3]", (12, 12, 3)).rows[-1]
    p = run(before + "- avgpool: {kernel: [3, 2]}", (12, 12, 3)).rows[-1]
    assert a.out_shape == p.out_shape == (2, 3, 4)
    assert a.other_ops == p.other_ops
    assert rf(a) == rf(p) == (3 + 2 * 2, 3 + 1 * 2, 2 * 3, 2 * 2)  # conv r 3 j 2, then (f − 1)·j added


def test_the_receptive_field_of_an_inexact_pool_covers_every_window():
    # brute force: the input pixels that output (h, w) of conv 3×3 s2 → adaptive 5 → 3 depend on
    for n_prev, n_out in ((5, 3), (7, 3), (3, 7), (10, 4)):
        r = run(f"- conv: {{filters: 1, kernel: 3, stride: 2}}\n- adaptive_avgpool: [{n_out}, 1]",
                (2 * n_prev + 1, 3, 1)).rows[-1]
        rec = arith.adaptive_length(n_prev, n_out)
        widest = max(2 * (e - 1) + 3 - 2 * s for s, e in map(rec.window, range(n_out)))  # conv rows 2s … 2(e−1)+2
        assert r.rf.r_H == widest


def test_global_pools_keep_their_map_on_request():
    r = run("- conv: {filters: 6, kernel: 3}\n- global_avgpool: {keep_dims: true}\n- conv: {filters: 2, kernel: 1}\n"
            "- global_maxpool", (7, 7, 3))
    g, c, m = row(r, "global_avgpool1"), row(r, "conv2"), row(r, "global_maxpool1")
    assert g.out_shape == (1, 1, 6) and g.other_ops == 5 * 5 * 6      # 150 values summed
    assert c.out_shape == (1, 1, 2) and c.trainable == (6 + 1) * 2    # a 1×1 conv reads the 1×1×6 map
    assert m.out_shape == (2,) and m.other_ops == 2
    assert notation_text(g.layer_type) == "global avgpool 1×1" and notation_text(m.layer_type) == "global maxpool"


def test_adaptive_pool_needs_its_output_size(tmp_path):
    from typer.testing import CliRunner

    from cnncalc.cli import app

    spec = tmp_path / "a.yaml"
    spec.write_text("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 2, kernel: 3}\n  - adaptive_avgpool\n")
    result = CliRunner().invoke(app, ["summary", str(spec)])
    assert result.exit_code == 1
    assert "a.yaml:4:5: field 'output': adaptive_avgpool needs output" in result.output
    assert "Traceback" not in result.output


# ------------------------------------------------------------------ kernels

SIZES = [((7, 5), (3, 4)), ((6, 9), (2, 3)), ((3, 2), (7, 5)), ((8, 8), (1, 1)), ((5, 6), (5, 6))]


def _avg(x, out_hw):
    out = np.empty(x.shape[:2] + out_hw, x.dtype)
    pool_k.adaptive_avgpool_forward(x, out)
    return out


def _max(x, out_hw):
    out = np.empty(x.shape[:2] + out_hw, x.dtype)
    argmax = np.empty(out.shape, np.int64)
    pool_k.adaptive_maxpool_forward(x, out, argmax)
    return out, argmax


@pytest.mark.torch
@pytest.mark.parametrize("in_hw, out_hw", SIZES)
def test_adaptive_pools_match_torch(in_hw, out_hw):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    x = rand(2, 3, *in_hw)
    dout = rand(2, 3, *out_hw)
    xt = torch.from_numpy(x.copy()).requires_grad_()
    ref = F.adaptive_avg_pool2d(xt, out_hw)
    ref.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(_avg(x, out_hw), ref.detach().numpy(), rtol=1e-5, atol=1e-6)
    dx = np.empty_like(x)
    pool_k.adaptive_avgpool_backward(dout, dx)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)

    xt = torch.from_numpy(x.copy()).requires_grad_()
    ref, idx = F.adaptive_max_pool2d(xt, out_hw, return_indices=True)
    ref.backward(torch.from_numpy(dout))
    out, argmax = _max(x, out_hw)
    assert np.array_equal(out, ref.detach().numpy()) and np.array_equal(argmax, idx.numpy())
    pool_k.maxpool_backward(dout, argmax, dx)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-6, atol=1e-7)


@pytest.mark.torch
def test_adaptive_max_follows_pytorch_on_nan_and_ties():
    torch = pytest.importorskip("torch")
    x = np.zeros((1, 1, 5, 5), np.float32)             # all ties: the first of each window wins
    x[0, 0, 3, 1] = np.nan                              # NaN wins its windows
    ref, idx = torch.nn.functional.adaptive_max_pool2d(torch.from_numpy(x), (3, 3), return_indices=True)
    out, argmax = _max(x, (3, 3))
    np.testing.assert_array_equal(out, ref.numpy())
    assert np.array_equal(argmax, idx.numpy())


@pytest.mark.parametrize("in_hw, out_hw", SIZES[:3])
def test_jitted_adaptive_kernels_equal_their_py_func(in_hw, out_hw):
    x = rand(2, 2, *in_hw)
    dout = rand(2, 2, *out_hw)
    jit_out, py_out = np.empty((2, 2) + out_hw, np.float32), np.empty((2, 2) + out_hw, np.float32)
    pool_k.adaptive_avgpool_forward(x, jit_out)
    pool_k.adaptive_avgpool_forward.py_func(x, py_out)
    np.testing.assert_allclose(jit_out, py_out, rtol=1e-6)
    jit_dx, py_dx = np.empty_like(x), np.empty_like(x)
    pool_k.adaptive_avgpool_backward(dout, jit_dx)
    pool_k.adaptive_avgpool_backward.py_func(dout, py_dx)
    np.testing.assert_allclose(jit_dx, py_dx, rtol=1e-6)
    jit_arg, py_arg = np.empty(jit_out.shape, np.int64), np.empty(jit_out.shape, np.int64)
    pool_k.adaptive_maxpool_forward(x, jit_out, jit_arg)
    pool_k.adaptive_maxpool_forward.py_func(x, py_out, py_arg)
    assert np.array_equal(jit_out, py_out) and np.array_equal(jit_arg, py_arg)


@pytest.fixture
def python_kernels(monkeypatch):
    """Every jitted function of the pooling kernels replaced by its py_func: float64 without compiling."""
    for name, value in list(vars(pool_k).items()):
        if hasattr(value, "py_func"):
            monkeypatch.setattr(pool_k, name, value.py_func)
    return pool_k



@pytest.mark.parametrize("in_hw, out_hw", SIZES[:3])
def test_adaptive_backward_by_finite_differences(python_kernels, in_hw, out_hw):
    k = python_kernels
    x = rand(1, 2, *in_hw, dtype=np.float64)
    dout = rand(1, 2, *out_hw, dtype=np.float64)
    out = np.empty((1, 2) + out_hw)
    argmax = np.empty(out.shape, np.int64)
    dx = np.empty_like(x)

    def avg_loss():
        k.adaptive_avgpool_forward(x, out)
        return float((out * dout).sum())

    def max_loss():
        k.adaptive_maxpool_forward(x, out, argmax)
        return float((out * dout).sum())

    k.adaptive_avgpool_backward(dout, dx)
    np.testing.assert_allclose(dx, numeric_grad(avg_loss, x), rtol=1e-6, atol=1e-8)
    max_loss()                                         # standard normal values: no ties, no kinks within 1e-6
    k.maxpool_backward(dout, argmax, dx)
    np.testing.assert_allclose(dx, numeric_grad(max_loss, x), rtol=1e-6, atol=1e-8)


# ---------------------------------------------------------------- padding at most half the window

@pytest.mark.parametrize("kind", ["maxpool", "avgpool"])
def test_pool_padding_more_than_half_the_window_is_refused_where_pytorch_refuses(kind):
    """PyTorch builds a pool only with p ≤ ⌊f/2⌋ on each side; cnncalc refuses the same cases, by
    axis and by side (asymmetric paddings and rectangular windows included)."""
    torch = pytest.importorskip("torch")
    cases = [(f, p) for f in ((1, 1), (2, 2), (3, 3), (4, 4), (3, 5)) for p in ((0, 0), (1, 1), (2, 2), (1, 2), (3, 0))]
    for f, p in cases:
        module = getattr(torch.nn, "MaxPool2d" if kind == "maxpool" else "AvgPool2d")(f, 1, p)
        try:
            module(torch.zeros(1, 1, 9, 9))
            torch_ok = True
        except RuntimeError:
            torch_ok = False
        r = run(f"- {kind}: {{kernel: {list(f)}, stride: 1, padding: {list(p)}}}", (9, 9, 1))
        assert (r.error is None) == torch_ok, (f, p, r.error)
        if not torch_ok:
            assert "more than half" in str(r.error) and str(r.error).startswith("t.yaml:4:")  # file:line of the layer
    # one side alone: top 2 > ⌊3/2⌋ = 1
    assert "padding 2 along n_H" in str(run(f"- {kind}: {{kernel: 3, padding: [2, 0, 0, 0]}}", (9, 9, 1)).error)
