"""The columns every report format draws from: one key, one title, one value per row.

Values are exact (ints, tuples, strings); `cell` makes the table/markdown text
(thousands separators), while json and csv take the exact value.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Callable

from cnncalc.analysis import Row
from cnncalc.layers.activation import rules as _activation
from cnncalc.layers.arith import BOUND
from cnncalc.layers.dropout import rules as _dropout
from cnncalc.layers.norm import rules as _norm
from cnncalc.layers.records import Notation
from cnncalc.render.messages import notation_text
from cnncalc.shapes import shape_text

BEYOND = ">10^18"  # a receptive field or jump past arith.BOUND: larger than any input


def rf_value(v: int):
    """A receptive-field or jump value: the exact integer, or BEYOND once it passed arith.BOUND."""
    return v if v <= BOUND else BEYOND


def rf_pair(a: int, b: int, sep: str = "×", group: bool = False) -> str:
    """'5×5'; group: with thousands separators ('1,003×1,003'), for text a person reads."""
    if group:
        return sep.join(f"{v:,}" if isinstance(v, int) else v for v in (rf_value(a), rf_value(b)))
    return f"{rf_value(a)}{sep}{rf_value(b)}"


def _scaled(n: int, size: int) -> str:
    """n / size to two decimals, in integers (a float overflows past 10^308)."""
    hundredths = (abs(n) * 100 + size // 2) // size
    return f"{'-' if n < 0 else ''}{hundredths // 100}.{hundredths % 100:02d}"


def _rounds_up(n: int, size: int, next_size: int) -> bool:
    """n shown in units of `size` to two decimals reads as a whole `next_size` or more (999,999 → 1000.00 K)."""
    return (abs(n) * 100 + size // 2) // size >= 100 * (next_size // size)


def _unit(n: int, scale) -> int | None:
    """The index in `scale` ((size, suffix) from the largest) n is shown in: the largest size not
    above n, or the one above it where two decimals would round up to it (999,999 → M, not 1000.00 K)."""
    for i, (size, _) in enumerate(scale):
        if abs(n) >= size:
            return i - 1 if i and (abs(n) * 100 + size // 2) // size >= 100 * (scale[i - 1][0] // size) else i
    return None


_DECIMAL = ((10**15, None), (10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K"))
_BINARY = ((1 << 70, None), (1 << 60, "EiB"), (1 << 50, "PiB"), (1 << 40, "TiB"), (1 << 30, "GiB"),
           (1 << 20, "MiB"), (1 << 10, "KiB"))


def human(n: int, unit: str = "") -> str:
    """4,089,184,256 → '4.09 G'; from 10^15, '1.23e+20 ' (display only; exact integers stay in json/csv).

    A value that rounds up to the next unit takes it: 999,999 reads '1.00 M', never '1000.00 K';
    the largest unit is T, so 2.016·10^17 reads '2.02e+17', never '201600.00 T'."""
    i = _unit(n, _DECIMAL)
    if i is None:
        return f"{n} {unit}".rstrip()
    size, suffix = _DECIMAL[i]
    if suffix is None:
        digits = len(str(abs(n))) - 1
        if (abs(n) * 100 + 10**digits // 2) // 10**digits >= 1000:  # 9.995e+15 reads 1.00e+16
            digits += 1
        return f"{_scaled(n, 10**digits)}e+{digits} {unit}".rstrip()
    return f"{_scaled(n, size)} {suffix}{unit}"


def human_bytes(n: int) -> str:
    """1,048,575 → '1.00 MiB' (never '1024.00 KiB'); from 2^70 bytes, as human() ('1.18e+21 B')."""
    i = _unit(n, _BINARY)
    if i is None:
        return f"{n} B"
    size, suffix = _BINARY[i]
    return human(n, "B") if suffix is None else f"{_scaled(n, size)} {suffix}"


def with_human(n: int, unit: str = "") -> str:
    """'849,320 (849.32 KMAC)'; below a thousand the number alone ('225', never '225 (225MAC)')."""
    return f"{n:,}" if abs(n) < 1000 else f"{n:,} ({human(n, unit)})"


@dataclass(frozen=True)
class Column:
    """One field of the rows: `key` is its name in csv and json alike, its heading the catalogue's
    `tables.col.<key>` (abbreviated: `tables.short.<key>`, where there is one).

    value: the exact value (csv); text: the table cell, where it differs from value's (separators);
    priority: the order in which a narrow terminal leaves columns out, largest first (0 stays).
    """

    key: str
    value: Callable[[Row], object]
    summed: bool = False  # an integer column whose rows add up to a total
    justify: str = "right"
    priority: int = 5
    text: Callable[[Row], str] | None = None

    def title(self, lang: str = "en", course: bool = False) -> str:
        from cnncalc.render.lang import catalogue, text

        if course and f"tables.course.{self.key}" in catalogue()["en"]:
            return text(f"tables.course.{self.key}", lang)
        return text(f"tables.col.{self.key}", lang)

    def short(self, lang: str = "en", course: bool = False) -> str | None:
        from cnncalc.render.lang import catalogue, text

        known = catalogue()["en"]
        if course and f"tables.course.{self.key}" in known:
            return None  # the lecture's own heading stays whole
        return text(f"tables.short.{self.key}", lang) if f"tables.short.{self.key}" in known else None


def grouped(n: int) -> str:
    return f"{n:,}"


def shape_cell(shape) -> str:
    """'28×28×8', '7×7×2,048': shape_text with thousands separators (csv keeps shape_text)."""
    return shape_text(tuple(map(grouped, shape)))


def _rf(row: Row, sep: str = "×", group: bool = False) -> str:
    if row.rf is None:
        return ""
    a, b = rf_value(row.rf.r_H), rf_value(row.rf.r_W)
    if group:
        a, b = (grouped(v) if isinstance(v, int) else v for v in (a, b))
    return f"{a}{sep}{b}"


def _jump(row: Row, group: bool = False) -> str:
    if row.rf is None:
        return ""
    r = row.rf
    a, b = rf_value(r.j_H), rf_value(r.j_W)
    if group:
        a, b = (grouped(v) if isinstance(v, int) else v for v in (a, b))
    return str(a) if r.j_H == r.j_W else f"{a},{b}"


def _reads(row: Row) -> str:
    prefix = row.scope[-1] + "." if row.scope else ""
    return ", ".join(name[len(prefix):] if prefix and name.startswith(prefix) else name for name in row.inputs)


AUX_MARK = " [aux]"  # after the Type of a row only an auxiliary head reads (training only)
_DIGITS = re.compile(r"\d{4,}")


def type_text(notation) -> str:
    """notation_text, with `same` padding's numbers always shown: 'conv 3×3 s1 same p1, 64',
    'conv 3×3 s2 same(0,1,0,1), 32' (messages.pads_text names 'same' alone when it is symmetric)."""
    text = notation_text(notation)
    w = getattr(notation, "window", None)
    if w is not None and w.same and re.search(r" same(,| |$)", text):
        t, b, l, r = w.p
        if t == b and l == r:
            text = text.replace(" same", " same p" + (f"{t}" if t == l else f"{t},{l}"), 1)
    return text


def _type(row: Row) -> str:
    return type_text(row.layer_type) + (AUX_MARK if row.aux else "")


def _type_cell(row: Row) -> str:
    """The Type cell: numbers of four digits and more grouped ('dense 1,000'); a block's label is the
    user's text, left as written."""
    text = _type(row)
    return text if row.layer_type.kind == "block" else _DIGITS.sub(lambda m: grouped(int(m.group())), text)


