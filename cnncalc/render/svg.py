"""PLACEHOLDER (replaced by h-draw at merge): a drawing as one standalone SVG element.

Each box is `<g class="layer" data-row="ROW">` with its name, notation and shape as text.
"""

from __future__ import annotations

from html import escape

from cnncalc.render.columns import shape_cell, type_text


def svg(drawing) -> str:
    w, h = drawing.width, drawing.height
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
           f'font-family="sans-serif" font-size="12">']
    for b in drawing.boxes:
        label = f"{b.row.name}: {type_text(b.row.layer_type)} → {shape_cell(b.row.out_shape)}"
        out.append(f'<g class="layer" data-row="{escape(b.row.name)}">'
                   f'<rect x="{b.x}" y="{b.y}" width="{b.width}" height="{b.height}" fill="#dbe8f6" stroke="#4a6fa5"/>'
                   f'<text x="{b.x + 6}" y="{b.y + b.height // 2 + 4}">{escape(label)}</text></g>')
    out.append("</svg>")
    return "\n".join(out)
