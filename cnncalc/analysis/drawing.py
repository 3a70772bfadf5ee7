"""The picture of a network as plain data: volumes, bars, kernels, edges, labels and a receptive field,
each with its place on the canvas; `render/svg.py` turns it into SVG text.

Layout, in one pass over the rows `analysis.fold` gives (so the picture folds as the tables do):
- column = 1 + the largest column of the row's inputs (the longest path from the input);
- lane = the smallest lane of its inputs, or the next lane up that is free in that column, so the
  branches of an inception, a residual shortcut or a dense block run in parallel lanes and merge back;
- a column is as wide as its widest cell, a lane as tall as its tallest volume plus its labels.
Every (column, lane) cell holds one row and cells are disjoint rectangles, so no two boxes or labels
overlap without a pairwise search: the layout is linear in the number of rows (a dict per column for
the lanes taken there).

Sizes are compressive so that 224×224×3 and 7×7×512 both read well: a side of n pixels is drawn
min(MAX, BASE + STEP·log2 n) units long. A map (n_H, n_W, n_C) is a box in oblique projection:
n_C along the flow (x), n_H up (y), n_W receding at 30° — its right face is the n_H × n_W plane, where
kernels and the receptive field are drawn. A vector (n,) is a bar.

Nothing here imports numpy or Numba.
"""

from __future__ import annotations

import difflib
import math
import unicodedata
from dataclasses import dataclass

from cnncalc import layers as registry
from cnncalc.analysis import Report, Row, fold
from cnncalc.errors import ArgumentError
from cnncalc.graph import INPUT
from cnncalc.shapes import elements, is_map

# A side of n pixels or channels: min(top, base + step·log2 n) units.
HEIGHT = (10.0, 18.0, 160.0)  # n_H: 1 → 10, 7 → 60, 224 → 150
WIDTH = (6.0, 8.0, 70.0)  # n_W, receding (drawn at 30°, so its run is cos 30° of this)
DEPTH = (4.0, 10.0, 120.0)  # n_C along the flow: 3 → 20, 512 → 94
BAR = (10.0, 14.0, 200.0)  # a vector of n values
BAR_WIDTH = 12.0
SLANT = math.radians(30)

FONT_SIZE = 11.0  # monospace; render/svg.py writes it on every label
CHAR_WIDTH = 0.65 * FONT_SIZE  # a monospace advance is about 0.6 em; the spare keeps labels apart
LINE_HEIGHT = 13.0
COLUMN_GAP = 28.0  # between cells: edges turn in it
GUTTER = 18.0  # above each lane's band: edges that skip columns run in it
MARGIN = 16.0
LABEL_GAP = 6.0  # between a volume's band and its labels


@dataclass(frozen=True)
class Box:
    """An axis-aligned rectangle: x, y its top-left corner, in canvas units."""

    x: float
    y: float
    w: float
    h: float

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h


@dataclass(frozen=True)
class Volume:
    """A map n_H×n_W×n_C in oblique projection: front face x … x + w (n_C), y … y + h (n_H); the top and
    right faces recede by (dx, −dy) (n_W). bounds: the whole figure's box."""

    x: float
    y: float
    w: float
    h: float
    dx: float
    dy: float

    @property
    def bounds(self) -> Box:
        return Box(self.x, self.y - self.dy, self.w + self.dx, self.h + self.dy)

    def side_point(self, u: float, t: float) -> tuple[float, float]:
        """The point of the right (n_H × n_W) face u units down from its top edge and a fraction t of the
        way back along n_W."""
        return (self.x + self.w + t * self.dx, self.y + u - t * self.dy)

    def side_region(self, u0: float, u1: float, t0: float, t1: float) -> tuple[tuple[float, float], ...]:
        """The quadrilateral of the right face between depths u0 … u1 and fractions t0 … t1."""
        return (self.side_point(u0, t0), self.side_point(u0, t1), self.side_point(u1, t1), self.side_point(u1, t0))


