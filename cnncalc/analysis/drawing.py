"""PLACEHOLDER (replaced by h-draw at merge): the drawing's layout as plain data.

One box per row of `fold(report, depth)`, stacked in a column; no volumes, lanes or receptive field.
It honours the contract only: a drawing has a width, a height and one box per row, named by Row.name.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnncalc.analysis import Report, Row, fold

BOX_WIDTH = 360
BOX_HEIGHT = 28
GAP = 8
MARGIN = 10


@dataclass(frozen=True)
class Box:
    row: Row  # the row of fold(report, depth) this box draws
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True)
class Drawing:
    name: str
    width: int
    height: int
    boxes: tuple[Box, ...]
    rf: str | None = None  # the layer whose receptive field is asked for (not drawn by the placeholder)


def layout(report: Report, depth: int | None = None, rf: str | None = None) -> Drawing:
    rows = fold(report, depth)
    boxes = tuple(Box(row, MARGIN, MARGIN + i * (BOX_HEIGHT + GAP), BOX_WIDTH, BOX_HEIGHT)
                  for i, row in enumerate(rows))
    height = 2 * MARGIN + len(rows) * (BOX_HEIGHT + GAP) - (GAP if rows else 0)
    return Drawing(report.graph.name, BOX_WIDTH + 2 * MARGIN, height, boxes, rf)
