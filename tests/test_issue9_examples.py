"""Every example of issue 9 ("Show the work") run through the real CLI, its output checked against
numbers worked by hand here (the arithmetic in the comments), so that a reader can see in one file that
the issue's examples all run.  Many are tested more closely elsewhere (test_explain.py, test_calc.py,
test_solve.py, test_fit.py, test_compare.py, test_lint.py, test_peers.py); each is still run here.

The examples of the four parts built beside this file are run in their own files:
  - the memory planner (`cnncalc memory`, --budget, train's predicted peak): tests/test_memory_planner.py
  - diagnostic levels (error, warning, note; the 1×1 stride-2 shortcut as a note; row marks):
    tests/test_diag_levels.py, and usable fixes (225 or 227, never "stride 7"): tests/test_diag_fixes.py
  - the channels-first warning (`input: [3, 32, 32]`): tests/test_channels_first.py
  - receptive field "whole input" after global pooling or flatten: tests/test_rf_whole_input.py
"""

from __future__ import annotations

import io
import json
import os
import textwrap

import pytest
from typer.testing import CliRunner

from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")


def cli(*args, columns: int = 200, code: int = 0, stdout: bool = False) -> str:
    """The command's output (stdout and stderr, as a terminal shows them; stdout alone for JSON)."""
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})
    assert result.exit_code == code, (args, result.output)
    return result.stdout if stdout else result.output


def spec(name: str) -> str:
    return os.path.join(SPECS, name)


