"""`cnncalc memory`: the planner against hand-worked bytes, against the arrays of a built network, against the
peak a real `cnncalc train` run measures, and --budget against a linear scan."""

import json
import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.analysis import analyze
from cnncalc.analysis import memory as planner
from cnncalc.cli import app
from cnncalc.spec.parser import parse_text

import helpers

ROOT = helpers.ROOT
LENET = os.path.join(ROOT, "specs", "lenet5.yaml")

# 6×6×1 → conv 3×3, 2 filters → 4×4×2 → relu → maxpool 2 → 2×2×2 → flatten 8 → dropout → dense 3
TINY = """name: tiny
input: [6, 6, 1]
layers:
  - conv: {filters: 2, kernel: 3}
  - relu
  - maxpool: 2
  - flatten
  - dropout: 0.5
  - dense: 3
"""

# a stem, a residual block with batchnorm, a concat of a 1×1 conv and a stride-1 max pool, dropout, a head
RESIDUAL = """name: residual
input: [16, 16, 3]
layers:
  - conv: {filters: 8, kernel: 3, padding: 1}
  - batchnorm
  - relu
  - parallel:
      - [conv: {filters: 8, kernel: 3, padding: 1, bias: false}, batchnorm, relu]
      - []
    merge: add
  - parallel:
      - [conv: {filters: 2, kernel: 1}]
      - [maxpool: {kernel: 3, stride: 1, padding: 1}]
    merge: concat
  - dropout: 0.2
  - global_avgpool
  - dense: 5
"""

# a transposed conv and a bilinear upsample, their maps concatenated, then a head
DECODER = """name: decoder
input: [8, 8, 3]
layers:
  - conv: {filters: 4, kernel: 3, stride: 2, padding: 1}
  - relu
  - parallel:
      - [conv_transpose: {filters: 4, kernel: 2, stride: 2}]
      - [upsample: {scale: 2, mode: bilinear}]
    merge: concat
  - global_avgpool
  - dense: 3
"""


def report_of(text):
    return analyze(parse_text(text, "t.yaml"))


def run(args, code=0):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == code, (args, result.output)
    return result.output


# ------------------------------------------------------------------ hand-worked


