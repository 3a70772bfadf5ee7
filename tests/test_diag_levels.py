"""Diagnostic levels (issue 9): error, warning, note; each marked on its table row; --strict refuses
warnings only; the shipped specs print no warning (SqueezeNet 1.1's one real loss apart).

Hand-worked divisions, each with the course formula n_out = ⌊(n + p_a + p_b − f)/s⌋ + 1 and the
remainder r = (n + p_a + p_b − f) mod s, whose last r padded positions no window reads:
- conv 3×3 s3 on 7: (7 − 3) mod 3 = 1 > p_b = 0: input row 7 unread, the window (3) ≥ its stride (3) → warning
- conv 7×7 s2 p3 on 224 (ResNet's stem): (224 + 6 − 7) mod 2 = 1 ≤ p_b = 3: only padding unread → note
- conv 1×1 s2 on 56 (ResNet's projection): (56 − 1) mod 2 = 1, the window 1 < stride 2 → note
- conv 5×5 on 3: 3 < 5, no output → error
"""

import json
import os

import pytest
from typer.testing import CliRunner

from cnncalc.cli import app
from cnncalc.errors import DimensionError
from tests.helpers import ROOT, row, run

SPECS = os.path.join(ROOT, "specs")
SHIPPED = sorted(os.path.relpath(os.path.join(d, f), SPECS) for d, _, files in os.walk(SPECS)
                 for f in files if f.endswith(".yaml"))
runner = CliRunner()


def invoke(*args, columns="200"):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": columns})


def write(tmp_path, layers: str, input_shape=(7, 7, 1), name="net.yaml"):
    body = "\n".join("  " + line for line in layers.strip("\n").splitlines())
    path = tmp_path / name
    path.write_text(f"name: t\ninput: {list(input_shape)}\nlayers:\n{body}\n", encoding="utf-8")
    return path


# ---------------------------------------------------------------- levels


@pytest.mark.parametrize("layer, shape, level", [
    ("conv: {filters: 1, kernel: 3, stride: 3}", (7, 7, 1), "warning"),               # input row 7 lost
    ("conv: {filters: 1, kernel: 7, stride: 2, padding: 3}", (224, 224, 3), "note"),   # padding only
    ("conv: {filters: 1, kernel: 1, stride: 2}", (56, 56, 64), "note"),                # 1 < 2: by design
    ("maxpool: {kernel: 3, stride: 2, padding: 1}", (112, 112, 64), "note"),           # (112 + 2 − 3) mod 2 = 1 ≤ 1
    ("maxpool: {kernel: 2}", (7, 7, 1), "warning"),                                     # (7 − 2) mod 2 = 1 > 0
    ("maxpool: {kernel: 3, stride: 2, ceil_mode: true}", (56, 56, 1), None),            # ceil mode reads it
    ("conv: {filters: 1, kernel: 3, stride: 2, padding: 1}", (7, 7, 1), None),          # (7 + 2 − 3) mod 2 = 0
])
def test_each_division_has_its_level(layer, shape, level):
    r = run(f"- {layer}", shape)
    assert r.error is None
    assert [d.level for d in r.diagnostics] == ([level] if level else [])


def test_an_impossible_shape_is_an_error_not_a_diagnostic():
    r = run("- conv: {filters: 1, kernel: 5}", (3, 3, 1))                  # ⌊(3 − 5)/1⌋ + 1 = −1
    assert isinstance(r.error, DimensionError) and r.diagnostics == []


def test_the_note_says_why_nothing_is_lost():
    from cnncalc.render.messages import diagnostic_fix, diagnostic_message

    stem = run("- conv: {filters: 1, kernel: 7, stride: 2, padding: 3}", (224, 224, 3)).diagnostics[0]
    assert diagnostic_message(stem) == ("conv1: (224 + 2·3 − 7)/2 + 1 = 112.50 is not an integer along n_H and n_W "
                                        "— only the last padding row and column are never read; no input is lost")
    projection = run("- conv: {filters: 1, kernel: 1, stride: 2}", (56, 56, 64)).diagnostics[0]
    assert "a window narrower than its stride subsamples by design" in diagnostic_message(projection)
    assert diagnostic_fix(stem) == diagnostic_fix(projection) == ""      # a note needs no fix
    assert diagnostic_message(stem, "ko").startswith("conv1: (224 + 2·3 − 7)/2 + 1 = 112.50, n_H, n_W 방향으로")


