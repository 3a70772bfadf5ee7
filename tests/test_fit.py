"""Output that fits the terminal and says what it chose: column priorities, --columns, --wide, widths in
terminal cells, --view course, `same` padding's numbers, one set of field names, human units and
thousands separators. Expected numbers are worked by hand in the comments (LeNet-5: tests/test_cli.py's
header; Andrew Ng's lecture table: course 4, week 1, "Neural network example")."""

from __future__ import annotations

import csv
import io
import json
import os
import re

import pytest
from typer.testing import CliRunner

from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "specs", "lenet5.yaml")

# conv 3×3 'same' at stride 1 on 8: p = ((8 − 1)·1 + 3 − 8)/2 = 1 each side;
# at stride 2 (TensorFlow's rule): n_out = ⌈8/2⌉ = 4, total padding (4 − 1)·2 + 3 − 8 = 1 → 0 before, 1 after;
# conv 1×1 with 2,048 filters on 4×4×4: output 4×4×2,048, params (1·1·4 + 1)·2,048 = 10,240;
# flatten 4·4·2,048 = 32,768; dense 1,000: (32,768 + 1)·1,000 = 32,769,000 params.
SAME = """name: same-pads
input: [8, 8, 3]
layers:
  - conv: {filters: 4, kernel: 3, padding: same}
  - conv: {filters: 4, kernel: 3, stride: 2, padding: same}
  - conv: {filters: 2048, kernel: 1}
  - flatten
  - dense: 1000
"""

# 25 inputs → dense 9: MACs 25·9 = 225, FLOPs 450, params (25 + 1)·9 = 234 — all under a thousand
SMALL = """name: small
input: [25]
layers:
  - dense: 9
"""


def invoke(*args, columns=80):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": str(columns)})


def ok(result):
    assert result.exit_code == 0, result.output
    return result.stdout


def cells(text: str) -> int:
    from rich.cells import cell_len  # the independent measure of terminal cells

    return cell_len(text)


def titles_of(text: str) -> list[str]:
    line = next(x for x in text.splitlines() if x.startswith("┃"))
    return [c.strip() for c in line.strip("┃").split("┃")]


def body_of(text: str) -> dict[str, list[str]]:
    rows = {}
    for line in text.splitlines():
        if line.startswith("│"):
            parts = [c.strip() for c in line.strip("│").split("│")]
            rows[parts[0]] = parts
    return rows


@pytest.fixture
def spec(tmp_path):
    def write(text, name="spec.yaml"):
        path = tmp_path / name
        path.write_text(text)
        return str(path)
    return write


# ---------------------------------------------------------------- the terminal's width

@pytest.mark.parametrize("width", [80, 120])
def test_lenet_summary_fits_80_and_120_columns(width):
    out = ok(invoke("summary", LENET, columns=width))
    assert max(cells(line) for line in out.splitlines()) <= width
    rows = body_of(out)
    titles = titles_of(out)
    # the numbers a student checks stay: (5·5·3 + 1)·8 = 608 params, 28·28·8·75 = 470,400 MACs
    assert rows["conv1"][titles.index("Output")] == "28×28×8"
    assert rows["conv1"][titles.index("MACs")] == "470,400"
    assert rows["Total"][titles.index("MACs")] == "849,320"
    if width == 120:
        # every column: 1 + Σ(width + 3) = 1 + (8 + 18 + 8 + 9 + 13 + 7 + 9 + 11 + 5) + 9·3 = 116 ≤ 120
        assert titles == ["Layer", "Type", "Output", "Trainable", "Non-trainable", "MACs", "Other ops",
                          "Activations", "RF"]
        assert "left out" not in out
    else:
        # 116 > 80: headings shorten, then the two least important columns leave, and the table says so
        assert "Non-trainable" not in titles and "Other ops" not in titles
        assert "2 columns left out to fit 80 columns: Non-trainable, Other ops" in " ".join(out.split())
        assert rows["conv1"][0] == "conv1" and rows["Total"][titles.index("Train.")] == "62,958"


def test_wide_shows_every_column_and_a_pipe_is_not_fitted():
    wide = ok(invoke("summary", LENET, "--wide", columns=80))
    assert "Non-trainable" in titles_of(wide) and max(cells(x) for x in wide.splitlines()) > 80
    piped = CliRunner().invoke(app, ["summary", LENET], env={"COLUMNS": ""})  # no COLUMNS, no terminal
    assert piped.exit_code == 0 and titles_of(piped.stdout) == titles_of(wide)


def test_columns_chooses_and_orders_and_csv_follows():
    out = ok(invoke("summary", LENET, "--columns", "name,macs,trainable"))
    assert titles_of(out) == ["Layer", "MACs", "Trainable"]
    assert body_of(out)["dense1"] == ["dense1", "48,000", "48,120"]           # 400·120; (400 + 1)·120
    rows = list(csv.DictReader(io.StringIO(ok(invoke("params", LENET, "--columns", "name,params", "-f", "csv")))))
    assert list(rows[0]) == ["name", "params", "inputs"] and rows[1]["params"] == "608"


