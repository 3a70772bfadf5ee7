"""Every command and format through typer's CliRunner (COLUMNS=200): the printed rows sum to the printed
totals in every format, json and csv carry exact integers, and the exit codes are 0 (ok), 1 (spec or
dimension error) and 2 (usage).  Expected numbers are worked by hand in the comments.
"""

import csv
import io
import json
import os
import re

import pytest
from typer.testing import CliRunner

import helpers

from cnncalc import __version__
from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "specs", "lenet5.yaml")
COMMANDS = ["shapes", "params", "flops", "summary"]
FORMATS = ["table", "json", "csv", "markdown"]

# LeNet-5 as in specs/lenet5.yaml (32×32×3 → conv 5×5 8 → pool 2 → conv 5×5 16 → pool 2 → 120 → 84 → 10)
#   conv1 (5·5·3 + 1)·8 = 608; conv2 (5·5·8 + 1)·16 = 3,216; dense (400 + 1)·120 = 48,120,
#   (120 + 1)·84 = 10,164, (84 + 1)·10 = 850 → 62,958 trainable.
#   MACs: 28·28·8·75 = 470,400; 10·10·16·200 = 320,000; 48,000 + 10,080 + 840 → 849,320.
#   Other ops: conv1 bias, relu, pool reads 3 × 6,272; conv2 3 × 1,600; dense biases 120 + 84 + 10,
#   relus 120 + 84, softmax 3·10 → 18,816 + 4,800 + 214 + 204 + 30 = 24,064.
#   Activations: 3,072 + 6,272·2 + 1,568 + 1,600·2 + 400·2 + 120·2 + 84·2 + 10·2 = 21,612.
#   Receptive field: 5 → 6 (j 2) → 14 → 16 (j 4) → flatten of 5×5: 16 + 4·4 = 32.
LENET_TOTALS = {"trainable": 62958, "non_trainable": 0, "params": 62958, "macs": 849320, "flops": 1698640,
                "other_ops": 24064, "activations": 21612, "layers": 13}

# A spec with a block (conv without bias, batchnorm, relu), a residual parallel, a repeat and a concat:
#   unit(4) on 3 channels: conv 3·3·3·4 = 108, bn 8 + 8;  unit(4) on 4 channels: conv 3·3·4·4 = 144, bn 8 + 8
#   four units: 108 + 3·144 = 540 conv weights, 4·8 = 32 γβ, 32 running statistics
#   concat branches on 4×4×4: (4 + 1)·2 = 10 and (3·3·4 + 1)·3 = 111;  dense (5 + 1)·10 = 60
#   trainable 540 + 32 + 10 + 111 + 60 = 753, non-trainable 32
#   MACs: 8·8·4·27 = 6,912; 3 × 8·8·4·36 = 27,648; 4·4·2·4 = 128; 4·4·3·36 = 1,728; 5·10 = 50 → 36,466
BRANCHY = """name: branchy
input: [8, 8, 3]
blocks:
  unit:
    args: {filters: null}
    layers:
      - conv: {filters: $filters, kernel: 3, padding: 1, bias: false}
      - batchnorm
      - relu
layers:
  - unit: {filters: 4}
  - parallel:
      - [unit: {filters: 4}]
      - []
    merge: add
  - repeat: 2
    layers: [unit: {filters: 4}]
  - maxpool: 2
  - parallel:
      - [conv: {filters: 2, kernel: 1}]
      - [conv: {filters: 3, kernel: 3, padding: 1}]
  - global_avgpool
  - dense: 10
"""
BRANCHY_TOTALS = {"trainable": 753, "non_trainable": 32, "params": 785, "macs": 36466, "flops": 72932}

# tiny: 4×4×1 → conv 3×3 2 → 2×2×2 → flatten 8 → dense 3
#   params (9 + 1)·2 = 20 and (8 + 1)·3 = 27 → 47;  MACs 2·2·2·9 = 72 and 8·3 = 24 → 96
#   other ops: 8 bias adds + 3 → 11;  activations 16 + 8 + 8 + 3 = 35;  RF 3, then flatten of 2×2: 3 + 1 = 4
TINY = "name: tiny\ninput: [4, 4, 1]\nlayers:\n  - conv: {filters: 2, kernel: 3}\n  - flatten\n  - dense: 3\n"

