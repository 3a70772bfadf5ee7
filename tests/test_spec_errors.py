"""Every error path of the loader and parser: one line, the right place, the field, received and allowed."""

import os
import time

import pytest
from typer.testing import CliRunner

from cnncalc.cli import app
from cnncalc.errors import SpecError
from cnncalc.spec.parser import parse_file

HEAD = "input: [8, 8, 3]\nlayers:\n"

# (spec text, line, column, fragments the one-line message must contain)
CASES = [
    ("input: [8, 8, 3\nlayers: []\n", 2, 7, ["YAML syntax"]),
    ("", 0, 0, ["the spec is empty"]),
    ("- relu\n", 1, 1, ["the spec must be a mapping"]),
    ("input: [8, 8, 3]\nlayrs: []\n", 2, 1, ["unknown top-level key", "'layrs'", "allowed: name, input, layers"]),
    ("layers: [relu]\n", 1, 1, ["needs an input shape", "field 'input'"]),
    ("input: [8, 8, 3]\n", 1, 1, ["needs layers"]),
    ("input: [8, 8]\nlayers: [relu]\n", 1, 8, ["wrong input shape", "received [8, 8]", "[n_H, n_W, n_C]"]),
    ("input: [8, 0, 3]\nlayers: [relu]\n", 1, 8, ["must be positive"]),
    (HEAD + "  - convv: {filters: 2, kernel: 3}\n", 3, 5, ["unknown layer kind", "'convv'", "did you mean 'conv'"]),
    (HEAD + "  - conv: {filters: 2, kernal: 3}\n", 3, 24, ["field 'kernal'", "unknown field for conv",
                                                         "did you mean 'kernel'"]),
    (HEAD + "  - conv: {filters: two, kernel: 3}\n", 3, 21, ["field 'filters'", "received 'two'", "an integer ≥ 1"]),
    (HEAD + "  - conv: {filters: 0, kernel: 3}\n", 3, 21, ["must be positive", "received 0"]),
    (HEAD + "  - conv: {filters: 2, kernel: 3, padding: -1}\n", 3, 44, ["must not be negative", "field 'padding'"]),
    (HEAD + "  - conv: {filters: 2, kernel: 3, padding: sam}\n", 3, 44, ["unknown padding", "'same' or 'valid'"]),
    (HEAD + "  - conv: {filters: 2, kernel: [3, 3, 3]}\n", 3, 32, ["field 'kernel'", "[h, w]"]),
    (HEAD + "  - conv: {filters: 10000000000, kernel: 3}\n", 3, 21, ["absurdly large"]),
    (HEAD + "  - dropout: 1.5\n", 3, 14, ["field 'rate'", "0 ≤ rate < 1"]),
    (HEAD + "  - conv: {filters: 2, kernel: 3, bias: yes please}\n", 3, 41, ["field 'bias'", "true or false"]),
    (HEAD + "  - conv: {filters: 2, filters: 3, kernel: 3}\n", 3, 24, ["duplicate key", "'filters'"]),
    (HEAD + "  - conv: {filters: 2}\n", 3, 5, ["conv needs kernel"]),
    (HEAD + "  - relu: 3\n", 3, 11, ["relu takes no short value"]),
    (HEAD + "  - relu: {name: a}\n  - relu: {name: a}\n", 4, 18, ["duplicate layer name", "'a'"]),
    (HEAD + "  - relu: {from: nope}\n", 3, 18, ["no layer of that name", "'nope'", "allowed: input"]),
    (HEAD + "  - add\n", 3, 5, ["add reads several layers", "field 'from'"]),
    (HEAD + "  - relu: {name: a, from: b}\n  - relu: {name: b, from: a}\n", 4, 5, ["cycle", "b → a → b"]),
    (HEAD + "  - repeat: -1\n    layers: [relu]\n", 3, 13, ["repeat needs a count", "received -1"]),
    (HEAD + "  - repeat: 2\n", 3, 5, ["repeat needs layers"]),
    (HEAD + "  - parallel: [[relu]]\n", 3, 15, ["two or more branches"]),
    (HEAD + "  - parallel: [[relu], []]\n    merge: mul\n", 4, 12, ["unknown merge", "concat or add"]),
    (HEAD + "  - relu\n    conv: 3\n", 4, 9, ["YAML syntax"]),
    (HEAD + "  - {relu: null, tanh: null}\n", 3, 18, ["one layer per list item"]),
    ("blocks:\n  b:\n    args: {n: null}\n    layers: [dense: $n]\n" + HEAD + "  - flatten\n  - b: {m: 2}\n",
     8, 9, ["unknown argument for block 'b'", "'m'", "allowed: n"]),
    ("blocks:\n  b:\n    args: {n: null}\n    layers: [dense: $n]\n" + HEAD + "  - flatten\n  - b\n",
     8, 5, ["block 'b' needs argument n"]),
    ("blocks:\n  b:\n    layers: [b]\n" + HEAD + "  - b\n", 3, 14, ["block 'b' calls itself", "b → b"]),
    ("blocks:\n  b:\n    args: {n: 2}\n    layers: [dense: \"$n ** 2\"]\n" + HEAD + "  - flatten\n  - b\n",
     4, 21, ["cannot evaluate this expression"]),
    ("blocks:\n  b:\n    args: {n: 2}\n    layers: [dense: \"$q * 2\"]\n" + HEAD + "  - flatten\n  - b\n",
     4, 21, ["block 'b' has no argument $q"]),
    ("blocks:\n  relu:\n    layers: [tanh]\n" + HEAD + "  - relu\n", 2, 3, ["cannot take the name of a layer kind"]),
    (HEAD + "  - !!python/object/apply:os.system [\"touch /tmp/cnncalc-pwned\"]\n", 3, 5,
     ["YAML tags are not allowed"]),
]


def write(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize("text, line, column, fragments", CASES)
def test_spec_error_is_one_located_line(tmp_path, text, line, column, fragments):
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        parse_file(path)
    message = str(info.value)
    assert "\n" not in message
    expected = f"{path}:{line}:{column}: " if line else f"{path}: "
    assert message.startswith(expected), message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_python_tag_never_runs(tmp_path):
    path = write(tmp_path, HEAD + "  - !!python/object/apply:os.system [\"touch " + str(tmp_path / "x") + "\"]\n")
    with pytest.raises(SpecError):
        parse_file(path)
    assert not (tmp_path / "x").exists()


def test_alias_bomb_is_refused_quickly(tmp_path):
    rows = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for prev, cur in zip("abcdefgh", "bcdefghi"):
        rows.append(f"{cur}: &{cur} [" + ",".join([f"*{prev}"] * 9) + "]")
    path = write(tmp_path, "\n".join(rows) + "\n")
    start = time.perf_counter()
    with pytest.raises(SpecError, match="more than 200,000 nodes"):
        parse_file(path)
    assert time.perf_counter() - start < 5


def test_file_level_errors(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    for path, fragment in ((str(bad), "not UTF-8"), (str(tmp_path), "is a directory"),
                           (str(tmp_path / "missing.yaml"), "no such spec file")):
        with pytest.raises(SpecError) as info:
            parse_file(path)
        assert str(info.value).startswith(f"{path}: ") and fragment in str(info.value)


@pytest.mark.parametrize("text", [CASES[0][0], CASES[8][0], CASES[24][0]])
def test_cli_prints_one_error_line_and_exits_1(tmp_path, text):
    path = write(tmp_path, text)
    result = CliRunner().invoke(app, ["shapes", path], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"error: {path}:")
    assert "Traceback" not in result.output
    assert not os.path.exists("/tmp/cnncalc-pwned")
