"""The README's commands are run here, so the documentation and the behaviour cannot drift."""

import os
import re
import shlex

import pytest
from typer.testing import CliRunner

from cnncalc import layers
from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def console_commands() -> list[str]:
    return [line[2:] for block in blocks("console") for line in block.splitlines() if line.startswith("$ cnncalc ")]


def test_readme_opens_with_the_two_setup_commands_that_ci_runs():
    setup = blocks("sh")[0].strip().splitlines()
    assert len(setup) == 2
    assert setup[0].startswith("pip install -e . && cnncalc summary specs/lenet5.yaml")
    assert "pytest" in setup[1]
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    for command in setup:
        assert f"python -m {command}" in ci or command in ci, command


@pytest.mark.parametrize("command", console_commands())
def test_readme_console_example_runs(command):
    args = shlex.split(command)[1:]
    os.chdir(ROOT)
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, (command, result.output)
    assert result.output.strip()


def test_readme_lists_every_kind_and_field():
    section = README.split("### Layer kinds and their fields", 1)[1].split("\n### ", 1)[0]
    for kind in layers.KINDS:
        assert f"`{kind.name}`" in section, kind.name
        for field in kind.fields:
            assert f"`{field.name}`" in section, (kind.name, field.name)


def as_spec(block: str) -> str:
    """A README snippet as a whole spec: fragments of a layer list get an input and `layers:`."""
    if "input:" in block:
        return block
    if re.search(r"^layers:", block, flags=re.M):
        return "input: [56, 56, 64]\n" + block
    return "input: [32, 32, 64]\nlayers:\n" + block


@pytest.mark.parametrize("block", [b for b in blocks("yaml") if "- " in b])
def test_readme_yaml_examples_parse_and_analyse(block):
    from cnncalc.analysis import analyze
    from cnncalc.spec.parser import parse_text

    report = analyze(parse_text(as_spec(block), "README.md"))
    assert report.error is None


def test_shipped_schema_is_the_generated_one():
    """specs/*.yaml point yaml-language-server at cnncalc-schema.json; it must be `cnncalc schema`'s output."""
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    shipped = open(os.path.join(ROOT, "cnncalc-schema.json"), encoding="utf-8").read()
    assert shipped == result.output, "regenerate with: cnncalc schema > cnncalc-schema.json"
