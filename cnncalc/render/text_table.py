"""A plain box-drawn table: the look of a rich table, written in one pass.

rich lays out every cell through its renderables (about half a millisecond a row);
a 10,000-layer summary must print in well under a second, so tables are joined as
text here and written straight to the stream.

Widths are terminal cells, not characters: a Hangul syllable or a CJK character takes two.
Text of one-cell characters (ASCII, ×, ·) is measured with len(); only other text asks rich.cells,
imported then, so an English table does not pay for it.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncalc.errors import printable


# Below U+0300 (Latin-1's ×, ·, and the Latin letters) every printable character takes one cell, and so
# do these symbols of our own text; anything else (Hangul, CJK, combining marks, emoji) asks rich.cells.
_NARROW = frozenset("—–→←…⌊⌋⌈⌉−²·")


def cell_width(text: str) -> int:
    """The terminal cells `text` takes: len() where every character is one cell, rich's cell_len otherwise."""
    if text.isascii() or all(ch < "\u0300" or ch in _NARROW for ch in text):
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def table_width(widths) -> int:
    """The width of a box table whose columns' text is `widths` cells: '│ ' + text + ' ' per column, then '│'."""
    return 1 + sum(w + 3 for w in widths)


@dataclass
class Fitted:
    """What fit() chose: the kept columns' indices in order, their headings, and the left-out indices."""

    kept: list[int]
    headers: list[str]
    left_out: list[int]


def fit(headers: list[str], short: list[str | None], cells: list[list[str]], priority: list[int],
        width: int | None) -> Fitted:
    """Columns that fit `width` cells: headings abbreviate, then columns leave, lowest priority first
    (the larger number; priority 0 never leaves), then abbreviated headings come back where room allows.

    cells: every row of text (body and footer) in the columns' order. width None: everything, as is.
    """
    n = len(headers)
    texts = [max((cell_width(printable(row[i])) for row in cells), default=0) for i in range(n)]
    heads = list(headers)
    kept = list(range(n))
    if width is None:
        return Fitted(kept, heads, [])

    def total() -> int:
        return table_width(max(texts[i], cell_width(heads[i])) for i in kept)

    order = sorted(range(n), key=lambda i: (-priority[i], -i))  # the least important first
    for i in order:
        if total() <= width:
            break
        if short[i] is not None and cell_width(short[i]) < cell_width(heads[i]):
            heads[i] = short[i]
    for i in order:
        if total() <= width:
            break
        if priority[i] > 0:
            kept.remove(i)
    for i in sorted(kept, key=lambda i: (priority[i], i)):  # the most important heading back first
        if heads[i] != headers[i]:
            heads[i], was = headers[i], heads[i]
            if total() > width:
                heads[i] = was
    return Fitted(kept, [heads[i] for i in kept], [i for i in range(n) if i not in kept])


def wrap(text: str, width: int | None) -> str:
    """Prose under a table folded at spaces to `width` terminal cells (None: as is), continuation
    lines indented two cells; a word longer than the width (a path) stays whole."""
    if width is None:
        return text
    out = []
    for line in text.split("\n"):
        current = ""
        for word in line.split(" "):
            joined = f"{current} {word}" if current.strip() else (current + word)
            if current.strip() and cell_width(joined) > width:
                out.append(current)
                current = "  " + word
            else:
                current = joined
        out.append(current)
    return "\n".join(out)


def box_table(headers: list[str], rows: list[list[str]], justify: list[str], footer: list[list[str]] = (),
              title: str | None = None, caption: str | None = None) -> str:
    # user text (a spec's name, a layer's field) may hold control characters: escape every cell
    headers = [printable(h) for h in headers]
    rows = [[printable(text) for text in row] for row in rows]
    footer = [[printable(text) for text in row] for row in footer]
    widths = [cell_width(h) for h in headers]
    for row in list(rows) + list(footer):
        for i, text in enumerate(row):
            w = cell_width(text)
            if w > widths[i]:
                widths[i] = w

    def line(cells, left, sep, right):
        parts = []
        for text, width, how in zip(cells, widths, justify):
            pad = " " * (width - cell_width(text))
            parts.append(" " + (text + pad if how == "left" else pad + text) + " ")
        return left + sep.join(parts) + right

    def rule(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    out = []
    if title:
        out.append(printable(title))
    out.append(rule("┏", "┳", "┓", "━"))
    out.append(line(headers, "┃", "┃", "┃"))
    out.append(rule("┡", "╇", "┩", "━"))
    out.extend(line(r, "│", "│", "│") for r in rows)
    if footer:
        out.append(rule("├", "┼", "┤", "─"))
        out.extend(line(r, "│", "│", "│") for r in footer)
    out.append(rule("└", "┴", "┘", "─"))
    if caption:
        out.extend(printable(text) for text in caption.split("\n"))
    return "\n".join(out) + "\n"