def test_tiny_spec_by_hand():
    """Batch m = 4, momentum, one lane. Every number from the formulas, in bytes (float32: 4, int64: 8):

    conv 3×3, 1 → 2, 4×4×2 out: out 4·32·4 = 512; dx (the engine's Conv always keeps one) 4·36·4 = 576;
      params (3·3·1 + 1)·2 = 20 → 80, grads 80, velocity 80;
      its own workspace (ConvPlan.KEEP): k_off K4 = round_up(9, 4) = 12 int64 = 96, k_off_dx round_up(2, 4) = 4
      int64 = 32 → 128. macs/image 2·16·9 = 288 < TUNE_MACS: the direct path, unmeasured.
      Leased (stride 1): n_H_pad = n_W_pad = 4 + 2 = 6, pitch 36, P = round_up(4·6, 16) = 32,
      reach = far tap (2·6 + 2 = 14) + P = 46; src = max(1·36, 46) = 46; dx row (C_g − 1)·36 + 14 + 32 = 46;
      arrays, each rounded up to 64 bytes: A (1, 2, 12) 96 → 128, A_dx (1, 9, 1, 4) 144 → 192,
      ws_src (1, 46) 184 → 192, ws_y (1, 64) 256, ws_dy (1, 2, 32) 256, ws_dx (1, 46) 184 → 192,
      dW_lanes (1, 1, 2, 12) 96 → 128, db_lanes (1, 2) 8 → 64: 1,408, the arena (the only lease).
    relu: out 512, dx 512.  maxpool 2: out 4·8·4 = 128, argmax 4·8·8 = 256, dx 4·32·4 = 512.
    flatten: nothing (a view).  dropout: out 128, mask 128, dx 128.
    dense 8 → 3: out 4·3·4 = 48; dx (its producer wants one) 4·8·4 = 128; params 8·3 + 3 = 27 → 108 ×3.
    batch: x 4·36·4 = 576, labels 4·8 = 32, dlogits and probabilities 2·4·3·4 = 96 → 704.
    dx block, by lifetimes (backward steps: dense 1, dropout 2, flatten 3, maxpool 4, relu 5, conv 6):
      dense's 128 lives 1–4 (dropout and flatten pass it on, maxpool reads it at 4), dropout's 128 2–4,
      maxpool's 512 4–5, relu's 512 5–6, conv's 576 6–6. Largest first: conv's at 0, relu's at 576 (meets
      conv's at 6), maxpool's at 0 (meets relu's only), dropout's at 512 (meets maxpool's), dense's at 640:
      block = 576 + 512 = 1,088 (unshared 576 + 512 + 512 + 128 + 128 = 1,856).
    peak = 1,328 outputs + 384 kept + 188·3 + 1,088 + 128 + 1,408 + 704 = 5,604.
    """
    p = planner.plan(report_of(TINY), 4, "momentum", lanes=1)
    rows = {r.name: r.parts for r in p.rows}
    assert rows["conv1"] == {"outputs": 512, "masks": 0, "argmax": 0, "statistics": 0, "params": 80, "grads": 80,
                             "optimizer": 80, "dx": 576, "workspace": 128}
    assert rows["relu1"]["outputs"] == 512 and rows["relu1"]["dx"] == 512
    assert (rows["maxpool1"]["outputs"], rows["maxpool1"]["argmax"], rows["maxpool1"]["dx"]) == (128, 256, 512)
    assert sum(rows["flatten1"].values()) == 0
    assert (rows["dropout1"]["outputs"], rows["dropout1"]["masks"], rows["dropout1"]["dx"]) == (128, 128, 128)
    assert rows["dense1"] == {"outputs": 48, "masks": 0, "argmax": 0, "statistics": 0, "params": 108, "grads": 108,
                              "optimizer": 108, "dx": 128, "workspace": 0}
    assert p.parts == {"outputs": 1328, "kept": 384, "params": 188, "grads": 188, "optimizer": 188,
                       "dx_shared": 1088, "workspace": 128, "arena": 1408, "batch": 704}
    assert p.dx_unshared == 1856
    assert p.peak == 5604
    assert p.arena_layer == "conv1" and p.paths == {"direct": ["conv1"]}


def test_optimiser_state_and_batchnorm_by_hand():
    """sgd keeps nothing, momentum one copy of the trainable values, adam two; batchnorm's running statistics
    (4·2·n_C) and its int64 num_batches_tracked (8) are params, its saved mean and 1/σ (4·2·n_C) kept, its
    float64 scratch (6·n_H·n_W·n_C·8) a lease."""
    report = report_of("name: bn\ninput: [4, 4, 3]\nlayers:\n  - batchnorm\n  - flatten\n  - dense: 2\n")
    trainable = 2 * 3 + (48 * 2 + 2)  # γ, β; 48·2 weights + 2 biases
    for name, slots in (("sgd", 0), ("momentum", 1), ("adam", 2)):
        assert planner.plan(report, 2, name).parts["optimizer"] == 4 * trainable * slots
    bn = planner.plan(report, 2, "sgd", lanes=1).rows[0].parts
    assert bn["params"] == 4 * (2 * 3 + 2 * 3) + 8
    assert bn["statistics"] == 4 * 2 * 3
    assert planner.plan(report, 2, "sgd", lanes=1).parts["arena"] == 6 * 48 * 8  # 2,304: a multiple of 64


def test_the_plan_reads_no_numpy_and_folds_to_the_same_peak():
    p = api.memory_plan(LENET, 16, "adam")[0]
    folded = api.memory_plan(os.path.join(ROOT, "specs", "resnet18_cifar.yaml"), 8, "adam", depth=1)[0]
    flat = api.memory_plan(os.path.join(ROOT, "specs", "resnet18_cifar.yaml"), 8, "adam")[0]
    assert folded.peak == flat.peak and len(folded.rows) < len(flat.rows)
    assert sum(r.total for r in folded.rows) == sum(r.total for r in flat.rows)
    assert p.peak == sum(p.parts.values())
    assert not {"numpy", "numba"} & helpers.modules_after(["memory", LENET, "--budget", "1GB", "--format", "json"])


