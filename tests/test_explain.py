"""`cnncalc explain`: hand-worked numbers for Ng's 39×39 example, and for every shipped spec every number
explain prints for a layer equals the summary JSON's for that row, each filled-in formula evaluating
(independently, here) to the result it prints."""

from __future__ import annotations

import glob
import json
import os
import re

import pytest
from typer.testing import CliRunner

import helpers

from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NG = os.path.join(ROOT, "specs", "ng_39x39.yaml")
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")) + glob.glob(os.path.join(ROOT, "specs", "*", "*.yaml")))

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def write(tmp_path, text: str, name: str = "net.yaml") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# ---------------------------------------------------------------- Andrew Ng's 39×39 ConvNet, by hand

# 39×39×3 → conv 3×3 s1 p0, 10 → conv 5×5 s2, 20 → conv 5×5 s2, 40 → flatten → dense 10:
#   conv1: ⌊(39 + 0 − 3)/1⌋ + 1 = 37; (3·3·3 + 1)·10 = 280 = 270 + 10; MACs 37·37·10·27 = 369,630
#   conv2: ⌊(37 − 5)/2⌋ + 1 = 17; (5·5·10 + 1)·20 = 5,020; MACs 17·17·20·250 = 1,445,000
#   conv3: ⌊(17 − 5)/2⌋ + 1 = 7; (5·5·20 + 1)·40 = 20,040; MACs 7·7·40·500 = 980,000
#   flatten: 7·7·40 = 1,960; dense: (1960 + 1)·10 = 19,610, MACs 19,600
#   receptive field: 1 → 1 + 2·1 = 3 → 3 + 4·1 = 7 (j 2) → 7 + 4·2 = 15 (j 4) → flatten 15 + 6·4 = 39
NG_LINES_EN = [
    "conv1: conv 3×3 s1 p0, 10 — 39×39×3 → 37×37×10",
    "  n_H = ⌊(n_H_prev + 2p − f)/s⌋ + 1 = ⌊(39 + 2·0 − 3)/1⌋ + 1 = 37",
    "  n_W = ⌊(n_W_prev + 2p − f)/s⌋ + 1 = ⌊(39 + 2·0 − 3)/1⌋ + 1 = 37",
    "  params = (f·f·n_C_prev + 1)·n_C = (3·3·3 + 1)·10 = 280 (270 weights + 10 biases)",
    "  MACs = n_H·n_W·n_C·f·f·n_C_prev = 37·37·10·3·3·3 = 369,630",
    "  activations = n_H·n_W·n_C = 37·37·10 = 13,690",
    "  r = r_prev + (f − 1)·j_prev = 1 + (3 − 1)·1 = 3;  j = j_prev·s = 1·1 = 1",
    "  n_H = ⌊(n_H_prev + 2p − f)/s⌋ + 1 = ⌊(37 + 2·0 − 5)/2⌋ + 1 = 17",
    "  params = (f·f·n_C_prev + 1)·n_C = (5·5·10 + 1)·20 = 5,020 (5,000 weights + 20 biases)",
    "  MACs = n_H·n_W·n_C·f·f·n_C_prev = 17·17·20·5·5·10 = 1,445,000",
    "  r = r_prev + (f − 1)·j_prev = 3 + (5 − 1)·1 = 7;  j = j_prev·s = 1·2 = 2",
    "  n_W = ⌊(n_W_prev + 2p − f)/s⌋ + 1 = ⌊(17 + 2·0 − 5)/2⌋ + 1 = 7",
    "  params = (f·f·n_C_prev + 1)·n_C = (5·5·20 + 1)·40 = 20,040 (20,000 weights + 40 biases)",
    "  MACs = n_H·n_W·n_C·f·f·n_C_prev = 7·7·40·5·5·20 = 980,000",
    "  r = r_prev + (f − 1)·j_prev = 7 + (5 − 1)·2 = 15;  j = j_prev·s = 2·2 = 4",
    "  activations = n = n_H_prev·n_W_prev·n_C_prev = 7·7·40 = 1,960",
    "  params = (n_prev + 1)·n = (1960 + 1)·10 = 19,610 (19,600 weights + 10 biases)",
    "  MACs = n_prev·n = 1960·10 = 19,600",
]

