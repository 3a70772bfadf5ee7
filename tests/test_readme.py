"""The README's commands are run here, so the documentation and the behaviour cannot drift."""

import csv
import json
import os
import re
import shlex

import pytest
from typer.testing import CliRunner

from cnncalc import layers
from cnncalc.cli import app

import helpers
from helpers import fenced_blocks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()


def blocks(language: str) -> list[str]:
    return fenced_blocks(README, language)


def console_examples() -> list[tuple[str, list[str]]]:
    return helpers.console_examples(README)


def test_readme_opens_with_the_two_setup_commands_that_ci_runs():
    setup = blocks("sh")[0].strip().splitlines()
    assert len(setup) == 2
    assert setup[0].startswith("pip install -e . && cnncalc summary specs/lenet5.yaml")
    assert "pytest" in setup[1]
    ci = open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8").read()
    for command in setup:
        assert f"python -m {command}" in ci or command in ci, command


def invoke(args):
    os.chdir(ROOT)
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, (args, result.output)
    return result.stdout


def check_totals(args: list[str], out: str) -> None:
    """The printed totals of an analysis command are the api's report for the same spec and --input."""
    from cnncalc import api

    command, options, files = args[0], {}, []
    rest = iter(args[1:])
    for arg in rest:
        if arg.startswith("-"):
            options[arg] = next(rest, "")  # a flag last (--merge-pool) has no value
        else:
            files.append(arg)
    value = options.get("--input")
    shape = tuple(int(v) for v in value.split(",")) if value else None
    fmt = options.get("--format", options.get("-f", "table"))
    totals = [api.report(f, shape).totals for f in files]
    if len(files) > 1:  # params A B: one column per spec
        row = next(line for line in out.splitlines() if "Trainable params" in line)
        cells = [c.strip() for c in row.strip("│").split("│")][1:]
        assert [c.split(" (")[0] for c in cells] == [f"{t.trainable:,}" for t in totals], row
        return
    t = totals[0]
    if fmt == "json":
        assert json.loads(out)["totals"]["params"] == t.params
        return
    expected = []
    if command in ("params", "summary"):
        expected += [f"Trainable params: {t.trainable:,} (", f"Total params: {t.params:,} ("]
    if command in ("flops", "summary"):
        expected += [f"MACs: {t.macs:,} (", f"FLOPs (2·MACs): {t.flops:,} ("]
    if command in ("shapes", "summary"):
        expected += [f"Forward activations (float32, input included): {t.activations:,} values",
                     "Output: " + "×".join(f"{v:,}" for v in t.output_shape)]
    assert expected, args
    for text in expected:
        assert text in out, (text, args)


@pytest.mark.parametrize("command, shown", console_examples(), ids=[c for c, _ in console_examples()])
def test_readme_console_example_runs_and_prints_what_the_readme_says(command, shown):
    args = shlex.split(command)[1:]
    out = invoke(args)
    lines = [line.rstrip() for line in out.splitlines()]
    for line in shown:
        assert line in lines, (command, line)
    if args[0] in ("shapes", "params", "flops", "summary") and not {"--as", "--explain-diff"} & set(args):
        check_totals(args, out)  # a peer's total (flops --as) is checked by its own lines above
    elif args[0] == "train":
        check_run_directory(os.path.join(ROOT, args[args.index("--out") + 1]), int(args[args.index("--epochs") + 1]))
    else:
        assert out.strip()


def check_run_directory(folder: str, epochs: int) -> None:
    """The files and metrics columns the README's Training section says a run directory keeps."""
    keeps = README.split("The run directory keeps", 1)[1].split("written atomically", 1)[0]
    names = list(dict.fromkeys(re.findall(r"`([\w.]+)`", keeps)))  # in order, each once
    files = [n for n in names if "." in n]
    columns = [n for n in names if "." not in n]
    assert {"spec.yaml", "metrics.json", "best.npz"} <= set(files) and "val_acc" in columns
    for name in files:
        assert os.path.isfile(os.path.join(folder, name)), name
    with open(os.path.join(folder, "metrics.csv"), encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == epochs and list(rows[0]) == columns


def test_readme_shows_the_totals_of_an_example():
    """At least one example shows its output, so the check above has numbers to compare."""
    assert any(any(re.search(r"\d,\d{3}", line) for line in shown) for _, shown in console_examples())


def test_readme_resnet50_macs_are_what_flops_prints():
    """'ResNet-50 ≈ 4.09 G' in the counting conventions, against `cnncalc flops specs/resnet50.yaml`."""
    stated = re.findall(r"ResNet-50 ≈ ([\d.]+) G", README)
    assert len(stated) == 1
    out = invoke(["flops", "specs/resnet50.yaml"])
    assert f"({stated[0]} GMAC)" in next(line for line in out.splitlines() if line.startswith("MACs: "))


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