SUMMED_KEYS = ("trainable", "non_trainable", "params", "macs", "flops", "other_ops", "activations",
               "activation_bytes")
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("specs")
    paths = {"lenet": LENET, "resnet18": os.path.join(ROOT, "specs", "resnet18.yaml"),
             "googlenet": os.path.join(ROOT, "specs", "googlenet.yaml")}
    for name, text in (("branchy", BRANCHY), ("tiny", TINY)):
        (folder / f"{name}.yaml").write_text(text, encoding="utf-8")
        paths[name] = str(folder / f"{name}.yaml")
    (folder / "odd.yaml").write_text("name: odd\ninput: [7, 7, 1]\nlayers:\n"
                                     "  - conv: {filters: 1, kernel: 3, stride: 3}\n  - relu\n", encoding="utf-8")
    paths["odd"] = str(folder / "odd.yaml")
    (folder / "broken.yaml").write_text("name: broken\ninput: [4, 4, 1]\nlayers:\n  - conv: {filters: 2, kernel: 3}\n"
                                        "  - relu\n  - conv: {filters: 1, kernel: 3}\n  - flatten\n",
                                        encoding="utf-8")
    paths["broken"] = str(folder / "broken.yaml")
    (folder / "typo.yaml").write_text("input: [4, 4, 1]\nlayers:\n  - cnov: 3\n", encoding="utf-8")
    paths["typo"] = str(folder / "typo.yaml")
    return paths


def ok(result):
    assert result.exit_code == 0, result.output
    assert result.exception is None
    return result


def number(cell):
    cell = cell.strip().strip("*")
    return int(cell.replace(",", "")) if cell else 0


# ---------------------------------------------------------------- parsing each format

def table_parts(text):
    """(titles, body rows, total row) of the box table, as lists of cell strings (the rows under
    Total of a spec with aux heads: footer_rows)."""
    titles = None
    body, total = [], None
    for line in text.splitlines():
        if line.startswith("┃") and titles is None:
            titles = [c.strip() for c in line.strip("┃").split("┃")]
        elif line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[0] == "Total":
                total = cells
            elif total is None:
                body.append(cells)
    return titles, body, total


FOOTER_ROWS = ("Inference", "Aux heads (training)")  # under Total, where a spec has aux heads


def footer_rows(text):
    """{label: cells} of the Inference and Aux rows under Total, in a table or markdown."""
    out = {}
    for line in text.splitlines():
        if line.startswith(("│", "| ")):
            cells = [c.strip().strip("*") for c in re.split(r"(?<!\\)[│|]", line.strip().strip("│|"))]
            if cells[0] in FOOTER_ROWS:
                out[cells[0]] = cells
    return out


def markdown_parts(text):
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    titles = [c.strip() for c in lines[0].strip("|").split(" | ")]
    cells = [[c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))] for line in lines[1:]]
    at = next(i for i, c in enumerate(cells) if c[0] == "**Total**")
    return titles, cells[:at], cells[at]


TOTAL_LINES = {
    "Trainable": r"Trainable params: ([\d,]+)(?![\d,])",
    "Non-trainable": r"Non-trainable params: ([\d,]+)(?![\d,])",
    "Params": r"Total params: ([\d,]+)(?![\d,])",
    "MACs": r"MACs: ([\d,]+)(?![\d,])",
    "FLOPs": r"FLOPs \(2·MACs\): ([\d,]+)(?![\d,])",
    "Other ops": r"Other ops: ([\d,]+)(?![\d,])",
    "Activations": r"Forward activations \(float32, input included\): ([\d,]+) values",
}


def printed_totals(text):
    out = {}
    for title, pattern in TOTAL_LINES.items():
        found = re.findall(pattern, text)
        if found:
            assert len(found) == 1, (title, found)
            out[title] = number(found[0])
    return out


def check_rows_sum_to_totals(titles, body, total, text):
    """Every numeric column of the printed rows adds up to the printed Total row, which agrees with
    the totals lines under the table."""
    summed = [i for i, cell in enumerate(total) if i > 0 and cell.strip("* ")]
    assert summed, total
    column_totals = {}
    for i in summed:
        assert sum(number(row[i]) for row in body) == number(total[i]), titles[i]
        column_totals[titles[i]] = number(total[i])
    lines = printed_totals(text)
    assert lines, text
    # with aux heads, the Inference and Aux rows split the Total: the [aux] rows sum to one, the rest
    # to the other; params lines quote the Total (PyTorch counts the aux heads'), the rest Inference
    footer = footer_rows(text)
    inference = column_totals
    if footer:
        type_at = titles.index("Type")
        inference = {}
        for i in summed:
            aux = sum(number(row[i]) for row in body if row[type_at].endswith("[aux]"))
            rest = sum(number(row[i]) for row in body if not row[type_at].endswith("[aux]"))
            assert (rest, aux) == (number(footer["Inference"][i]), number(footer["Aux heads (training)"][i]))
            assert rest + aux == number(total[i]), titles[i]
            inference[titles[i]] = rest
        assert "Aux heads ([aux] rows, training only): " in text
    for title, value in lines.items():
        if title in column_totals:
            quoted = column_totals if title in ("Trainable", "Non-trainable", "Params") else inference
            assert value == quoted[title], title
    if "Trainable" in lines and "Non-trainable" in lines:
        assert lines["Params"] == lines["Trainable"] + lines["Non-trainable"]
    if "MACs" in lines:
        assert lines["FLOPs"] == 2 * lines["MACs"]
    return column_totals, lines


