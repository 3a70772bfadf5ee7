"""One self-contained HTML page: the drawing (render/svg.py) beside the summary table.

No network: the CSS and the script are inline, and the page's Content-Security-Policy forbids
fetching anything (only `cnncalc serve`'s page may open its own /events stream). Every table row of
a layer carries `data-row="NAME"`, as the drawing's `<g class="layer">` does, so that hovering
either highlights both (class `hl`). The table is the summary's rows and cells
(render/report.table_parts), the same the text, markdown and csv tables print.
"""

from __future__ import annotations

import json
from html import escape

from cnncalc.render.report import error_line, table_parts
from cnncalc.render.svg import svg

# Hovering anything with data-row highlights every element with the same data-row (the layer's
# boxes and its table row). Delegated from the document, so a picture swapped in by `serve` needs no
# new listeners.
_HOVER = """
(function () {
  var lit = [];
  function light(name) {
    lit.forEach(function (el) { el.classList.remove("hl"); });
    lit = [];
    if (name === null) return;
    document.querySelectorAll("[data-row]").forEach(function (el) {
      if (el.getAttribute("data-row") === name) { el.classList.add("hl"); lit.push(el); }
    });
  }
  document.addEventListener("mouseover", function (e) {
    var el = e.target.closest ? e.target.closest("[data-row]") : null;
    light(el ? el.getAttribute("data-row") : null);
  });
  document.addEventListener("mouseleave", function () { light(null); });
})();
"""

# `serve`: the server sends {"html": fragment or null, "error": line or null}; an error keeps the
# picture the page has (the last good one) and shows the line in the banner.
_LIVE = """
(function () {
  var banner = document.getElementById("error");
  var content = document.getElementById("content");
  var source = new EventSource("/events");
  source.onmessage = function (e) {
    var m = JSON.parse(e.data);
    if (m.html !== null) { content.innerHTML = m.html; }
    if (m.title !== null) { document.title = m.title; }
    banner.textContent = m.error || "";
    banner.hidden = !m.error;
  };
})();
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 16px; color: #222; background: #fff; }
h1 { font-size: 1.3em; margin: 0 0 4px 0; }
.file { color: #666; margin: 0 0 12px 0; font-size: 0.9em; }
#error { background: #fde2e1; color: #8a1f11; border: 1px solid #e0a0a0; padding: 8px 10px;
         margin: 0 0 12px 0; font-family: ui-monospace, monospace; white-space: pre-wrap; }
#error[hidden] { display: none; }
.picture { overflow-x: auto; margin-bottom: 16px; }
.picture svg { display: block; max-width: none; }
g.layer { cursor: default; }
g.layer.hl rect, g.layer.hl polygon, g.layer.hl path, g.layer.hl ellipse, g.layer.hl circle {
  stroke: #d62728; stroke-width: 2.5px; }
g.layer.hl text { font-weight: bold; }
table { border-collapse: collapse; font-size: 13px; }
th, td { padding: 2px 8px; border-bottom: 1px solid #e4e4e4; }
th { background: #f2f2f2; text-align: left; }
td.right, th.right { text-align: right; font-variant-numeric: tabular-nums; }
td.name { white-space: pre; }
tr.scope td { color: #555; font-style: italic; }
tr.hl td { background: #ffe9a8; }
tfoot td { font-weight: bold; border-top: 2px solid #bbb; }
ul.totals { padding-left: 18px; }
.note { color: #666; font-size: 0.9em; }
@media print {
  body { margin: 0; }
  #error { display: none; }
  .picture { overflow: visible; break-after: page; }
  .picture svg { max-width: 100%; height: auto; }
  table { font-size: 9pt; }
  tr { break-inside: avoid; }
  tr.hl td { background: none; }
  g.layer.hl text { font-weight: normal; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
"""

_CSP = ("default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:; "
        "connect-src {connect}")


def title(report) -> str:
    return f"{report.graph.name} — cnncalc"


def fragment(report, drawing, depth: int | None = None) -> str:
    """What `serve` swaps in on a change: the heading, the picture, the table and its totals."""
    parts = table_parts(report, depth)
    out = [f"<h1>{escape(report.graph.name)}</h1>",
           f'<p class="file">{escape(report.graph.file)}</p>',
           f'<div class="picture" id="picture">{svg(drawing)}</div>',
           "<table>", "<thead><tr>"]
    for c in parts.columns:
        out.append(f'<th class="{c.justify}">{escape(c.title())}</th>')
    out.append("</tr></thead>")
    out.append("<tbody>")
    for row, cells in parts.lines:
        attr = f' data-row="{escape(row.name)}"' if row is not None else ' class="scope"'
        out.append(f"<tr{attr}>" + "".join(_td(c, text) for c, text in zip(parts.columns, cells)) + "</tr>")
    out.append("</tbody>")
    if parts.footer:
        out.append("<tfoot>")
        for cells in parts.footer:
            out.append("<tr>" + "".join(_td(c, text) for c, text in zip(parts.columns, cells)) + "</tr>")
        out.append("</tfoot>")
    out.append("</table>")
    out.append('<ul class="totals">' + "".join(f"<li>{escape(line)}</li>" for line in parts.totals) + "</ul>")
    out.extend(f'<p class="note">{escape(note)}</p>' for note in parts.notes)
    return "\n".join(out)


def _td(column, text: str) -> str:
    classes = "name" if column.key == "name" else column.justify
    return f'<td class="{classes}">{escape(text)}</td>'


def document(page_title: str, body: str, *, live: bool = False, error: str | None = None) -> str:
    """The whole page around `body` (a fragment); live: with the script that follows `serve`'s /events
    and shows `error` (a one-line error) in the banner."""
    connect = "'self'" if live else "'none'"
    scripts = _HOVER + (_LIVE if live else "")
    banner = f'<div id="error" role="alert"{"" if error else " hidden"}>{escape(error or "")}</div>'
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP.format(connect=connect)}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<link rel="icon" href="data:,">',
        f"<title>{escape(page_title)}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        banner,
        f'<div id="content">{body}</div>',
        f"<script>{scripts}</script>",
        "</body>",
        "</html>",
        "",
    ])


def page(report, drawing, depth: int | None = None) -> str:
    """`cnncalc draw -o net.html`: the drawing and the summary table at `depth` in one page."""
    error = error_line(report.error) if report.error is not None else None  # the rows before it are drawn
    return document(title(report), fragment(report, drawing, depth), error=error)


def event(html: str | None, error: str | None, page_title: str | None = None) -> str:
    """One server-sent event for `serve`'s page: a new fragment (None keeps the picture the page has)
    and the error line (None clears the banner)."""
    return "data: " + json.dumps({"html": html, "error": error, "title": page_title}) + "\n\n"
