"""mul (element-wise product, the squeeze-and-excitation gate), channel_slice and channel_shuffle.

Rules: hand-worked shapes and counts. Kernels: brute-force index oracles written from the
definitions, central differences in float64 through the kernels' py_func, the jitted kernels
against their py_func, PyTorch (torch.nn.ChannelShuffle, x * s). The SE block spec against a
PyTorch module written here. The registry's examples (tests/test_registry.py) compare each kind
inside a small net with its PyTorch twin.
"""

import re
from pathlib import Path

import numpy as np
import pytest

from cnncalc.errors import DimensionError
from cnncalc.layers.channel import kernels as chan_k
from cnncalc.layers.merge import kernels as merge_k
from helpers import numeric_grad, row, run
from cnncalc.render.messages import notation_text

rng = np.random.default_rng(7)
SPECS = Path(__file__).resolve().parent.parent / "specs"



# ------------------------------------------------------------------ rules, by hand

SE = """- conv: {filters: 8, kernel: 3, padding: 1, name: c}
- parallel:
    - [global_avgpool, dense: 2, relu, dense: 8, sigmoid]
    - []
  merge: mul
  name: se"""


def test_mul_of_a_map_by_its_channel_gate():
    report = run(SE, (6, 6, 3))
    r = row(report, "se.mul")
    # the gate (8,) scales the 6×6×8 map: out 6×6×8, one multiplication per output, 6·6·8 = 288
    assert r.out_shape == (6, 6, 8)
    assert (r.trainable, r.macs, r.other_ops) == (0, 0, 288)
    # receptive field: the pool's branch sees the whole map; conv 3 then global pool over 6: 3 + (6 − 1) = 8
    assert (r.rf.r_H, r.rf.r_W) == (8, 8)


def test_mul_of_two_maps_of_one_shape_and_of_a_1x1_map_gate():
    text = """- conv: {filters: 4, kernel: 1, name: a}
- conv: {filters: 4, kernel: 3, padding: 1, from: input, name: b}
- mul: {from: [a, b], name: ab}
- avgpool: {kernel: 5, from: ab, name: g}
- mul: {from: [ab, g], name: gated}"""
    report = run(text, (5, 5, 2))
    # 5×5×4 · 5×5×4: 100 products; a 1×1×4 gate (the 5×5 average pool) over 5×5×4: again 100
    assert (row(report, "ab").out_shape, row(report, "ab").other_ops) == ((5, 5, 4), 100)
    assert (row(report, "gated").out_shape, row(report, "gated").other_ops) == ((5, 5, 4), 100)


@pytest.mark.parametrize("text, match", [
    ("- conv: {filters: 4, kernel: 1, name: a}\n- conv: {filters: 4, kernel: 3, from: input, name: b}\n"
     "- mul: {from: [a, b]}", r"mul needs equal shapes.*5×5×4.*3×3×4"),
    ("- conv: {filters: 4, kernel: 1, name: a}\n- global_avgpool: {from: input, name: g}\n"
     "- mul: {from: [a, g]}", r"mul needs equal shapes, or a map and a gate of its channels.*5×5×4.*gives 2"),
    ("- conv: {filters: 4, kernel: 1, name: a}\n- conv: {filters: 4, kernel: 1, from: input, name: b}\n"
     "- mul: {from: [a, b, input]}", r"mul multiplies two inputs but reads 3"),
])
def test_mul_refuses_shapes_it_cannot_multiply(text, match):
    error = run(text, (5, 5, 2)).error
    assert isinstance(error, DimensionError) and re.search(match, error.line())


def test_channel_slice_and_shuffle_shapes():
    text = """- conv: {filters: 6, kernel: 1}
- channel_shuffle: 3
- channel_slice: {start: 2, stop: 5}
- flatten
- channel_slice: {stop: 7}"""
    report = run(text, (4, 4, 2))
    rows = {r.kind: r for r in report.rows}
    assert rows["channel_shuffle"].out_shape == (4, 4, 6)
    # channels 2, 3, 4 of 6: 5 − 2 = 3; a flat slice [0, 7) of 4·4·3 = 48 entries: 7
    assert [r.out_shape for r in report.rows if r.kind == "channel_slice"] == [(4, 4, 3), (7,)]
    assert all((r.trainable, r.macs, r.other_ops) == (0, 0, 0)
               for r in report.rows if r.kind.startswith("channel_"))
    assert [notation_text(r.layer_type) for r in report.rows if r.kind.startswith("channel_")] == [
        "channel_shuffle g3", "channel_slice 2:5", "channel_slice 0:7"]


@pytest.mark.parametrize("text, match", [
    ("- conv: {filters: 6, kernel: 1}\n- channel_shuffle: 4",
     r"groups 4 needs n_C divisible by 4.*4×4×6: 6 = 4·1 \+ 2"),
    ("- conv: {filters: 6, kernel: 1}\n- channel_slice: {start: 3, stop: 7}",
     r"\[3, 7\) needs 0 ≤ start < stop ≤ n_C_prev.*n_C_prev = 6"),
    ("- conv: {filters: 6, kernel: 1}\n- channel_slice: {start: 3, stop: 3}", r"\[3, 3\) needs"),
])
def test_channel_ops_refuse_what_does_not_divide_or_fit(text, match):
    error = run(text, (4, 4, 2)).error
    assert isinstance(error, DimensionError) and re.search(match, error.line())