def test_conv_plan_far_tap_is_the_largest_offset():
    """ConvPlan.far_tap (the planner's, numpy-free) against max(k_off()) (the kernels' array)."""
    from cnncalc.layers.conv.plan import ConvPlan

    for C, groups, f, s, d in [(1, 1, 3, 1, 1), (4, 2, 3, 1, 2), (8, 4, 5, 2, 1), (6, 3, 1, 1, 1), (2, 1, 7, 2, 2)]:
        n_H = (12 + 2 - d * (f - 1) - 1) // s + 1
        n_W = (11 + 2 - d * (f - 1) - 1) // s + 1
        plan = ConvPlan(2, C, 12, 11, 6, f, f, s, s, (1, 1, 1, 1), d, d, groups, n_H, n_W, 2)
        assert plan.far_tap == int(plan.k_off().max())


def test_batchnorm_scratch_rows_match_the_kernels():
    from cnncalc.layers.norm import kernels, rules

    assert rules.SCRATCH_ROWS == kernels.SCRATCH_ROWS


# ------------------------------------------------------------------ against the real arrays


@pytest.mark.parametrize("text_or_path, batch, optimizer", [
    (TINY, 4, "momentum"),
    ("specs/lenet5.yaml", 8, "adam"),
    ("specs/mnist_small.yaml", 6, "sgd"),
    ("specs/se_block.yaml", 3, "momentum"),
    (RESIDUAL, 5, "adam"),
    (DECODER, 3, "momentum"),
])
def test_the_plan_is_the_built_networks_arrays(text_or_path, batch, optimizer, monkeypatch):
    """Every category, byte for byte, against engine.arrays.by_category's walk of a built network, its optimiser
    and loop (the direct conv path forced: tuning would otherwise measure, and the plan bound, the large layers)."""
    monkeypatch.setenv("CNNCALC_CONV_PATH", "direct")
    import numba

    from cnncalc.engine import train as tr
    from cnncalc.engine.arrays import by_category

    path = os.path.join(ROOT, text_or_path) if text_or_path.endswith(".yaml") else "t.yaml"
    text = open(path).read() if text_or_path.endswith(".yaml") else text_or_path
    report, net = tr.build(text, path, batch)
    name, momentum = {"sgd": ("sgd", 0.0), "momentum": ("sgd", 0.9), "adam": ("adam", 0.9)}[optimizer]
    opt = tr.make_optimizer(net, name, 0.01, momentum)
    loop = tr.Loop(net, opt, batch)
    real = by_category(net, opt, loop)
    plan = planner.plan(report, batch, optimizer, lanes=numba.config.NUMBA_NUM_THREADS)
    assert real == {k: v for k, v in plan.parts.items() if v or k in real}, (real, plan.parts)


# ------------------------------------------------------------------ --budget


def test_a_spec_the_trainer_cannot_run_is_refused():
    result = CliRunner().invoke(app, ["memory", os.path.join(ROOT, "specs", "unet_small.yaml")])
    assert result.exit_code == 1 and "one score per class" in result.output and "Traceback" not in result.output


def test_budget_sizes():
    assert planner.parse_size("4GB") == 4_000_000_000
    assert planner.parse_size("4GiB") == 4 * 2**30
    assert planner.parse_size("1.5 MB") == 1_500_000
    assert planner.parse_size("512") == planner.parse_size("512B") == 512
    assert planner.parse_size("2kib") == 2048
    for bad in ("4XB", "-1GB", "0GB", "GB", "", "1/0GB"):
        with pytest.raises(planner.BudgetError):
            planner.parse_size(bad)


def test_budget_is_the_largest_batch_that_fits():
    """Against a linear scan of the plan over every batch: the answer fits, the next does not."""
    report = api.report(LENET)
    budget = 8 * 10**6
    m, fits, over = planner.largest_batch(report, budget, "adam", lanes=2)
    scan = max(b for b in range(1, 200) if planner.plan(report, b, "adam", lanes=2).peak <= budget)
    assert m == scan
    assert fits.peak <= budget < over.peak
    assert over.batch == m + 1


