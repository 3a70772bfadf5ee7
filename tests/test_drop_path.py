"""drop_path (stochastic depth, torchvision.ops.StochasticDepth(p, "row")): the identity in
analysis; in training each sample's whole map is zeroed with probability p and the kept ones are
scaled by 1/(1 − p), backward through the same per-sample mask; the identity in eval."""

import numpy as np
import pytest

from cnncalc import api
from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
from cnncalc.errors import CnncalcError
from cnncalc.layers.dropout import kernels as k
from helpers import spec


def _reference(x, rate, seed):
    """numpy's own: one U[0, 1) draw per sample (the kernel's documented draws), keep where u ≥ rate."""
    u = np.random.default_rng(seed).random(x.shape[0], dtype=np.float32)
    keep = np.where(u >= np.float32(rate), np.float32(1.0 / (1.0 - rate)), np.float32(0.0))
    return x * keep.reshape((-1,) + (1,) * (x.ndim - 1)), keep


# ------------------------------------------------------------------ analysis

def test_drop_path_is_the_identity_in_analysis():
    report = api.report_text(spec("- conv: {filters: 4, kernel: 3}\n- drop_path: 0.2\n- drop_path: {rate: 0.1}"), "t.yaml")
    rows = [r for r in report.rows if r.kind == "drop_path"]
    assert [r.out_shape for r in rows] == [(6, 6, 4), (6, 6, 4)]
    assert [(r.trainable, r.non_trainable, r.macs, r.other_ops) for r in rows] == [(0, 0, 0, 0)] * 2
    assert [r.layer_type.value for r in rows] == [0.2, 0.1]


@pytest.mark.parametrize("text, words", [
    ("- drop_path: 1.0", ["rate", "received 1.0", "0 ≤ rate < 1"]),
    ("- drop_path: -0.1", ["rate", "received -0.1"]),
    ("- drop_path", ["needs rate"]),
])
def test_bad_rate_is_one_clear_error(text, words):
    with pytest.raises(CnncalcError) as e:
        api.report_text(spec(text), "t.yaml")
    message = str(e.value)
    assert "t.yaml:4" in message and "\n" not in message
    for w in words:
        assert w in message


# ------------------------------------------------------------------ kernels

@pytest.mark.parametrize("shape", [(5, 3, 4, 2), (7, 6)])
def test_forward_and_backward_equal_the_reference(shape):
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    out, keep = k.drop_path_forward(x, 0.4, np.random.default_rng(9))
    want, want_keep = _reference(x, 0.4, 9)
    np.testing.assert_array_equal(keep, want_keep)
    np.testing.assert_allclose(out, want, rtol=1e-6)
    dout = np.random.default_rng(2).standard_normal(shape).astype(np.float32)
    dx = k.drop_path_backward(dout, keep)
    np.testing.assert_allclose(dx, dout * want_keep.reshape((-1,) + (1,) * (len(shape) - 1)), rtol=1e-6)


def test_buffers_are_written_in_place():
    x = np.random.default_rng(1).standard_normal((4, 2, 3, 3)).astype(np.float32)
    out, keep, dx = np.empty_like(x), np.empty(4, np.float32), np.empty_like(x)
    got, cache = k.drop_path_forward(x, 0.5, np.random.default_rng(3), out=out, keep=keep)
    assert got is out and cache is keep
    assert k.drop_path_backward(x, cache, dx=dx) is dx


