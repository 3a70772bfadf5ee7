"""README.ko.md's commands are run here, so the Korean guide and the behaviour cannot drift."""

from __future__ import annotations

import os
import re
import shlex

import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.cli import app

import helpers
from helpers import fenced_blocks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = open(os.path.join(ROOT, "README.ko.md"), encoding="utf-8").read()


def blocks(language: str) -> list[str]:
    return fenced_blocks(GUIDE, language)


def console_examples() -> list[tuple[str, list[str]]]:
    return helpers.console_examples(GUIDE)


def invoke(args, cwd=ROOT):
    os.chdir(cwd)
    try:
        return CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    finally:
        os.chdir(ROOT)


def test_readme_links_the_korean_guide():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    head = readme.split("\n## ", 1)[0]
    assert "(README.ko.md)" in head


def test_guide_opens_with_the_readmes_setup_commands():
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    assert blocks("sh")[0] == re.findall(r"```sh\n(.*?)```", readme, flags=re.S)[0]


@pytest.mark.parametrize("command, shown", console_examples(), ids=[c for c, _ in console_examples()])
def test_guide_example_runs_and_prints_what_it_says(command, shown):
    result = invoke(shlex.split(command)[1:])
    assert result.exit_code == 0, (command, result.output)
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    for line in shown:
        assert line in lines, (command, line)
    assert result.stdout.strip()


def test_guide_specs_are_valid(tmp_path):
    for i, block in enumerate(blocks("yaml")):
        path = tmp_path / f"spec{i}.yaml"
        path.write_text(block)
        api.report(str(path))  # a SpecError fails the test


def test_guide_error_example_is_what_cnncalc_prints(tmp_path):
    # the yaml block before the text block is net.yaml; the text block is its one error line in Korean
    spec = GUIDE.split("```text", 1)[0].rsplit("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "net.yaml").write_text(spec)
    shown = blocks("text")[0].strip()
    result = invoke(["shapes", "net.yaml", "--lang", "ko"], cwd=str(tmp_path))
    assert result.exit_code == 1
    assert result.stderr.strip() == shown