COLUMNS = {c.key: c for c in (
    Column("name", lambda r: r.name, justify="left", priority=0),
    Column("type", _type, justify="left", priority=1, text=_type_cell),
    Column("reads", _reads, justify="left", priority=3),
    Column("input_shapes", lambda r: " + ".join(shape_text(s) for s in r.in_shapes), priority=6,
           text=lambda r: " + ".join(shape_cell(s) for s in r.in_shapes)),
    Column("output_shape", lambda r: shape_text(r.out_shape), priority=2, text=lambda r: shape_cell(r.out_shape)),
    Column("activations", lambda r: r.activations, summed=True, priority=6),
    Column("activation_bytes", lambda r: r.activation_bytes, summed=True, priority=8),
    Column("trainable", lambda r: r.trainable, summed=True, priority=4),
    Column("non_trainable", lambda r: r.non_trainable, summed=True, priority=9),
    Column("params", lambda r: r.params, summed=True, priority=4),
    Column("macs", lambda r: r.macs, summed=True, priority=5),
    Column("flops", lambda r: r.flops, summed=True, priority=7),
    Column("other_ops", lambda r: r.other_ops, summed=True, priority=8),
    Column("receptive_field", _rf, priority=7, text=lambda r: _rf(r, group=True)),
    Column("jump", _jump, priority=8, text=lambda r: _jump(r, group=True)),
)}

