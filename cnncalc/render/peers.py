"""`cnncalc flops --as PEER` and `--explain-diff A B` as text: a table, JSON, CSV or Markdown.

The numbers come from cnncalc/analysis/peers.py; the words from render/lang/peers.py.
"""

from __future__ import annotations

import csv
import io
import json

from cnncalc.analysis.peers import ITEMS, RULES, UNITS, Diff, PeerCount, rule_of
from cnncalc.render.lang import text
from cnncalc.render.text_table import box_table


def rule_text(peer: str, item: str, lang: str = "en", kinds=None) -> str:
    """How `peer` counts `item`, from its table: 'conv, dense: 1 × MACs'; kinds with the same terms share a line."""
    grouped: dict[tuple, list[str]] = {}
    for kind, pairs in rule_of(peer, item, kinds):
        grouped.setdefault(pairs, []).append(kind)
    if not grouped:
        return text("peers.not_counted", lang)
    parts = []
    for pairs, kinds in grouped.items():
        terms = " + ".join(f"{factor} × {text(f'peers.term.{term}', lang)}" for term, factor in pairs)
        parts.append(f"{', '.join(kinds)}: {terms}")
    return "; ".join(parts)


def _write(fmt: str, headers: list[str], rows: list[list[str]], justify: list[str], footer: list[str],
           title: str, closing: list[str]) -> str:
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(rows + [footer])
        return buf.getvalue()
    if fmt == "markdown":
        def line(cells):
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"
        align = ["---:" if j == "right" else "---" for j in justify]
        body = [line(headers), "| " + " | ".join(align) + " |"] + [line(r) for r in rows] + [line(footer)]
        return "\n".join([f"**{title}**", ""] + body + [""] + closing) + "\n"
    return box_table(headers, rows, justify, [footer], title=title) + "\n" + "\n".join(closing) + "\n"


def render_count(count: PeerCount, spec: str, fmt: str, lang: str = "en") -> str:
    """One peer's total, item by item, each with the rule that gave it."""
    if fmt == "json":
        return json.dumps({"peer": count.peer, "unit": UNITS[count.peer], "batch": 1, "total": count.total,
                           "items": {item: count.items[item] for item in ITEMS},
                           "layers": {item: count.layers[item] for item in ITEMS},
                           "rules": {kind: [[term, factor] for term, factor in pairs]
                                     for kind, pairs in RULES[count.peer].items()}}, indent=2) + "\n"
    headers = [text(f"peers.head.{h}", lang) for h in ("item", "layers", "count", "rule")]
    rows = [[text(f"peers.item.{item}", lang), f"{count.layers[item]:,}", f"{count.items[item]:,}",
             rule_text(count.peer, item, lang, count.kinds)]
            for item in ITEMS if count.items[item]]
    footer = [text("peers.total", lang), "", f"{count.total:,}", ""]
    title = text("peers.title", lang, peer=count.peer, unit=UNITS[count.peer], spec=spec)
    closing = [text("peers.total_line", lang, peer=count.peer, total=f"{count.total:,}", unit=UNITS[count.peer]),
               text("peers.unit_note", lang)]
    return _write(fmt, headers, rows, ["left", "right", "right", "left"], footer, title, closing)


def render_diff(result: Diff, spec: str, fmt: str, lang: str = "en") -> str:
    """A against B term by term: each item under both conventions, the gap, and each side's rule."""
    a, b = result.a.peer, result.b.peer
    if fmt == "json":
        return json.dumps({"a": a, "b": b, "unit_a": UNITS[a], "unit_b": UNITS[b], "batch": 1,
                           "total_a": result.a.total, "total_b": result.b.total, "gap": result.gap,
                           "items": [{"item": line.item, "a": line.a, "b": line.b, "gap": line.gap}
                                     for line in result.lines]}, indent=2) + "\n"
    headers = [text("peers.head.item", lang), a, b, text("peers.head.gap", lang, a=a, b=b),
               text("peers.head.rule_of", lang, peer=a), text("peers.head.rule_of", lang, peer=b)]
    rows = [[text(f"peers.item.{line.item}", lang), f"{line.a:,}", f"{line.b:,}", f"{line.gap:+,}",
             rule_text(a, line.item, lang, result.a.kinds), rule_text(b, line.item, lang, result.b.kinds)] for line in result.lines]
    footer = [text("peers.total", lang), f"{result.a.total:,}", f"{result.b.total:,}", f"{result.gap:+,}", "", ""]
    title = text("peers.diff_title", lang, a=a, b=b, unit_a=UNITS[a], unit_b=UNITS[b], spec=spec)
    closing = [text("peers.gap_line", lang, a=a, b=b, total_a=f"{result.a.total:,}", total_b=f"{result.b.total:,}",
                    gap=f"{result.gap:+,}"),
               text("peers.unit_note", lang)]
    return _write(fmt, headers, rows, ["left", "right", "right", "right", "left", "left"], footer, title, closing)
