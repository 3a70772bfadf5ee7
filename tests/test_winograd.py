"""The Winograd F(2×2, 3×3) conv path (winograd_kernels.py), its place in Conv and tuning, and training on it.

Oracles: PyTorch's conv2d and autograd in float64, the direct kernels (kernels.py, no Winograd), finite
differences of the loss L = Σ out·dout (linear in x, in W and in b, so a central difference of any step
is exact up to rounding), the kernels' own py_func, and test_engine's networks trained on both paths.

Tolerance against float64: every output, dx and dW element is a sum of products, bounded in float32 by
γ_n·Σ|terms| (ε = 2⁻²³, float32's unit). Winograd sums in the transformed domain, where a term is a
combination of up to 4×4 inputs and 4×4 filter or gradient entries (the transforms only add, subtract
and halve), so its terms are larger and the error a few ulps more: measured at most 6 ε·Σ|terms| for
out and dx, 15 for dW (its sum runs over every tile of the batch), against 2 for the direct kernels.
So each element must lie within TOL_ULPS = 64 ε·Σ|terms| of the float64 result, Σ|terms| computed by the
same float64 convolution on |x|, |W|, |dout|. A planted sign or index error moves a result by
O(Σ|terms|): 10⁵ times the tolerance.
"""

import json

import numba
import numpy as np
import pytest

from cnncalc.layers.conv import kernels as ck
from cnncalc.layers.conv import tuning
from cnncalc.layers.conv import winograd_kernels as wk
from helpers import central_difference, spec

pytest.importorskip("scipy")  # np.dot inside Numba is SciPy's BLAS: without it the Winograd path is never taken

EPS = float(np.finfo(np.float32).eps)
TOL_ULPS = 64

# (m, n_C_prev, n_H_prev, n_W_prev, n_C, (p_top, p_bottom, p_left, p_right), bias, need_dx)
CASES = [
    (3, 4, 7, 9, 6, (1, 1, 1, 1), True, True),      # 'same', odd map: partial tiles on both edges
    (5, 5, 8, 8, 7, (0, 0, 0, 0), True, True),      # valid, even map (6×6 out: whole tiles), dx padding 2
    (4, 3, 6, 5, 5, (2, 2, 2, 2), False, True),     # padding 2 (dx padding 0), no bias
    (4, 3, 6, 5, 5, (0, 1, 0, 1), True, True),      # asymmetric: 'same' for an even size at stride 1
    (4, 3, 6, 5, 5, (0, 1, 0, 1), True, False),     # … a network's first layer: no dx
    (5, 5, 2, 2, 3, (1, 1, 1, 1), True, True),      # 2×2 map: one tile
    (2, 3, 1, 1, 5, (1, 1, 1, 1), True, True),      # 1×1 map: one tile, three quarters discarded
    (1, 6, 4, 4, 9, (1, 1, 1, 1), False, True),     # batch 1, fewer images than lanes
    (3, 2, 5, 6, 3, (3, 1, 0, 2), True, True),      # padding 3: dx padding −1 (the plane starts inside dout)
]


def _n_out(case):
    _, _, H, Wd, _, p, _, _ = case
    return H + p[0] + p[1] - 2, Wd + p[2] + p[3] - 2


def _data(case, seed=0):
    m, C, H, Wd, K, _, bias, _ = case
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((m, C, H, Wd), dtype=np.float32), rng.standard_normal((K, C, 3, 3), dtype=np.float32),
            rng.standard_normal(K, dtype=np.float32) if bias else None,
            rng.standard_normal((m, K) + _n_out(case), dtype=np.float32))