@dataclass(frozen=True)
class Kernel:
    """The window f_H×f_W of `layer` drawn on the right face of the volume it slides over."""

    layer: str
    f_H: int
    f_W: int
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class Label:
    """Where a row's label goes: its box (wide enough for its longest line at CHAR_WIDTH a cell) and
    how many lines it has, stacked from the top, LINE_HEIGHT apart; render/svg.py says the lines."""

    box: Box
    lines: int


@dataclass(frozen=True)
class Item:
    """One row of the (folded) table drawn: a Volume for a map, a bar Box for a vector.

    index: the row's place in fold(report, depth); family: the layer kind's folder under
    cnncalc/layers ('conv', 'pool', 'dense', 'merge', …), 'block' for a folded block, 'input'."""

    index: int
    row: Row
    family: str
    column: int
    lane: int
    volume: Volume | None
    bar: Box | None
    label: Label
    kernel: Kernel | None = None

    @property
    def shape_box(self) -> Box:
        return self.volume.bounds if self.volume is not None else self.bar

    @property
    def anchor_in(self) -> tuple[float, float]:
        b = self.volume if self.volume is not None else self.bar
        return (b.x, b.y + b.h / 2)

    @property
    def anchor_out(self) -> tuple[float, float]:
        if self.volume is not None:
            v = self.volume
            return (v.x + v.w, v.y + v.h / 2)
        return (self.bar.right, self.bar.y + self.bar.h / 2)


@dataclass(frozen=True)
class Edge:
    """From row `source` to row `target` (indices into Drawing.items) as a polyline."""

    source: int
    target: int
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True)
class FieldRegion:
    """The receptive field r_H×r_W of one output pixel of `layer`, on the input's right face: centred,
    min(r, n)/n of each side (whole: r exceeds the input along an axis, so the region is all of it)."""

    layer: str
    row: Row
    r_H: int
    r_W: int
    n_H: int
    n_W: int
    points: tuple[tuple[float, float], ...]
    whole: bool


@dataclass(frozen=True)
class Drawing:
    name: str
    width: float
    height: float
    items: tuple[Item, ...]
    edges: tuple[Edge, ...]
    field: FieldRegion | None
    depth: int | None


def _size(n: int, scale: tuple[float, float, float]) -> float:
    base, step, top = scale
    return min(top, base + step * math.log2(max(n, 1)))


def family(row: Row) -> str:
    if row.kind in (INPUT, "block"):
        return row.kind
    kind = registry.lookup(row.kind)
    module = getattr(getattr(kind, "infer", None), "__module__", "") or ""
    parts = module.split(".")
    return parts[2] if len(parts) > 3 and parts[1] == "layers" else "layer"


def text_cells(text: str) -> int:
    """Monospace cells `text` takes: 2 for an East Asian wide character (Korean, CJK), else 1."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def folded_edges(report: Report, rows: list[Row], depth: int | None) -> list[tuple[int, int]]:
    """The edges between the rows of fold(report, depth), as (source, target) indices, in order and
    without repeats: each layer's inputs mapped to the row that holds them (a folded block holds its
    layers: fold's rule, len(scope) ≥ depth, so the picture and the tables fold alike)."""
    at = {id(r): i for i, r in enumerate(rows)}
    groups = {(r.name, r.aux): i for i, r in enumerate(rows) if r.kind == "block"}  # fold's new rows
    level = None if depth is None else max(depth, 1)
    holder: dict[str, int] = {}
    for r in report.rows:
        if id(r) in at:
            holder[r.name] = at[id(r)]
        elif level is not None and len(r.scope) >= level:
            holder[r.name] = groups[(r.scope[level - 1], r.aux)]
    edges: dict[tuple[int, int], None] = {}
    for r in report.rows:
        target = holder[r.name]
        for name in r.inputs:
            source = holder.get(name)
            if source is not None and source != target:
                edges[(source, target)] = None
    return list(edges)