def write(tmp_path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def cells(line: str) -> int:
    from rich.cells import cell_len

    return cell_len(line)


# ---------------------------------------------------------------- explain

def test_explain_ng_39x39_conv1_in_english_and_korean():
    # Ng's example: 39×39×3, conv 3×3 s1 p0 with 10 filters
    # n_H = ⌊(39 + 2·0 − 3)/1⌋ + 1 = 37; params (3·3·3 + 1)·10 = 280 = 270 weights + 10 biases
    en = cli("explain", spec("ng_39x39.yaml"), "--layer", "conv1")
    ko = cli("explain", spec("ng_39x39.yaml"), "--layer", "conv1", "--lang", "ko")
    for out in (en, ko):
        assert "n_H = ⌊(n_H_prev + 2p − f)/s⌋ + 1 = ⌊(39 + 2·0 − 3)/1⌋ + 1 = 37" in out
        assert "(f·f·n_C_prev + 1)·n_C = (3·3·3 + 1)·10 = 280" in out
        # MACs 37·37·10·3·3·3 = 13,690·27 = 369,630
        assert "37·37·10·3·3·3 = 369,630" in out
    assert "params = (f·f·n_C_prev + 1)·n_C = (3·3·3 + 1)·10 = 280 (270 weights + 10 biases)" in en
    assert "파라미터 수 = (f·f·n_C_prev + 1)·n_C = (3·3·3 + 1)·10 = 280 (가중치 270 + 편향 10)" in ko


# 16 → conv 3×3 s1: 14; conv 3×3 s2: (14 − 3)/2 + 1 = 6.5 → 6, row 14 never read;
# conv 3×3 s1 same on 6: total pad (6 − 1)·1 + 3 − 6 = 2, p = 1 each side, 6;
# conv 3×3 s2 same on 6: ⌈6/2⌉ = 3, total pad (3 − 1)·2 + 3 − 6 = 1 → 0 before, 1 after; the course's
#   p = ((6 − 1)·2 + 3 − 6)/2 = 7/2 would keep 6;
# maxpool 2 s2 ceil on 3: ⌈(3 − 2)/2⌉ + 1 = 2, the last window at (2 − 1)·2 = 2 … 3, input ends at 2;
# receptive field: 1 → 3 (j 1) → 3 + (3 − 1)·1 = 5 (j 2) → 5 + (3 − 1)·2 = 9.
WINDOWS = """\
    name: windows
    input: [16, 16, 3]
    layers:
      - conv: {filters: 4, kernel: 3, stride: 1}
      - conv: {filters: 4, kernel: 3, stride: 2}
      - conv: {filters: 4, kernel: 3, stride: 1, padding: same}
      - conv: {filters: 4, kernel: 3, stride: 2, padding: same}
      - maxpool: {kernel: 2, stride: 2, ceil_mode: true}
    """


def test_explain_receptive_field_same_split_ceil_and_inexact(tmp_path):
    path = write(tmp_path, WINDOWS)
    en = cli("explain", path)
    ko = cli("explain", path, "--lang", "ko")
    for out in (en, ko):
        assert "r = r_prev + (f − 1)·j_prev = 5 + (3 − 1)·2 = 9" in out
        assert "max((6 − 1)·1 + 3 − 6, 0) = 2" in out                       # same at s1: p = 1 each side
        assert "p = ((n − 1)·s + f − n)/2 = ((6 − 1)·2 + 3 − 6)/2 = 7/2" in out
        assert "⌈n/s⌉ = ⌈6/2⌉ = 3" in out                                   # TensorFlow at stride 2
        assert "⌊(6 + 0 + 1 − 3)/2⌋ + 1 = 3" in out                          # 0 before, 1 after
        assert "⌈(3 + 2·0 − 2)/2⌉ + 1 = 2" in out                            # ceil mode
        assert "(n_out − 1)·s = (2 − 1)·2 = 2 … 3" in out                    # its last window
        assert "(14 + 2·0 − 3)/2 + 1 = 6.50" in out                          # the inexact division
    assert "p = 1 on each side" in en and "stride 2 gives 3, not 6" in en
    assert "input row and column 14 (of 14) are never read" in en
    assert "양쪽에 p = 1" in ko and "14번째 행과 열" in ko


# ---------------------------------------------------------------- the one-layer calculator and solver

def test_conv_7_3_stride_3():
    # (7 + 2·0 − 3)/3 + 1 = 2.33 → 2: windows at rows 1–3 and 4–6, row 7 never read;
    # padding 1: ⌊(7 + 2 − 3)/3⌋ + 1 = 3 exactly; stride 2: ⌊(7 − 3)/2⌋ + 1 = 3 exactly
    out = cli("conv", 7, 3, "--stride", 3)
    assert "⌊(7 + 2·0 − 3)/3⌋ + 1 = 2" in out
    assert "(7 + 2·0 − 3)/3 + 1 = 2.33 → 2" in out
    assert "input row 7 and column 7 (the last) are never read" in out
    assert "padding 1 (⌊(7 + 2·1 − 3)/3⌋ + 1 = 3)" in out and "stride 2 (⌊(7 + 2·0 − 3)/2⌋ + 1 = 3)" in out
    # strides 1, 2 divide (7 − 3)/s exactly; 3 does not
    assert "strides that divide exactly at this padding: 1, 2" in out


def test_conv_7_3_padding_same():
    # stride 1: total padding (7 − 1)·1 + 3 − 7 = 2, p = 1 each side, n_out = 7
    out = cli("conv", 7, 3, "--padding", "same")
    assert "⌊(7 + 2·1 − 3)/1⌋ + 1 = 7" in out
    assert "p = 1 before and 1 after" in out and "max((7 − 1)·1 + 3 − 7, 0) = 2" in out
    assert "padding that keeps the size 7 at stride 1: p = 1" in out


def test_pool_likewise():
    # pool 3 s3 on 7: as conv, 2.33 → 2, and ceil mode ⌈(7 − 3)/3⌉ + 1 = 3 as a third fix
    out = cli("pool", 7, 3, "--stride", 3)
    assert "(7 + 2·0 − 3)/3 + 1 = 2.33 → 2" in out
    assert "ceil mode (⌈(7 + 2·0 − 3)/3⌉ + 1 = 3)" in out
    # pool 2 s2 same on 7: ⌈7/2⌉ = 4, total padding (4 − 1)·2 + 2 − 7 = 1: 0 before, 1 after
    same = cli("pool", 7, 2, "--padding", "same")
    assert "pool 2×2 s2 same(0,1,0,1)" in same and "max((4 − 1)·2 + 2 − 7, 0) = 1" in same


def test_solve_28_to_28_with_f5():
    # 28 = ⌊(28 + 2p − 5)/s⌋ + 1 → s = 1, 2p = 4, p = 2 (s ≥ 2 would need 2p ≥ 27·2 + 5 − 28 = 31 > f)
    out = cli("solve", "--in", 28, "--out", 28, "--f", 5)
    assert "s = 1, p = 2: ⌊(28 + 2·2 − 5)/1⌋ + 1 = 28  divides exactly" in out
    assert "1 solution (1 exact)" in out


def test_solve_224_to_55_with_f11_s4():
    # (224 + 2p − 11)/4 + 1 = 55 needs 213 + 2p = 216: 2p = 3, no integer p; ⌊ ⌋ gives 55 at p = 2 (55.25)
    # and p = 3 (55.75).  227: (227 − 11)/4 + 1 = 55 exactly at p = 0 (AlexNet's original input)
    out = cli("solve", "--in", 224, "--out", 55, "--f", 11, "--s", 4)
    assert "(224 + 2·2 − 11)/4 + 1 = 55.25" in out and "(224 + 2·3 − 11)/4 + 1 = 55.75" in out
    assert "no padding divides exactly on n_in = 224" in out
    assert "227 (p = 0)" in out


def test_input_sizes_alexnet(tmp_path):
    # torchvision's AlexNet (conv1 11×11 s4 p2): (224 + 4 − 11)/4 + 1 = 55.25, inexact; 223: 216/4 + 1 = 55,
    # then maxpool 3 s2 (55 − 3)/2 + 1 = 27, conv 5 p2 27, maxpool 13, conv 3 p1 13, maxpool (13 − 3)/2 + 1 = 6
    out = cli("solve", spec("alexnet.yaml"), "--input-sizes")
    assert "(224 + 2·2 − 11)/4 + 1 = 55.25" in out
    sizes = out.split("nearest first:")[1].split()
    assert "223," in sizes and "224" not in " ".join(sizes)
    # the original AlexNet's first layers (conv 11 s4 p0, maxpool 3 s2): 224 gives (224 − 11)/4 + 1 = 54.25;
    # 227 gives 55 exactly, then (55 − 3)/2 + 1 = 27 exactly
    original = write(tmp_path, """\
        input: [224, 224, 3]
        layers:
          - conv: {filters: 96, kernel: 11, stride: 4}
          - maxpool: {kernel: 3, stride: 2}
        """)
    out = cli("solve", original, "--input-sizes", "--near", 4)
    assert "(224 + 2·0 − 11)/4 + 1 = 54.25" in out
    assert "227" in out.split("nearest first:")[1]


# ---------------------------------------------------------------- output that fits

def test_lenet5_summary_at_80_columns():
    out = cli("summary", spec("lenet5.yaml"), columns=80)
    lines = out.splitlines()
    assert max(cells(x) for x in lines) <= 80
    header = next(x for x in lines if x.startswith("┃"))
    assert "Layer" in header and "Output" in header and "Train." in header  # name, shape, params kept
    # conv1: (5·5·3 + 1)·8 = 608 params; 28×28×8 output
    assert any("conv1" in x and "28×28×8" in x and "608" in x for x in lines)


def test_training_table_at_80_columns():
    from rich.console import Console

    from cnncalc.render.training import summary

    history = [{"epoch": e, "train_loss": 0.5 / e, "train_acc": 0.9, "val_loss": 0.6 / e, "val_acc": 0.88,
                "lr": 0.001, "images_per_s": 1234.0} for e in (1, 2)]
    buffer = io.StringIO()
    summary(Console(file=buffer, width=80, force_terminal=False), history)
    lines = buffer.getvalue().splitlines()
    assert max(cells(x) for x in lines) <= 80
    assert len([x for x in lines if x.startswith("│")]) == 2  # one line per epoch


def test_korean_table_cells_align():
    # every line of a boxed table spans the same terminal cells, Hangul counting two
    out = cli("summary", spec("lenet5.yaml"), "--lang", "ko", columns=120)
    table = [x for x in out.splitlines() if x[:1] in "┏┃┡│├└"]
    assert any("층" in x for x in table)
    assert len({cells(x) for x in table}) == 1


def test_course_view_ng():
    # Ng's table: 39·39·3 = 4,563; 37·37·10 = 13,690 with 280; 17·17·20 = 5,780 with (5·5·10 + 1)·20 = 5,020;
    # 7·7·40 = 1,960 with (5·5·20 + 1)·40 = 20,040; dense (1,960 + 1)·10 = 19,610
    out = cli("summary", spec("ng_39x39.yaml"), "--view", "course")
    assert "Activation shape" in out and "Activation size" in out and "# parameters" in out
    rows = {x.split("│")[1].strip(): [c.strip() for c in x.split("│")[2:-1]] for x in out.splitlines()
            if x.startswith("│")}
    assert rows["input"][1:] == ["39×39×3", "4,563", "0"]
    assert rows["conv1"][1:] == ["37×37×10", "13,690", "280"]
    assert rows["conv2"][1:] == ["17×17×20", "5,780", "5,020"]
    assert rows["conv3"][1:] == ["7×7×40", "1,960", "20,040"]
    assert rows["dense1"][1:] == ["10", "10", "19,610"]


def test_same_shows_its_paddings_and_json_numbers(tmp_path):
    path = write(tmp_path, WINDOWS)
    out = cli("shapes", path)
    assert "conv 3×3 s1 same p1, 4" in out
    assert "conv 3×3 s2 same(0,1,0,1), 4" in out
    rows = {r["name"]: r for r in json.loads(cli("shapes", path, "--format", "json", stdout=True))["rows"]}
    assert rows["conv3"]["window"]["p"] == [1, 1, 1, 1]
    assert rows["conv4"]["window"]["p"] == [0, 1, 0, 1]


# ---------------------------------------------------------------- compare

def test_compare_two_3x3_against_one_5x5():
    # on C = 128: 2·9·C² = 2·9·16,384 = 294,912 against 25·C² = 409,600 weights, 18/25 = 0.72;
    # biases 2·128 = 256 against 128: 295,168 against 409,728
    out = cli("compare", spec("compare/two_3x3.yaml"), spec("compare/one_5x5.yaml"))
    assert "295,168" in out and "409,728" in out
    assert "Biases: 256 against 128 (-128)" in out and "are the weights 294,912 against 409,600 plus these biases" in out
    assert "2·9·C² = 294,912 against 25·C² = 409,600 weights, ratio 18/25 = 0.72" in out
    assert "+1 non-linearities (2 against 1)" in out
    bare = cli("compare", spec("compare/two_3x3_nobias.yaml"), spec("compare/one_5x5_nobias.yaml"))
    weights = next(x for x in bare.splitlines() if "weights" in x and "│" in x)
    assert "294,912" in weights and "409,600" in weights
    trainable = next(x for x in bare.splitlines() if "Trainable params" in x)
    assert "294,912" in trainable and "409,600" in trainable


def test_compare_depthwise_separable():
    # C = 128 → n_C = 256, f = 3: 9·128 + 128·256 = 1,152 + 32,768 = 33,920 against 9·128·256 = 294,912;
    # 33,920/294,912 = 1/256 + 1/9 = (9 + 256)/2,304 = 265/2,304 = 0.115
    out = cli("compare", spec("compare/standard_128_256.yaml"), spec("compare/separable_128_256.yaml"))
    assert "9·128 + 128·256 = 33,920 against f²·C·n_C = 9·128·256 = 294,912" in out
    assert "1/n_C + 1/f² = 1/256 + 1/9 = 265/2304 = 0.115" in out


# ---------------------------------------------------------------- lint

LINTS = {
    # conv1 (16 biases) straight into batchnorm
    "bias-before-bn": ("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 16, kernel: 3{L}}\n  - batchnorm\n"),
    # dense reads 8·8·8 = 512: (512 + 1)·10 = 5,130 of 5,130 + (3·3·4 + 1)·8 = 5,426 params
    "dense-heavy": ("input: [8, 8, 4]\nlayers:\n  - conv: {filters: 8, kernel: 3, padding: 1}\n  - flatten\n"
                    "  - dense: {units: 10{L}}\n"),
    # 1×1 at stride 3 on 7: windows at rows 0, 3, 6; rows 1, 2, 4, 5 never read
    "stride-over-kernel": "input: [7, 7, 1]\nlayers:\n  - conv: {filters: 1, kernel: 1, stride: 3{L}}\n",
    # one 3×3 conv sees 3×3 of a 16×16 input before the flatten
    "small-receptive-field": ("input: [16, 16, 1]\nlayers:\n  - conv: {filters: 2, kernel: 3}\n"
                              "  - {kind: flatten{L}}\n  - dense: 2\n"),
    "dropout-before-bn": ("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3, bias: false}\n"
                          "  - dropout: {rate: 0.2{L}}\n  - batchnorm\n"),
    # ceil mode on 6: ⌈(6 − 3)/2⌉ + 1 = 3 windows, the last at 4…6, one past the end
    "pool-past-end": "input: [6, 6, 1]\nlayers:\n  - maxpool: {kernel: 3, stride: 2, ceil_mode: true{L}}\n",
    "unused-argument": ("input: [8, 8, 3]\nblocks:\n  unit:\n    args: {filters: 8, spare: 3}\n"
                        "    layers: [{conv: {filters: $filters, kernel: 3, bias: false}}, relu]\n{B}"
                        "layers:\n  - unit: {filters: 4}\n"),
}


@pytest.mark.parametrize("lint_id", sorted(LINTS))
def test_each_lint_fires_and_is_silenced_per_layer(tmp_path, lint_id):
    template = LINTS[lint_id]

    def spec_text(silenced: bool) -> str:
        """{L}: the layer's own `lint: {ignore: [id]}`; {B}: the block's (an argument belongs to its block)."""
        return (template.replace("{L}", f", lint: {{ignore: [{lint_id}]}}" if silenced else "")
                .replace("{B}", f"    lint: {{ignore: [{lint_id}]}}\n" if silenced else ""))

    fired = json.loads(cli("lint", write(tmp_path, spec_text(False), "on.yaml"), "--format", "json", stdout=True))
    assert lint_id in [f["id"] for f in fired["findings"]]
    quiet = json.loads(cli("lint", write(tmp_path, spec_text(True), "off.yaml"), "--format", "json", stdout=True))
    assert lint_id not in [f["id"] for f in quiet["findings"]]


def test_grouped_conv_whose_channels_do_not_divide(tmp_path):
    # 6 input channels in 4 groups: 6/4 is not an integer; common divisors of 6 and 8: 1, 2.
    # Not a lint but an error: the layer cannot be built, so lint stops with exit 1 and says which groups work
    path = write(tmp_path, "input: [8, 8, 6]\nlayers:\n  - conv: {filters: 8, kernel: 3, groups: 4}\n")
    out = cli("lint", path, code=1)
    assert "net.yaml:3:5" in out and "1, 2" in out


# ---------------------------------------------------------------- peer conventions

# AlexNet (torchvision), by hand: conv/dense outputs × MACs per output
#   conv1 55·55·64 × 11·11·3, conv2 27·27·192 × 5·5·64, conv3 13·13·384 × 3·3·192,
#   conv4 13·13·256 × 3·3·384, conv5 13·13·256 × 3·3·256, fc 4,096 × 9,216, 4,096 × 4,096, 1,000 × 4,096
ALEXNET = [(55 * 55 * 64, 11 * 11 * 3), (27 * 27 * 192, 5 * 5 * 64), (13 * 13 * 384, 3 * 3 * 192),
           (13 * 13 * 256, 3 * 3 * 384), (13 * 13 * 256, 3 * 3 * 256), (4096, 9216), (4096, 4096), (1000, 4096)]
ALEXNET_MACS = sum(n * k for n, k in ALEXNET)                         # 714,188,480
ALEXNET_BIASES = sum(n for n, _ in ALEXNET)                           # one add per output: 494,184
RELU_WRITES = sum(n for n, _ in ALEXNET[:-1])                         # relu after all but the last: 493,184
POOL_READS = 55 * 55 * 64 + 27 * 27 * 192 + 13 * 13 * 256 + 6 * 6 * 256  # 3 maxpools + adaptive avgpool 6×6


def test_flops_as_torchinfo_resnet50_and_alexnet():
    # the two numbers; AlexNet's is MACs + one add per bias (no batchnorm in it)
    assert ALEXNET_MACS + ALEXNET_BIASES == 714_682_664
    assert "torchinfo total: 4,089,238,376 (Mult-Adds)" in cli("flops", spec("resnet50.yaml"), "--as", "torchinfo")
    assert "torchinfo total: 714,682,664 (Mult-Adds)" in cli("flops", spec("alexnet.yaml"), "--as", "torchinfo")


def test_flops_as_the_other_peers():
    # ptflops: MACs + bias adds + 2 per relu output + 2 per pooled element read
    ptflops = ALEXNET_MACS + ALEXNET_BIASES + 2 * RELU_WRITES + 2 * POOL_READS
    assert f"ptflops total: {ptflops:,} (MACs)" in cli("flops", spec("alexnet.yaml"), "--as", "ptflops")
    # fvcore: MACs (its "flops") + one per element its adaptive_avg_pool2d reads (6·6·256)
    assert f"fvcore total: {ALEXNET_MACS + 6 * 6 * 256:,} (flops)" in cli("flops", spec("alexnet.yaml"), "--as", "fvcore")
    # thop: MACs + (1 add + 1 divide) per adaptive-avgpool output (6·6·256)
    assert f"thop total: {ALEXNET_MACS + 2 * 6 * 6 * 256:,} (MACs)" in cli("flops", spec("alexnet.yaml"), "--as", "thop")


def test_explain_diff_torchinfo_ptflops():
    out = cli("flops", spec("alexnet.yaml"), "--explain-diff", "torchinfo", "ptflops")
    ptflops = ALEXNET_MACS + ALEXNET_BIASES + 2 * RELU_WRITES + 2 * POOL_READS
    gap = 714_682_664 - ptflops                                         # -(986,368 + 772,096) = -1,758,464
    assert f"torchinfo − ptflops = 714,682,664 − {ptflops:,} = {gap:,}" in out
    assert f"{2 * RELU_WRITES:,}" in out and f"{2 * POOL_READS:,}" in out


def test_keras_refused_with_its_reason():
    # refused (exit 1): Keras counts no MACs or FLOPs; its "Total params" is cnncalc's params total
    out = cli("flops", spec("alexnet.yaml"), "--as", "keras", code=1)
    assert "Keras' summary() reports parameters, not MACs or FLOPs" in out
    assert "cnncalc params " in out