def _torch64(case, x, W, b, dout):
    """(out, dx, dW, db) in float64 from PyTorch: the conv after an explicit F.pad (asymmetric pads)."""
    torch = pytest.importorskip("torch")
    p = case[5]
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    Wt = torch.tensor(W, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(np.zeros(W.shape[0]) if b is None else b, dtype=torch.float64, requires_grad=True)
    out = torch.nn.functional.conv2d(torch.nn.functional.pad(xt, (p[2], p[3], p[0], p[1])), Wt, bt)
    out.backward(torch.tensor(dout, dtype=torch.float64))
    return out.detach().numpy(), xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()


def _run(case, x, W, b, dout, path):
    m, C, H, Wd, K, p, bias, need_dx = case
    layer = ck.Conv(m, C, H, Wd, K, (3, 3), (1, 1), p, (1, 1), 1, *_n_out(case), need_dx=need_dx, path=path)
    assert layer.plan.kernel == ("winograd" if path == "winograd" else "conv2d")
    out = layer.forward(x, W, b).copy()
    dW, db = np.full_like(W, np.nan), (np.full(K, np.nan, np.float32) if bias else None)
    dx = layer.backward(dout, W, dW, db, need_dx=need_dx)
    return out, (None if dx is None else dx.copy()), dW, db


def _within(ours, ref, scale):
    """Every element within TOL_ULPS·ε of its sum of |terms| (scale), and no NaN."""
    assert ours.shape == ref.shape
    assert np.all(np.abs(ours - ref) <= TOL_ULPS * EPS * scale + 1e-30), np.max(np.abs(ours - ref) / scale) / EPS


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES)
def test_winograd_matches_pytorch_in_float64_and_the_direct_kernels(case):
    x, W, b, dout = _data(case)
    ref = _torch64(case, x, W, b, dout)
    scale = _torch64(case, np.abs(x), np.abs(W), None if b is None else np.abs(b), np.abs(dout))
    ours = _run(case, x, W, b, dout, "winograd")
    direct = _run(case, x, W, b, dout, "direct")
    for name, o, d, r, s in zip(("out", "dx", "dW", "db"), ours, direct, ref, scale):
        if o is None:  # no dx wanted, or no bias
            assert d is None
            continue
        _within(o, r, s)
        _within(o, d, 2 * s)  # both float32: each within TOL of the float64 result


def test_loss_gradients_match_central_differences():
    """L = Σ out·dout is linear in each of x, W, b: a central difference with step 0.5 is exact but
    for float32 rounding of L (accumulated in float64 here, ~1e-7 relative to Σ|out·dout|)."""
    case = (2, 3, 5, 4, 4, (1, 1, 0, 1), True, True)
    m, C, H, Wd, K, p, _, _ = case
    x, W, b, dout = _data(case, seed=4)
    layer = ck.Conv(m, C, H, Wd, K, (3, 3), (1, 1), p, (1, 1), 1, *_n_out(case), path="winograd")

    def loss():
        return float(np.sum(layer.forward(x, W, b).astype(np.float64) * dout))

    loss()
    dW, db = np.empty_like(W), np.empty_like(b)
    dx = layer.backward(dout, W, dW, db).copy()
    size = float(np.sum(np.abs(layer.forward(np.abs(x), np.abs(W), np.abs(b)) * dout)))
    rng = np.random.default_rng(6)
    for value, grad in ((x, dx), (W, dW), (b, db)):
        for _ in range(6):
            idx = tuple(int(rng.integers(n)) for n in value.shape)
            numeric = central_difference(loss, value, idx, eps=0.5)
            assert abs(numeric - grad[idx]) <= 1e-5 * size, (idx, numeric, grad[idx])


def test_one_and_two_threads_agree_bit_for_bit():
    """The lanes are the plan's (NUMBA_NUM_THREADS rows of workspace), not the threads running them:
    the same images fall in the same chunks and the per-lane sums are added in the same order."""
    if numba.config.NUMBA_NUM_THREADS < 2:
        pytest.skip("one Numba thread only")
    case = (5, 6, 7, 6, 5, (1, 1, 1, 1), True, True)
    x, W, b, dout = _data(case, seed=2)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append(_run(case, x, W, b, dout, "winograd"))
    finally:
        numba.set_num_threads(before)
    for one, two in zip(*results):
        assert np.array_equal(one, two)


def _workspace(case, lanes, chunk):
    m, C, H, Wd, K, p, _, need_dx = case
    plan = ck.ConvPlan(m, C, H, Wd, K, 3, 3, 1, 1, p, 1, 1, 1, *_n_out(case), lanes, winograd_chunk=chunk)
    return plan.workspace(need_dx, "winograd")


