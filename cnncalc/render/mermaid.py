"""The rows of fold(report, depth) as a Mermaid flowchart, for notes on platforms that render it: one node
per row, labelled as the drawing labels it (name, Type, shape), one edge per edge of the folded graph."""

from __future__ import annotations

from cnncalc.analysis import Report, fold
from cnncalc.analysis.drawing import family as family_of
from cnncalc.analysis.drawing import folded_edges
from cnncalc.render.svg import label_lines

# Mermaid's entity codes: a label is "…", so a quote, an angle bracket or a # inside it is written as one
_ENTITIES = {"#": "#35;", '"': "#quot;", "<": "#lt;", ">": "#gt;"}

_CLASSES = {"conv": "fill:#8db6dd", "pool": "fill:#f1b77e", "dense": "fill:#95c895", "merge": "fill:#c6a0da",
            "block": "fill:#e4d48c,stroke-dasharray:4 2"}


def _label(text: str) -> str:
    return "".join(_ENTITIES.get(ch, ch) for ch in text)


def mermaid(report: Report, depth: int | None = None) -> str:
    """`flowchart LR` with nodes n0, n1, … in table order; a node's label is its lines joined by <br/>."""
    rows = fold(report, depth)
    out = ["flowchart LR"]
    families: dict[str, list[str]] = {}
    for i, row in enumerate(rows):
        out.append(f'  n{i}["{"<br/>".join(_label(line) for line in label_lines(row))}"]')
        family = family_of(row)
        if family in _CLASSES:
            families.setdefault(family, []).append(f"n{i}")
    for s, t in folded_edges(report, rows, depth):
        out.append(f"  n{s} --> n{t}")
    for family, nodes in families.items():
        out.append(f"  classDef {family} {_CLASSES[family]}")
        out.append(f"  class {','.join(nodes)} {family}")
    return "\n".join(out) + "\n"