NG_LINES_KO = [
    "  n_H = ⌊(n_H_prev + 2p − f)/s⌋ + 1 = ⌊(39 + 2·0 − 3)/1⌋ + 1 = 37",
    "  파라미터 수 = (f·f·n_C_prev + 1)·n_C = (3·3·3 + 1)·10 = 280 (가중치 270 + 편향 10)",
    "  MACs = n_H·n_W·n_C·f·f·n_C_prev = 37·37·10·3·3·3 = 369,630",
    "  활성화 값 수 = n_H·n_W·n_C = 37·37·10 = 13,690",
    "  파라미터 수 = (n_prev + 1)·n = (1960 + 1)·10 = 19,610 (가중치 19,600 + 편향 10)",
    "  r = r_prev + (f − 1)·j_prev = 7 + (5 − 1)·2 = 15;  j = j_prev·s = 2·2 = 4",
]


def test_ng_39x39_hand_worked_english():
    result = invoke("explain", NG)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for line in NG_LINES_EN:
        assert line in lines, line
    # the totals are the summary's: 280 + 5,020 + 20,040 + 19,610 = 44,950 params
    assert "params 44,950" in result.stdout
    assert "MACs 2,814,230" in result.stdout  # 369,630 + 1,445,000 + 980,000 + 19,600


def test_ng_39x39_hand_worked_korean():
    result = invoke("explain", NG, "--lang", "ko")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for line in NG_LINES_KO:
        assert line in lines, line
    assert "weights" not in result.stdout and "biases" not in result.stdout


def test_layer_option_shows_that_layer_only():
    result = invoke("explain", NG, "--layer", "conv2")
    assert result.exit_code == 0, result.output
    heads = [line for line in result.stdout.splitlines() if line and not line.startswith(" ") and ": " in line]
    assert [h.split(": ")[0] for h in heads] == ["conv2"]
    assert "(5·5·10 + 1)·20 = 5,020" in result.stdout


def test_layer_option_takes_a_block(tmp_path):
    spec = write(tmp_path, "name: b\ninput: [8, 8, 4]\nblocks:\n  pair:\n    layers:\n      - conv: {filters: 4, kernel: 3, "
                           "padding: 1}\n      - relu\nlayers:\n  - pair: {name: first}\n  - pair: {name: second}\n")
    result = invoke("explain", spec, "--layer", "second")
    assert result.exit_code == 0, result.output
    names = [line.split(":")[0] for line in result.stdout.splitlines() if line.startswith("second.")]
    assert len(names) == 2 and not any(line.startswith("first.") for line in result.stdout.splitlines())


def test_unknown_layer_is_one_line_exit_1():
    result = invoke("explain", NG, "--layer", "conv9")
    assert result.exit_code == 1
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in result.output
    assert "ng_39x39.yaml" in lines[0] and "'--layer'" in lines[0] and "'conv9'" in lines[0] and "conv1" in lines[0]


# ---------------------------------------------------------------- same, ceil mode, inexact division


def test_same_at_stride_2_gives_ceil_n_over_s(tmp_path):
    # n = 56, f = 3, s = 2: ⌈56/2⌉ = 28; total = (28 − 1)·2 + 3 − 56 = 1 → 0 before, 1 after;
    # the course's keep-size p = ((56 − 1)·2 + 3 − 56)/2 = 57/2 would keep 56
    spec = write(tmp_path, "name: s\ninput: [56, 56, 3]\nlayers:\n  - conv: {filters: 8, kernel: 3, stride: 2, padding: same}\n")
    out = invoke("explain", spec).stdout
    assert "max((28 − 1)·2 + 3 − 56, 0) = 1, p = 0 before and 1 after" in out
    assert "((56 − 1)·2 + 3 − 56)/2 = 57/2" in out and "stride 2 gives 28, not 56" in out
    assert "n_H = ⌊(n_H_prev + p_top + p_bottom − f)/s⌋ + 1 = ⌊(56 + 0 + 1 − 3)/2⌋ + 1 = 28" in out


def test_same_at_stride_1_is_the_course_padding(tmp_path):
    # n = 32, f = 5: total (32 − 1)·1 + 5 − 32 = 4 → p = 2 each side = (5 − 1)/2
    spec = write(tmp_path, "name: s\ninput: [32, 32, 3]\nlayers:\n  - conv: {filters: 8, kernel: 5, padding: same}\n")
    out = invoke("explain", spec).stdout
    assert "max((32 − 1)·1 + 5 − 32, 0) = 4, p = 2 on each side" in out
    assert "⌊(32 + 2·2 − 5)/1⌋ + 1 = 32" in out


