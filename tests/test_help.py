"""`--help` as a user sees it in an 80-column terminal (and a 120-column one).

The expected texts are the commands' own docstrings and click's parameter records, so a summary
that click shortens, an option without help or default, or an epilog whose lines are rewrapped
fails here whatever the wording.
"""

import os
import re
import shlex

import pytest
import typer
from typer.testing import CliRunner

from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GROUP = typer.main.get_command(app)
COMMANDS = list(GROUP.commands)
ANALYSIS = ("shapes", "params", "flops", "summary")


def help_text(*args, columns=80):
    result = CliRunner().invoke(app, [*args, "--help"], env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    return result.output


def section(text, title):
    """The lines of one `Title:` section of click's help, up to the next blank line."""
    lines = text.splitlines()
    start = lines.index(title) + 1
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def entries(lines):
    """{first word: text} of a two-column help section; continuation lines joined with spaces."""
    out, name = {}, None
    for line in lines:
        m = re.match(r"^  (\S+)(?:\s{2,}(.*))?$", line)
        if m and not line.startswith("   "):
            name = m.group(1)
            out[name] = (m.group(2) or "").strip()
        else:
            out[name] = (out[name] + " " + line.strip()).strip()
    return out


def first_paragraph(command):
    return " ".join(GROUP.commands[command].help.split("\n\n")[0].split())


@pytest.mark.parametrize("columns", [80, 120])
def test_top_level_help_shows_every_summary_whole(columns):
    text = help_text(columns=columns)
    shown = entries(section(text, "Commands:"))
    assert sorted(shown) == sorted(COMMANDS)
    for command in COMMANDS:
        assert shown[command] == first_paragraph(command), (command, shown[command])
        assert "..." not in shown[command] and "…" not in shown[command]


def option_blocks(text):
    """{'--name': 'help text with the [default: …] and range'} from a command's Options section."""
    blocks, name = {}, None
    for line in section(text, "Options:"):
        m = re.match(r"^  (?:-\w, )?(--[\w-]+)", line)
        if m:
            name = m.group(1)
            blocks[name] = line[m.end():]
        else:
            blocks[name] += " " + line
    return {k: " ".join(v.split()) for k, v in blocks.items()}


@pytest.mark.parametrize("columns", [80, 120])
def test_every_train_option_has_help_and_shows_its_default(columns):
    blocks = option_blocks(help_text("train", columns=columns))
    train = GROUP.commands["train"]
    params = [p for p in train.params if p.param_type_name == "option" and p.name != "help"]
    assert len(params) >= 15
    ctx = train.context_class(train)
    for param in params:
        assert param.help, param.name
        name = max(param.opts, key=len)
        assert name in blocks, (name, sorted(blocks))
        # click's own record of the option, rendered: the help, then the default
        record = " ".join(param.get_help_record(ctx)[1].split())
        assert record.startswith(" ".join(param.help.split())), (name, record)
        assert "[default: " in blocks[name], (name, blocks[name])


def test_options_of_every_command_have_help():
    for command in COMMANDS:
        for param in GROUP.commands[command].params:
            if param.param_type_name == "option":
                assert param.help, (command, param.name)


@pytest.mark.parametrize("command", ["shapes", "flops", "summary", "train"])
def test_the_spec_argument_is_shown_as_SPEC(command):
    text = help_text(command)
    usage = text.splitlines()[0]
    assert re.search(r"[\[{]SPEC[\]}]$", usage), usage
    assert "SPEC" in entries(section(text, "Arguments:"))


def examples(command, columns=80):
    """The example command lines after `Examples:`, each on its own line as written."""
    text = help_text(command, columns=columns)
    lines = text.splitlines()
    assert "  Examples:" in lines, text
    after = lines[lines.index("  Examples:") + 1:]
    return [line.strip() for line in after if line.strip()]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_ends_with_two_or_three_examples(command):
    for columns in (80, 120):
        shown = examples(command, columns)
        assert 2 <= len(shown) <= 3, shown
        for line in shown:
            assert line.startswith(f"cnncalc {command}"), line


@pytest.mark.parametrize("command", ANALYSIS)
def test_the_analysis_examples_run(command, monkeypatch):
    monkeypatch.chdir(ROOT)
    for line in examples(command):
        result = CliRunner().invoke(app, shlex.split(line)[1:], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (line, result.output)


@pytest.mark.parametrize("command", ["shapes", "params", "summary", "train"])
def test_a_bad_input_names_the_option(command):
    result = CliRunner().invoke(app, [command, "specs/lenet5.yaml", "--input", "32,x,3"], env={"COLUMNS": "80"})
    assert result.exit_code == 2, result.output
    assert "'--input'" in result.output and "32,x,3" in result.output, result.output
    assert "Traceback" not in result.output