def test_columns_unknown_is_one_clear_usage_line():
    result = invoke("summary", LENET, "--columns", "name,bogus")
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'bogus'" in result.output and "allowed: name, type" in result.output


def test_epoch_table_fits_80_and_120_and_says_what_it_left_out():
    from rich.console import Console

    from cnncalc.render.training import summary

    history = [{"epoch": e, "train_loss": 0.5 / e, "train_acc": 0.9, "val_loss": 0.6 / e, "val_acc": 0.88,
                "lr": 0.001, "images_per_s": 12345.6} for e in range(1, 4)]
    for width in (80, 120, 40):
        buffer = io.StringIO()
        summary(Console(file=buffer, width=width, force_terminal=False), history)
        lines = buffer.getvalue().splitlines()
        assert max(cells(x) for x in lines) <= width
        epoch_rows = [x for x in lines if x.startswith("│")]
        assert len(epoch_rows) == 3                                   # one line per epoch: nothing wrapped
        if width == 40:
            text = " ".join(lines)
            assert "lr" not in titles_of(buffer.getvalue()) and "left out to fit 40 columns" in text
        else:
            assert titles_of(buffer.getvalue())[-1] == "img/s" and epoch_rows[0].split("│")[-2].strip() == "12,346"


# ---------------------------------------------------------------- cells, not characters

def test_korean_headings_align_by_cell_width():
    from cnncalc import api
    from cnncalc.render.report import render

    text = render(api.report(LENET, None, False), "summary", "table", width=None, lang="ko")
    table = [x for x in text.splitlines() if x[:1] in "┏┃┡│├└"]
    assert "층" in table[1] and "수용장" in table[1]                   # Hangul in the heading row
    assert len({cells(x) for x in table}) == 1                         # every row as wide as the rules
    # the column borders stand at the same cell offsets on the heading row and a body row
    def borders(line):
        return [cells(line[:i]) for i, ch in enumerate(line) if ch in "┃│┏┓┳"]
    assert borders(table[1]) == borders(table[3])


