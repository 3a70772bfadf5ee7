"""Seeded fuzzing of the analysis path: every case ends in a report or a CnncalcError, never anything else.

Each case takes one shipped spec from specs/ and applies one to three mutations: lines deleted,
duplicated or swapped; numbers made 0, −1, huge, float or text; kinds and field names changed;
lists turned into mappings and back, values wrapped in lists and mappings; indentation broken; anchors, aliases, tags, directives and document markers inserted; the text
truncated; random bytes (controls, invalid UTF-8) inserted.  The case goes through `cnncalc.api`
and is rendered in one of the four formats; a sample of the failing cases also goes through the
CLI (typer's CliRunner), which must exit 1 with one `error:` line on stderr.

A case that runs longer than CNNCALC_FUZZ_SECONDS (default 15) fails: a hang guard, not a timing test.

    python -m pytest -q tests/test_fuzz.py                                # 500 cases (the default)
    CNNCALC_FUZZ_CASES=20000 python -m pytest -q -s tests/test_fuzz.py   # the long run, with a tally
    CNNCALC_FUZZ_SEED=7 ...                                               # another sequence of cases

A failure names the case; `case_bytes(seed, index)` rebuilds it.
"""

import os
import random
import re
import signal
import time
from collections import Counter
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc import layers as registry
from cnncalc.analysis import Report
from cnncalc.cli import app
from cnncalc.errors import CnncalcError
from cnncalc.render.report import render

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "specs").rglob("*.yaml"))
CASES = int(os.environ.get("CNNCALC_FUZZ_CASES", "500"))
SEED = int(os.environ.get("CNNCALC_FUZZ_SEED", "0"))
SECONDS = float(os.environ.get("CNNCALC_FUZZ_SECONDS", "15"))
CLI_SAMPLE = 25  # failing cases also run through the CLI

KIND_WORDS = sorted({n for k in registry.KINDS for n in (k.name,) + k.aliases} | {"parallel", "repeat"})
FIELD_WORDS = sorted({f.name for k in registry.KINDS for f in k.fields}
                     | {"name", "from", "layers", "args", "blocks", "input", "merge", "kind", "description"})
NUMBER = re.compile(r"(?<![\w.$])-?\d+(?![\w.])")
WORD = re.compile(r"\b[a-z_][a-z0-9_]*\b")
REPLACEMENTS = ["0", "-1", "1", "2", "1000000", "1000000000", "1000000001", "10" + "0" * 18, "9" * 40,
                "9" * 5000, "2.5", "1e3", ".nan", ".inf", "-.inf", "abc", "true", "null", "[]", "{}", "[1, 2]",
                '"$x"', '"$filters * 99999"', "0x10", "0o17", "1_000"]
TAGS = ["!!int", "!!float", "!!bool", "!!null", "!!str", "!!map", "!!seq", "!!binary", "!!set", "!!omap",
        "!!timestamp", "!!merge", "!!python/object:os.system", "!mine", "!<tag:yaml.org,2002:int>", "!!pairs"]
INSERTS = ["%YAML 1.1\n---\n", "%TAG ! tag:example.com,2000:\n---\n", "---\n", "...\n", "- relu\n",
           "  - repeat: 100000\n    layers: []\n", "  - parallel: [[], []]\n", "<<: *a\n", "? [a]\n: b\n",
           "  - {kind: conv}\n", "blocks: 3\n", "  - add: {from: [nowhere, input]}\n"]
RANDOM_BYTES = [b"\x00", b"\x1b[31m", b"\x07", b"\xff", b"\xc3", b"\xe2\x80\xae", b"\t", b"\r", b"\x85",
                b"\xef\xbb\xbf", b"'", b'"', b"{", b"[", b"]", b"}", b":", b"&", b"*", b"!", b"|", b">", b"#"]


# ---------------------------------------------------------------- mutations

def _lines(text):
    return text.split("\n")


def delete_line(rng, text):
    lines = _lines(text)
    del lines[rng.randrange(len(lines))]
    return "\n".join(lines)