def test_ceil_mode_last_window(tmp_path):
    # n = 112, f = 3, s = 2, ceil: ⌈(112 − 3)/2⌉ + 1 = 55 + 1 = 56; the last window starts at (56 − 1)·2 = 110,
    # reads 110 … 112; the input ends at 111, so it reads 2 input rows and hangs 1 past the input
    spec = write(tmp_path, "name: c\ninput: [112, 112, 3]\nlayers:\n  - maxpool: {kernel: 3, stride: 2, ceil_mode: true}\n")
    out = invoke("explain", spec).stdout
    assert "n_H = ⌈(n_H_prev + 2p − f)/s⌉ + 1 = ⌈(112 + 2·0 − 3)/2⌉ + 1 = 56" in out
    assert "(56 − 1)·2 = 110 … 112 of the padded input, whose input ends at 111: it reads 2 input rows and columns" in out
    assert "hangs 1 past the padded input" in out


def test_inexact_division_says_what_is_lost(tmp_path):
    # n = 7, f = 3, s = 3: (7 − 3)/3 + 1 = 2.33; ⌊ ⌋ drops 4 mod 3 = 1 position, real input: row 7 of 7
    spec = write(tmp_path, "name: i\ninput: [7, 7, 1]\nlayers:\n  - conv: {filters: 1, kernel: 3, stride: 3}\n")
    result = invoke("explain", spec)
    assert result.exit_code == 0
    assert ("inexact along n_H and n_W: (7 + 2·0 − 3)/3 + 1 = 2.33 is not an integer; ⌊ ⌋ drops the last padded "
            "position — 1 of them real input: input row and column 7 (of 7) are never read") in result.stdout
    assert "⌊(7 + 2·0 − 3)/3⌋ + 1 = 2" in result.stdout
    assert "warning:" in result.stderr  # the diagnostic, as every analysis command prints it
    ko = invoke("explain", spec, "--lang", "ko")
    assert "정수가 아님" in ko.stdout and "경고:" in ko.stderr and "읽히지 않음" in ko.stderr


def test_remainder_in_padding_loses_nothing(tmp_path):
    # ResNet's stem: (224 + 2·3 − 7)/2 + 1 = 112.5; the dropped position is padding
    spec = write(tmp_path, "name: r\ninput: [224, 224, 3]\nlayers:\n  - conv: {filters: 64, kernel: 7, stride: 2, padding: 3}\n")
    out = invoke("explain", spec).stdout
    assert "(224 + 2·3 − 7)/2 + 1 = 112.50 is not an integer" in out and "no input is lost" in out


def test_dimension_error_shows_rows_then_the_error_in_each_language(tmp_path):
    spec = write(tmp_path, "name: e\ninput: [4, 4, 1]\nlayers:\n  - conv: {filters: 2, kernel: 3}\n  - conv: {filters: 2, kernel: 5}\n")
    en = invoke("explain", spec)
    assert en.exit_code == 1 and "Traceback" not in en.output
    assert "conv1: conv 3×3" in en.stdout  # the rows before the failing layer are kept
    assert en.stderr.strip().startswith("error:") and "larger than the padded input 2 + 0 + 0 = 2" in en.stderr
    ko = invoke("explain", spec, "--lang", "ko")
    assert ko.exit_code == 1
    assert ko.stderr.strip().startswith("오류:") and "패딩된 입력 2 + 0 + 0 = 2보다 큼" in ko.stderr


# ---------------------------------------------------------------- every spec: explain agrees with the summary

_LABEL = re.compile(r"^  (n_H|n_W|params|MACs|activations|r|r_H|r_W) = ")


def _evaluate(expression: str) -> int | None:
    """A filled-in formula as printed ('⌊(39 + 2·0 − 3)/1⌋ + 1', '(3·3·3 + 1)·10') evaluated in integers;
    None for a part that is not numbers and operators (the symbols, 'n')."""
    e = expression.replace("·", "*").replace("−", "-")
    e = re.sub(r"⌊\((.*)\)/(\d+)⌋", r"((\1)//\2)", e)
    e = re.sub(r"⌈\((.*)\)/(\d+)⌉", r"(-(-(\1)//\2))", e)
    if not re.fullmatch(r"[0-9+\-*/() ]+", e) or not re.search(r"[0-9]", e):
        return None
    e = re.sub(r"\((\d+)/(\d+)\)", r"(\1//\2)", e)  # (n_C_prev/g): exact by the groups rule
    return eval(e)  # noqa: S307 — digits and operators only, checked above


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _without_remark(text: str) -> str:
    """'… = 280 (270 weights + 10 biases)' → '… = 280': a closing parenthetical after the last ' = '."""
    text = text.strip()
    if text.endswith(")") and text.rfind(" (") > text.rfind(" = "):
        return text[:text.rfind(" (")]
    return text