def test_a_bad_shuffle_is_one_error_line_and_exit_1(tmp_path):
    from typer.testing import CliRunner

    from cnncalc.cli import app

    path = tmp_path / "bad.yaml"
    path.write_text("name: t\ninput: [4, 4, 2]\nlayers:\n  - conv: {filters: 6, kernel: 1}\n"
                    "  - channel_shuffle: 4\n")
    result = CliRunner().invoke(app, ["shapes", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    assert "bad.yaml:5" in result.output and "6 = 4·1 + 2" in result.output


# ------------------------------------------------------------------ kernels: oracles and finite differences

def test_channel_shuffle_moves_each_channel_where_the_definition_says():
    # 6 channels, g = 2, q = 3: out channel j·2 + i holds input channel i·3 + j → order 0 3 1 4 2 5
    x = np.arange(6, dtype=np.float32).reshape(1, 6, 1, 1) * np.ones((1, 1, 2, 2), np.float32)
    out, _ = chan_k.channel_shuffle_forward(x, 2)
    assert out[0, :, 0, 0].tolist() == [0, 3, 1, 4, 2, 5]
    # g = 3, q = 2: out j·3 + i ← input i·2 + j → 0 2 4 1 3 5
    out3, _ = chan_k.channel_shuffle_forward(x, 3)
    assert out3[0, :, 1, 1].tolist() == [0, 2, 4, 1, 3, 5]


def test_channel_slice_is_numpy_slicing_and_its_gradient_is_zero_outside():
    x = rng.standard_normal((2, 5, 3, 2)).astype(np.float32)
    out, cache = chan_k.channel_slice_forward(x, 1, 4)
    np.testing.assert_array_equal(out, x[:, 1:4])
    dout = rng.standard_normal(out.shape).astype(np.float32)
    dx = chan_k.channel_slice_backward(dout, cache)
    expected = np.zeros_like(x)
    expected[:, 1:4] = dout
    np.testing.assert_array_equal(dx, expected)


def test_gate_is_numpy_broadcasting_in_either_order():
    x = rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
    s = rng.standard_normal((2, 3)).astype(np.float32)
    expected = x * s[:, :, None, None]
    for xs in ([x, s], [s, x], [x, s.reshape(2, 3, 1, 1)]):
        out, _ = merge_k.mul_forward(xs)
        np.testing.assert_allclose(out, expected, rtol=1e-6)


def _fd_check(forward, backward, inputs):
    """Σ out·w: backward's gradient to each float64 input against central differences."""
    out = forward(*inputs)
    w = rng.standard_normal(out.shape)
    grads = backward(w, *inputs)
    for x, g in zip(inputs, grads):
        num = numeric_grad(lambda: float(np.sum(forward(*inputs) * w)), x)
        np.testing.assert_allclose(g, num, rtol=1e-6, atol=1e-8)


def test_mul_backward_by_finite_differences():
    def forward(a, b):
        out = np.empty_like(a)
        merge_k.mul_kernel.py_func(a.reshape(-1), b.reshape(-1), out.reshape(-1))
        return out

    def backward(w, a, b):
        da, db = np.empty_like(a), np.empty_like(b)
        merge_k.mul_backward_kernel.py_func(w.reshape(-1), a.reshape(-1), b.reshape(-1),
                                            da.reshape(-1), db.reshape(-1))
        return da, db

    _fd_check(forward, backward, [rng.standard_normal((2, 3, 2, 2)), rng.standard_normal((2, 3, 2, 2))])


def test_gate_backward_by_finite_differences():
    def forward(x, s):
        out = np.empty_like(x)
        merge_k.gate_kernel.py_func(x, s, out)
        return out

    def backward(w, x, s):
        dx, ds = np.empty_like(x), np.empty_like(s)
        merge_k.gate_backward_kernel.py_func(w, x, s, dx, ds)
        return dx, ds

    _fd_check(forward, backward, [rng.standard_normal((2, 3, 5)), rng.standard_normal((2, 3))])


@pytest.mark.parametrize("g", [1, 2, 3, 6])
def test_shuffle_backward_by_finite_differences(g):
    def forward(x):
        out = np.empty_like(x)
        chan_k.shuffle_kernel.py_func(x, g, out)
        return out

    def backward(w, x):
        dx = np.empty_like(x)
        chan_k.shuffle_kernel.py_func(w, x.shape[1] // g, dx)  # the inverse permutation
        return (dx,)

    _fd_check(forward, backward, [rng.standard_normal((2, 6, 3))])


def test_slice_backward_by_finite_differences():
    def forward(x):
        out = np.empty((2, 3, 4))
        chan_k.slice_kernel.py_func(x, 2, out)
        return out

    def backward(w, x):
        dx = np.empty_like(x)
        chan_k.slice_backward_kernel.py_func(w, 2, dx)
        return (dx,)

    _fd_check(forward, backward, [rng.standard_normal((2, 6, 4))])


def test_jitted_kernels_match_their_py_func():
    f = lambda *shape: rng.standard_normal(shape).astype(np.float32)  # noqa: E731
    cases = [
        (merge_k.mul_kernel, (f(30), f(30)), (30,)),
        (merge_k.gate_kernel, (f(2, 3, 4), f(2, 3)), (2, 3, 4)),
        (chan_k.slice_kernel, (f(2, 5, 4), 1), (2, 3, 4)),
        (chan_k.slice_backward_kernel, (f(2, 3, 4), 1), (2, 5, 4)),
        (chan_k.shuffle_kernel, (f(2, 6, 4), 3), (2, 6, 4)),
    ]
    for kernel, args, shape in cases:
        a, b = np.full(shape, np.nan, np.float32), np.full(shape, np.nan, np.float32)
        kernel(*args, a)
        kernel.py_func(*args, b)
        np.testing.assert_array_equal(a, b, err_msg=kernel.__name__)
    d, x, s = f(2, 3, 4), f(2, 3, 4), f(2, 3)
    jit_out = [np.empty_like(x), np.empty_like(s)]
    py_out = [np.empty_like(x), np.empty_like(s)]
    merge_k.gate_backward_kernel(d, x, s, *jit_out)
    merge_k.gate_backward_kernel.py_func(d, x, s, *py_out)
    for a, b in zip(jit_out, py_out):
        np.testing.assert_allclose(a, b, rtol=1e-6)


def test_kernels_match_torch():
    torch = pytest.importorskip("torch")
    x = rng.standard_normal((2, 6, 3, 4)).astype(np.float32)
    for g in (2, 3):
        out, _ = chan_k.channel_shuffle_forward(x, g)
        np.testing.assert_array_equal(out, torch.nn.ChannelShuffle(g)(torch.from_numpy(x)).numpy())
    xt = torch.from_numpy(x.copy()).requires_grad_()
    st = torch.from_numpy(rng.standard_normal((2, 6)).astype(np.float32)).requires_grad_()
    w = torch.from_numpy(rng.standard_normal(x.shape).astype(np.float32))
    (xt * st[:, :, None, None] * w).sum().backward()
    out, cache = merge_k.mul_forward([st.detach().numpy(), x])
    ds, dx = merge_k.mul_backward(w.numpy(), cache)
    np.testing.assert_allclose(out, (xt * st[:, :, None, None]).detach().numpy(), rtol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ds, st.grad.numpy(), rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ the SE block spec against PyTorch

def test_se_block_spec_matches_a_pytorch_se_module():
    torch = pytest.importorskip("torch")
    from torch import nn

    from cnncalc.engine import train as tr
    from cnncalc.engine.init import initialise
    from cnncalc.layers.activation.kernels import softmax_cross_entropy

    class SEBlock(nn.Module):
        """Hu et al.'s squeeze-and-excitation after a conv + relu, written as its paper draws it."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 16, 3, padding=1)
            self.reduce = nn.Linear(16, 4)
            self.expand = nn.Linear(4, 16)
            self.fc = nn.Linear(16, 10)

        def forward(self, x):
            x = torch.relu(self.conv(x))
            s = torch.sigmoid(self.expand(torch.relu(self.reduce(x.mean((2, 3))))))
            x = x * s[:, :, None, None]
            return self.fc(x.mean((2, 3)))

    text = (SPECS / "se_block.yaml").read_text()
    report, net = tr.build(text, "se_block.yaml", 4)
    # params by hand: conv 3·3·3·16 + 16 = 448, reduce 16·4 + 4 = 68, expand 4·16 + 16 = 80, fc 16·10 + 10 = 170
    assert report.totals.trainable == 448 + 68 + 80 + 170
    initialise(net, 5)
    module = SEBlock()
    names = {"conv": "conv", "reduce": "se.b0.reduce", "expand": "se.b0.expand", "fc": "fc"}
    with torch.no_grad():
        for theirs, ours in names.items():
            getattr(module, theirs).weight.copy_(torch.from_numpy(net.params[f"{ours}.weight"]))
            getattr(module, theirs).bias.copy_(torch.from_numpy(net.params[f"{ours}.bias"]))
    x = rng.standard_normal((4,) + net.input_shape).astype(np.float32)
    y = np.arange(4) % 10
    logits = net.forward(x, True)
    loss, dz, _ = softmax_cross_entropy(logits, y)
    net.backward(dz)
    theirs = module(torch.from_numpy(x.copy()))
    torch_loss = nn.functional.cross_entropy(theirs, torch.from_numpy(y))
    torch_loss.backward()
    np.testing.assert_allclose(logits, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    for theirs_name, ours in names.items():
        layer = getattr(module, theirs_name)
        np.testing.assert_allclose(net.grads[f"{ours}.weight"], layer.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(net.grads[f"{ours}.bias"], layer.bias.grad.numpy(), rtol=1e-4, atol=1e-5)