# ---------------------------------------------------------------- every command in every format

@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("spec", ["lenet", "branchy", "tiny", "resnet18", "googlenet"])
def test_table_printed_rows_sum_to_printed_totals(specs, command, spec):
    result = ok(invoke(command, specs[spec]))
    titles, body, total = table_parts(result.stdout)
    assert titles[0] == "Layer" and total[0] == "Total" and body[0][0] == "input"
    columns, lines = check_rows_sum_to_totals(titles, body, total, result.stdout)
    if spec == "lenet":
        expected = {"Trainable": 62958, "Non-trainable": 0, "Params": 62958, "MACs": 849320, "FLOPs": 1698640,
                    "Other ops": 24064, "Activations": 21612}
        for title, value in {**columns, **lines}.items():
            assert value == expected[title], title
    # resnet18's strided 1×1 shortcuts and googlenet's padding-only remainders are notes (issue 9): no warning
    assert " warning: " not in result.stderr and (spec in ("resnet18", "googlenet") or result.stderr == "")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("spec", ["lenet", "branchy", "resnet18", "googlenet"])
def test_markdown_printed_rows_sum_to_printed_totals(specs, command, spec):
    result = ok(invoke(command, specs[spec], "--format", "markdown"))
    titles, body, total = markdown_parts(result.stdout)
    assert titles[0] == "Layer"
    check_rows_sum_to_totals(titles, body, total, result.stdout)
    assert result.stdout.startswith("### ")


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("spec", ["lenet", "branchy"])
def test_json_rows_sum_exactly_to_totals(specs, command, spec):
    result = ok(invoke(command, specs[spec], "--format", "json"))
    data = json.loads(result.stdout)
    for key in SUMMED_KEYS:
        values = [r[key] for r in data["rows"]]
        assert all(isinstance(v, int) for v in values), key
        assert sum(values) == data["totals"][key], key
    assert sum(r["layers"] for r in data["rows"][1:]) == data["totals"]["layers"]
    for r in data["rows"]:
        assert r["flops"] == 2 * r["macs"] and r["params"] == r["trainable"] + r["non_trainable"]
        assert r["activation_bytes"] == 4 * r["activations"]
    expected = LENET_TOTALS if spec == "lenet" else BRANCHY_TOTALS
    for key, value in expected.items():
        assert data["totals"][key] == value, key
    assert data["error"] is None and data["diagnostics"] == []