def _chain(text: str) -> str:
    """The result of 'label = formula = values = result', checking that the values evaluate to it."""
    parts = [p.strip() for p in _without_remark(text).split(" = ")]
    if len(parts) >= 3:
        value = _evaluate(parts[-2])
        if value is not None and re.fullmatch(r"[0-9,]+", parts[-1]):
            assert value == _number(parts[-1]), text
    return parts[-1]


def _explained(spec: str) -> dict[str, dict[str, object]]:
    """{layer: {label: printed result}} with every printed formula checked to evaluate to its result."""
    result = invoke("explain", spec)
    assert result.exit_code == 0, result.output
    layers: dict[str, dict[str, object]] = {}
    current = None
    for line in result.stdout.splitlines():
        if line and not line.startswith(" ") and ": " in line:
            current = layers.setdefault(line.split(": ")[0], {})
            continue
        m = _LABEL.match(line)
        if not m or current is None:
            continue
        label = m.group(1)
        if label.startswith("r"):  # 'r = … = 3;  j = j_prev·s = 1·1 = 1' or 'r = 3, j = 1 (as its input …)'
            r_part, j_part = re.split(r";  |, (?=j)", _without_remark(line), maxsplit=1)
            current[label] = _chain(r_part)
            current["j" + label[1:]] = _chain(j_part)
            continue
        current[label] = _number(_chain(line))
        if label == "params" and "weights + " in line:  # (270 weights + 10 biases) add up to the params
            w, b = re.search(r"\(([0-9,]+) weights \+ ([0-9,]+) biases\)", line).groups()
            assert _number(w) + _number(b) == current[label], line
    return layers


@pytest.mark.parametrize("spec", SPECS, ids=lambda p: os.path.relpath(p, ROOT))
def test_every_number_explain_prints_is_the_summary_json(spec):
    rows = {r["name"]: r for r in json.loads(invoke("summary", spec, "--format", "json").stdout)["rows"]}
    explained = _explained(spec)
    assert set(explained) == set(rows)
    checked = 0
    for name, printed in explained.items():
        row = rows[name]
        shape = row["output_shape"]
        if "n_H" in printed:
            assert (printed["n_H"], printed["n_W"]) == (shape[0], shape[1]), name
        if "params" in printed:
            assert printed["params"] == row["params"], name
        else:
            assert row["params"] == 0, name
        if "MACs" in printed:
            assert printed["MACs"] == row["macs"], name
        else:
            assert row["macs"] == 0, name
        assert printed["activations"] == row["activations"], name
        rf, jump = row["receptive_field"], row["jump"]
        if "r" in printed:
            expect_r = str(rf[0]) if rf[0] == rf[1] else f"{rf[0]}×{rf[1]}"
            expect_j = str(jump[0]) if jump[0] == jump[1] else f"{jump[0]}×{jump[1]}"
            assert (printed["r"].replace(",", ""), printed["j"].replace(",", "")) == (expect_r, expect_j), name
        else:
            assert (printed["r_H"], printed["r_W"]) == (str(rf[0]), str(rf[1])), name
            assert (printed["j_H"], printed["j_W"]) == (str(jump[0]), str(jump[1])), name
        checked += 1
    assert checked == len(rows)


# ---------------------------------------------------------------- --lang on the tables and the light start-up


def test_korean_headers_and_english_default():
    en = invoke("summary", NG)
    ko = invoke("summary", NG, "--lang", "ko")
    assert en.exit_code == ko.exit_code == 0
    header_en = next(line for line in en.stdout.splitlines() if line.startswith("┃"))
    header = next(line for line in ko.stdout.splitlines() if line.startswith("┃"))
    assert "Trainable" in header_en and "Trainable" not in header
    assert "층" in header and "학습 파라미터" in header and "MACs" in header
    # the numbers are the same in both languages
    assert re.findall(r"[0-9][0-9,]*", en.stdout.split("┡")[1]) == re.findall(r"[0-9][0-9,]*", ko.stdout.split("┡")[1])


def test_explain_does_not_import_numba_or_numpy():
    assert not {"numba", "numpy"} & helpers.modules_after(["explain", NG, "--lang", "ko"], timeout=60)


# ---------------------------------------------------------------- every record type speaks both languages


