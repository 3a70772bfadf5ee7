"""The activations of modern CNNs: relu6, hardsigmoid, hardswish, silu, gelu, elu, prelu.

Each number is checked against something independent of the kernels: hand-worked values (the
arithmetic in the comment, math's erf/exp/tanh beside them), central finite differences of the
forward for the backward, the jitted kernel against its own py_func, and torch.nn.functional at
the kinks, where the derivative is a convention (torch's is the one to match).
"""

import math

import numpy as np
import pytest

from cnncalc.engine import init
from cnncalc.engine import train as tr
from cnncalc.errors import DimensionError, SpecError
from cnncalc.layers.activation import kernels as k
from helpers import run, spec

# ------------------------------------------------------------------ hand-worked values

SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)


def test_relu6_hardsigmoid_hardswish_by_hand():
    x = np.array([-4.0, -3.0, -1.5, 0.0, 1.0, 3.0, 6.0, 7.5], np.float32)
    # relu6 = min(max(x, 0), 6)
    assert k.relu6_forward(x)[0].tolist() == [0, 0, 0, 0, 1, 3, 6, 6]
    # hardsigmoid = relu6(x + 3)/6: −4 → 0; −3 → 0; −1.5 → 1.5/6 = 0.25; 0 → 0.5; 1 → 4/6; 3 → 1; above → 1
    np.testing.assert_allclose(k.hardsigmoid_forward(x)[0], [0, 0, 0.25, 0.5, 4 / 6, 1, 1, 1], rtol=1e-6)
    # hardswish = x·relu6(x + 3)/6: −1.5·1.5/6 = −0.375; 1·4/6 = 0.6667; x ≥ 3 → x
    np.testing.assert_allclose(k.hardswish_forward(x)[0], [0, 0, -0.375, 0, 4 / 6, 3, 6, 7.5], rtol=1e-6)


def test_silu_gelu_elu_by_hand():
    x = np.array([-1.0, 0.0, 1.0, 2.0], np.float32)
    # silu(1) = 1/(1 + e^−1) = 0.7310586; silu(−1) = −1/(1 + e) = −0.2689414; silu(2) = 2/(1 + e^−2) = 1.7615942
    np.testing.assert_allclose(k.silu_forward(x)[0], [-0.2689414, 0.0, 0.7310586, 1.7615942], rtol=1e-6)
    # exact gelu(x) = x/2·(1 + erf(x/√2)): gelu(1) = Φ(1) = 0.8413447, gelu(−1) = −(1 − Φ(1)) = −0.1586553
    np.testing.assert_allclose(k.gelu_forward(x)[0], [-0.1586553, 0.0, 0.8413447, 1.9544997], rtol=1e-6)
    # tanh form at 1: 0.5·(1 + tanh(√(2/π)·1.044715)) = 0.5·(1 + tanh(0.8335565)) = 0.8411920
    tanh_form = [v / 2 * (1 + math.tanh(SQRT_2_OVER_PI * (v + 0.044715 * v ** 3))) for v in x.tolist()]
    assert tanh_form[2] == pytest.approx(0.8411920, rel=1e-6)
    np.testing.assert_allclose(k.gelu_forward(x, "tanh")[0], tanh_form, rtol=1e-6)
    # elu: x > 0 → x; else α·(e^x − 1): α = 1 at −1: −0.6321206; α = 0.5: −0.3160603
    np.testing.assert_allclose(k.elu_forward(x)[0], [-0.6321206, 0, 1, 2], rtol=1e-6)
    np.testing.assert_allclose(k.elu_forward(x, 0.5)[0], [-0.3160603, 0, 1, 2], rtol=1e-6)


def test_prelu_by_hand_per_channel_and_shared():
    # x: (1, 2, 1, 2), slopes 0.25 for channel 0 and −2 for channel 1
    x = np.array([[[[-4.0, 3.0]], [[-1.0, 2.0]]]], np.float32)
    out, cache = k.prelu_forward(x, np.array([0.25, -2.0], np.float32))
    assert out.tolist() == [[[[-1.0, 3.0]], [[2.0, 2.0]]]]        # −4·0.25 = −1, −1·−2 = 2
    dout = np.array([[[[1.0, 1.0]], [[3.0, 5.0]]]], np.float32)
    dx, da = k.prelu_backward(dout, cache)
    assert dx.tolist() == [[[[0.25, 1.0]], [[-6.0, 5.0]]]]       # 0.25·1; −2·3
    assert da.tolist() == [-4.0, -3.0]                            # Σ over x ≤ 0 of dout·x: 1·−4; 3·−1
    # one slope for all: da = −4 + −3 = −7
    out, cache = k.prelu_forward(x, np.array([0.5], np.float32))
    assert out.tolist() == [[[[-2.0, 3.0]], [[-0.5, 2.0]]]]
    assert k.prelu_backward(dout, cache)[1].tolist() == [-7.0]
    # flat vectors (m, n): the channels are the features
    out, cache = k.prelu_forward(np.array([[-2.0, -2.0]], np.float32), np.array([0.1, 0.3], np.float32))
    np.testing.assert_allclose(out, [[-0.2, -0.6]], rtol=1e-6)