@pytest.mark.parametrize("lanes, chunk", [(1, 1), (2, 2), (3, 4), (7, 1)])
def test_lanes_and_chunks_that_do_not_divide_the_batch(lanes, chunk):
    """Short last chunks (the panels' tails hold an earlier chunk's columns, which must never reach a
    result) and lanes without images (7 lanes, 5 images): the same numbers as one lane, one chunk,
    to float32 rounding; the outputs start as NaN so a position never written shows."""
    case = (5, 4, 7, 9, 6, (1, 1, 1, 1), True, True)
    x, W, b, dout = _data(case, seed=3)
    results = []
    for L, c in ((1, 5), (lanes, chunk)):
        ws = _workspace(case, L, c)
        out = np.full((5, 6) + _n_out(case), np.nan, np.float32)
        wk.winograd_forward(L, x, W, b, 1, 1, c, ws["U"], ws["plane"], ws["V"], ws["M"], ws["rows"], ws["out_plane"],
                            out)
        dx, dW, db = np.full_like(x, np.nan), np.full_like(W, np.nan), np.full_like(b, np.nan)
        wk.winograd_backward(L, x, dout, W, 1, 1, c, ws["U"], ws["plane"], ws["V"], ws["M"], ws["rows"],
                             ws["out_plane"], ws["dU_tmp"], ws["dU_lanes"], ws["db_lanes"], dW, db, dx)
        results.append((out, dx, dW, db))
    for one, many in zip(*results):
        np.testing.assert_allclose(many, one, rtol=1e-5, atol=1e-5 * np.abs(one).max())


def test_the_serial_functions_match_their_py_func():
    """The jitted lane functions against their own Python (same float32 arrays; fastmath may reorder sums:
    1e-5 relative): the filter transform, a lane's forward and backward chunks, and dW's reduction."""
    case = (3, 3, 5, 4, 4, (1, 1, 0, 1), True, True)
    x, W, b, dout = _data(case, seed=5)
    jitted, python = _workspace(case, 1, 2), _workspace(case, 1, 2)
    n_H, n_W = _n_out(case)
    outs = []
    for forward, backward, filters, reduce, ws in (
            (wk._forward_chunks.dispatcher, wk._backward_chunks.dispatcher, wk._filter_rows.dispatcher,
             wk._dW_rows.dispatcher, jitted),
            (wk._forward_chunks.python, wk._backward_chunks.python, wk._filter_rows.python, wk._dW_rows.python,
             python)):
        filters(0, 4, W, ws["rows"][0], ws["U"])
        out, dx = np.full((3, 4, n_H, n_W), np.nan, np.float32), np.full_like(x, np.nan)
        forward(0, 3, 2, x, ws["U"], b, 1, 0, ws["plane"][0], ws["V"][0], ws["M"][0], ws["rows"][0],
                ws["out_plane"][0], out)
        backward(0, 3, 2, x, dout, ws["U"], 1, 0, ws["plane"][0], ws["V"][0], ws["M"][0], ws["rows"][0],
                 ws["out_plane"][0], ws["dU_tmp"][0], ws["dU_lanes"][0], ws["db_lanes"][0], np.zeros(0, np.float32), dx)
        dW = np.full_like(W, np.nan)
        reduce(0, 4, ws["dU_lanes"], 1, ws["rows"][0], dW)
        outs.append((ws["U"], out, dx, ws["dU_lanes"], dW, ws["db_lanes"]))
    for a, ref in zip(*outs):
        np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-5 * np.abs(ref).max())


def _G():
    return np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]], np.float32)


def test_filter_transform_is_G_g_G_transposed():
    """U_ξ = (G g Gᵀ)_ξ against numpy's products with the matrices written out (Lavin & Gray's G), and the
    dx filters' transform (G flip(g) Gᵀ)_ξ found at U's flipped position π(ξ)."""
    G = _G()
    W = np.random.default_rng(8).standard_normal((3, 2, 3, 3), dtype=np.float32)
    U = np.zeros((16, 3, 2), np.float32)
    wk._filter_rows.dispatcher(0, 3, W, np.zeros(37 * 2, np.float32), U)
    for k in range(3):
        for c in range(2):
            np.testing.assert_allclose(U[:, k, c], (G @ W[k, c] @ G.T).ravel(), rtol=1e-6, atol=1e-6)
            np.testing.assert_allclose(U[wk.FLIP, k, c], (G @ W[k, c, ::-1, ::-1] @ G.T).ravel(), rtol=1e-6, atol=1e-6)