def test_budget_on_the_command_line():
    out = json.loads(run(["memory", LENET, "--batch", "16", "--optimizer", "sgd", "--budget", "20MB",
                          "--format", "json"]))
    m = out["budget"]["largest_batch"]
    assert out["budget"]["bytes"] == 20_000_000
    assert out["budget"]["peak_bytes"] <= 20_000_000 < out["budget"]["next_batch_peak_bytes"]
    at_m = json.loads(run(["memory", LENET, "--batch", str(m), "--optimizer", "sgd", "--format", "json"]))
    after = json.loads(run(["memory", LENET, "--batch", str(m + 1), "--optimizer", "sgd", "--format", "json"]))
    assert at_m["peak_bytes"] <= 20_000_000 < after["peak_bytes"]
    text = run(["memory", LENET, "--budget", "20MB", "--optimizer", "sgd"])
    assert f"the largest batch is {m:,}" in text and "powers of 1000" in text


@pytest.mark.parametrize("value", ["4XB", "12", "-3GB"])
def test_a_bad_budget_is_one_line_and_exit_1(value):
    result = CliRunner().invoke(app, ["memory", LENET, "--budget", value], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and "budget" in lines[0] and "Traceback" not in result.output


# ------------------------------------------------------------------ the table


def test_table_json_and_csv_show_the_same_plan_in_both_languages():
    """The text, JSON and CSV of one plan (whose bytes the tests above check) agree with it and with each other."""
    from cnncalc.render.columns import human_bytes

    expected = planner.plan(api.report(LENET), 64, "adam", lanes=2)
    # LeNet-5's convs take the direct path (under TUNE_MACS); its workspaces are sized for --threads lanes
    out = run(["memory", LENET, "--batch", "64", "--optimizer", "adam", "--wide", "--threads", "2"])
    assert f"Peak: {human_bytes(expected.peak)} ({expected.peak:,} bytes)" in out
    assert f"│ Total    │         │ {human_bytes(expected.parts['outputs']):>10} │" in out
    ko = run(["memory", LENET, "--batch", "64", "--optimizer", "adam", "--lang", "ko", "--threads", "2"])
    assert f"최대 사용량: {human_bytes(expected.peak)} ({expected.peak:,} 바이트)" in ko
    data = json.loads(run(["memory", LENET, "--batch", "64", "--optimizer", "adam", "--format", "json",
                           "--threads", "2"]))
    assert data["peak_bytes"] == sum(data["bytes"].values()) == expected.peak
    csv_rows = run(["memory", LENET, "--batch", "64", "--format", "csv"]).splitlines()
    assert csv_rows[0].startswith("name,kind,depth,conv_path,outputs_bytes")
    assert sum(int(r.split(",")[-1]) for r in csv_rows[1:]) == sum(layer["total_bytes"] for layer in data["layers"])


def test_the_table_fits_80_columns():
    result = CliRunner().invoke(app, ["memory", LENET, "--batch", "64"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    table = [line for line in result.output.splitlines() if line[:1] in "┏┃┡│├└"]
    assert table and max(len(line) for line in table) <= 80
    assert "left out to fit 80 columns" in result.output


# ------------------------------------------------------------------ against a real run


@pytest.mark.parametrize("spec", ["specs/lenet5.yaml", "specs/mnist_small.yaml", "residual"])
def test_train_prints_the_plan_within_15_percent_of_the_measured_peak(spec, tmp_path):
    """A short `cnncalc train` (synthetic data, 256 images, one epoch) ends with the planned and the measured
    peak (the network's arrays plus tracemalloc's peak of the run's own allocations): within 15%."""
    if spec == "residual":
        spec = str(tmp_path / "residual.yaml")
        with open(spec, "w") as fh:
            fh.write(RESIDUAL)
    else:
        spec = os.path.join(ROOT, spec)
    env = {**os.environ, "NUMBA_CACHE_DIR": os.environ.get("NUMBA_CACHE_DIR", str(tmp_path / "numba"))}
    done = subprocess.run([sys.executable, "-m", "cnncalc", "train", spec, "--epochs", "1", "--limit", "256",
                           "--batch-size", "32", "--out", str(tmp_path / "run"), "--format", "json"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    measured = next(e for e in events if e["event"] == "memory_measured")
    assert measured["measured"] is not None
    assert abs(measured["measured"] - measured["planned"]) <= 0.15 * measured["planned"], measured