# ------------------------------------------------------------------ finite differences (float64 py_func)

def _fd_check(forward, backward, x):
    """backward's dx against central differences of Σ dout·forward(x), in float64 py_func."""
    rng = np.random.default_rng(1)
    dout = rng.standard_normal(x.shape)
    dx = np.empty_like(x)
    backward(dout, x, dx)
    h = 1e-6
    numeric = np.empty_like(x)
    for i in range(x.size):
        plus, minus = x.copy(), x.copy()
        plus[i] += h
        minus[i] -= h
        a, b = np.empty_like(x), np.empty_like(x)
        forward(plus, a)
        forward(minus, b)
        numeric[i] = (dout * (a - b)).sum() / (2 * h)
    np.testing.assert_allclose(dx, numeric, rtol=1e-6, atol=1e-8)


# points away from every kink (0, ±3, 6), spanning all the pieces
SMOOTH_X = np.array([-7.3, -4.1, -2.9, -1.2, -0.4, 0.3, 1.7, 2.6, 3.4, 5.2, 6.8, 9.1])

PAIRS = {
    "relu6": (lambda x, o: k.relu6_kernel.py_func(x, o), lambda d, x, dx: k.relu6_backward_kernel.py_func(d, x, dx)),
    "hardsigmoid": (lambda x, o: k.hardsigmoid_kernel.py_func(x, o),
                    lambda d, x, dx: k.hardsigmoid_backward_kernel.py_func(d, x, dx)),
    "hardswish": (lambda x, o: k.hardswish_kernel.py_func(x, o),
                  lambda d, x, dx: k.hardswish_backward_kernel.py_func(d, x, dx)),
    "silu": (lambda x, o: k.silu_kernel.py_func(x, o), lambda d, x, dx: k.silu_backward_kernel.py_func(d, x, dx)),
    "gelu": (lambda x, o: k.gelu_kernel.py_func(x, False, o),
             lambda d, x, dx: k.gelu_backward_kernel.py_func(d, x, False, dx)),
    "gelu-tanh": (lambda x, o: k.gelu_kernel.py_func(x, True, o),
                  lambda d, x, dx: k.gelu_backward_kernel.py_func(d, x, True, dx)),
    "elu": (lambda x, o: k.elu_kernel.py_func(x, 0.7, o),
            lambda d, x, dx: k.elu_backward_kernel.py_func(d, x, 0.7, dx)),
}


@pytest.mark.parametrize("name", list(PAIRS))
def test_backward_matches_finite_differences(name):
    forward, backward = PAIRS[name]
    _fd_check(forward, backward, SMOOTH_X.copy())


def test_prelu_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 2, 2))
    x[np.abs(x) < 1e-3] = 0.5  # away from the kink
    a = np.array([0.25, -0.4, 1.3])
    dout = rng.standard_normal(x.shape)

    def loss(x, a):
        out = np.empty_like(x)
        k.prelu_kernel.py_func(x.reshape(2, 3, 4), a, out.reshape(2, 3, 4))
        return (dout * out).sum()

    dx, da = np.empty_like(x), np.empty_like(a)
    k.prelu_backward_kernel.py_func(dout.reshape(2, 3, 4), x.reshape(2, 3, 4), a, dx.reshape(2, 3, 4), da)
    h = 1e-6
    for arr, grad in ((x, dx), (a, da)):
        numeric = np.empty_like(arr)
        for i in range(arr.size):
            flat = arr.reshape(-1)
            keep = flat[i]
            flat[i] = keep + h
            up = loss(x, a)
            flat[i] = keep - h
            down = loss(x, a)
            flat[i] = keep
            numeric.reshape(-1)[i] = (up - down) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


# ------------------------------------------------------------------ the jitted kernels against their py_func

