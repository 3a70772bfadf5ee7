"""The im2col + sgemm conv path (gemm_kernels.py) and the choice between it and the direct kernels (tuning.py).

Oracles: PyTorch's conv2d and its autograd (float32: 1e-4 of the largest value), central finite
differences of the kernels' py_func in float64 (1e-6 relative), and the engine-level tests of
test_engine.py (finite differences of a whole network, PyTorch's 50-step trajectories) run again
with the gemm path forced. The choice is checked with a fake trial whose seconds the test sets.
"""

import json

import numpy as np
import pytest

from cnncalc.layers import arith
from cnncalc.layers.conv import gemm_kernels as gk
from cnncalc.layers.conv import kernels as ck
from cnncalc.layers.conv import tuning

pytest.importorskip("scipy")  # np.dot inside Numba is SciPy's BLAS: without it the gemm path is never taken

# (m, n_C_prev, n_H_prev, n_W_prev, n_C, (f_H, f_W), (s_H, s_W), (top, bottom, left, right), (d_H, d_W), groups)
CASES = [
    (5, 4, 7, 9, 6, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),           # odd map, 'same'
    (5, 4, 7, 9, 6, (3, 2), (2, 3), (0, 2, 1, 0), (2, 1), 2),           # asymmetric pads, strides, dilation, groups
    (1, 3, 8, 8, 4, (1, 1), (2, 2), (0, 0, 0, 0), (1, 1), 1),           # batch 1, strided 1×1 (ResNet's shortcut)
    (7, 6, 5, 6, 9, (5, 5), (1, 2), (3, 3, 2, 2), (1, 2), 3),           # padding wider than the map reaches
    (9, 16, 4, 4, 24, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1),         # ResNet's 4×4 stage in small
    (3, 2, 11, 3, 5, (4, 1), (3, 1), (2, 0, 0, 0), (1, 1), 1),          # tall, thin, even kernel
]


def _torch_conv(case, x, W, b, dout):
    torch = pytest.importorskip("torch")
    _, _, _, _, _, _, s, p, d, groups = case
    xt = torch.tensor(x, requires_grad=True)
    Wt = torch.tensor(W, requires_grad=True)
    bt = torch.tensor(b, requires_grad=True)
    out = torch.nn.functional.conv2d(torch.nn.functional.pad(xt, (p[2], p[3], p[0], p[1])), Wt, bt, s, 0, d, groups)
    out.backward(torch.tensor(dout))
    return out.detach().numpy(), xt.grad.numpy(), Wt.grad.numpy(), bt.grad.numpy()


def _shapes(case):
    m, C, H, Wd, n_C, f, s, p, d, groups = case
    n_H = arith.out_length(H, f[0], s[0], p[0], p[1], d[0]).n_out
    n_W = arith.out_length(Wd, f[1], s[1], p[2], p[3], d[1]).n_out
    return n_H, n_W


