"""`cnncalc conv N F` and `cnncalc pool N F`: the one-layer calculator, against hand-worked numbers,
a brute-force walk of the windows and PyTorch.

Hand-worked (issue 9's examples):
  conv 7 3 --stride 3: (7 + 2·0 − 3)/3 + 1 = 4/3 + 1 = 2.33 → ⌊⌋ gives 2; the windows start at rows 1 and 4
      (1-based) and read rows 1–3 and 4–6, so row 7 (and column 7) is never read; padding 1 gives
      (7 + 2 − 3)/3 + 1 = 3 exactly, stride 2 gives (7 − 3)/2 + 1 = 3 exactly.
  conv 7 3 --padding same: total padding (⌈7/1⌉ − 1)·1 + 3 − 7 = 2, split 1 and 1; (7 + 2 − 3)/1 + 1 = 7.
  pool 7 2: (7 − 2)/2 + 1 = 3.5 → 3 (row 7 unread); ceil mode ⌈5/2⌉ + 1 = 4.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

import helpers

from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(*args):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def lines(*args):
    result = run(*args)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def data(*args):
    result = run(*args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


# ---------------------------------------------------------------- an oracle that walks the windows


def walk(n, f, s, p, d=1):
    """(n_out, the real input rows no window reads, 1-based) by sliding the window over the padded input
    one start at a time, without the formula: a start is valid while its last tap stays inside."""
    padded = n + 2 * p
    reach = d * (f - 1)
    read, n_out, start = set(), 0, 0
    while start + reach < padded:
        n_out += 1
        read.update(start + d * k for k in range(f))
        start += s
    real = range(p, p + n)
    return n_out, [r - p + 1 for r in real if r not in read]


# ---------------------------------------------------------------- the examples


def test_conv_7_3_stride_3_prints_the_arithmetic_the_unread_row_and_the_fixes():
    out = lines("conv", "7", "3", "--stride", "3")
    assert out[1] == "n_out = ⌊(n + 2p − f)/s⌋ + 1 = ⌊(7 + 2·0 − 3)/3⌋ + 1 = 2"
    assert out[2] == "(7 + 2·0 − 3)/3 + 1 = 2.33 → 2: not an integer, rounded down"
    assert out[3] == "input row 7 and column 7 (the last) are never read"
    assert out[4].startswith("fixes: padding 1 (⌊(7 + 2·1 − 3)/3⌋ + 1 = 3) or stride 2 (⌊(7 + 2·0 − 3)/2⌋ + 1 = 3)")
    assert walk(7, 3, 3, 0) == (2, [7])  # the oracle agrees with the hand-worked numbers
    assert "strides that divide exactly at this padding: 1, 2" in out  # 4 = 7 − 3 is divided by 1, 2 (and 4 > f)


def test_conv_7_3_same_prints_7_and_the_padding_it_used():
    out = lines("conv", "7", "3", "--padding", "same")
    assert out[0].startswith("conv 3×3 s1 same")
    assert out[1].endswith("= ⌊(7 + 2·1 − 3)/1⌋ + 1 = 7")
    assert out[2].startswith("same padding: p = 1 before and 1 after;") and out[2].endswith("= 2")
    assert "padding that keeps the size 7 at stride 1: p = 1" in out


def test_conv_7_3_same_agrees_with_pytorch():
    torch = pytest.importorskip("torch")
    y = torch.nn.functional.conv2d(torch.zeros(1, 1, 7, 7), torch.zeros(1, 1, 3, 3), padding="same")
    got = data("conv", "7", "3", "--padding", "same")
    assert (got["n_out"], got["p_before"], got["p_after"]) == (y.shape[-1], 1, 1) == (7, 1, 1)


def test_pool_7_2_is_3_with_row_7_unread_and_ceil_mode_gives_4():
    out = lines("pool", "7", "2")
    assert out[2] == "(7 + 2·0 − 2)/2 + 1 = 3.50 → 3: not an integer, rounded down"
    assert out[3] == "input row 7 and column 7 (the last) are never read"
    assert "ceil mode (⌈(7 + 2·0 − 2)/2⌉ + 1 = 4)" in out[4]
    assert walk(7, 2, 2, 0) == (3, [7])


def test_json_is_the_plain_data():
    got = data("conv", "7", "3", "--stride", "3")
    assert (got["n_out"], got["numerator"], got["remainder"], got["lost"]) == (2, 4, 1, 1)
    assert got["unread_rows"] == [7, 7]
    assert (got["inexact"]["fix_padding"], got["inexact"]["fix_stride"]) == (1, 2)
    assert got["same_padding"] == [1, 1] and got["same_n_out"] == 3  # ⌈7/3⌉
    assert got["exact_strides"] == [1, 2] and got["keeps_size"] == []


def test_korean_says_the_same_numbers():
    out = lines("conv", "7", "3", "--stride", "3", "--lang", "ko")
    assert out[2] == "(7 + 2·0 − 3)/3 + 1 = 2.33 → 2: 정수가 아니므로 내림"
    assert out[3] == "입력의 7번째 행과 7번째 열(마지막)은 읽히지 않음"
    assert out[4].startswith("해결: 패딩 1 (") and "스트라이드 2 (" in out[4]


# ---------------------------------------------------------------- every small case against the walk


def test_every_small_conv_against_the_window_walk():
    """n ≤ 16, f ≤ 5, s ≤ 4, p ≤ 2, d ≤ 2: n_out, the unread rows, the strides and paddings that divide
    exactly and the paddings that keep the size, each from the walk."""
    from cnncalc.analysis.solve import window_calc

    checked = 0
    for n in range(1, 17):
        for f in range(1, 6):
            for s in range(1, 5):
                for p in range(0, 3):
                    for d in (1, 2):
                        if d * (f - 1) + 1 > n + 2 * p:
                            continue
                        calc = window_calc("conv", n, f, s, p, d)
                        n_out, unread = walk(n, f, s, p, d)
                        assert calc.length.n_out == n_out, (n, f, s, p, d)
                        got = list(range(calc.unread[0], calc.unread[1] + 1)) if calc.unread else []
                        f_eff = d * (f - 1) + 1
                        last_read = (n_out - 1) * s + f_eff - p  # 1-based input row of the last tap
                        assert got == [r for r in unread if r > last_read], (n, f, s, p, d)
                        if d == 1:  # no holes inside a window: the rows between windows are the rest
                            holes = [r for r in unread if r <= last_read]
                            if p == 0:
                                assert len(holes) == calc.gap * (n_out - 1), (n, f, s)
                            assert bool(holes) <= bool(calc.gap), (n, f, s, p)
                        dividing = [v for v in range(1, f_eff + 1) if (walk(n, f, v, p, d)[0] - 1) * v + f_eff == n + 2 * p]
                        # a window as wide as the padded input fits once whatever the stride: stride 1 stands for all
                        assert calc.exact_strides == (dividing if n + 2 * p > f_eff else [1]), (n, f, s, p, d)
                        assert calc.exact_paddings == [q for q in range(0, 4) if n + 2 * q >= f_eff
                                                       and (walk(n, f, s, q, d)[0] - 1) * s + f_eff == n + 2 * q]
                        assert calc.keeps_size == [q for q in range(0, max(f_eff, 3) + 1)
                                                   if n + 2 * q >= f_eff and walk(n, f, s, q, d)[0] == n]
                        checked += 1
    assert checked > 1500


def test_conv_and_pool_sizes_agree_with_pytorch():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    for n, f, s, p, d in [(7, 3, 3, 0, 1), (224, 11, 4, 2, 1), (10, 3, 2, 1, 2), (9, 4, 3, 1, 1)]:
        y = F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, f, f), stride=s, padding=p, dilation=d)
        assert data("conv", str(n), str(f), "--stride", str(s), "--padding", str(p),
                    "--dilation", str(d))["n_out"] == y.shape[-1]
    for n, f, s, p, ceil in [(7, 2, 2, 0, False), (7, 2, 2, 0, True), (112, 3, 2, 1, True), (8, 3, 3, 1, True)]:
        y = F.max_pool2d(torch.zeros(1, 1, n, n), f, s, p, ceil_mode=ceil)
        args = ["pool", str(n), str(f), "--stride", str(s), "--padding", str(p)] + (["--ceil"] if ceil else [])
        assert data(*args)["n_out"] == y.shape[-1], args


# ---------------------------------------------------------------- bad input: one line, exit 1


@pytest.mark.parametrize("args, field, received", [
    (["conv", "7", "2.5"], "F", "'2.5'"),
    (["conv", "--", "-7", "3"], "N", "'-7'"),
    (["conv", "3", "5"], "F", "'5'"),  # f > n + 2p
    (["conv", "7", "3", "--stride", "0"], "--stride", "'0'"),
    (["conv", "7", "3", "--padding", "x"], "--padding", "'x'"),
    (["conv", "7", "3", "--dilation", "1.5"], "--dilation", "'1.5'"),
    (["pool", "7", "3", "--padding", "2"], "--padding", "'2'"),  # p > ⌊3/2⌋
    (["pool", "7", "８"], "F", "'８'"),  # a full-width digit is not an ASCII integer
])
def test_bad_input_is_one_line_and_exit_1(args, field, received):
    result = run(*args)
    assert result.exit_code == 1, result.output
    text = result.stderr.strip()
    assert len(text.splitlines()) == 1 and "Traceback" not in result.output
    assert text.startswith(f"error: {field}: ") and f"received {received}" in text and "allowed: " in text


def test_window_wider_than_the_padded_input_says_the_arithmetic_and_the_padding_that_fits():
    text = run("conv", "3", "5").stderr.strip()
    # 5 > 3 + 0 + 0; padding ⌈(5 − 3)/2⌉ = 1 on each side makes it fit
    assert "the window 5 is wider than the padded input 3 + 0 + 0 = 3" in text
    assert text.endswith("allowed: a window ≤ 3, or padding 1 on each side")
    ko = run("conv", "3", "5", "--lang", "ko").stderr.strip()
    assert ko.startswith("오류: F: 윈도우 5이(가)") and "받은 값 '5'" in ko


@pytest.mark.parametrize("command", [["conv", "7", "3"], ["pool", "7", "2"],
                                     ["solve", "--in", "28", "--out", "28", "--f", "5"],
                                     ["solve", "specs/lenet5.yaml", "--input-sizes", "--near", "2"]])
def test_calculator_commands_do_not_import_numba_or_numpy(command):
    assert not {"numba", "numpy"} & helpers.modules_after(command, timeout=60)


@pytest.mark.parametrize("command", ["conv", "pool", "solve"])
def test_the_help_examples_run(command, monkeypatch):
    import shlex

    monkeypatch.chdir(ROOT)
    shown = run(command, "--help").stdout.split("Examples:", 1)[1].split("\n")
    examples = [line.strip() for line in shown if line.strip().startswith("cnncalc ")]
    assert len(examples) >= 2
    for line in examples:
        result = run(*shlex.split(line)[1:])
        assert result.exit_code == 0 and result.stdout.strip(), (line, result.output)