# Which columns each command shows, in order.
VIEWS = {
    "shapes": ("name", "type", "reads", "output_shape", "activations", "receptive_field", "jump"),
    "params": ("name", "type", "output_shape", "trainable", "non_trainable", "params"),
    "flops": ("name", "type", "output_shape", "macs", "flops", "other_ops"),
    "summary": ("name", "type", "reads", "output_shape", "trainable", "non_trainable", "macs", "other_ops",
                "activations", "receptive_field"),
    # Andrew Ng's table: activation shape, activation size, number of parameters
    "course": ("name", "type", "output_shape", "activations", "trainable"),
}


# In the course view the lecture's three columns outrank the notation, which a narrow terminal drops first.
_COURSE_PRIORITY = {"type": 9, "output_shape": 1, "activations": 2, "trainable": 3}


def view(command: str, has_branches: bool, keys: list[str] | None = None) -> list[Column]:
    """The command's columns (`keys`, from --columns, instead where given, in their order)."""
    chosen = [COLUMNS[k] for k in keys] if keys is not None else [
        COLUMNS[k] for k in VIEWS[command] if k != "reads" or has_branches]
    if command == "course":
        chosen = [dataclasses.replace(c, priority=_COURSE_PRIORITY.get(c.key, c.priority)) for c in chosen]
    return chosen


def cell(column: Column, row: Row, indent: bool = True, lang: str = "en") -> str:
    if column.key == "receptive_field" and row.rf_reads_whole:  # not 619×619 on a 224×224 input
        from cnncalc.render.lang import text

        return text("tables.rf_whole", lang)
    if column.key == "name" and indent:
        value = column.value(row)
        # nesting shows as indentation, so the name drops its enclosing block's prefix
        if row.scope and value.startswith(row.scope[-1] + "."):
            value = value[len(row.scope[-1]) + 1:]
        return "  " * row.depth + str(value)
    if column.text is not None:
        return column.text(row)
    value = column.value(row)
    if isinstance(value, int):
        return grouped(value)
    return str(value)


# ---------------------------------------------------------------- the course view's rows

# kinds that only follow a layer (elementwise, or a reshape): the course's table counts them with it
_FOLLOWERS = frozenset(
    k.name for k in _activation.KINDS + _norm.KINDS + _dropout.KINDS) | {"flatten"}
_POOLS = frozenset({"maxpool", "avgpool"})


def course_rows(rows: list[Row], merge_pool: bool = False) -> list[Row]:
    """Andrew Ng's rows: an activation, batchnorm, dropout or flatten counts with the layer it follows
    (its parameters added there; the shape shown is that layer's output, as the lecture shows it),
    and with merge_pool a conv and the pooling after it are one layer ('Layer 1 = CONV1 + POOL1'),
    shown with the pooling's output. The rows still sum to the totals of params, MACs and other ops.
    """
    out: list[Row] = []
    last: Row | None = None  # the row a follower joins
    last_conv = False
    for r in rows:
        follows = last is not None and r.inputs == [last.output] and not r.aux
        if follows and r.kind in _FOLLOWERS:
            last.trainable += r.trainable
            last.non_trainable += r.non_trainable
            last.macs += r.macs
            last.other_ops += r.other_ops
            last.output = r.name
            continue
        if follows and merge_pool and last_conv and r.kind in _POOLS:
            label = f"{type_text(last.layer_type)} + {type_text(r.layer_type)}"
            last.name = f"{last.name} + {r.name}"
            last.layer_type = Notation("block", label=label)
            last.kind = "block"
            last.out_shape, last.activations, last.rf = r.out_shape, r.activations, r.rf
            last.trainable += r.trainable
            last.non_trainable += r.non_trainable
            last.macs += r.macs
            last.other_ops += r.other_ops
            last.output = r.name
            last_conv = False
            continue
        last = dataclasses.replace(r, inputs=list(r.inputs), in_shapes=list(r.in_shapes))
        last_conv = r.kind == "conv"
        out.append(last)
    return out