def test_finite_differences():
    """loss = Σ out·g with the mask fixed by the seed; central differences in float64 on x."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((6, 2, 3, 3)).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    _, keep = k.drop_path_forward(x, 0.5, np.random.default_rng(11))
    assert 0 < np.count_nonzero(keep) < len(keep)  # both a dropped and a kept sample
    dx = k.drop_path_backward(g, keep)
    h = 1e-2
    for index in [(0, 0, 0, 0), (1, 1, 2, 1), (2, 0, 1, 2), (3, 1, 0, 0), (4, 0, 2, 2), (5, 1, 1, 1)]:
        xp, xm = x.copy(), x.copy()
        xp[index] += h
        xm[index] -= h
        lp = float(np.sum(k.drop_path_forward(xp, 0.5, np.random.default_rng(11))[0].astype(np.float64) * g))
        lm = float(np.sum(k.drop_path_forward(xm, 0.5, np.random.default_rng(11))[0].astype(np.float64) * g))
        assert dx[index] == pytest.approx((lp - lm) / (2 * h), rel=1e-3, abs=1e-4)


def test_eval_and_rate_zero_are_the_identity():
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    for train, rate in [(False, 0.7), (True, 0.0)]:
        out, cache = k.drop_path_forward(x, rate, np.random.default_rng(0), train)
        assert cache is None and out is x
        assert k.drop_path_backward(x, cache) is x


def test_drop_is_per_sample_at_the_rate():
    """20,000 samples, rate 0.3: each sample's map is all zeros or all x/(1 − p); the dropped
    fraction is 0.3 within 0.02 (the standard error is √(0.3·0.7/20000) ≈ 0.0032, so 6 of them)."""
    m, rate = 20_000, 0.3
    x = np.random.default_rng(1).uniform(1.0, 2.0, (m, 2, 2, 3)).astype(np.float32)  # no zero in x
    out, keep = k.drop_path_forward(x, rate, np.random.default_rng(12345))
    flat_out, flat_x = out.reshape(m, -1), x.reshape(m, -1)
    dropped = np.all(flat_out == 0.0, axis=1)
    kept = np.all(np.isclose(flat_out, flat_x / (1.0 - rate), rtol=1e-6), axis=1)
    assert np.all(dropped ^ kept)  # every sample is one or the other, never a mix
    assert abs(dropped.mean() - rate) < 0.02
    np.testing.assert_array_equal(dropped, keep == 0.0)


# ------------------------------------------------------------------ through the engine

def test_engine_drops_whole_samples():
    """drop_path on the input, then a dense layer: a dropped sample's logits are those of a zero
    input, b; a kept one's are b + (logits of x − b)/(1 − p) (both in eval, where drop_path is the
    identity); the dense weights' gradient sums only the kept samples' inputs, scaled."""
    rate, m = 0.5, 16
    report, net = tr.build(spec("- drop_path: 0.5\n- flatten\n- dense: 3", (2, 2, 3)), "t.yaml", m)
    initialise(net, 3)
    x = np.random.default_rng(4).standard_normal((m,) + net.input_shape).astype(np.float32)
    logits = net.forward(x, True, np.random.default_rng(7)).copy()
    keep = next(a for a in net.layers if getattr(a, "rate", None) == rate).cache.copy()
    assert 0 < np.count_nonzero(keep) < m
    dz = np.random.default_rng(8).standard_normal(logits.shape).astype(np.float32)
    net.backward(dz)
    (dW,) = [g for name, g in net.grads.items() if name.endswith("weight")]
    b = net.forward(np.zeros_like(x), False, None)[0].copy()
    eval_logits = net.forward(x, False, None)
    for i in range(m):
        want = b if keep[i] == 0.0 else b + (eval_logits[i] - b) / (1 - rate)
        np.testing.assert_allclose(logits[i], want, rtol=1e-4, atol=1e-5)
    dropped_x = x.reshape(m, -1) * (keep[:, None])  # keep already holds 1/(1 − p) for the kept
    np.testing.assert_allclose(dW, dz.T @ dropped_x, rtol=1e-4, atol=1e-5)


def test_engine_gradient_passes_back_through_the_same_mask():
    """conv 1×1 → drop_path → dense: the conv weights' gradient against central differences of
    Σ logits·g, every forward drawing the same masks from the same seed."""
    m = 8
    report, net = tr.build(spec("- conv: {filters: 2, kernel: 1}\n- drop_path: 0.5\n- flatten\n- dense: 3",
                                (2, 2, 3)), "t.yaml", m)
    initialise(net, 3)
    x = np.random.default_rng(4).standard_normal((m,) + net.input_shape).astype(np.float32)
    g = np.random.default_rng(8).standard_normal((m, 3)).astype(np.float32)

    def loss():
        return float(np.sum(net.forward(x, True, np.random.default_rng(7)).astype(np.float64) * g))

    loss()
    keep = next(a for a in net.layers if getattr(a, "rate", None) == 0.5).cache
    assert 0 < np.count_nonzero(keep) < m
    net.backward(g)
    (name,) = [n for n in net.params if n.endswith("weight") and net.params[n].ndim == 4]
    w, dw = net.params[name], net.grads[name].copy()
    h = 1e-2
    for index in np.ndindex(w.shape):
        saved = w[index]
        w[index] = saved + h
        lp = loss()
        w[index] = saved - h
        lm = loss()
        w[index] = saved
        assert dw[index] == pytest.approx((lp - lm) / (2 * h), rel=1e-3, abs=1e-3)