def test_dW_reduction_is_G_transposed_u_G_summed_over_lanes():
    """dW[k, c] = Gᵀ (Σ_t dU_t[:, k, c] as 4×4) G, against numpy's products, with three lanes."""
    G = _G()
    dU = np.random.default_rng(9).standard_normal((3, 16, 4, 5), dtype=np.float32)
    dW = np.full((4, 5, 3, 3), np.nan, np.float32)
    wk._dW_rows.dispatcher(0, 4, dU, 3, np.zeros(37 * 5, np.float32), dW)
    for k in range(4):
        for c in range(5):
            u = dU[:, :, k, c].astype(np.float64).sum(axis=0).reshape(4, 4)
            np.testing.assert_allclose(dW[k, c], G.T @ u @ G, rtol=1e-5, atol=1e-6)


def test_channels_last_planes_round_trip():
    """_to_plane pads and moves channels last (11 channels: the 8-channel blocks and a remainder; offsets past
    either edge), _from_plane moves them back, against numpy's own transpose."""
    rng = np.random.default_rng(10)
    src = rng.standard_normal((11, 5, 6), dtype=np.float32)
    for off_y, off_x, H_p, W_p in ((1, 1, 8, 8), (2, 0, 6, 6), (-1, -2, 6, 6), (0, 0, 4, 4)):
        plane = np.full(H_p * W_p * 11, np.nan, np.float32)
        wk._to_plane(src, off_y, off_x, H_p, W_p, plane)
        ref = np.zeros((H_p, W_p, 11), np.float32)
        for Y in range(H_p):
            for X in range(W_p):
                y, x = Y - off_y, X - off_x
                if 0 <= y < 5 and 0 <= x < 6:
                    ref[Y, X] = src[:, y, x]
        np.testing.assert_array_equal(plane.reshape(H_p, W_p, 11), ref)
    back = np.full((11, 3, 5), np.nan, np.float32)
    plane = rng.standard_normal(4 * 6 * 11, dtype=np.float32)
    wk._from_plane(plane, 6, back)
    np.testing.assert_array_equal(back, plane.reshape(4, 6, 11)[:3, :5].transpose(2, 0, 1))


# ------------------------------------------------------------------ the plan, the choice, the memory bound

@pytest.mark.parametrize("f, s, d, groups, eligible", [((3, 3), (1, 1), (1, 1), 1, True), ((3, 3), (2, 2), (1, 1), 1, False),
                                                       ((3, 3), (1, 1), (2, 2), 1, False), ((3, 3), (1, 1), (1, 1), 2, False),
                                                       ((5, 5), (1, 1), (1, 1), 1, False), ((1, 1), (1, 1), (1, 1), 1, False)])
def test_only_3x3_stride_1_layers_are_eligible(f, s, d, groups, eligible, monkeypatch):
    monkeypatch.setenv("CNNCALC_CONV_PATH", "winograd")
    n_H = (8 + 2 - d[0] * (f[0] - 1) - 1) // s[0] + 1
    layer = ck.Conv(2, 4, 8, 8, 4, f, s, (1, 1, 1, 1), d, groups, n_H, n_H)
    assert (layer.plan.kernel == "winograd") == eligible
    if not eligible and layer.choice is not None:
        assert (layer.choice["path"], layer.choice["source"]) == ("direct", "not_eligible")


LAYER = {"m": 32, "n_C_prev": 256, "n_H_prev": 8, "n_W_prev": 8, "n_C": 256}


@pytest.mark.parametrize("seconds, expected", [({"direct": 2.0, "gemm": 1.0, "winograd": 0.6}, "winograd"),
                                               ({"direct": 2.0, "gemm": 1.0, "winograd": 1.5}, "gemm")])