def drawing(report: Report, depth: int | None = None, rf: str | None = None,
            lines=None) -> Drawing:
    """The Drawing of `report`'s rows folded at `depth`, with the receptive field of layer `rf` (any
    layer's name, folded or not, or a block's folded at `depth`) on the input.

    lines(row, field_line) → the label's lines (render/svg.label_lines by default): the layout sizes
    each label by its text so that none overlaps another."""
    if lines is None:
        from cnncalc.render.svg import label_lines as lines  # the words live in render
    rows = fold(report, depth)
    field_row = _field_row(report, rows, rf) if rf is not None else None
    edges = folded_edges(report, rows, depth)
    inputs: list[list[int]] = [[] for _ in rows]
    for s, t in edges:
        inputs[t].append(s)

    # columns and lanes: one walk in table order (a topological order; a folded block may read a row
    # that comes after it, which is left out of its column and lane)
    column = [0] * len(rows)
    lane = [0] * len(rows)
    taken: dict[int, set[int]] = {}
    for i in range(len(rows)):
        earlier = [s for s in inputs[i] if s < i]
        column[i] = 1 + max((column[s] for s in earlier), default=-1)
        want = min((lane[s] for s in earlier), default=0)
        used = taken.setdefault(column[i], set())
        while want in used:
            want += 1
        used.add(want)
        lane[i] = want

    # each row's figure, at the origin for now
    shapes: list[tuple[Volume | None, Box | None]] = []
    label_size: list[tuple[float, float, int]] = []
    input_index = next((i for i, r in enumerate(rows) if r.kind == INPUT), None)
    for i, row in enumerate(rows):
        s = row.out_shape
        if is_map(s):
            slant = _size(s[1], WIDTH)
            shapes.append((Volume(0.0, 0.0, _size(s[2], DEPTH), _size(s[0], HEIGHT), slant * math.cos(SLANT),
                                  slant * math.sin(SLANT)), None))
        else:
            shapes.append((None, Box(0.0, 0.0, BAR_WIDTH, _size(elements(s), BAR))))
        text = lines(row, field_row if i == input_index else None)
        label_size.append((max((text_cells(t) for t in text), default=0) * CHAR_WIDTH,
                           len(text) * LINE_HEIGHT, len(text)))

    n_columns = 1 + max(column, default=0)
    n_lanes = 1 + max(lane, default=0)
    column_width = [0.0] * n_columns
    band = [0.0] * n_lanes
    label_band = [0.0] * n_lanes
    for i in range(len(rows)):
        volume, bar = shapes[i]
        box = volume.bounds if volume is not None else bar
        column_width[column[i]] = max(column_width[column[i]], box.w, label_size[i][0])
        band[lane[i]] = max(band[lane[i]], box.h)
        label_band[lane[i]] = max(label_band[lane[i]], label_size[i][1])
    left = [0.0] * n_columns
    x = MARGIN
    for c in range(n_columns):
        left[c] = x
        x += column_width[c] + COLUMN_GAP
    width = x - COLUMN_GAP + MARGIN
    top = [0.0] * n_lanes
    y = MARGIN
    for k in range(n_lanes):
        top[k] = y + GUTTER
        y = top[k] + band[k] + LABEL_GAP + label_band[k]
    height = y + MARGIN

    items: list[Item] = []
    for i, row in enumerate(rows):
        c, k = column[i], lane[i]
        centre_x = left[c] + column_width[c] / 2
        middle_y = top[k] + band[k] / 2
        volume, bar = shapes[i]
        if volume is not None:
            b = volume.bounds
            x0 = centre_x - b.w / 2
            # the front face's middle on the band's middle line, so straight edges meet it level
            volume = Volume(x0, middle_y - volume.h / 2, volume.w, volume.h, volume.dx, volume.dy)
        else:
            bar = Box(centre_x - bar.w / 2, middle_y - bar.h / 2, bar.w, bar.h)
        label_w, label_h, count = label_size[i]
        label = Label(Box(centre_x - label_w / 2, top[k] + band[k] + LABEL_GAP, label_w, label_h), count)
        items.append(Item(i, row, family(row), c, k, volume, bar, label))

    items = _with_kernels(items, inputs)
    drawn_edges = tuple(_route(items[s], items[t], left, column_width, top) for s, t in edges)
    field = _field(field_row, items[input_index]) if field_row is not None and input_index is not None else None
    return Drawing(report.graph.name, width, height, tuple(items), drawn_edges, field, depth)