def test_every_diagnostic_record_has_text_in_both_languages():
    from cnncalc.errors import Mark
    from cnncalc.layers import arith
    from cnncalc.layers.base import Diagnostic
    from cnncalc.layers.records import InexactDivision, UnusedArgument, UnusedOutput
    from cnncalc.render.messages import diagnostic_fix, diagnostic_message

    # (7 + 0 − 3)/3 + 1 = 2.33: one row and one column lost; padding 1 → (7 + 2 − 3)/3 = 2 divides
    inexact = InexactDivision("conv", ("n_H", "n_W"), arith.out_length(7, 3, 3), fix_padding=1)
    for record in (inexact, UnusedOutput("fc"), UnusedArgument("pair", "filters")):
        d = Diagnostic("warning", "conv1", Mark("net.yaml", 3, 5), record)
        en, ko = diagnostic_message(d, "en"), diagnostic_message(d, "ko")
        assert en and ko and en != ko, record
        assert diagnostic_fix(d, "en") != diagnostic_fix(d, "ko"), record
        assert re.search(r"[가-힣]", ko), ko
    d = Diagnostic("warning", "conv1", None, inexact)
    assert "(7 + 2·0 − 3)/3 + 1 = 2.33" in diagnostic_message(d, "ko")
    assert diagnostic_fix(d, "ko") == "패딩 1(으)로 나누어떨어짐"
    assert diagnostic_fix(d, "en") == "padding 1 divides exactly"


def test_every_dimension_error_key_the_rules_raise_is_in_the_catalogue():
    from cnncalc.render.lang import catalogue

    keys = set()
    for folder, _, files in os.walk(os.path.join(ROOT, "cnncalc", "layers")):
        for name in files:
            if name.endswith(".py"):
                source = open(os.path.join(folder, name), encoding="utf-8").read()
                keys |= set(re.findall(r'dimension_error\("(\w+)"', source))
                keys |= {k for k in re.findall(r'\("([\w.]+\.fix\w*)"', source)}
                keys |= {f"{k}.fix" for k in re.findall(r'_shapes_error\("(\w+)"', source)}
    assert len(keys) >= 12, keys
    for key in keys:
        for lang in ("en", "ko"):
            assert f"diagnostics.{key}" in catalogue()[lang], (key, lang)


_BROKEN = [
    # (spec layers after an 8×8×4 input, words of the English error, a Korean word of the same error)
    ("  - flatten\n  - conv: {filters: 2, kernel: 3}\n", "needs an n_H×n_W×n_C feature map", "특징 맵"),
    ("  - dense: 3\n", "dense reads the 8×8×4 feature map", "벡터가 필요함"),
    ("  - conv: {filters: 6, kernel: 3, groups: 4}\n", "groups 4 must divide both n_C_prev = 4 and n_C = 6", "공약수"),
    ("  - maxpool: {kernel: 2, padding: 2}\n", "more than half its 2-wide window", "절반보다 큼"),
    ("  - channel_shuffle: 3\n", "4 = 3·1 + 1", "나누어떨어지는"),
]


@pytest.mark.parametrize("layers, english, korean", _BROKEN)
def test_dimension_errors_in_both_languages(tmp_path, layers, english, korean):
    spec = write(tmp_path, "name: x\ninput: [8, 8, 4]\nlayers:\n" + layers)
    en = invoke("shapes", spec)
    ko = invoke("shapes", spec, "--lang", "ko")
    assert en.exit_code == ko.exit_code == 1
    en_line, ko_line = en.stderr.strip(), ko.stderr.strip()
    assert "\n" not in en_line and "\n" not in ko_line and "Traceback" not in en.output + ko.output
    assert en_line.startswith("error: ") and english in en_line
    assert ko_line.startswith("오류: ") and korean in ko_line
    # the same place and the same numbers in both
    assert en_line.split(": ")[1] == ko_line.split(": ")[1]
    numbers = [sorted(re.findall(r"\d+", line.split(" — ")[0].split(": ", 3)[3])) for line in (en_line, ko_line)]
    assert numbers[0] == numbers[1], numbers


def test_the_help_examples_of_explain_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = invoke("explain", "--help").stdout
    lines = [line.strip() for line in text.split("Examples:", 1)[1].splitlines() if line.strip()]
    assert len(lines) == 3
    for line in lines:
        result = runner.invoke(app, line.split()[1:], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (line, result.output)
        assert "params = " in result.stdout or "파라미터 수 = " in result.stdout
