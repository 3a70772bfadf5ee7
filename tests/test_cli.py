"""Every command and format through typer's runner; printed rows sum to printed totals."""

import csv
import io
import json
import os
import re
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from cnncalc import __version__
from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "specs", "lenet5.yaml")
RESNET = os.path.join(ROOT, "specs", "resnet18.yaml")
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, list(args), env={"COLUMNS": "200"})


def table_rows(text):
    """Body and total rows of the box table, as lists of cell strings."""
    body, total = [], None
    for line in text.splitlines():
        if line.startswith("│"):
            cells = [c.strip() for c in line.strip("│").split("│")]
            if cells[0] == "Total":
                total = cells
            else:
                body.append(cells)
    return body, total


def header(text):
    line = next(line for line in text.splitlines() if line.startswith("┃"))
    return [c.strip() for c in line.strip("┃").split("┃")]


def number(cell):
    return int(cell.replace(",", "")) if cell else 0


@pytest.mark.parametrize("command", ["shapes", "params", "flops", "summary"])
@pytest.mark.parametrize("spec", [LENET, RESNET])
def test_printed_rows_sum_to_printed_totals(command, spec):
    result = invoke(command, spec)
    assert result.exit_code == 0, result.output
    titles = header(result.output)
    body, total = table_rows(result.output)
    assert total is not None and body
    summed = [i for i, cell in enumerate(total) if cell and i > 0]
    assert summed
    for i in summed:
        assert sum(number(row[i]) for row in body) == number(total[i]), titles[i]
    # the totals lines quote the same numbers
    text = result.output
    if "Trainable" in titles:
        assert f"Trainable params: {total[titles.index('Trainable')]} (" in text
    if "MACs" in titles:
        assert f"MACs: {total[titles.index('MACs')]} (" in text
    if "Activations" in titles:
        assert f"Forward activations (float32, input included): {total[titles.index('Activations')]} values" in text


def test_depth_folding_still_sums():
    full = invoke("summary", RESNET)
    folded = invoke("summary", RESNET, "--depth", "1")
    body, total = table_rows(folded.output)
    assert table_rows(full.output)[1] == total
    assert len(body) < len(table_rows(full.output)[0])
    assert any(row[0].startswith("layer1") and row[1] == "repeat ×2" for row in body)


def test_json_exact_and_consistent():
    result = invoke("summary", RESNET, "--format", "json")
    data = json.loads(result.stdout)
    for key in ("trainable", "non_trainable", "macs", "flops", "other_ops", "activations"):
        assert sum(r[key] for r in data["rows"]) == data["totals"][key], key
    assert data["totals"]["trainable"] == 11689512
    assert data["totals"]["flops"] == 2 * data["totals"]["macs"]
    assert data["rows"][1]["output_shape"] == [112, 112, 64]
    assert "bias excluded" in data["convention"]


def test_csv_exact_integers():
    result = invoke("flops", LENET, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(result.output)))
    assert rows[1]["name"] == "conv1" and rows[1]["macs"] == "470400"
    assert sum(int(r["macs"]) for r in rows) == 849320
    assert all(int(r["flops"]) == 2 * int(r["macs"]) for r in rows)


def test_markdown_table_sums():
    result = invoke("params", LENET, "--format", "markdown")
    lines = [line for line in result.output.splitlines() if line.startswith("| ")]
    titles = [c.strip() for c in lines[0].strip("|").split("|")]
    cells = [[c.strip() for c in line.strip("|").split("|")] for line in lines[1:]]
    total = next(c for c in cells if c[0] == "**Total**")
    i = titles.index("Trainable")
    assert sum(number(c[i]) for c in cells if c[0] != "**Total**") == number(total[i].strip("*"))
    assert "- Trainable params: 62,958" in result.output


def test_compare_two_specs(tmp_path):
    a = os.path.join(ROOT, "specs", "compare", "two_3x3.yaml")
    b = os.path.join(ROOT, "specs", "compare", "one_5x5.yaml")
    result = invoke("params", a, b)
    assert result.exit_code == 0
    assert re.search(r"Trainable params\s+│\s+295,168 │\s+409,728 \(×1\.39\)", result.output)
    data = json.loads(invoke("params", a, b, "--format", "json").stdout)
    assert [s["trainable_params"] for s in data["specs"]] == [295168, 409728]
    assert data["specs"][1]["receptive_field"] == "5×5"
    assert invoke("params", a, b, "--format", "csv").output.splitlines()[1].startswith("Trainable params,295168,409728")


def test_input_override_and_usage_errors():
    result = invoke("shapes", LENET, "--input", "28,28,3")
    assert result.exit_code == 0 and "24×24×8" in result.output
    assert invoke("shapes", LENET, "--input", "28,x").exit_code == 2
    assert invoke("shapes", LENET, "--format", "yaml").exit_code == 2
    assert invoke("shapes").exit_code == 2
    assert invoke("frobnicate").exit_code == 2


def test_strict_and_dimension_error_exit_1(tmp_path):
    spec = tmp_path / "odd.yaml"
    spec.write_text("input: [7, 7, 1]\nlayers:\n  - conv: {filters: 1, kernel: 3, stride: 3}\n")
    ok = invoke("shapes", str(spec))
    assert ok.exit_code == 0 and "warning:" in ok.output and "2.33" in ok.output
    strict = invoke("shapes", str(spec), "--strict")
    assert strict.exit_code == 1 and "error:" in strict.output and "Traceback" not in strict.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("input: [4, 4, 1]\nlayers:\n  - conv: {filters: 1, kernel: 3}\n  - conv: {filters: 1, kernel: 3}\n")
    result = invoke("summary", str(broken))
    assert result.exit_code == 1
    assert "conv1" in result.output and "(totals up to the failing layer)" in result.output
    assert f"error: {broken}:4:5: conv2: conv window 3 is larger" in result.output


def test_version_help_schema():
    assert invoke("--version").output.strip() == f"cnncalc {__version__}"
    for command in ("shapes", "params", "flops", "summary", "schema", "train", "evaluate", "predict"):
        result = invoke(command, "--help")
        assert result.exit_code == 0 and "Usage" in result.output
    assert json.loads(invoke("schema").output)["title"] == "cnncalc network spec"


@pytest.mark.parametrize("command", ["shapes", "summary", "params", "flops"])
def test_analysis_commands_never_import_numba(command):
    code = ("import sys\nfrom cnncalc.cli import app\n"
            f"try:\n    app([{command!r}, {LENET!r}])\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in sys.modules if m.split('.')[0] == 'numba' or "
            "m.startswith(('cnncalc.engine', 'cnncalc.data')) or m.endswith('kernels')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT).stdout
    assert "LOADED []" in out