def _with_kernels(items: list[Item], inputs: list[list[int]]) -> list[Item]:
    """Each map gets the window of the first windowed layer that reads it, on its right face, from the
    top edge: f/n of each side (a window wider than the padded map is clipped to it)."""
    from dataclasses import replace

    out = list(items)
    for item in items:
        w = item.row.window
        if w is None or not inputs[item.index]:
            continue
        source = out[inputs[item.index][0]]
        v = source.volume
        if v is None or source.kernel is not None or not is_map(source.row.out_shape):
            continue
        n_H, n_W = source.row.out_shape[0], source.row.out_shape[1]
        f_H, f_W = w.f[0], w.f[1]
        u = v.h * min(f_H, n_H) / n_H
        t = min(f_W, n_W) / n_W
        out[source.index] = replace(source, kernel=Kernel(item.row.name, f_H, f_W, v.side_region(0.0, u, 0.0, t)))
    return out


def _route(a: Item, b: Item, left: list[float], width: list[float], top: list[float]) -> Edge:
    """Out of a's right side, into b's left side, turning only in the gaps between columns and running
    along a lane's gutter where it passes over columns between them."""
    sx, sy = a.anchor_out
    tx, ty = b.anchor_in
    if b.column <= a.column:  # a folded block reading a later row: straight
        return Edge(a.index, b.index, ((sx, sy), (tx, ty)))
    out_gap = left[a.column] + width[a.column] + COLUMN_GAP / 2
    in_gap = left[b.column] - COLUMN_GAP / 2
    if b.column == a.column + 1:
        if a.lane == b.lane and abs(sy - ty) < 1e-9:
            return Edge(a.index, b.index, ((sx, sy), (tx, ty)))
        return Edge(a.index, b.index, ((sx, sy), (out_gap, sy), (out_gap, ty), (tx, ty)))
    gutter = top[b.lane] - GUTTER / 2
    return Edge(a.index, b.index, ((sx, sy), (out_gap, sy), (out_gap, gutter), (in_gap, gutter), (in_gap, ty),
                                   (tx, ty)))


def _field_row(report: Report, rows: list[Row], name: str) -> Row:
    """The row `name` names: any layer, or a block folded at the drawing's depth (its last layer's field)."""
    by_name = {r.name: r for r in rows if not r.aux}
    by_name.update((r.name, r) for r in report.rows)
    row = by_name.get(name)
    if row is None:
        close = difflib.get_close_matches(name, list(by_name), n=5)
        raise ArgumentError("draw.unknown_layer", "--rf", name,
                            close=", ".join(close) if close else ", ".join(list(by_name)[:5]))
    if row.rf is None or not is_map(report.graph.input_shape):
        raise ArgumentError("draw.no_field", "--rf", name)
    return row


def _field(row: Row, source: Item) -> FieldRegion | None:
    v = source.volume
    if v is None:
        return None
    n_H, n_W = source.row.out_shape[0], source.row.out_shape[1]
    r_H, r_W = row.rf.r_H, row.rf.r_W
    u = v.h * min(r_H, n_H) / n_H
    t = min(r_W, n_W) / n_W
    u0, t0 = (v.h - u) / 2, (1 - t) / 2
    return FieldRegion(row.name, row, r_H, r_W, n_H, n_W, v.side_region(u0, u0 + u, t0, t0 + t),
                       r_H > n_H or r_W > n_W)