# ---------------------------------------------------------------- --strict: warnings, never notes


def test_strict_refuses_a_warning_and_keeps_the_rows_before_it():
    r = run("- relu\n- conv: {filters: 1, kernel: 3, stride: 3}", (7, 7, 1), strict=True)
    assert isinstance(r.error, DimensionError) and "--strict" in r.error.line()
    assert [x.name for x in r.rows] == ["input", "relu1"]


def test_strict_passes_notes():
    r = run("- conv: {filters: 1, kernel: 7, stride: 2, padding: 3}\n- conv: {filters: 1, kernel: 1, stride: 2}",
            (224, 224, 3), strict=True)
    assert r.error is None and [d.level for d in r.diagnostics] == ["note", "note"]


def test_strict_refuses_the_parsers_warnings_and_an_unused_output_after_the_table():
    unused = run("- relu: {name: a}\n- tanh: {from: input}", strict=True)
    assert isinstance(unused.error, DimensionError) and "never used" in unused.error.line()
    assert [x.name for x in unused.rows] == ["input", "a", "tanh1"]           # the table is whole
    channels_first = run("- relu", (3, 32, 32), strict=True)
    assert isinstance(channels_first.error, DimensionError)
    assert "channels-first" in channels_first.error.line()


def test_strict_on_the_cli_and_its_help(tmp_path):
    resnet = invoke("params", os.path.join(SPECS, "resnet18.yaml"), "--strict")
    assert resnet.exit_code == 0, resnet.output                                 # eight notes, no warning
    odd = invoke("shapes", write(tmp_path, "- conv: {filters: 1, kernel: 3, stride: 3}"), "--strict")
    assert odd.exit_code == 1 and "Traceback" not in odd.output
    assert "2.33" in odd.stderr and "--strict" in odd.stderr
    help_text = " ".join(invoke("shapes", "--help", columns="300").stdout.split())
    assert "Exit with code 1 on any warning" in help_text and "notes are never refused" in help_text


# ---------------------------------------------------------------- marks on the rows


def test_the_table_marks_each_row_and_numbers_the_lines_to_match(tmp_path):
    # conv1: 3×3 s3 on 7 loses row 7 (warning 1); conv2: 1×1 s2 on 2: (2 − 1) mod 2 = 1, 1 < 2 (note 2)
    path = write(tmp_path, "- conv: {filters: 2, kernel: 3, stride: 3}\n- conv: {filters: 2, kernel: 1, stride: 2}")
    result = invoke("params", path)
    assert result.exit_code == 0
    names = [line.split("│")[1].strip() for line in result.stdout.splitlines() if line.startswith("│")]
    assert names[:3] == ["input", "conv1 ⚠1", "conv2 ℹ2"]
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert lines[0].startswith(f"⚠1 warning: {path}:4:5: conv1: (7 + 2·0 − 3)/3 + 1 = 2.33")
    assert lines[1].startswith(f"ℹ2 note: {path}:5:5: conv2: (2 + 2·0 − 1)/2 + 1 = 1.50")
    # JSON: the same numbers on the rows and on the diagnostics; the stderr lines of json are unnumbered
    data = json.loads(invoke("params", path, "-f", "json").stdout)
    by_name = {r["name"]: r["diagnostics"] for r in data["rows"]}
    assert by_name == {"input": [], "conv1": [{"level": "warning", "number": 1}],
                       "conv2": [{"level": "note", "number": 2}]}
    assert [(d["number"], d["level"], d["layer"]) for d in data["diagnostics"]] == [(1, "warning", "conv1"),
                                                                                   (2, "note", "conv2")]
    # CSV: a trailing diagnostics field where there are diagnostics
    csv_lines = invoke("params", path, "-f", "csv").stdout.splitlines()
    assert csv_lines[0].endswith(",inputs,diagnostics")
    assert csv_lines[2].endswith(",warning:1") and csv_lines[3].endswith(",note:2") and csv_lines[1].endswith(",")