def test_ascii_tables_do_not_load_rich_cells():
    import subprocess
    import sys

    code = ("import sys; from cnncalc import api; from cnncalc.render.report import render; "
            f"render(api.report({LENET!r}, None, False), 'summary', 'table', width=80); "
            "print('rich.cells' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.stdout.strip() == "False"


# ---------------------------------------------------------------- Andrew Ng's table

# The lecture's LeNet-5 table: activation shape and size per row (its parameter column has known errata,
# 208 = 5·5·8 + 8 forgets the 3 input channels; the right counts are worked here):
#   input 32×32×3 = 3,072 (0); CONV1 28×28×8 = 6,272 ((5·5·3 + 1)·8 = 608); POOL1 14×14×8 = 1,568 (0);
#   CONV2 10×10×16 = 1,600 ((5·5·8 + 1)·16 = 3,216); POOL2 5×5×16 = 400 (0); FC3 120 ((400 + 1)·120 = 48,120);
#   FC4 84 ((120 + 1)·84 = 10,164); softmax 10 ((84 + 1)·10 = 850).
LECTURE = [("input", "32×32×3", "3,072", "0"), ("conv1", "28×28×8", "6,272", "608"),
           ("maxpool1", "14×14×8", "1,568", "0"), ("conv2", "10×10×16", "1,600", "3,216"),
           ("maxpool2", "5×5×16", "400", "0"), ("dense1", "120", "120", "48,120"),
           ("dense2", "84", "84", "10,164"), ("dense3", "10", "10", "850")]


def test_course_view_is_the_lectures_lenet_table():
    out = ok(invoke("summary", LENET, "--view", "course", columns=120))
    titles = titles_of(out)
    assert titles[-3:] == ["Activation shape", "Activation size", "# parameters"]
    rows = body_of(out)
    assert [tuple(rows[name][-3:]) for name, *_ in LECTURE] == [row[1:] for row in LECTURE]
    assert "relu1" not in rows and "flatten1" not in rows and "softmax1" not in rows  # counted with their layer
    assert rows["Total"][-1] == "62,958"                                # 608 + 3,216 + 48,120 + 10,164 + 850


def test_course_view_merges_conv_and_pool_as_the_lecture_counts_layers():
    out = ok(invoke("summary", LENET, "--view", "course", "--merge-pool", columns=80))
    assert max(cells(x) for x in out.splitlines()) <= 80
    rows = body_of(out)
    assert rows["conv1 + maxpool1"][-3:] == ["14×14×8", "1,568", "608"]   # Layer 1 = CONV1 + POOL1
    assert rows["conv2 + maxpool2"][-3:] == ["5×5×16", "400", "3,216"]
    assert [name for name in rows if name != "Total"] == ["input", "conv1 + maxpool1", "conv2 + maxpool2",
                                                          "dense1", "dense2", "dense3"]


# ---------------------------------------------------------------- padding, field names, units

def test_same_padding_always_shows_its_numbers(spec):
    path = spec(SAME)
    rows = body_of(ok(invoke("summary", path, "--columns", "name,type,output_shape")))
    assert rows["conv1"][1] == "conv 3×3 s1 same p1, 4"
    assert rows["conv2"][1] == "conv 3×3 s2 same(0,1,0,1), 4" and rows["conv2"][2] == "4×4×4"
    data = json.loads(ok(invoke("shapes", path, "-f", "json")))
    by = {r["name"]: r for r in data["rows"]}
    assert by["conv1"]["window"]["p"] == [1, 1, 1, 1] and by["conv1"]["window"]["same"] is True
    assert by["conv2"]["window"]["p"] == [0, 1, 0, 1] and by["conv3"]["window"]["same"] is False
    assert by["conv1"]["type"] == "conv 3×3 s1 same p1, 4"


@pytest.mark.parametrize("command", ["shapes", "params", "flops", "summary"])
def test_one_set_of_field_names_in_table_csv_and_json(command):
    from cnncalc.render.columns import COLUMNS, VIEWS
    from cnncalc.render.lang import text

    header = ok(invoke(command, LENET, "-f", "csv")).splitlines()[0].split(",")
    data = json.loads(ok(invoke(command, LENET, "-f", "json")))
    assert set(header) <= set(data["rows"][0]), set(header) - set(data["rows"][0])
    keys = [k for k in VIEWS[command] if k != "reads"]
    assert header == keys + ["inputs"]
    titles = titles_of(ok(invoke(command, LENET, "--wide")))
    assert titles == [text(f"tables.col.{k}") for k in keys]
    assert set(COLUMNS) <= set(data["rows"][0]) | {"reads"}               # every column has its json field


def test_totals_under_a_thousand_have_no_unit_echo(spec):
    out = ok(invoke("summary", spec(SMALL)))
    lines = out.splitlines()
    assert "MACs: 225" in lines and "FLOPs (2·MACs): 450" in lines
    assert "Trainable params: 234 — PyTorch's parameters() count" in lines
    assert "(225" not in out


def test_human_units_take_the_next_unit_and_never_grow_past_T():
    from cnncalc.render.columns import human, human_bytes

    assert human(999_999, "MAC") == "1.00 MMAC"            # 999.999 K rounds to 1000.00: read as 1.00 M
    assert human(999_994_999) == "999.99 M"                # 999.994999 M rounds down: stays M
    assert human(2016 * 10**14, "MAC") == "2.02e+17 MAC"   # never '201600.00 TMAC'
    assert human(9_999_999_999_999_999) == "1.00e+16"      # 9.999…e+15 rounds to 10.00: the next power
    assert human_bytes(2**20 - 1) == "1.00 MiB"            # 1,048,575 / 1,024 = 1023.999 KiB


def test_thousands_separators_in_every_table_cell(spec):
    out = ok(invoke("summary", spec(SAME), "--wide"))
    rows = body_of(out)
    assert rows["conv3"][1] == "conv 1×1 s1 p0, 2,048" and rows["conv3"][2] == "4×4×2,048"
    assert rows["dense1"][1] == "dense 1,000" and rows["dense1"][3] == "32,769,000"
    assert "Output: 1,000" in out.splitlines()
    for line in out.splitlines():
        if line.startswith("│"):
            assert not re.search(r"\d{4}", line), line                     # no run of four digits anywhere
    csv_rows = list(csv.DictReader(io.StringIO(ok(invoke("summary", spec(SAME), "-f", "csv")))))
    assert csv_rows[3]["output_shape"] == "4×4×2048" and csv_rows[5]["trainable"] == "32769000"  # exact


def test_readme_80_column_example_is_what_summary_prints():
    """The README pastes LeNet-5's summary at 80 columns (a `$ COLUMNS=80 …` line, which test_readme's
    200-column runs skip): every line shown is printed, and none is wider than 80 cells."""
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    block = readme.split("$ COLUMNS=80 cnncalc summary specs/lenet5.yaml\n", 1)[1].split("```", 1)[0]
    shown = [line for line in block.splitlines() if line.strip() and line != "…"]
    os.chdir(ROOT)
    printed = ok(invoke("summary", "specs/lenet5.yaml", columns=80)).splitlines()
    assert len(shown) >= 20 and all(line in printed for line in shown)
    assert max(cells(line) for line in shown) <= 80
