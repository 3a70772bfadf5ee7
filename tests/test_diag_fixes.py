"""Usable fixes (issue 9): a fix keeps the layer's meaning.  A network's stride is its downsampling
factor, so a network is never told to change it; the fixes are the smallest symmetric padding p < f_eff
that divides exactly (pooling: p ≤ ⌊f/2⌋), 'same' (conv), ceil mode (pooling), and the nearest network
input sizes for which every window divides (the solver's --input-sizes search).  The one-layer
calculator has no architecture around it and may also offer a stride; both ask the same function
(`layers.window.inexact_division`).

Hand-worked: a window divides exactly when (n + 2p − f) mod s = 0.
"""

import json

from typer.testing import CliRunner

from cnncalc.cli import app
from cnncalc.render.messages import diagnostic_fix
from tests.helpers import run

runner = CliRunner()

# AlexNet as Krizhevsky et al. wrote it (11×11 s4, no padding) on the 224 crop of the paper's text:
# (224 − 11) mod 4 = 1 → row 224 unread.  227 divides at every layer: conv1 (227 − 11)/4 + 1 = 55,
# pool (55 − 3)/2 + 1 = 27, conv 5×5 p2 27, pool 13, conv 3×3 p1 13, pool 6.
ALEXNET_PAPER = """\
- conv: {filters: 96, kernel: 11, stride: 4}
- relu
- maxpool: {kernel: 3, stride: 2}
- conv: {filters: 256, kernel: 5, padding: 2}
- maxpool: {kernel: 3, stride: 2}
- conv: {filters: 384, kernel: 3, padding: 1}
- maxpool: {kernel: 3, stride: 2}
- flatten
- dense: 10
"""


def test_alexnet_at_224_is_told_227():
    r = run(ALEXNET_PAPER, (224, 224, 3))
    conv1 = next(d for d in r.diagnostics if d.layer == "conv1")
    assert conv1.level == "warning"
    # no p < 11 divides: 213 + 2p is odd; 'same' would change 54 to ⌈224/4⌉ = 56 and is offered as padding;
    # no input in 208 … 223 divides every layer, 227 is the nearest above
    assert conv1.detail.fix_padding is None and conv1.detail.fix_stride is None
    assert conv1.detail.fix_inputs == (227,)
    fix = diagnostic_fix(conv1)
    assert fix == "padding: same divides exactly; or an input of 227 (every layer then divides exactly)"
    assert "stride" not in fix
    assert "입력 크기 227" in diagnostic_fix(conv1, "ko")
    # the fix is usable: at 227 nothing is left unread
    assert run(ALEXNET_PAPER, (227, 227, 3)).diagnostics == []


def test_a_7x7_stride_2_conv_is_never_told_stride_7():
    # 224 + 2p − 7 = 217 + 2p is odd for every p: no padding; divisors of 217 up to 7 are 1 and 7 (the old
    # fix, 'stride 7', would make it another layer).  'same' pads (2, 3): 224 + 5 − 7 = 222 is even.
    # Odd inputs divide: 223 and 225.
    (d,) = run("- conv: {filters: 8, kernel: 7, stride: 2}", (224, 224, 3)).diagnostics
    assert d.level == "warning" and d.detail.fix_stride is None
    assert diagnostic_fix(d) == "padding: same divides exactly; or an input of 223 or 225 (every layer then divides exactly)"
    assert run("- conv: {filters: 8, kernel: 7, stride: 2}", (225, 225, 3)).diagnostics == []


def test_the_resnet_stem_prints_no_warning():
    r = run("- conv: {filters: 64, kernel: 7, stride: 2, padding: 3}", (224, 224, 3))
    assert [d.level for d in r.diagnostics] == ["note"]


def test_the_padding_fix_is_the_smallest_below_the_kernel():
    # conv 5×5 s3 on 10: (10 − 5) mod 3 = 2 lost; p = 1: 7 mod 3 = 1; p = 2: 9 mod 3 = 0 → padding 2 (< 5)
    (d,) = run("- conv: {filters: 1, kernel: 5, stride: 3}", (10, 10, 1)).diagnostics
    assert d.detail.fix_padding == 2 and diagnostic_fix(d).startswith("padding 2 or padding: same")
    assert run("- conv: {filters: 1, kernel: 5, stride: 3, padding: 2}", (10, 10, 1)).diagnostics == []


def test_a_pool_is_offered_ceil_mode_and_paddings_up_to_half_its_window():
    # maxpool 3×3 s2 on 8: (8 − 3) mod 2 = 1 lost; p = 1 (≤ ⌊3/2⌋): (8 + 2 − 3) mod 2 = 1 → no padding;
    # ceil mode: ⌈5/2⌉ + 1 = 4 reads row 8.  Odd inputs divide: 7 and 9
    (d,) = run("- maxpool: {kernel: 3, stride: 2}", (8, 8, 1)).diagnostics
    assert (d.detail.fix_padding, d.detail.fix_ceil, d.detail.fix_same) == (None, True, False)
    assert diagnostic_fix(d) == "ceil_mode: true divides exactly; or an input of 7 or 9 (every layer then divides exactly)"


def test_a_non_square_input_is_told_its_axis():
    # conv 3×3 s3 on 8×9: n_H (8 − 3) mod 3 = 2 lost; n_W (9 − 3) mod 3 = 0.  n_H: 6 or 9 divide
    (d,) = run("- conv: {filters: 1, kernel: 3, stride: 3}", (8, 9, 1)).diagnostics
    assert d.detail.axes == ("n_H",) and d.detail.fix_inputs == (6, 9)
    assert diagnostic_fix(d).endswith("or an input n_H of 6 or 9 (every layer then divides exactly)")


def test_the_calculator_and_the_diagnostic_agree_on_what_they_share():
    """`cnncalc conv 7 3 --stride 3` and a spec with that layer: the same padding and 'same' fixes; the
    calculator alone adds stride 2 ((7 − 3) mod 2 = 0), the issue's example."""
    calc = json.loads(runner.invoke(app, ["conv", "7", "3", "--stride", "3", "--format", "json"]).stdout)["inexact"]
    (d,) = run("- conv: {filters: 1, kernel: 3, stride: 3}", (7, 7, 1)).diagnostics
    assert (calc["fix_padding"], calc["fix_same"], calc["fix_ceil"]) == \
        (d.detail.fix_padding, d.detail.fix_same, d.detail.fix_ceil) == (1, True, False)
    assert (calc["fix_stride"], d.detail.fix_stride) == (2, None)


def test_the_input_fix_is_in_the_json(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("name: t\ninput: [224, 224, 3]\nlayers:\n" + "".join("  " + line + "\n"
                                                                         for line in ALEXNET_PAPER.splitlines()),
                    encoding="utf-8")
    data = json.loads(runner.invoke(app, ["params", str(path), "-f", "json"]).stdout)
    detail = next(d["detail"] for d in data["diagnostics"] if d["layer"] == "conv1")
    assert (detail["fix_inputs"], detail["fix_stride"], detail["padding_only"], detail["gaps"]) == \
        ([227], None, False, False)


def test_a_stride_2_conv_without_padding_on_an_even_input_is_told_the_odd_ones():
    # SqueezeNet 1.1's first conv: (224 − 3) mod 2 = 1; (n − 3) mod 2 = 0 for odd n: 223 and 225
    r = run("- conv: {filters: 4, kernel: 3, stride: 2}", (224, 224, 3))
    assert r.diagnostics[0].detail.fix_inputs == (223, 225)