def test_three_candidates_are_measured_and_the_fastest_kept(tuning_file, seconds, expected):
    calls = []

    def trial(path):
        calls.append(path)
        return seconds[path]

    choice = tuning.choose(LAYER, tuning.TUNE_MACS, 2, trial, ("direct", "gemm", "winograd"))
    assert (choice["path"], choice["source"]) == (expected, "measured")
    assert calls == ["direct", "gemm", "winograd"] * (1 + tuning.TRIES)  # a warm-up, then the tries in turns
    assert choice["seconds"] == seconds
    stored = json.loads(tuning_file.read_text())
    assert [r["path"] for r in stored.values()] == [expected]
    # the same layer among two candidates is another key: a choice of two says nothing of the third
    assert tuning.choose(LAYER, tuning.TUNE_MACS, 2, trial)["source"] == "measured"


@pytest.mark.usefixtures("tuning_file")
def test_a_conv_layer_runs_winograd_when_chosen(monkeypatch):
    monkeypatch.setattr(tuning, "choose", lambda *args: {"path": "winograd", "source": "test", "candidates": args[4]})
    layer = ck.Conv(64, 64, 8, 8, 64, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 8, 8)
    assert layer.choice["candidates"] == ("direct", "gemm", "winograd")
    assert layer.plan.kernel == "winograd" and layer.choice["chunk"] == layer.plan.winograd_chunk >= 1
    assert set(layer.ws) == set(layer.plan.workspace_shapes(True, "winograd"))


def test_winograd_chunk_stays_within_the_share_and_the_cache_budget(monkeypatch):
    monkeypatch.setattr(tuning, "_processor", {"name": "x", "vector_width": 16, "features": [], "L1d": None,
                                               "L2": None, "L3": 32 * 2**20, "L3_sharing": 2})
    # 16 MiB per core, half of it 8,388,608 bytes for V and M: T ≤ 8,388,608 // (4·16·(C + K)), at most 256
    assert tuning.winograd_chunk(32, 256, 3, 64) == 1      # 32×32 map: 256 tiles; T ≤ 256: 1 image
    assert tuning.winograd_chunk(32, 64, 3, 64) == 4       # 16×16 map: 64 tiles; 4 images
    assert tuning.winograd_chunk(32, 16, 512, 512) == 8    # 8×8 map: 16 tiles; T ≤ 8,388,608 // 65,536 = 128: 8 images
    assert tuning.winograd_chunk(32, 4, 512, 512) == 32    # 4×4 map: 4 tiles; 128 // 4 = 32, the whole share
    assert tuning.winograd_chunk(3, 4, 64, 64) == 3        # … but a lane has only 3 images
    assert tuning.winograd_chunk(32, 1024, 64, 64) == 1    # one image is more than 256 columns
    monkeypatch.setattr(tuning, "_processor", dict(tuning._processor, L3=None))  # unknown: 4 MiB per core
    assert tuning.winograd_chunk(32, 4, 512, 512) == 8     # 2,097,152 // 65,536 = 32 columns: 8 images


def test_the_memory_bound_covers_the_winograd_workspace():
    from cnncalc.analysis import analyze
    from cnncalc.layers.conv.train import memory
    from cnncalc.spec.parser import parse_text

    report = analyze(parse_text(spec("- conv: {filters: 64, kernel: 3, padding: 1}", (16, 16, 64)), "t.yaml"))
    row = next(r for r in report.rows if r.kind == "conv")
    for m in (1, 64):
        layer = ck.Conv(m, 64, 16, 16, 64, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 16, 16, path="winograd")
        bound = memory(row, numba.config.NUMBA_NUM_THREADS)  # kept by the layer + leased from the arena
        assert sum(a.nbytes for a in layer.ws.values()) <= bound.workspace + bound.scratch


