"""`-` as the spec reads standard input (`cat net.yaml | cnncalc shapes -`), with its errors located
in <stdin> and the same size limit as a file."""

import json
from pathlib import Path

from typer.testing import CliRunner

from cnncalc import api
from cnncalc.cli import app
from cnncalc.spec.loader import MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent


def invoke(args, text):
    return CliRunner().invoke(app, args, input=text, env={"COLUMNS": "200"})


def test_a_spec_on_standard_input_gives_the_files_own_report():
    text = (ROOT / "specs" / "lenet5.yaml").read_text()
    piped = invoke(["summary", "-", "--format", "json"], text)
    assert piped.exit_code == 0, piped.output
    from_file = invoke(["summary", str(ROOT / "specs" / "lenet5.yaml"), "--format", "json"], "")
    a, b = json.loads(piped.stdout), json.loads(from_file.stdout)
    assert a.pop("file") == "-"  # as given; messages name it <stdin>
    b.pop("file")
    assert a == b
    assert a["totals"]["params"] == api.report(str(ROOT / "specs" / "lenet5.yaml")).totals.params


def test_errors_on_standard_input_are_located_in_stdin():
    result = invoke(["shapes", "-"], "name: x\ninput: [8, 8, 3]\nlayers:\n  - conv: {f: 9, n_C: 2}\n")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: <stdin>:4:5: conv1: conv window 9 is larger than the padded input")
    assert result.stderr.count("\n") == 1


def test_standard_input_has_the_files_size_limit():
    result = invoke(["summary", "-"], "#" * (MAX_BYTES + 1))
    assert result.exit_code == 1 and "the spec file is too large" in result.stderr
