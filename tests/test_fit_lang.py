"""--lang and the fitted tables together: Korean headings come from the tables catalogue through the
same fitting as English ones, measured in terminal cells (a Hangul syllable takes two)."""

from __future__ import annotations

import os

from typer.testing import CliRunner

from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "specs", "lenet5.yaml")


def cells(text: str) -> int:
    from rich.cells import cell_len  # the independent measure of terminal cells

    return cell_len(text)


def test_lenet_summary_in_korean_fits_80_cells():
    result = CliRunner().invoke(app, ["summary", LENET, "--lang", "ko"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(cells(line) for line in lines) <= 80
    table = [x for x in lines if x[:1] in "┏┃┡│├└"]
    assert len({cells(x) for x in table}) == 1                       # every row as wide as the rules

    # the column borders stand at the same cell offsets on the heading row and every body row
    def borders(line):
        return [cells(line[:i]) for i, ch in enumerate(line) if ch in "┃│"]
    assert all(borders(x) == borders(table[1]) for x in table if x[:1] in "┃│")

    heading = [c.strip() for c in table[1].strip("┃").split("┃")]
    # layer, type, output in Korean (../shared/GLOSSARY-ko.md); MACs stays English
    assert heading[:3] == ["층", "종류", "출력"] and "MACs" in heading
    assert not {"Layer", "Type", "Output", "Trainable", "Train."} & set(heading)
    body = {r.strip("│").split("│")[0].strip(): [c.strip() for c in r.strip("│").split("│")]
            for r in table if r.startswith("│")}
    # conv1 on 32×32×3 with 8 5×5 filters: 28·28·8 outputs × 5·5·3 = 470,400 MACs; total row in Korean (합계)
    assert body["conv1"][heading.index("MACs")] == "470,400" and "합계" in body
    # all nine columns, headings abbreviated, take 1 + (8 + 18 + 8 + 6 + 6 + 7 + 6 + 6 + 6) + 9·3 = 99 cells
    # (비학습 and 수용장 are 6 cells): some must leave, and the table says so in Korean
    assert "80열에 맞추려고" in result.stdout