def duplicate_line(rng, text):
    lines = _lines(text)
    i = rng.randrange(len(lines))
    lines.insert(i, lines[i])
    return "\n".join(lines)


def swap_lines(rng, text):
    lines = _lines(text)
    i, j = rng.randrange(len(lines)), rng.randrange(len(lines))
    lines[i], lines[j] = lines[j], lines[i]
    return "\n".join(lines)


def change_number(rng, text):
    found = list(NUMBER.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    return text[:m.start()] + rng.choice(REPLACEMENTS) + text[m.end():]


def change_word(rng, text):
    found = list(WORD.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    new = rng.choice(KIND_WORDS + FIELD_WORDS + [m.group() + "x", m.group()[:-1], "input", "kind"])
    return text[:m.start()] + new + text[m.end():]


def break_indent(rng, text):
    lines = _lines(text)
    i = rng.randrange(len(lines))
    how = rng.randrange(3)
    if how == 0:
        lines[i] = lines[i].lstrip(" ")
    elif how == 1:
        lines[i] = " " * rng.randrange(1, 5) + lines[i]
    else:
        lines[i] = "\t" + lines[i]
    return "\n".join(lines)


def insert_alias(rng, text):
    """An anchor on one value and aliases to it elsewhere (possibly before it, or recursive)."""
    colons = [m.end() for m in re.finditer(r": ", text)]
    if len(colons) < 2:
        return text
    a, *others = rng.sample(colons, min(len(colons), rng.randrange(2, 5)))
    out = text
    for pos in sorted(others + [a], reverse=True):
        out = out[:pos] + ("&a " if pos == a else "*a ") + out[pos:]
    return out


def insert_tag(rng, text):
    spots = [m.end() for m in re.finditer(r"(: |- )", text)]
    if not spots:
        return text
    pos = rng.choice(spots)
    return text[:pos] + rng.choice(TAGS) + " " + text[pos:]


def insert_text(rng, text):
    lines = _lines(text)
    lines.insert(rng.randrange(len(lines) + 1), rng.choice(INSERTS).rstrip("\n"))
    return "\n".join(lines)


def swap_bracket(rng, text):
    """A list where a mapping was, or the other way round (one bracket of a pair)."""
    spots = [i for i, ch in enumerate(text) if ch in "[]{}"]
    if not spots:
        return text
    i = rng.choice(spots)
    return text[:i] + {"[": "{", "]": "}", "{": "[", "}": "]"}[text[i]] + text[i + 1:]


def wrap_value(rng, text):
    """The rest of a line after `key: ` wrapped in a list, a mapping, or replaced by one."""
    spots = list(re.finditer(r": ([^\n#]+)", text))
    if not spots:
        return text
    m = rng.choice(spots)
    value = m.group(1)
    new = rng.choice([f"[{value}]", f"{{x: {value}}}", f"[[{value}]]", f"{{{value}: 1}}", rng.choice(REPLACEMENTS)])
    return text[:m.start(1)] + new + text[m.end(1):]


def word_to_value(rng, text):
    found = list(WORD.finditer(text))
    if not found:
        return text
    m = rng.choice(found)
    return text[:m.start()] + rng.choice(REPLACEMENTS) + text[m.end():]


def truncate(rng, text):
    return text[:rng.randrange(len(text) + 1)]


TEXT_MUTATIONS = [delete_line, duplicate_line, swap_lines, change_number, change_number, change_word,
                  change_word, break_indent, insert_alias, insert_tag, insert_text, swap_bracket, wrap_value,
                  word_to_value, truncate]


def random_bytes(rng, data: bytes) -> bytes:
    pos = rng.randrange(len(data) + 1)
    chunk = rng.choice(RANDOM_BYTES) if rng.random() < 0.7 else bytes(rng.randrange(256)
                                                                       for _ in range(rng.randrange(1, 8)))
    return data[:pos] + chunk + data[pos:]


def case_bytes(seed: int, index: int) -> tuple[str, list[str], bytes]:
    """The spec a case starts from, the mutations applied, and the bytes they give."""
    rng = random.Random(f"{seed}:{index}")
    source = rng.choice(SPECS)
    text = (ROOT / source).read_text(encoding="utf-8")
    applied = []
    for _ in range(rng.choice((1, 1, 2, 3))):
        mutation = rng.choice(TEXT_MUTATIONS + ["bytes"])
        applied.append(mutation if isinstance(mutation, str) else mutation.__name__)
        if mutation == "bytes":
            text = random_bytes(rng, text.encode("utf-8", "surrogateescape")).decode("utf-8", "surrogateescape")
        else:
            text = mutation(rng, text)
    return source, applied, text.encode("utf-8", "surrogateescape")


# ---------------------------------------------------------------- running a case

class CaseTimeout(Exception):
    pass


def _alarm(signum, frame):  # noqa: ARG001 — a signal handler's signature
    raise CaseTimeout


def run_case(path: str, index: int):
    """'report' or the error's class name; the report is rendered in one of the formats."""
    result = api.report(path)
    assert isinstance(result, Report)
    fmt = ("table", "json", "csv", "markdown")[index % 4]
    command = ("summary", "shapes", "params", "flops")[(index // 4) % 4]
    text = render(result, command, fmt)
    assert isinstance(text, str)
    return "report" if result.error is None else f"report with {type(result.error).__name__}"


def check_cli(path: str):
    result = CliRunner().invoke(app, ["summary", path], env={"COLUMNS": "200"})
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert lines and lines[-1].startswith("error: "), result.stderr
    assert all(x.startswith("warning: ") for x in lines[:-1]), result.stderr
    assert "Traceback" not in result.output and "\x1b" not in result.stderr


def test_fuzzed_specs_end_in_a_report_or_a_located_error(tmp_path):
    tally: Counter = Counter()
    slowest = (0.0, None)
    cli_checked = 0
    old = signal.signal(signal.SIGALRM, _alarm)
    try:
        for index in range(CASES):
            source, applied, data = case_bytes(SEED, index)
            path = tmp_path / f"case{index % 10}.yaml"
            path.write_bytes(data)
            where = f"case {index} (seed {SEED}): {source} after {', '.join(applied)}"
            start = time.perf_counter()
            signal.setitimer(signal.ITIMER_REAL, SECONDS)
            try:
                outcome = run_case(str(path), index)
            except CnncalcError as exc:
                outcome = type(exc).__name__
                line = exc.line()
                assert "\n" not in line and "\x1b" not in line, (where, line)
            except CaseTimeout:
                pytest.fail(f"{where}: still running after {SECONDS} s")
            except Exception as exc:  # noqa: BLE001 — the point: anything else is a crash to report
                pytest.fail(f"{where}: {type(exc).__name__}: {exc}\n--- spec ---\n"
                            f"{data.decode('utf-8', 'replace')[:3000]}")
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            elapsed = time.perf_counter() - start
            tally[outcome] += 1
            if elapsed > slowest[0]:
                slowest = (elapsed, where)
            if outcome != "report" and cli_checked < CLI_SAMPLE:
                check_cli(str(path))
                cli_checked += 1
    finally:
        signal.signal(signal.SIGALRM, old)
    print(f"\nfuzz: {CASES} cases, seed {SEED}: " + ", ".join(f"{k} {v}" for k, v in tally.most_common()))
    print(f"fuzz: slowest {slowest[0]:.2f} s, {slowest[1]}")
    assert sum(tally.values()) == CASES
    assert cli_checked == min(CLI_SAMPLE, CASES - tally["report"])
    # the mutations are not all harmless: most cases must reach an error of some kind
    assert tally["report"] < CASES


def test_case_bytes_are_reproducible():
    assert case_bytes(3, 41) == case_bytes(3, 41)
    assert case_bytes(3, 41) != case_bytes(3, 42)
