"""The columns every report format draws from: one key, one title, one value per row.

Values are exact (ints, tuples, strings); `cell` makes the table/markdown text
(thousands separators), while json and csv take the exact value.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from cnncalc.analysis import Row
from cnncalc.layers.arith import BOUND
from cnncalc.render.messages import notation_text
from cnncalc.shapes import shape_text

BEYOND = ">10^18"  # a receptive field or jump past arith.BOUND: larger than any input


def rf_value(v: int):
    """A receptive-field or jump value: the exact integer, or BEYOND once it passed arith.BOUND."""
    return v if v <= BOUND else BEYOND


def rf_pair(a: int, b: int, sep: str = "×") -> str:
    return f"{rf_value(a)}{sep}{rf_value(b)}"


def _scaled(n: int, size: int) -> str:
    """n / size to two decimals, in integers (a float overflows past 10^308)."""
    hundredths = (abs(n) * 100 + size // 2) // size
    return f"{'-' if n < 0 else ''}{hundredths // 100}.{hundredths % 100:02d}"


def human(n: int, unit: str = "") -> str:
    """4,089,184,256 → '4.09 G'; past 10^15, '1.23e+20 ' (display only; exact integers stay in json/csv)."""
    if abs(n) >= 10**15:
        digits = len(str(abs(n))) - 1
        return f"{_scaled(n, 10**digits)}e+{digits} {unit}".rstrip()
    for size, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            return f"{_scaled(n, size)} {suffix}{unit}"
    return f"{n} {unit}".rstrip()


def human_bytes(n: int) -> str:
    if n >= 1 << 70:
        return human(n, "B")
    for size, suffix in ((1 << 60, "EiB"), (1 << 50, "PiB"), (1 << 40, "TiB"), (1 << 30, "GiB"), (1 << 20, "MiB"),
                         (1 << 10, "KiB")):
        if n >= size:
            return f"{_scaled(n, size)} {suffix}"
    return f"{n} B"


@dataclass(frozen=True)
class Column:
    key: str
    title: str
    value: Callable[[Row], object]
    summed: bool = False  # an integer column whose rows add up to a total
    justify: str = "right"


def _rf(row: Row) -> str:
    if row.rf is None:
        return ""
    return rf_pair(row.rf.r_H, row.rf.r_W)


def _jump(row: Row) -> str:
    if row.rf is None:
        return ""
    r = row.rf
    return str(rf_value(r.j_H)) if r.j_H == r.j_W else rf_pair(r.j_H, r.j_W, ",")


def _reads(row: Row) -> str:
    prefix = row.scope[-1] + "." if row.scope else ""
    return ", ".join(name[len(prefix):] if prefix and name.startswith(prefix) else name for name in row.inputs)


AUX_MARK = " [aux]"  # after the Type of a row only an auxiliary head reads (training only)


def _type(row: Row) -> str:
    return notation_text(row.layer_type) + (AUX_MARK if row.aux else "")


COLUMNS = {c.key: c for c in (
    Column("name", "Layer", lambda r: r.name, justify="left"),
    Column("notation", "Type", _type, justify="left"),
    Column("reads", "Reads", _reads, justify="left"),
    Column("in_shape", "Input", lambda r: " + ".join(shape_text(s) for s in r.in_shapes)),
    Column("out_shape", "Output", lambda r: shape_text(r.out_shape)),
    Column("activations", "Activations", lambda r: r.activations, summed=True),
    Column("activation_bytes", "Act. bytes", lambda r: r.activation_bytes, summed=True),
    Column("trainable", "Trainable", lambda r: r.trainable, summed=True),
    Column("non_trainable", "Non-trainable", lambda r: r.non_trainable, summed=True),
    Column("params", "Params", lambda r: r.params, summed=True),
    Column("macs", "MACs", lambda r: r.macs, summed=True),
    Column("flops", "FLOPs", lambda r: r.flops, summed=True),
    Column("other_ops", "Other ops", lambda r: r.other_ops, summed=True),
    Column("rf", "RF", _rf),
    Column("jump", "Jump", _jump),
)}

# Which columns each command shows, in order.
VIEWS = {
    "shapes": ("name", "notation", "reads", "out_shape", "activations", "rf", "jump"),
    "params": ("name", "notation", "out_shape", "trainable", "non_trainable", "params"),
    "flops": ("name", "notation", "out_shape", "macs", "flops", "other_ops"),
    "summary": ("name", "notation", "reads", "out_shape", "trainable", "non_trainable", "macs", "other_ops",
                "activations", "rf"),
}


def title(column: Column, lang: str = "en") -> str:
    """The column's header in `lang`, from the message catalogue (`explain.column.<key>`);
    its own English title for a column the catalogue does not know."""
    from cnncalc.render.lang import catalogue, text

    key = f"explain.column.{column.key}"
    return text(key, lang) if key in catalogue()["en"] else column.title


def view(command: str, has_branches: bool) -> list[Column]:
    keys = VIEWS[command]
    return [COLUMNS[k] for k in keys if k != "reads" or has_branches]


def cell(column: Column, row: Row, indent: bool = True) -> str:
    value = column.value(row)
    if column.key == "name" and indent:
        # nesting shows as indentation, so the name drops its enclosing block's prefix
        if row.scope and value.startswith(row.scope[-1] + "."):
            value = value[len(row.scope[-1]) + 1:]
        return "  " * row.depth + str(value)
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)
