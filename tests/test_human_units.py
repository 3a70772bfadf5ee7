"""Human units (issue 9): tables, totals lines and JSON never read `201600000.00 TMAC` or `225 (225MAC)`;
every number of five digits or more in a table has its thousands separators.

The scan runs the four analysis commands' tables (full width and 80 columns, English and Korean, and
markdown) over every shipped spec, and checks every human unit against the one shape the renderer may
give it: 1 to 3 digits, two decimals, a prefix (K, M, G, T) or a power of ten past T.
"""

import json
import os
import re

import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.cli import app
from cnncalc.render.columns import human, with_human
from cnncalc.render.report import render
from tests.helpers import ROOT

SPECS = os.path.join(ROOT, "specs")
SHIPPED = sorted(os.path.relpath(os.path.join(d, f), SPECS) for d, _, files in os.walk(SPECS)
                 for f in files if f.endswith(".yaml"))

# a run of five or more digits not part of a grouped number, a decimal, a name (resnet152) or an exponent
UNGROUPED = re.compile(r"(?<![\d,.\w^+])\d{5,}(?![\d\w])")
# a value with a unit: what is allowed is '4.09 GMAC', '44.63 MiB', '1.00 K', '1.23e+20 MAC'
UNIT = re.compile(r"(?<![\w.])([\d.,e+]+) ?([KMGT]?)(MAC|FLOP|B|iB)\b|(?<![\w.])([\d.,]+) ([KMGT])\b")
ALLOWED = re.compile(r"^(\d{1,3}\.\d\d|\d\.\d\de\+\d+)$")
# '225 (225MAC)', '225 (225 MAC)': a number repeated as its own unit
REPEATED = re.compile(r"\b([\d,]+) \(\1 ?[A-Za-z]*\)")


def scan(text: str) -> list[str]:
    problems = [f"ungrouped {m.group()}" for m in UNGROUPED.finditer(text)]
    problems += [f"repeated {m.group()}" for m in REPEATED.finditer(text)]
    for m in UNIT.finditer(text):
        value = m.group(1) or m.group(4)
        if m.group(3) == "B" and not m.group(2) and re.fullmatch(r"\d{1,4}", value):
            continue                                           # '1023 B': bytes below a KiB stay whole
        if not ALLOWED.match(value):
            problems.append(f"unit {m.group()}")
    return problems


@pytest.mark.parametrize("spec", SHIPPED)
def test_every_shipped_spec_reads_in_sane_units(spec):
    report = api.report(os.path.join(SPECS, spec))
    problems = []
    for command in ("summary", "params", "flops", "shapes"):
        for width, lang in ((None, "en"), (80, "en"), (None, "ko")):
            problems += scan(render(report, command, "table", width=width, lang=lang))
        problems += scan(render(report, command, "markdown"))
    assert problems == []


def test_the_scan_catches_what_the_issue_names():
    assert scan("MACs: 201600000.00 TMAC") == ["ungrouped 201600000", "unit 201600000.00 TMAC"]
    assert scan("MACs: 225 (225MAC)") == ["repeated 225 (225MAC)", "unit 225MAC"]
    assert scan("│ conv1 │ 12345 │") == ["ungrouped 12345"]
    assert scan("MACs: 849,320 (849.32 KMAC); 1023 B; 2.02e+17 MAC; resnet152; 10^18") == []


@pytest.mark.parametrize("n, unit, text", [
    (225, "MAC", "225"),                                  # below a thousand: the number alone
    (999, "", "999"),
    (1_000, "MAC", "1,000 (1.00 KMAC)"),
    (999_999, "", "999,999 (1.00 M)"),                    # 999.999 K rounds to the next unit, never 1000.00 K
    (4_089_184_256, "MAC", "4,089,184,256 (4.09 GMAC)"),
    (201_600_000 * 10**12 // 1000, "MAC", "201,600,000,000,000,000 (2.02e+17 MAC)"),  # past T: a power of ten
])
def test_with_human_by_hand(n, unit, text):
    assert with_human(n, unit) == text
    assert scan(text) == []


def test_huge_and_tiny_networks_print_sane_totals(tmp_path):
    # tiny: dense 15 → 15 on a vector: 15·15 = 225 MACs, (15 + 1)·15 = 240 params
    # huge: a 3×3 conv with 4,096 filters on a 100,000×100,000×512 input (padding 1 keeps the size):
    # 10^10 positions · 4,096 · 3·3·512 = 188,743,680,000,000,000 MACs = 1.89e+17
    tiny = tmp_path / "tiny.yaml"
    tiny.write_text("name: tiny\ninput: [15]\nlayers:\n  - dense: 15\n", encoding="utf-8")
    huge = tmp_path / "huge.yaml"
    huge.write_text("name: huge\ninput: [100000, 100000, 512]\nlayers:\n"
                    "  - conv: {filters: 4096, kernel: 3, padding: 1}\n", encoding="utf-8")
    runner = CliRunner()
    small = runner.invoke(app, ["summary", str(tiny)], env={"COLUMNS": "200"}).stdout
    assert "MACs: 225\n" in small and "Total params: 240 " in small and scan(small) == []
    big = runner.invoke(app, ["summary", str(huge)], env={"COLUMNS": "200"}).stdout
    assert "MACs: 188,743,680,000,000,000 (1.89e+17 MAC)" in big and scan(big) == []
    assert human(188_743_680_000_000_000, "MAC") == "1.89e+17 MAC"
    # JSON carries the exact integers, never a unit string
    data = json.loads(runner.invoke(app, ["summary", str(huge), "-f", "json"]).stdout)
    assert data["totals"]["macs"] == 100_000 * 100_000 * 4_096 * 3 * 3 * 512
    assert all(isinstance(v, int) for k, v in data["totals"].items() if k not in ("output_shape", "receptive_field",
                                                                                    "rf_whole_input"))