def test_a_folded_row_carries_the_marks_of_the_rows_inside():
    result = invoke("params", os.path.join(SPECS, "resnet18.yaml"), "--depth", "1")
    cells = {line.split("│")[1].strip().split(" ")[0]: line.split("│")[1].strip()
             for line in result.stdout.splitlines() if line.startswith("│")}
    # notes 1, 2: the stem conv and the max pool (padding only); 3–8: each later stage's strided 3×3
    # (padding only) and its 1×1 s2 projection
    assert cells["conv1"] == "conv1 ℹ1" and cells["maxpool"] == "maxpool ℹ2"
    assert (cells["layer1"], cells["layer2"], cells["layer3"], cells["layer4"]) == \
        ("layer1", "layer2 ℹ3 ℹ4", "layer3 ℹ5 ℹ6", "layer4 ℹ7 ℹ8")
    assert [x.split(" ")[0] for x in result.stderr.splitlines() if x.strip()] == [f"ℹ{i}" for i in range(1, 9)]


# ---------------------------------------------------------------- the shipped specs


@pytest.mark.parametrize("spec", SHIPPED)
def test_no_shipped_spec_warns(spec):
    """No warning on any analysis command: they share one analysis (api.report), so one command's
    stderr and JSON stand for all four.  SqueezeNet 1.1 keeps its warning: torchvision's first conv
    (3×3 s2, no padding) on 224 never reads the last row and column, (224 − 3) mod 2 = 1 > p_b = 0."""
    result = invoke("summary", os.path.join(SPECS, spec), "-f", "json")
    assert result.exit_code == 0
    levels = [d["level"] for d in json.loads(result.stdout)["diagnostics"]]
    warned = [x for x in result.stderr.splitlines() if x.startswith("warning:")]
    if spec == "squeezenet1_1.yaml":
        assert levels.count("warning") == 1 and len(warned) == 1 and "features.0" in warned[0]
    else:
        assert "warning" not in levels and warned == []
    assert set(levels) <= {"warning", "note"}


def test_the_resnet_projection_is_a_note_in_the_shipped_spec():
    from cnncalc import api

    r = api.report(os.path.join(SPECS, "resnet50.yaml"))
    proj = [d for d in r.diagnostics if d.layer == "layer2.0.downsample.0"]
    assert [d.level for d in proj] == ["note"] and proj[0].detail.gaps
    assert row(r, "layer2.0.downsample.0").out_shape == (28, 28, 512)       # ⌊55/2⌋ + 1


# ---------------------------------------------------------------- the README's example


def test_the_readme_diagnostics_example_is_what_the_cli_prints(tmp_path):
    """README, "Diagnostics: errors, warnings and notes": the spec as shown, run under 100 columns;
    stdout and stderr, in that order, are the lines it shows."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = readme.split("### Diagnostics: errors, warnings and notes", 1)[1].split("\n## ", 1)[0]
    spec_text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    shown = section.split("```\n$ cnncalc params net.yaml\n", 1)[1].split("```", 1)[0].splitlines()
    (tmp_path / "net.yaml").write_text(spec_text, encoding="utf-8")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = invoke("params", "net.yaml", columns="100")
    finally:
        os.chdir(cwd)
    assert result.exit_code == 0
    assert [line.rstrip() for line in (result.stdout + result.stderr).splitlines()] == shown
    # by hand: conv2 divides when (n − 2 − 3) mod 3 = 0: n = 5, 8, 11; conv3 (1×1 s2) then reads m = (n − 5)/3 + 1
    # = 1, 2, 3 positions and divides when m is odd: 5 and 11, not 8
    assert "or an input of 5 or 11" in shown[-2]


def test_several_failing_specs_each_print_their_error(tmp_path):
    # params A B with both broken: a 5×5 window on 3×3 (⌊(3 − 5)/1⌋ + 1 = −1); every error a line, exit 1
    bad = write(tmp_path, "- conv: {filters: 1, kernel: 5}", (3, 3, 1))
    for command in ("params", "compare"):
        result = invoke(command, bad, bad)
        assert result.exit_code == 1 and "Traceback" not in result.output
        lines = [x for x in result.stderr.splitlines() if x.strip()]
        assert len(lines) >= 2 and all(x.startswith(f"error: {bad}:4:5: conv1: conv window 5") for x in lines)