def test_json_lenet_rows(specs):
    data = json.loads(ok(invoke("summary", specs["lenet"], "-f", "json")).stdout)
    rows = {r["name"]: r for r in data["rows"]}
    assert data["spec"] == "lenet5-ng" and data["input"] == [32, 32, 3]
    assert rows["conv1"]["output_shape"] == [28, 28, 8] and rows["conv1"]["trainable"] == 608
    assert rows["maxpool1"]["output_shape"] == [14, 14, 8]
    assert rows["conv2"]["output_shape"] == [10, 10, 16] and rows["conv2"]["trainable"] == 3216
    assert rows["conv2"]["macs"] == 320000                       # 10·10·16 × 5·5·8
    assert rows["flatten1"]["output_shape"] == [400]             # 5·5·16
    assert rows["dense1"]["trainable"] == 48120 and rows["dense1"]["macs"] == 48000
    assert rows["maxpool2"]["receptive_field"] == [16, 16] and rows["maxpool2"]["jump"] == [4, 4]
    assert data["totals"]["output_shape"] == [10] and data["totals"]["receptive_field"] == [32, 32]
    assert data["totals"]["params_bytes"] == 4 * 62958
    assert "bias excluded" in data["convention"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("spec", ["lenet", "branchy"])
def test_csv_has_exact_integers_matching_json(specs, command, spec):
    rows = list(csv.DictReader(io.StringIO(ok(invoke(command, specs[spec], "--format", "csv")).stdout)))
    data = json.loads(ok(invoke(command, specs[spec], "--format", "json")).stdout)
    assert [r["name"] for r in rows] == [r["name"] for r in data["rows"]]
    numeric = [k for k in rows[0] if k in SUMMED_KEYS]
    assert numeric == {"shapes": ["activations"], "params": ["trainable", "non_trainable", "params"],
                       "flops": ["macs", "flops", "other_ops"],
                       "summary": ["trainable", "non_trainable", "macs", "other_ops", "activations"]}[command]
    for csv_row, json_row in zip(rows, data["rows"]):
        for key in numeric:
            assert re.fullmatch(r"\d+", csv_row[key]), (key, csv_row[key])   # no separators, no units
            assert int(csv_row[key]) == json_row[key]
        assert csv_row["inputs"] == " ".join(json_row["inputs"])
    for key in numeric:
        assert sum(int(r[key]) for r in rows) == data["totals"][key]


def test_csv_lenet_values(specs):
    rows = list(csv.DictReader(io.StringIO(ok(invoke("flops", specs["lenet"], "--format", "csv")).stdout)))
    by_name = {r["name"]: r for r in rows}
    assert by_name["conv1"]["macs"] == "470400"                  # 28·28·8 × 75
    assert by_name["conv1"]["flops"] == "940800"
    assert by_name["conv1"]["other_ops"] == "6272"               # bias adds
    assert by_name["softmax1"]["other_ops"] == "30"              # 3 × 10
    assert sum(int(r["macs"]) for r in rows) == 849320
    assert by_name["conv1"]["output_shape"] == "28×28×8"


def test_shapes_table_lenet(specs):
    out = ok(invoke("shapes", specs["lenet"])).stdout
    titles, body, _ = table_parts(out)
    rows = {r[0]: dict(zip(titles, r)) for r in body}
    assert rows["conv1"]["Output"] == "28×28×8" and rows["conv1"]["RF"] == "5×5"
    assert rows["maxpool2"]["Output"] == "5×5×16" and rows["maxpool2"]["Jump"] == "4"
    assert rows["flatten1"]["RF"] == "32×32"
    assert "Output: 10" in out and "Receptive field at the output: 32×32, jump 4×4" in out
    assert "Reads" not in titles                                 # a plain chain needs no Reads column


def test_branchy_table_shows_reads_and_block_headers(specs):
    out = ok(invoke("summary", specs["branchy"])).stdout
    titles, body, _ = table_parts(out)
    assert "Reads" in titles
    names = [r[0] for r in body]
    assert "unit1" in names and "parallel1" in names and "repeat1" in names      # block header rows
    headers = {r[0]: r[1] for r in body if r[0] in ("unit1", "parallel1", "repeat1")}
    assert headers == {"unit1": "unit", "parallel1": "parallel (add)", "repeat1": "repeat ×2"}


# ---------------------------------------------------------------- --depth

@pytest.mark.parametrize("spec, depth", [("branchy", "1"), ("branchy", "2"), ("resnet18", "1"),
                                         ("googlenet", "1"), ("googlenet", "2")])
def test_depth_folding_keeps_the_printed_totals(specs, spec, depth):
    # --wide: GoogLeNet's full table is wider than the 200 columns the tests pin
    full = ok(invoke("summary", specs[spec], "--wide"))
    folded = ok(invoke("summary", specs[spec], "--depth", depth, "--wide"))
    titles, body, total = table_parts(folded.stdout)
    check_rows_sum_to_totals(titles, body, total, folded.stdout)
    full_titles, full_body, full_total = table_parts(full.stdout)
    assert total == full_total
    assert len(body) < len(full_body)
    if spec == "branchy" and depth == "1":
        rows = {r[0].strip(): r for r in body}
        assert rows["repeat1"][1] == "repeat ×2"
        # repeat1 folds two units: conv 3·3·4·4 = 144 and bn 8 each → 2·152 = 304 trainable
        assert number(rows["repeat1"][titles.index("Trainable")]) == 304
        assert number(rows["repeat1"][titles.index("Non-trainable")]) == 16


def test_depth_in_json_and_csv(specs):
    data = json.loads(ok(invoke("params", specs["branchy"], "--depth", "1", "-f", "json")).stdout)
    assert [r["name"] for r in data["rows"]] == ["input", "unit1", "parallel1", "repeat1", "maxpool1",
                                                 "parallel2", "global_avgpool1", "dense1"]
    assert sum(r["trainable"] for r in data["rows"]) == data["totals"]["trainable"] == 753
    assert [r["layers"] for r in data["rows"]][1:4] == [3, 4, 6]   # unit: 3; parallel: 3 + add; repeat: 2·3
    rows = list(csv.DictReader(io.StringIO(ok(invoke("params", specs["branchy"], "-d", "1", "-f", "csv")).stdout)))
    assert sum(int(r["params"]) for r in rows) == 785


# ---------------------------------------------------------------- --input, --strict, errors and exit codes

@pytest.mark.parametrize("value", ["28,28,3", "28x28x3", "28×28×3"])
def test_input_override(specs, value):
    data = json.loads(ok(invoke("summary", specs["lenet"], "--input", value, "-f", "json")).stdout)
    rows = {r["name"]: r for r in data["rows"]}
    assert data["input"] == [28, 28, 3]
    assert rows["conv1"]["output_shape"] == [24, 24, 8]          # 28 − 5 + 1
    assert rows["flatten1"]["output_shape"] == [256]             # 24 → 12 → 8 → 4: 4·4·16
    assert rows["dense1"]["trainable"] == 30840                  # (256 + 1)·120
    table = ok(invoke("shapes", specs["lenet"], "--input", value)).stdout
    assert "24×24×8" in table


@pytest.mark.parametrize("value", ["28,x", "0,28,3", "28,28", "", "-1", "28,28,3,1"])
def test_bad_input_is_a_usage_error(specs, value):
    result = invoke("shapes", specs["lenet"], "--input", value)
    assert result.exit_code == 2
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert "--input" in result.output or "Invalid value" in result.output
    assert result.stdout == ""


def test_inexact_spec_warns_and_strict_fails(specs):
    warned = ok(invoke("shapes", specs["odd"]))
    lines = [x for x in warned.stderr.splitlines() if x.strip()]
    # numbered as its row is marked under a table (issue 9)
    assert len(lines) == 1 and lines[0].startswith(f"⚠1 warning: {specs['odd']}:4:5: conv1: (7 + 2·0 − 3)/3 + 1 = 2.33")
    assert "conv1 ⚠1" in warned.stdout
    assert "2×2×1" in warned.stdout                               # ⌊4/3⌋ + 1 = 2
    strict = invoke("shapes", specs["odd"], "--strict")
    assert strict.exit_code == 1 and isinstance(strict.exception, SystemExit)
    errors = [x for x in strict.stderr.splitlines() if x.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"error: {specs['odd']}:4:5: ")
    assert "2.33" in errors[0] and "--strict" in errors[0]
    assert "Traceback" not in strict.output


def test_dimension_error_prints_the_rows_so_far_and_exits_1(specs):
    result = invoke("summary", specs["broken"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    titles, body, total = table_parts(result.stdout)
    assert [r[0] for r in body] == ["input", "conv1", "relu1"]    # 4 → 2; a 3×3 window does not fit 2×2
    check_rows_sum_to_totals(titles, body, total, result.stdout)
    assert "(totals up to the failing layer)" in result.stdout
    errors = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(errors) == 1
    assert errors[0].startswith(f"error: {specs['broken']}:6:5: conv2: conv window 3 is larger than the padded input")
    data = json.loads(invoke("summary", specs["broken"], "-f", "json").stdout)
    assert data["error"]["line"] == 6 and data["error"]["column"] == 5
    assert sum(r["trainable"] for r in data["rows"]) == data["totals"]["trainable"] == 20   # (9 + 1)·2


@pytest.mark.parametrize("command", COMMANDS)
def test_spec_error_exits_1_with_one_error_line(specs, command):
    result = invoke(command, specs["typo"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {specs['typo']}:3:5: ")
    assert "did you mean 'conv'?" in lines[0] and "Traceback" not in result.output


@pytest.mark.parametrize("args", [
    [],                                            # no command: help, as a usage error
    ["frobnicate"],                                # unknown command
    ["shapes"],                                    # missing spec
    ["params"],
    ["shapes", LENET, "--format", "yaml"],         # unknown format
    ["shapes", LENET, "--depth", "0"],             # depth below 1
    ["shapes", LENET, "--depth", "x"],
    ["shapes", LENET, "--nope"],                   # unknown option
])
def test_usage_errors_exit_2(args):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert "Usage" in result.output and "Traceback" not in result.output


def test_exit_0_on_success_for_every_format(specs):
    for fmt in FORMATS:
        assert invoke("summary", specs["tiny"], "-f", fmt).exit_code == 0


# ---------------------------------------------------------------- params with two specs

def test_params_compares_two_specs(specs):
    result = ok(invoke("params", specs["tiny"], LENET))
    out = result.stdout
    # ratios to the first spec: 62,958/47 = 1,339.53; 849,320/96 = 8,847.08; 13/3 = 4.33
    assert re.search(r"│ Trainable params\s+│\s+47 │\s+62,958 \(×1339\.53\) │", out), out
    assert re.search(r"│ MACs\s+│\s+96 │\s+849,320 \(×8847\.08\) │", out)
    assert re.search(r"│ Layers\s+│\s+3 │\s+13 \(×4\.33\) │", out)
    assert re.search(r"│ Receptive field\s+│\s+4×4 │\s+32×32 │", out)
    assert f"tiny ({specs['tiny']})" in out and f"lenet5-ng ({LENET})" in out


def test_params_compare_json_csv_markdown(specs):
    data = json.loads(ok(invoke("params", specs["tiny"], LENET, "-f", "json")).stdout)
    first, second = data["specs"]
    assert (first["spec"], second["spec"]) == ("tiny", "lenet5-ng")
    assert (first["trainable_params"], second["trainable_params"]) == (47, 62958)
    assert (first["macs"], second["macs"]) == (96, 849320)
    assert (first["flops"], second["flops"]) == (192, 1698640)
    assert (first["other_ops"], second["other_ops"]) == (11, 24064)
    assert (first["activations"], second["activations"]) == (35, 21612)
    assert second["trainable_params_ratio"] == 62958 / 47 and first["trainable_params_ratio"] == 1.0
    assert (first["receptive_field"], second["receptive_field"]) == ("4×4", "32×32")
    rows = list(csv.reader(io.StringIO(ok(invoke("params", specs["tiny"], LENET, "-f", "csv")).stdout)))
    assert rows[0] == ["metric", specs["tiny"], LENET]
    assert ["Trainable params", "47", "62958"] in rows and ["MACs", "96", "849320"] in rows
    markdown = ok(invoke("params", specs["tiny"], LENET, "-f", "markdown")).stdout
    assert "| Trainable params | 47 | 62,958 (×1339.53) |" in markdown


def test_params_compare_with_a_failing_spec_exits_1(specs):
    result = invoke("params", specs["tiny"], specs["broken"])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {specs['broken']}:6:5: ")
    spec_error = invoke("params", specs["tiny"], specs["typo"])
    assert spec_error.exit_code == 1 and spec_error.stdout == ""


# ---------------------------------------------------------------- version, help, schema

def test_version():
    result = ok(invoke("--version"))
    assert result.stdout.strip() == f"cnncalc {__version__}"


@pytest.mark.parametrize("command", [None] + COMMANDS + ["schema"])
def test_help(command):
    result = ok(invoke("--help") if command is None else invoke(command, "--help"))
    assert result.stdout.startswith("Usage: cnncalc")
    if command in COMMANDS:
        for option in ("--input", "--format", "--depth", "--strict"):
            assert option in result.stdout, option
    if command is None:
        for name in COMMANDS + ["schema"]:
            assert name in result.stdout


def test_schema_command_prints_json():
    data = json.loads(ok(invoke("schema")).stdout)
    assert data["title"] == "cnncalc network spec" and data["required"] == ["input", "layers"]


# ---------------------------------------------------------------- start-up stays light

@pytest.mark.parametrize("command", ["shapes", "summary"])
def test_analysis_commands_do_not_import_numba_or_the_engine(command):
    modules = helpers.modules_after([command, LENET], timeout=60)
    assert not {"numba", "numpy"} & modules
    # engine.optim only: the optimiser and schedule names of the train command's choices (plain Python)
    assert sorted(m for m in modules if m.startswith("cnncalc.engine")) == ["cnncalc.engine", "cnncalc.engine.optim"]


# ---------------------------------------------------------------- the exact printed text

# LeNet-5 as taught (specs/lenet5_classic.yaml: 32×32×1, 6 and 16 filters of 5×5, avgpool, tanh):
#   conv1 (5·5·1 + 1)·6 = 156; conv2 (5·5·6 + 1)·16 = 2,416; dense1 (400 + 1)·120 = 48,120;
#   dense2 (120 + 1)·84 = 10,164; dense3 (84 + 1)·10 = 850 → 61,706 trainable (61.71 K), none else.
#   MACs: 28·28·6·25 = 117,600; 10·10·16·150 = 240,000; 48,000 + 10,080 + 840 → 416,520; FLOPs 833,040.
CLASSIC = os.path.join(ROOT, "specs", "lenet5_classic.yaml")


def test_table_prints_thousands_separators_in_cells_totals_row_and_totals_lines():
    out = ok(invoke("params", CLASSIC)).stdout
    titles, body, total = table_parts(out)
    rows = {r[0]: dict(zip(titles, r)) for r in body}
    assert rows["conv2"]["Trainable"] == "2,416" and rows["conv2"]["Params"] == "2,416"
    assert rows["dense1"]["Trainable"] == "48,120" and rows["dense2"]["Params"] == "10,164"
    assert rows["dense3"]["Params"] == "850"
    assert total == ["Total", "", "", "61,706", "0", "61,706"]
    assert "Trainable params: 61,706 (61.71 K)" in out
    assert "Total params: 61,706 (61.71 K)" in out
    assert "Params memory (float32): 241.04 KiB" in out           # 61,706·4 = 246,824 B = 241.04 KiB
    # activations: 1,024 + 2·4,704 + 1,176 + 2·1,600 + 2·400 + 2·120 + 2·84 + 2·10 = 16,036; ·4 B = 62.64 KiB
    shapes = ok(invoke("shapes", CLASSIC)).stdout
    assert "Forward activations (float32, input included): 16,036 values, 62.64 KiB" in shapes
    flops = ok(invoke("flops", CLASSIC)).stdout
    titles, body, total = table_parts(flops)
    rows = {r[0]: dict(zip(titles, r)) for r in body}
    assert rows["conv1"]["MACs"] == "117,600" and rows["conv2"]["FLOPs"] == "480,000"
    assert total[titles.index("MACs")] == "416,520" and total[titles.index("FLOPs")] == "833,040"
    assert "MACs: 416,520 (416.52 KMAC)" in flops and "FLOPs (2·MACs): 833,040 (833.04 KFLOP)" in flops


def test_markdown_prints_thousands_separators_in_cells_totals_row_and_totals_lines():
    out = ok(invoke("params", CLASSIC, "-f", "markdown")).stdout
    assert "| dense1 | dense 120 | 120 | 48,120 | 0 | 48,120 |" in out.splitlines()
    assert "| conv2 | conv 5×5 s1 p0, 16 | 10×10×16 | 2,416 | 0 | 2,416 |" in out.splitlines()
    assert "| **Total** |  |  | **61,706** | **0** | **61,706** |" in out.splitlines()
    assert "- Trainable params: 61,706 (61.71 K) — PyTorch's parameters() count" in out.splitlines()
    flops = ok(invoke("flops", CLASSIC, "-f", "markdown")).stdout
    assert "- MACs: 416,520 (416.52 KMAC)" in flops.splitlines()


def test_csv_and_json_carry_plain_integers_without_separators():
    rows = {r["name"]: r for r in csv.DictReader(io.StringIO(ok(invoke("params", CLASSIC, "-f", "csv")).stdout))}
    assert rows["dense1"]["trainable"] == "48120" and rows["conv2"]["params"] == "2416"
    data = json.loads(ok(invoke("params", CLASSIC, "-f", "json")).stdout)
    assert data["totals"]["trainable"] == 61706 and type(data["totals"]["trainable"]) is int
    assert {r["name"]: r["params"] for r in data["rows"]}["dense1"] == 48120


# A rectangular kernel with different strides along n_H and n_W, so the two axes of the receptive
# field differ; 41×41 divides exactly at every layer:
#   n_H: 41 → (41 − 3)/1 + 1 = 39 → (39 − 5)/2 + 1 = 18 → (18 − 2)/2 + 1 = 9
#   n_W: 41 → (41 − 5)/2 + 1 = 19 → (19 − 5)/1 + 1 = 15 (dilated 3: 2·2 + 1 = 5) → (15 − 3)/1 + 1 = 13
RF_LAYERS = [  # (kernel, stride, dilation) as (H, W) pairs
    ((3, 5), (1, 2), (1, 1)),
    ((5, 3), (2, 1), (1, 2)),
    ((2, 3), (2, 1), (1, 1)),
]
RF_SPEC = ("name: rf\ninput: [41, 41, 1]\nlayers:\n"
           "  - conv: {filters: 2, kernel: [3, 5], stride: [1, 2]}\n"
           "  - conv: {filters: 2, kernel: [5, 3], stride: [2, 1], dilation: [1, 2]}\n"
           "  - maxpool: {kernel: [2, 3], stride: [2, 1]}\n")


def brute_force_field(layers, axis):
    """(receptive field, jump) along one axis after `layers`, by listing the input positions that reach
    output unit 0 (unit u of a layer reads u·s + j·d for j < f) and where unit 1's first one lies."""
    def reach(unit):
        positions = {unit}
        for f, s, d in reversed(layers):
            positions = {u * s[axis] + j * d[axis] for u in positions for j in range(f[axis])}
        return positions
    first = reach(0)
    return max(first) - min(first) + 1, min(reach(1)) - min(first)


def test_json_and_table_receptive_field_keep_n_H_and_n_W_apart(tmp_path):
    path = tmp_path / "rf.yaml"
    path.write_text(RF_SPEC, encoding="utf-8")
    data = json.loads(ok(invoke("shapes", path, "-f", "json")).stdout)
    rows = {r["name"]: r for r in data["rows"]}
    for i, name in enumerate(["conv1", "conv2", "maxpool1"]):
        (r_H, j_H), (r_W, j_W) = (brute_force_field(RF_LAYERS[:i + 1], axis) for axis in (0, 1))
        assert rows[name]["receptive_field"] == [r_H, r_W], name
        assert rows[name]["jump"] == [j_H, j_W], name
    # by hand: n_H 3 → 3 + 4·1 = 7 → 7 + 1·2 = 9, jumps 1, 2, 4; n_W 5 → 5 + 2·2·2 = 13 → 13 + 2·2 = 17, jumps 2, 2, 2
    assert data["totals"]["receptive_field"] == [9, 17]
    assert rows["maxpool1"]["output_shape"] == [9, 13, 2]
    table = ok(invoke("shapes", path)).stdout
    titles, body, _ = table_parts(table)
    cells = {r[0]: dict(zip(titles, r)) for r in body}
    assert cells["conv1"]["RF"] == "3×5" and cells["conv1"]["Jump"] == "1,2"
    assert cells["maxpool1"]["RF"] == "9×17" and cells["maxpool1"]["Jump"] == "4,2"
    assert "Receptive field at the output: 9×17, jump 4×2" in table


def test_params_comparison_honours_strict(specs):
    """The odd spec divides inexactly ((7 − 3)/3 + 1 = 2.33): a warning alone, an error under --strict."""
    assert ok(invoke("params", specs["tiny"], specs["odd"])).exit_code == 0
    strict = invoke("params", specs["tiny"], specs["odd"], "--strict")
    assert strict.exit_code == 1 and isinstance(strict.exception, SystemExit)
    errors = [x for x in strict.stderr.splitlines() if x.strip()]
    assert len(errors) == 1 and errors[0].startswith(f"error: {specs['odd']}:4:5: conv1: (7 + 2·0 − 3)/3 + 1 = 2.33")
    assert "--strict" in errors[0] and "Traceback" not in strict.output


def test_human_units_switch_at_exactly_a_thousand_and_at_1024_bytes():
    from cnncalc.render.columns import human, human_bytes

    # 999,999 / 1,000 = 999.999 rounds to 1000.00: the next unit, 1.00 M, reads it
    assert (human(999), human(1000), human(999_999), human(10**6)) == ("999", "1.00 K", "1.00 M", "1.00 M")
    assert human(4_089_184_256, "MAC") == "4.09 GMAC" and human(10**12) == "1.00 T"
    assert (human_bytes(1023), human_bytes(1024), human_bytes(1 << 20), human_bytes(3 << 30)) == \
        ("1023 B", "1.00 KiB", "1.00 MiB", "3.00 GiB")


@pytest.mark.parametrize("command, header", [
    ("shapes", "name,type,output_shape,activations,receptive_field,jump,inputs"),
    ("params", "name,type,output_shape,trainable,non_trainable,params,inputs"),
    ("flops", "name,type,output_shape,macs,flops,other_ops,inputs"),
    ("summary", "name,type,output_shape,trainable,non_trainable,macs,other_ops,activations,receptive_field,inputs"),
])
def test_csv_columns_are_in_the_tables_order(specs, command, header):
    """The csv header is the table's columns in order (Reads becomes the trailing `inputs`)."""
    for spec in ("lenet", "branchy"):
        assert ok(invoke(command, specs[spec], "-f", "csv")).stdout.splitlines()[0] == header