def test_the_verbose_line_names_the_winograd_path():
    from cnncalc.render.training import conv_kernels_lines

    record = {"n_C_prev": 64, "n_C": 64, "n_H_prev": 8, "n_W_prev": 8, "f": [3, 3], "s": [1, 1], "path": "winograd",
              "source": "measured", "chunk": 8, "seconds": {"direct": 0.004, "gemm": 0.003, "winograd": 0.002}}
    info = {"processor": tuning.processor(), "wide_tiles": True, "blas_in_numba": True, "forced_path": "auto",
            "tune_macs": tuning.TUNE_MACS, "layers": [record, dict(record, s=[2, 2], path="direct", source="not_eligible")]}
    del info["layers"][1]["chunk"], info["layers"][1]["seconds"]
    lines = conv_kernels_lines(info)
    assert lines[1] == ("64→64 on 8×8, f 3×3, s 1: Winograd F(2×2, 3×3), 8 images per product (measured now: "
                        "direct 4.0 ms, gemm 3.0 ms, winograd 2.0 ms)")
    assert lines[2] == "64→64 on 8×8, f 3×3, s 2: direct (CNNCALC_CONV_PATH=winograd, but not a 3×3 stride-1 layer)"


# ------------------------------------------------------------------ training on the Winograd path

WIDE_NET = spec("""- conv: {filters: 16, kernel: 3, padding: 1}
- relu
- parallel:
    - - conv: {filters: 16, kernel: 3, padding: 1, bias: false}
      - batchnorm
      - relu
      - conv: {filters: 16, kernel: 3, padding: 1}
    - []
  merge: add
- relu
- conv: {filters: 24, kernel: 3, stride: 2}
- relu
- conv: {filters: 24, kernel: 3}
- global_avgpool
- dense: 5
- softmax""", (11, 11, 3))


def _losses(path, monkeypatch, steps=20):
    import test_engine as te
    from cnncalc.engine import train as tr

    monkeypatch.setenv("CNNCALC_CONV_PATH", path)
    _, net = te.build(WIDE_NET, batch=16, seed=2)
    kernels = [layer.conv.plan.kernel for layer in net.layers if getattr(layer, "conv", None) is not None]
    loop = tr.Loop(net, tr.make_optimizer(net, "sgd", 0.05, 0.9, 1e-3), 16)
    data = np.random.default_rng(3)
    x_all = data.standard_normal((64,) + net.input_shape).astype(np.float32)
    y_all = data.integers(0, 5, 64)
    losses = []
    for step in range(steps):
        idx = (np.arange(16) + 16 * step) % 64
        losses.append(loop.step(x_all[idx], y_all[idx], None)[0])
    return np.array(losses), kernels


@pytest.mark.slow
def test_twenty_steps_on_winograd_follow_the_direct_path(monkeypatch):
    """Four 3×3 stride-1 convs on Winograd (the stride-2 one stays direct), 20 SGD steps against the same
    net on the direct kernels: the two differ only in float32 rounding (~1e-7 per step, grown by the
    dynamics; measured under 1e-5), so the losses agree to 1e-4 relative."""
    ours, kernels = _losses("winograd", monkeypatch)
    assert sorted(kernels) == ["conv2d"] + ["winograd"] * 4
    ref, kernels = _losses("direct", monkeypatch)
    assert kernels == ["conv2d"] * 5
    assert np.abs(ours / ref - 1).max() < 1e-4
    assert ours[-1] < ours[0]


@pytest.mark.torch
@pytest.mark.slow
def test_fifty_steps_match_pytorch_on_the_winograd_path(monkeypatch):
    import test_engine as te

    monkeypatch.setenv("CNNCALC_CONV_PATH", "winograd")
    te.test_fifty_steps_match_pytorch(te.RESIDUAL_NET, "sgd")
    te.test_whole_network_gradient_matches_finite_differences(te.GAP)


def test_a_trial_at_two_sizes_is_extrapolated_to_the_batch_as_a_line():
    """tuning.whole_batch: 1.0 s on 2 images and 1.5 s on 4 is 0.5 s fixed + 0.25 s per image, 16.5 s for 64
    (scaling the larger trial alone would say 24 s and favour paths with no per-call work); one size, or a
    larger size measured no slower (noise), scales the last trial."""
    assert tuning.whole_batch([1.0, 1.5], (2, 4), 64) == pytest.approx(16.5)
    assert tuning.whole_batch([1.0], (2, 4), 64) == pytest.approx(32.0)
    assert tuning.whole_batch([1.0, 0.9], (2, 4), 64) == pytest.approx(0.9 * 16)