def _data(case, seed=0):
    m, C, H, Wd, n_C, f, s, p, d, groups = case
    rng = np.random.default_rng(seed)
    n_H, n_W = _shapes(case)
    return (rng.standard_normal((m, C, H, Wd), dtype=np.float32),
            rng.standard_normal((n_C, C // groups) + f, dtype=np.float32),
            rng.standard_normal(n_C, dtype=np.float32),
            rng.standard_normal((m, n_C, n_H, n_W), dtype=np.float32))


def _close(a, ref, tol=1e-4):
    assert a.shape == ref.shape
    assert np.abs(a - ref).max() <= tol * max(np.abs(ref).max(), 1.0)


@pytest.mark.torch
@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("path", ["gemm", "direct"])
def test_both_paths_match_pytorch(case, path):
    m, C, H, Wd, n_C, f, s, p, d, groups = case
    x, W, b, dout = _data(case)
    out_ref, dx_ref, dW_ref, db_ref = _torch_conv(case, x, W, b, dout)
    layer = ck.Conv(m, C, H, Wd, n_C, f, s, p, d, groups, *_shapes(case), path=path)
    assert layer.plan.kernel == ("gemm" if path == "gemm" else "conv2d")
    _close(layer.forward(x, W, b), out_ref)
    dW, db = np.empty_like(W), np.empty_like(b)
    _close(layer.backward(dout, W, dW, db), dx_ref)
    _close(dW, dW_ref)
    _close(db, db_ref)


@pytest.mark.torch
@pytest.mark.parametrize("lanes, chunk", [(1, 1), (2, 3), (3, 2), (4, 5), (16, 1)])
def test_lanes_and_chunks_that_do_not_divide_the_batch(lanes, chunk):
    """Every lane's last chunk is short (or a lane has no image at all: 16 lanes, 9 images); the panel
    tail past a short chunk holds the previous chunk's columns, which must never reach the result."""
    case = CASES[4]
    m, C, H, Wd, n_C, f, s, p, d, groups = case
    x, W, b, dout = _data(case, seed=3)
    out_ref, dx_ref, dW_ref, db_ref = _torch_conv(case, x, W, b, dout)
    plan = ck.ConvPlan(m, C, H, Wd, n_C, *f, *s, p, *d, groups, *_shapes(case), lanes, gemm_chunk=chunk)
    ws = plan.workspace(True, "gemm")
    out = np.full((m, n_C) + _shapes(case), np.nan, np.float32)
    gk.gemm_forward(lanes, x, W, b, *s, p[0], p[2], *d, chunk, ws["cols"], ws["y"], out)
    _close(out, out_ref)
    dx, dW, db = np.full_like(x, np.nan), np.full_like(W, np.nan), np.full_like(b, np.nan)
    gk.gemm_backward(lanes, x, dout, W, *s, p[0], p[2], *d, chunk, ws["cols"], ws["dy"], ws["dcols"], ws["G_tmp"],
                     ws["G_lanes"], ws["db_lanes"], dW, db, dx)
    _close(dx, dx_ref)
    _close(dW, dW_ref)
    _close(db, db_ref)
    # a first layer: no dx wanted, none computed, no dcols panel
    plan_first = ck.ConvPlan(m, C, H, Wd, n_C, *f, *s, p, *d, groups, *_shapes(case), lanes, gemm_chunk=chunk)
    ws = plan_first.workspace(False, "gemm")
    assert ws["dcols"].size == 0
    dW2 = np.empty_like(W)
    gk.gemm_backward(lanes, x, dout, W, *s, p[0], p[2], *d, chunk, ws["cols"], ws["dy"], ws["dcols"], ws["G_tmp"],
                     ws["G_lanes"], ws["db_lanes"], dW2, np.zeros(0, np.float32), np.zeros((0, C, H, Wd), np.float32))
    _close(dW2, dW_ref)


@pytest.mark.parametrize("case", [CASES[1], CASES[3]])
def test_py_func_gradients_match_finite_differences(case):
    """In float64 through the kernels' py_func: the loss L = Σ out·dout, its derivative along a random
    direction of x and of W against the gradients' projections."""
    m, C, H, Wd, n_C, f, s, p, d, groups = case
    x, W, b, dout = (a.astype(np.float64) for a in _data(case, seed=4))
    n_H, n_W = _shapes(case)
    K, Q, chunk, lanes = C // groups * f[0] * f[1], n_H * n_W, 2, 2
    n_C_g = n_C // groups

    def forward(x, W):
        out = np.zeros((m, n_C, n_H, n_W))
        gk.gemm_forward.py_func(lanes, x, W, b, *s, p[0], p[2], *d, chunk, np.zeros((lanes, K * chunk * Q)),
                                np.zeros((lanes, n_C_g * chunk * Q)), out)
        return out

    dx, dW, db = np.zeros_like(x), np.zeros_like(W), np.zeros_like(b)
    gk.gemm_backward.py_func(lanes, x, dout, W, *s, p[0], p[2], *d, chunk, np.zeros((lanes, K * chunk * Q)),
                             np.zeros((lanes, n_C * chunk * Q)), np.zeros((lanes, K * chunk * Q)),
                             np.zeros((lanes, n_C_g, K)), np.zeros((lanes, groups, n_C_g, K)), np.zeros((lanes, n_C)),
                             dW, db, dx)
    rng, h = np.random.default_rng(5), 1e-4
    for value, grad, which in ((x, dx, 0), (W, dW, 1)):
        v = rng.standard_normal(value.shape)
        args_up = [x, W]
        args_up[which] = value + h * v
        args_down = [x, W]
        args_down[which] = value - h * v
        numeric = ((forward(*args_up) - forward(*args_down)) * dout).sum() / (2 * h)
        assert numeric == pytest.approx((grad * v).sum(), rel=1e-6)
    assert db == pytest.approx(dout.sum(axis=(0, 2, 3)))


# ------------------------------------------------------------------ the choice

LAYER = {"m": 32, "n_C_prev": 512, "n_H_prev": 4, "n_W_prev": 4, "n_C": 512}


@pytest.mark.parametrize("seconds, expected", [({"direct": 2.0, "gemm": 1.0}, "gemm"),
                                               ({"direct": 1.0, "gemm": 3.0}, "direct")])
def test_the_faster_path_is_chosen_once_and_stored(tuning_file, seconds, expected):
    calls = []

    def trial(path):
        calls.append(path)
        return seconds[path]

    first = tuning.choose(LAYER, tuning.TUNE_MACS, 2, trial)
    assert (first["path"], first["source"]) == (expected, "measured")
    # a warm-up each, then three tries each, the paths in turns
    assert calls == ["direct", "gemm"] + ["direct", "gemm"] * 3
    assert json.loads(tuning_file.read_text())  # kept on disk
    tuning._stored = None  # as a new process
    second = tuning.choose(LAYER, tuning.TUNE_MACS, 2, trial)
    assert (second["path"], second["source"]) == (expected, "stored") and len(calls) == 8
    # another thread count is another key: measured again
    assert tuning.choose(LAYER, tuning.TUNE_MACS, 1, trial)["source"] == "measured"
    described = tuning.describe()
    json.dumps(described)  # plain data
    assert [r["path"] for r in described["layers"]] == [expected, expected]


def test_small_layers_and_forced_paths_are_not_measured(tuning_file, monkeypatch):
    def trial(path):
        raise AssertionError(f"measured {path}")

    def chosen(macs):
        record = tuning.choose(LAYER, macs, 2, trial)
        return record["path"], record["source"]

    assert chosen(tuning.TUNE_MACS - 1) == ("direct", "rule")
    monkeypatch.setenv("CNNCALC_CONV_PATH", "gemm")
    assert chosen(10**9) == ("gemm", "forced")
    monkeypatch.setenv("CNNCALC_CONV_PATH", "direct")
    assert chosen(10**9) == ("direct", "forced")
    assert not tuning_file.exists()


@pytest.mark.usefixtures("tuning_file")
def test_a_slow_moment_on_the_machine_does_not_decide():
    # gemm is the faster (1.0 against 1.5), but the machine is busy from the 5th measurement to the 8th
    # (+4 s each): measured one path after the other, every try of gemm would fall in it
    calls = []

    def trial(path):
        calls.append(path)
        return {"direct": 1.5, "gemm": 1.0}[path] + (4.0 if 4 <= len(calls) - 1 <= 7 else 0.0)

    choice = tuning.choose(LAYER, tuning.TUNE_MACS, 2, trial)
    assert choice["path"] == "gemm" and choice["seconds"] == {"direct": 1.5, "gemm": 1.0}


@pytest.mark.parametrize("name, width, registers", [("haswell", 8, 16), ("skylake-avx512", 16, 32), ("znver4", 16, 32),
                                                     ("znver3", 8, 16), ("sandybridge", 8, 16), ("generic", 4, 16)])
def test_a_named_processor_without_features_is_sized_by_its_own(monkeypatch, name, width, registers):
    # NUMBA_CPU_NAME with NUMBA_CPU_FEATURES="" compiles for the named processor's features, not the host's
    # (an AVX-512 host compiling for haswell must get haswell's 16 registers and 8 lanes)
    import numba

    monkeypatch.setattr(numba.config, "CPU_NAME", name)
    monkeypatch.setattr(numba.config, "CPU_FEATURES", "")
    monkeypatch.setattr(tuning, "_processor", None)
    info = tuning.processor()
    assert (info["name"], info["vector_width"], info["vector_registers"]) == (name, width, registers)
    monkeypatch.setattr(tuning, "_processor", None)  # not kept for later tests


def test_a_damaged_tuning_file_is_measured_again(tuning_file):
    tuning_file.write_text("{not json")
    choice = tuning.choose(LAYER, tuning.TUNE_MACS, 2, lambda path: {"direct": 1.0, "gemm": 0.5}[path])
    assert choice["source"] == "measured" and choice["path"] == "gemm"
    assert next(iter(json.loads(tuning_file.read_text()).values()))["path"] == "gemm"


@pytest.mark.usefixtures("tuning_file")
def test_a_conv_layer_runs_what_was_chosen(monkeypatch):
    monkeypatch.setattr(tuning, "choose", lambda *_: {"path": "gemm", "source": "test"})
    layer = ck.Conv(4, 8, 6, 6, 8, (3, 3), (1, 1), (1, 1, 1, 1), (1, 1), 1, 6, 6)
    assert layer.plan.kernel == "gemm" and layer.choice["chunk"] == layer.plan.gemm_chunk >= 1


@pytest.mark.parametrize("features, width", [({"avx512f", "avx2", "avx"}, 16), ({"avx2", "avx", "fma"}, 8),
                                             ({"sse4.2"}, 4), ({"neon"}, 4), (set(), 4)])
def test_vector_width_from_the_features(features, width):
    assert tuning.vector_width(features) == width


@pytest.mark.parametrize("text, n", [("0", 1), ("0-1", 2), ("0-3,8-11", 8), ("0,2,4", 3), ("", 0)])
def test_cpu_lists_as_sys_writes_them(text, n):
    assert tuning._count_cpus(text) == n


def test_chunks_stay_within_the_share_and_the_cache_budget(monkeypatch):
    monkeypatch.setattr(tuning, "_processor", {"name": "x", "vector_width": 8, "features": [], "L1d": None,
                                               "L2": None, "L3": 8 * 2**20, "L3_sharing": 2})
    # 8 MiB shared by 2 CPUs: 4 MiB per core, half of it (2,097,152 bytes) for a panel of K·N floats
    assert tuning.gemm_chunk(64, 16, 4608) == 7     # N ≤ 2,097,152 // (4·4608) = 113 columns: ⌊113 / 16⌋ images
    assert tuning.gemm_chunk(64, 64, 2304) == 3     # N ≤ 2,097,152 // 9216 = 227: ⌊227 / 64⌋
    assert tuning.gemm_chunk(2, 64, 2304) == 2      # … but a lane has only 2 images
    assert tuning.gemm_chunk(64, 16, 9) == 32       # N ≤ 512 columns at most: 512 / 16
    assert tuning.gemm_chunk(64, 1024, 576) == 1    # one image is already more than 512 columns
    monkeypatch.setattr(tuning, "_processor", dict(tuning._processor, L3=None))  # unknown: 4 MiB per core
    assert tuning.gemm_chunk(64, 16, 4608) == 7


# ------------------------------------------------------------------ the engine's own oracles, on the gemm path

@pytest.fixture
def gemm_everywhere(monkeypatch):
    monkeypatch.setenv("CNNCALC_CONV_PATH", "gemm")


@pytest.mark.usefixtures("gemm_everywhere")
def test_whole_network_finite_differences_on_the_gemm_path():
    import test_engine as te

    _, net = te.build(te.NET_DROPOUT)
    assert any(getattr(layer, "conv", None) is not None and layer.conv.plan.kernel == "gemm"
               for layer in net.layers), "no layer took the gemm path"
    te.test_whole_network_gradient_matches_finite_differences(te.NET_DROPOUT)


@pytest.mark.torch
@pytest.mark.usefixtures("gemm_everywhere")
@pytest.mark.parametrize("net, optimizer", [("RESIDUAL_NET", "sgd"), ("RESIDUAL_NET", "adam"), ("BN_NET", "adam")])
def test_fifty_steps_match_pytorch_on_the_gemm_path(net, optimizer):
    """test_engine's trajectories, but BN_NET with SGD (lr 0.05) is chaotic: on the direct path, initial
    weights scaled by 1 + 1e-7 already move its loss 3e-3 from PyTorch's by step 35 (measured), so it
    cannot tell one summation order from another and is left out here."""
    import test_engine as te

    te.test_logits_gradients_and_running_statistics_match_pytorch()
    te.test_fifty_steps_match_pytorch(getattr(te, net), optimizer)


def test_train_verbose_shows_each_conv_layers_kernel(tmp_path, monkeypatch):
    """`cnncalc train --verbose`: the processor line, then one line per conv layer with its path; the
    first layer (27 MACs per output, 4,096 per image) under the measuring threshold, the second forced."""
    from typer.testing import CliRunner

    from cnncalc.cli import app

    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(tuning, "_decisions", {})
    spec_file = tmp_path / "net.yaml"
    spec_file.write_text("name: v\ninput: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3, padding: 1}\n"
                         "  - relu\n  - flatten\n  - dense: 3\n")
    result = CliRunner().invoke(app, ["train", str(spec_file), "--epochs", "1", "--limit", "32", "--verbose",
                                      "--out", str(tmp_path / "run")])
    assert result.exit_code == 0, result.output
    processor = tuning.processor()
    text = " ".join(result.output.split())  # as one line: the notes fold at 79 columns
    assert f"conv kernels for {processor['name']}: {processor['vector_width']} float32 lanes" in text
    # the register tiles follow the register count (32 on AVX-512 and AArch64, 16 on other x86)
    tiles = "8 rows × 4 taps, 4 × 4 sums" if processor["vector_registers"] >= 32 else "4 rows × 4 taps, 2 × 4 sums"
    assert f"{processor['vector_registers']} vector registers (register tiles {tiles})" in text
    assert "3→4 on 8×8, f 3×3, s 1: direct (under 2,000,000 MACs per image, not measured)" in text
    quiet = CliRunner().invoke(app, ["train", str(spec_file), "--epochs", "1", "--limit", "32",
                                     "--out", str(tmp_path / "run2")])
    assert quiet.exit_code == 0 and "conv kernels" not in quiet.output
