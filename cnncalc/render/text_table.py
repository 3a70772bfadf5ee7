"""A plain box-drawn table: the look of a rich table, written in one pass.

rich lays out every cell through its renderables (about half a millisecond a row);
a 10,000-layer summary must print in well under a second, so tables are joined as
text here and written straight to the stream.
"""

from __future__ import annotations

from cnncalc.errors import printable


def box_table(headers: list[str], rows: list[list[str]], justify: list[str], footer: list[list[str]] = (),
              title: str | None = None, caption: str | None = None) -> str:
    # user text (a spec's name, a layer's field) may hold control characters: escape every cell
    headers = [printable(h) for h in headers]
    rows = [[printable(text) for text in row] for row in rows]
    footer = [[printable(text) for text in row] for row in footer]
    widths = [len(h) for h in headers]
    for row in list(rows) + list(footer):
        for i, text in enumerate(row):
            if len(text) > widths[i]:
                widths[i] = len(text)

    def line(cells, left, sep, right):
        parts = []
        for text, width, how in zip(cells, widths, justify):
            parts.append(" " + (text.ljust(width) if how == "left" else text.rjust(width)) + " ")
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
        out.append(printable(caption))
    return "\n".join(out) + "\n"