KERNELS = [
    (k.relu6_kernel, k.relu6_backward_kernel, ()),
    (k.hardsigmoid_kernel, k.hardsigmoid_backward_kernel, ()),
    (k.hardswish_kernel, k.hardswish_backward_kernel, ()),
    (k.silu_kernel, k.silu_backward_kernel, ()),
    (k.gelu_kernel, k.gelu_backward_kernel, (False,)),
    (k.gelu_kernel, k.gelu_backward_kernel, (True,)),
    (k.elu_kernel, k.elu_backward_kernel, (0.7,)),
]


@pytest.mark.parametrize("fwd, bwd, args", KERNELS, ids=["relu6", "hardsigmoid", "hardswish", "silu", "gelu",
                                                        "gelu-tanh", "elu"])
def test_jitted_kernels_equal_their_py_func(fwd, bwd, args):
    rng = np.random.default_rng(5)
    x = np.concatenate([(4 * rng.standard_normal(40)), [-3, 0, 3, 6]]).astype(np.float32)
    dout = rng.standard_normal(x.size).astype(np.float32)
    results = []
    for f, b in ((fwd, bwd), (fwd.py_func, bwd.py_func)):
        out, dx = np.empty_like(x), np.empty_like(x)
        f(x, *args, out)
        b(dout, x, *args, dx)
        results.append((out, dx))
    np.testing.assert_allclose(results[0][0], results[1][0], rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(results[0][1], results[1][1], rtol=1e-6, atol=1e-7)


def test_prelu_jitted_equals_py_func():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((3, 4, 5)).astype(np.float32)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    for a in (np.array([0.25], np.float32), rng.standard_normal(4).astype(np.float32)):
        got = []
        for f, b in ((k.prelu_kernel, k.prelu_backward_kernel),
                     (k.prelu_kernel.py_func, k.prelu_backward_kernel.py_func)):
            out, dx, da = np.empty_like(x), np.empty_like(x), np.empty_like(a)
            f(x, a, out)
            b(dout, x, a, dx, da)
            got.append((out, dx, da))
        for mine, theirs in zip(*got):
            np.testing.assert_allclose(mine, theirs, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------ PyTorch, the kinks included

@pytest.mark.torch
@pytest.mark.parametrize("name", ["relu6", "hardsigmoid", "hardswish", "silu", "gelu", "gelu-tanh", "elu"])
def test_forward_and_gradient_equal_torch_across_every_piece_and_at_the_kinks(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    ours, theirs = {
        "relu6": ((k.relu6_forward, k.relu6_backward, ()), F.relu6),
        "hardsigmoid": ((k.hardsigmoid_forward, k.hardsigmoid_backward, ()), F.hardsigmoid),
        "hardswish": ((k.hardswish_forward, k.hardswish_backward, ()), F.hardswish),
        "silu": ((k.silu_forward, k.silu_backward, ()), F.silu),
        "gelu": ((k.gelu_forward, k.gelu_backward, ("none",)), lambda t: F.gelu(t, approximate="none")),
        "gelu-tanh": ((k.gelu_forward, k.gelu_backward, ("tanh",)), lambda t: F.gelu(t, approximate="tanh")),
        "elu": ((k.elu_forward, k.elu_backward, (0.7,)), lambda t: F.elu(t, alpha=0.7)),
    }[name]
    forward, backward, args = ours
    rng = np.random.default_rng(7)
    kinks = [-3.0, 0.0, 3.0, 6.0]
    x = np.concatenate([np.linspace(-9, 9, 73), kinks, 4 * rng.standard_normal(50)]).astype(np.float32)
    x = x.reshape(1, 1, 1, -1)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    out, cache = forward(x, *args)
    dx = backward(dout, cache)
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = theirs(xt)
    yt.backward(torch.from_numpy(dout))
    np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.torch
def test_prelu_equals_torch_per_channel_and_shared():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((3, 4, 2, 5)).astype(np.float32)
    x[0, 0, 0, :2] = 0.0  # at the kink: torch counts x = 0 on the slope side (x·dout = 0 there)
    dout = rng.standard_normal(x.shape).astype(np.float32)
    for a in (np.array([0.25], np.float32), rng.standard_normal(4).astype(np.float32)):
        out, cache = k.prelu_forward(x, a)
        dx, da = k.prelu_backward(dout, cache)
        module = torch.nn.PReLU(num_parameters=a.size)
        with torch.no_grad():
            module.weight.copy_(torch.from_numpy(a))
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        yt = module(xt)
        yt.backward(torch.from_numpy(dout))
        np.testing.assert_allclose(out, yt.detach().numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(da, module.weight.grad.numpy(), rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------ analysis: params, other ops, errors

def _rows(text, shape=(8, 8, 3)):
    report = run(text, shape)
    if report.error is not None:
        raise report.error
    return {r.name: r for r in report.rows}


def test_params_and_other_ops_by_hand():
    rows = _rows("- conv: {filters: 4, kernel: 3}\n- prelu: 4\n- prelu\n- relu6\n- hardswish\n- gelu: tanh\n"
                 "- elu: 0.5\n- flatten\n- prelu: 144")
    # conv 3×3 valid on 8×8×3 → 6×6×4 = 144 elements; one op per element for each activation
    for name in ("prelu1", "prelu2", "relu61", "hardswish1", "gelu1", "elu1"):
        assert rows[name].out_shape == (6, 6, 4) and rows[name].other_ops == 144
    assert (rows["prelu1"].trainable, rows["prelu2"].trainable, rows["prelu3"].trainable) == (4, 1, 144)
    assert rows["relu61"].trainable == 0 and rows["gelu1"].non_trainable == 0


def test_field_values_reach_the_layer():
    report = run("- gelu: TANH\n- gelu\n- elu\n- prelu: {slopes: 3, init: 0.1}\n- swish", (2, 2, 3))
    nodes = {n.name: n for n in report.graph.nodes}
    assert nodes["gelu1"].fields["approximate"] == "tanh" and nodes["gelu2"].fields["approximate"] == "none"
    assert nodes["elu1"].fields["alpha"] == 1.0
    assert (nodes["prelu1"].fields["num_parameters"], nodes["prelu1"].fields["init"]) == (3, 0.1)
    assert nodes["silu1"].kind == "silu"


def test_a_prelu_slope_count_that_is_neither_one_nor_the_channels_is_refused():
    with pytest.raises(DimensionError, match=r"prelu1: prelu's num_parameters must be 1 or the 4 channels.*"
                                             r"received 3"):
        _rows("- conv: {filters: 4, kernel: 3}\n- prelu: 3")


def test_an_unknown_gelu_approximation_names_the_choices():
    with pytest.raises(SpecError) as caught:
        _rows("- gelu: erf")
    text = str(caught.value)
    assert "approximate" in text and "erf" in text and "'none' or 'tanh'" in text


# ------------------------------------------------------------------ init roles (he-glorot)

@pytest.mark.parametrize("activation, expected", [
    ("relu6", ("he_normal", math.sqrt(2.0))),
    ("hardswish", ("he_normal", math.sqrt(2.0))),
    ("silu", ("he_normal", math.sqrt(2.0))),
    ("gelu", ("he_normal", math.sqrt(2.0))),
    ("elu: 0.5", ("he_normal", math.sqrt(2.0))),       # not leaky_relu's √(2/(1 + α²)): α is not a slope here
    ("prelu", ("he_normal", math.sqrt(2.0 / (1.0 + 0.25 ** 2)))),   # calculate_gain('leaky_relu', 0.25) = 1.3720
    ("prelu: {init: 0.5}", ("he_normal", math.sqrt(2.0 / 1.25))),
    ("hardsigmoid", ("glorot_uniform", 1.0)),
])
def test_the_layer_before_gets_the_gain_the_activation_asks_for(activation, expected):
    report = tr.analyse(spec(f"- conv: {{filters: 4, kernel: 3, name: c}}\n- {activation}\n- flatten\n- dense: 2",
                             (6, 6, 2)), "t.yaml")
    scheme, gain = init.scheme_for(report.graph, "c")
    assert scheme == expected[0] and gain == pytest.approx(expected[1], rel=1e-12)
    if activation == "prelu":
        assert expected[1] == pytest.approx(1.3720, abs=1e-4)


def test_prelu_starts_at_its_init_value_under_the_pytorch_name():
    report, net = tr.build(spec("- conv: {filters: 3, kernel: 3, name: c}\n- prelu: {num_parameters: 3, name: p}\n"
                                "- flatten\n- dense: 2", (5, 5, 1)), "t.yaml", 2)
    init.initialise(net, 0)
    assert net.params["p.weight"].tolist() == [0.25, 0.25, 0.25]
    assert net.grads["p.weight"].shape == (3,)


def test_the_cli_names_a_bad_prelu_in_one_line(tmp_path):
    from typer.testing import CliRunner

    from cnncalc.cli import app

    path = tmp_path / "bad.yaml"
    path.write_text(spec("- conv: {filters: 4, kernel: 3}\n- prelu: {num_parameters: 5}"))
    result = CliRunner().invoke(app, ["summary", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    # the rows that did analyse are kept (the conv), then one line for the error
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if "num_parameters" in line]
    assert len(lines) == 1
    assert "bad.yaml:5" in lines[0] and "must be 1 or the 4 channels" in lines[0] and "received 5" in lines[0]
