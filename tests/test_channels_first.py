"""Channels-first input (issue 9): `input: [3, 32, 32]` reads as n_H = 3, n_W = 32, n_C = 32.

The rule (`spec.parser.looks_channels_first`): the first size is 1, 3 or 4 (grey, RGB, RGBA) and the
other two are both ≥ 8 — PyTorch's C×H×W order.  It warns with the place of the input field and the
order to write; --input 3x32x32 likewise.  Plausible channels-last inputs never fire.
"""

import json

import pytest
from typer.testing import CliRunner

from cnncalc.cli import app
from cnncalc.layers.records import ChannelsFirst
from cnncalc.render.messages import diagnostic_fix, diagnostic_message
from cnncalc.spec.parser import looks_channels_first, parse_text
from tests.helpers import run

runner = CliRunner()


@pytest.mark.parametrize("shape, fires", [
    ((3, 32, 32), True),      # CIFAR-10 as PyTorch holds it
    ((1, 28, 28), True),      # MNIST
    ((4, 64, 48), True),      # RGBA, not square
    ((3, 8, 8), True),        # the smallest the rule takes for a map
    ((32, 32, 3), False),     # channels last
    ((28, 28, 1), False),
    ((224, 224, 3), False),
    ((1, 1, 512), False),     # a 1×1 map of 512 channels (after global pooling)
    ((3, 7, 7), False),       # 7 < 8: too small to take for a height
    ((3, 32, 7), False),
    ((2, 32, 32), False),     # 2 channels: not an image format
    ((8, 8, 3), False),
])
def test_the_rule(shape, fires):
    assert looks_channels_first(shape) is fires
    r = run("- relu", shape)
    assert [type(d.detail) for d in r.diagnostics] == ([ChannelsFirst] if fires else [])


def test_the_spec_warning_names_the_input_field_and_the_order_to_write():
    graph = parse_text("name: t\ninput: [3, 32, 32]\nlayers:\n  - relu\n", "net.yaml")
    (d,) = graph.warnings
    assert d.level == "warning" and (d.mark.file, d.mark.line, d.mark.column) == ("net.yaml", 2, 8)
    assert diagnostic_message(d) == ("input [3, 32, 32] is read as n_H = 3, n_W = 32, n_C = 32, but it looks like "
                                     "PyTorch's channels-first C×H×W order")
    assert diagnostic_fix(d) == "write it as [32, 32, 3] (n_H, n_W, n_C)"
    assert diagnostic_fix(d, "ko") == "[32, 32, 3] (n_H, n_W, n_C)로 쓸 것"
    # not square: C×H×W = 3×64×48 is [64, 48, 3], height first
    (d,) = parse_text("name: t\ninput: [3, 64, 48]\nlayers:\n  - relu\n", "net.yaml").warnings
    assert diagnostic_fix(d) == "write it as [64, 48, 3] (n_H, n_W, n_C)"


def test_the_cli_warns_for_the_spec_and_for_input(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("name: t\ninput: [3, 32, 32]\nlayers:\n  - conv: {filters: 4, kernel: 3}\n", encoding="utf-8")
    result = runner.invoke(app, ["shapes", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    assert line.startswith(f"⚠1 warning: {path}:2:8: input [3, 32, 32] is read as n_H = 3")
    assert line.endswith("— write it as [32, 32, 3] (n_H, n_W, n_C)")
    assert "input ⚠1" in result.stdout                     # the input row carries the mark
    assert "1×30×4" in result.stdout                       # what it did compute: ⌊(3 − 3)/1⌋ + 1 = 1, 32 − 2 = 30

    path.write_text("name: t\ninput: [32, 32, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3}\n", encoding="utf-8")
    result = runner.invoke(app, ["shapes", str(path), "--input", "3x32x32", "-f", "json"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    (line,) = [x for x in result.stderr.splitlines() if x.strip()]
    assert line == ("warning: --input 3x32x32 is read as n_H = 3, n_W = 32, n_C = 32, but it looks like PyTorch's "
                    "channels-first C×H×W order — write it as 32x32x3 (n_H, n_W, n_C)")
    (d,) = json.loads(result.stdout)["diagnostics"]
    assert d["detail"] == {"what": "channels_first", "field": "--input", "shape": [3, 32, 32], "fixed": [32, 32, 3]}
    assert d["file"] is None and d["level"] == "warning"
    quiet = runner.invoke(app, ["shapes", str(path), "--input", "32x32x3"], env={"COLUMNS": "200"})
    assert quiet.exit_code == 0 and quiet.stderr == ""


def test_strict_refuses_it():
    r = run("- relu", (1, 28, 28), strict=True)
    assert r.error is not None and "channels-first" in r.error.line()
