"""The HTML page (render/page.py) read as HTML, without a browser: one table row per row of the
summary, tied to its layer by data-row; no address outside the page; escaped text; numbers that
match hand-worked counts and sum to the page's own totals. tests/test_page_browser.py renders it."""

from __future__ import annotations

import os
from html.parser import HTMLParser

import pytest

from cnncalc import api
from cnncalc.analysis import fold
from cnncalc.render.page import page

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LENET = os.path.join(ROOT, "specs", "lenet5.yaml")


class Parsed(HTMLParser):
    """Every start tag (tag, attrs), the table's rows as (data-row or None, [cell texts], section),
    the text of the page's <title> (not the drawing's), of the error banner and of <style>."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags, self.rows, self.title, self.banner, self.style, self.script = [], [], "", None, "", ""
        self._in, self._section, self._row, self._cell = [], None, None, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        self._in.append((tag, attrs))
        if tag in ("thead", "tbody", "tfoot"):
            self._section = tag
        elif tag == "tr":
            self._row = (attrs.get("data-row"), [], self._section)
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "div" and attrs.get("id") == "error":
            self.banner = ("hidden" in attrs, [])

    def handle_endtag(self, tag):
        while self._in and self._in[-1][0] != tag:
            self._in.pop()
        if self._in:
            self._in.pop()
        if tag in ("td", "th") and self._row is not None:
            self._row[1].append("".join(self._cell))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.rows.append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)
        inside = [t for t, _ in self._in]
        if inside and inside[-1] == "title" and "svg" not in inside:  # the page's, not a layer's tooltip
            self.title += data
        if inside and inside[-1] == "style":
            self.style += data
        if inside and inside[-1] == "script":
            self.script += data
        if self.banner is not None and any(t == "div" and a.get("id") == "error" for t, a in self._in):
            self.banner[1].append(data)

    def body_rows(self):
        return [r for r in self.rows if r[2] == "tbody"]


def _page(spec, depth=None):
    report, drawing = api.drawing(spec, depth=depth)
    return report, Parsed(page(report, drawing, depth))


@pytest.mark.parametrize("spec,depth", [("lenet5", None), ("resnet18", 1), ("resnet18", None), ("googlenet", 2)])
def test_every_row_of_the_summary_is_one_table_row_named_by_data_row(spec, depth):
    report, parsed = _page(os.path.join(ROOT, "specs", f"{spec}.yaml"), depth)
    named = [name for name, _, _ in parsed.body_rows() if name is not None]
    assert named == [r.name for r in fold(report, depth)]
    # the drawing's layers carry the same names: hovering one finds the other
    layers = {a["data-row"] for t, a in parsed.tags if t == "g" and "layer" in a.get("class", "").split()}
    assert layers <= set(named) and layers


def test_lenet5_cells_match_hand_worked_counts_and_sum_to_the_total_row():
    _, parsed = _page(LENET)
    head = next(cells for _, cells, section in parsed.rows if section == "thead")
    rows = {name: dict(zip(head, cells)) for name, cells, _ in parsed.body_rows()}
    # conv1: 5·5·3 weights + 1 bias, 8 filters = 608; n_H = (32 − 5)/1 + 1 = 28
    assert rows["conv1"]["Trainable"] == "608" and rows["conv1"]["Output"] == "28×28×8"
    # conv2: (5·5·8 + 1)·16 = 3,216, on 14×14: 10×10×16
    assert rows["conv2"]["Trainable"] == "3,216" and rows["conv2"]["Output"] == "10×10×16"
    # dense1: 400·120 + 120 = 48,120
    assert rows["dense1"]["Trainable"] == "48,120"
    total = next(cells for _, cells, section in parsed.rows if section == "tfoot")
    total = dict(zip(head, total))
    for column in ("Trainable", "MACs"):
        assert sum(int(r[column].replace(",", "")) for r in rows.values()) == int(total[column].replace(",", ""))
    # 608 + 3,216 + 48,120 + (120·84 + 84 = 10,164) + (84·10 + 10 = 850) = 62,958
    assert total["Trainable"] == "62,958"
    assert parsed.title.startswith("lenet5-ng")


def test_the_page_reaches_nothing_outside_itself():
    _, parsed = _page(os.path.join(ROOT, "specs", "googlenet.yaml"), 1)
    for tag, attrs in parsed.tags:
        for key in ("src", "href", "action", "data", "xlink:href"):
            if key in attrs:
                assert attrs[key].startswith(("data:", "#")), (tag, key, attrs[key])
        assert not (tag == "link" and attrs.get("rel") == "stylesheet")
    assert "url(" not in parsed.style and "@import" not in parsed.style
    assert "fetch(" not in parsed.script and "EventSource" not in parsed.script  # only serve's page listens
    policy = next(a["content"] for t, a in parsed.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy")
    assert "default-src 'none'" in policy and "connect-src 'none'" in policy
    assert "@media print" in parsed.style


def test_names_from_the_spec_are_escaped(tmp_path):
    spec = tmp_path / "odd.yaml"
    spec.write_text('name: "a<b>&\\"c</title><script>x()</script>"\ninput: [8, 8, 3]\nlayers:\n'
                    '  - conv: {filters: 2, kernel: 3}\n')
    report, drawing = api.drawing(str(spec))
    text = page(report, drawing, None)
    parsed = Parsed(text)
    assert parsed.title == 'a<b>&"c</title><script>x()</script> — cnncalc'
    assert "<script>x()" not in text
    assert [name for name, _, _ in parsed.body_rows()] == ["input", "conv1"]


def test_a_dimension_error_is_shown_in_the_banner_with_the_rows_before_it(tmp_path):
    spec = tmp_path / "broken.yaml"
    # conv 5×5 on 4×4: (4 − 5)/1 + 1 = 0 rows
    spec.write_text("name: b\ninput: [8, 8, 3]\nlayers:\n  - conv: {filters: 2, kernel: 5}\n"
                    "  - conv: {filters: 2, kernel: 5}\n")
    report, drawing = api.drawing(str(spec))
    assert report.error is not None
    parsed = Parsed(page(report, drawing, None))
    hidden, words = parsed.banner
    assert not hidden and "broken.yaml:5" in "".join(words)
    assert [name for name, _, _ in parsed.body_rows()][:2] == ["input", "conv1"]
    _, good = _page(LENET)
    assert good.banner[0] is True and "".join(good.banner[1]) == ""
