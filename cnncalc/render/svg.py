"""A Drawing (analysis/drawing.py) as one standalone <svg> element: no XML prolog, so a page can inline
it; no script and no reference outside itself.

Each row of fold(report, depth) is `<g class="layer" data-row="NAME" id="layer-NAME">` with a <title>
(the native tooltip), its volume or bar, the kernel drawn on it and its label lines: the row's name,
its Type as the tables print it, and its n_H×n_W×n_C.
"""

from __future__ import annotations

from cnncalc.analysis import Row
from cnncalc.analysis.drawing import FONT_SIZE, LINE_HEIGHT, Drawing, Item, Volume
from cnncalc.errors import printable
from cnncalc.render.columns import COLUMNS, rf_pair

# the front face's colour per family (cnncalc/layers/<family>); the top is lighter, the side darker
COLOURS = {
    "input": "#cfcfcf", "conv": "#8db6dd", "pool": "#f1b77e", "dense": "#95c895", "merge": "#c6a0da",
    "block": "#e4d48c", "upsample": "#8dd0c8",
}
OTHER = "#e6e6e6"  # activations, batchnorm, dropout, channel ops: the light boxes between the others
EDGE = "#777777"
KERNEL = "#d9534f"
FIELD = "#2a9d8f"


def label_lines(row: Row, field: Row | None = None) -> list[str]:
    """A row's label: its name, its Type cell and its output shape, as the tables print them; the
    input's also names the receptive field drawn on it."""
    lines = [row.name, COLUMNS["type"].text(row), COLUMNS["output_shape"].text(row)]
    if field is not None:
        from cnncalc.render.lang import text

        size = text("tables.rf_whole") if field.rf_reads_whole else rf_pair(field.rf.r_H, field.rf.r_W, group=True)
        lines.append(text("draw.field_line", layer=field.name, size=size))
    return [printable(line) for line in lines]


def escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


def _n(v: float) -> str:
    text = f"{v:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _points(points) -> str:
    return " ".join(f"{_n(x)},{_n(y)}" for x, y in points)


def _shade(colour: str, amount: float) -> str:
    """colour mixed with white (amount > 0) or black (amount < 0)."""
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    target = 255 if amount > 0 else 0
    mix = [round(c + (target - c) * abs(amount)) for c in (r, g, b)]
    return "#" + "".join(f"{c:02x}" for c in mix)


def _volume(v: Volume, colour: str, dashed: bool) -> list[str]:
    dash = ' stroke-dasharray="4 2"' if dashed else ""
    stroke = f'stroke="#333333" stroke-width="0.8"{dash}'
    front = ((v.x, v.y), (v.x + v.w, v.y), (v.x + v.w, v.y + v.h), (v.x, v.y + v.h))
    top = ((v.x, v.y), (v.x + v.dx, v.y - v.dy), (v.x + v.w + v.dx, v.y - v.dy), (v.x + v.w, v.y))
    side = v.side_region(0.0, v.h, 0.0, 1.0)
    return [f'<polygon class="front" points="{_points(front)}" fill="{colour}" {stroke}/>',
            f'<polygon class="top" points="{_points(top)}" fill="{_shade(colour, 0.35)}" {stroke}/>',
            f'<polygon class="side" points="{_points(side)}" fill="{_shade(colour, -0.15)}" {stroke}/>']


def _layer(item: Item, ids: dict[str, int], field: Row | None) -> list[str]:
    row = item.row
    name = printable(row.name)
    count = ids.get(name, 0)
    ids[name] = count + 1
    ident = f"layer-{name}" + (f"-{count + 1}" if count else "")
    lines = label_lines(row, field)
    title = f"{lines[0]}: {lines[1]} → {lines[2]}"
    if row.folded > 1:
        title += f" ({row.folded} layers)"
    colour = COLOURS.get(item.family, OTHER)
    out = [f'<g class="layer" data-row="{escape(name)}" id="{escape(ident)}" data-kind="{escape(item.family)}">',
           f"<title>{escape(title)}</title>"]
    if item.volume is not None:
        out += _volume(item.volume, colour, item.family == "block")
    else:
        b = item.bar
        out.append(f'<rect class="bar" x="{_n(b.x)}" y="{_n(b.y)}" width="{_n(b.w)}" height="{_n(b.h)}" '
                   f'fill="{colour}" stroke="#333333" stroke-width="0.8"/>')
    if item.kernel is not None:
        k = item.kernel
        out.append(f'<polygon class="kernel" data-layer="{escape(printable(k.layer))}" points="{_points(k.points)}" '
                   f'fill="{KERNEL}" fill-opacity="0.55" stroke="{KERNEL}" stroke-width="0.6">'
                   f"<title>{escape(printable(k.layer))}: {k.f_H}×{k.f_W}</title></polygon>")
    box = item.label.box
    centre = box.x + box.w / 2
    for i, line in enumerate(lines):
        baseline = box.y + i * LINE_HEIGHT + FONT_SIZE
        weight = ' font-weight="bold"' if i == 0 else ""
        out.append(f'<text class="label" x="{_n(centre)}" y="{_n(baseline)}" font-size="{_n(FONT_SIZE)}" '
                   f'text-anchor="middle"{weight}>{escape(line)}</text>')
    out.append("</g>")
    return out


def svg(drawing: Drawing) -> str:
    """The drawing as one <svg> element, its size in canvas units."""
    w, h = _n(drawing.width), _n(drawing.height)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
           f'font-family="monospace" class="cnncalc-drawing">',
           f"<title>{escape(printable(drawing.name))}</title>",
           f'<rect class="background" x="0" y="0" width="{w}" height="{h}" fill="#ffffff"/>',
           '<g class="edges" fill="none" stroke="' + EDGE + '" stroke-width="1.2">']
    rows = [item.row for item in drawing.items]
    for e in drawing.edges:
        d = "M" + " L".join(f"{_n(x)},{_n(y)}" for x, y in e.points)
        out.append(f'<path d="{d}" data-from="{escape(printable(rows[e.source].name))}" '
                   f'data-to="{escape(printable(rows[e.target].name))}"/>')
    out.append("</g>")
    field_row = drawing.field.row if drawing.field is not None else None
    ids: dict[str, int] = {}
    for item in drawing.items:
        out += _layer(item, ids, field_row if item.family == "input" else None)
    if drawing.field is not None:
        f = drawing.field
        out.append(f'<g class="field" data-layer="{escape(printable(f.layer))}" data-r="{f.r_H},{f.r_W}">'
                   f'<title>{escape(printable(f.layer))}: {f.r_H}×{f.r_W}</title>'
                   f'<polygon points="{_points(f.points)}" fill="{FIELD}" fill-opacity="0.45" stroke="{FIELD}" '
                   f'stroke-width="1"/></g>')
    out.append("</svg>")
    return "\n".join(out) + "\n"

