"""What every layer kind declares: its field table and its rules.

A kind's field table is the single source for the spec parser, which validates and
normalises with it, and for `cnncalc schema`, which turns it into JSON Schema; a test
checks that the README's field reference names every kind and field in it.
"""

from __future__ import annotations

import math

from dataclasses import dataclass, field
from typing import Callable

from cnncalc.errors import Mark, Phrase, SpecError
from cnncalc.layers.arith import ReceptiveField
from cnncalc.layers.records import ChannelsFirst, InexactDivision, Notation, UnusedArgument, UnusedOutput, Window
from cnncalc.shapes import Shape, is_map  # noqa: F401 — the kinds' rules import them from here

REQUIRED = object()


@dataclass(frozen=True)
class Field:
    """One hyperparameter of a layer kind.

    type is one of: 'pos_int' (≥ 1), 'nonneg_int' (≥ 0), 'pair' (pos int or [h, w]),
    'padding' (int, [p_H, p_W], [top, bottom, left, right], 'same', 'valid'),
    'groups' (pos int or 'depthwise'), 'bool', 'rate' (0 ≤ x < 1), 'pos_float', 'float',
    'choice' (one of the words in `choices`, case-insensitive; gelu's approximate: none or tanh).
    """

    name: str
    type: str
    default: object = REQUIRED
    doc: str = ""
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()  # the words a 'choice' field accepts

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


@dataclass
class Inference:
    """What a rule computes for one layer; plain numbers and records, no strings."""

    out_shape: Shape
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0
    other_ops: int = 0
    rf: ReceptiveField | None = None
    window: Window | None = None  # conv and pooling: the window as analysis resolved it (e.g. same padding)
    warnings: list = field(default_factory=list)  # Diagnostic records


@dataclass(frozen=True)
class Diagnostic:
    """A dimension problem found at one layer: what happened (`detail`, a record with its numbers).

    level: 'warning' (something is lost or probably wrong: --strict refuses it) or 'note' (what the
    architecture means, said for the student who checks the arithmetic: never refused).  The third
    level, 'error' (an impossible shape), is raised as a DimensionError that stops the analysis
    (`Report.error`); --strict makes one of a warning.  `render.messages` writes its sentence
    and its fix (`diagnostic_message`, `diagnostic_fix`).
    """

    level: str  # one of LEVELS
    layer: str
    mark: Mark | None
    detail: InexactDivision | UnusedOutput | UnusedArgument | ChannelsFirst


LEVELS = ("error", "warning", "note")



@dataclass(frozen=True)
class Kind:
    """A layer kind: its names, fields and rules.

    infer(fields, in_shapes, rfs, name, mark, sources) -> Inference, or raises DimensionError;
    in_shapes, rfs and sources (the names of the layers read) are lists, one per input.
    notation(fields, inference) -> a `Notation` record (render writes it: 'conv 5×5 s1 p0, 8').
    trainer: the dotted name of the family's train module (`cnncalc.layers.conv.train`), whose
    TRAINERS[name] is the kind's `layers.adapter.Trainer`; only the engine imports it.
    """

    name: str
    fields: tuple[Field, ...]
    infer: Callable
    notation: Callable
    doc: str
    aliases: tuple[str, ...] = ()
    short: str | None = None  # the field a scalar short form sets (`maxpool: 2` → kernel)
    n_inputs: str = "one"  # 'one' or 'many'
    trainer: str | None = None  # the module whose TRAINERS holds its trainer roles (layers.adapter), imported lazily
    analysis_only: str = ""  # for a kind without a trainer: why the trainer cannot run it
    # (row, m, need_dx, lanes) -> layers.memory.LayerMemory, what training holds for it; None: an output and a dx
    # per input (layers.memory.elementwise)
    memory: Callable | None = None

    def field(self, name: str) -> Field | None:
        for f in self.fields:
            if f.name == name or name in f.aliases:
                return f
        return None


def fixed_notation(kind: str) -> Callable:
    """The notation of a kind that reads none of its fields: the kind alone."""
    record = Notation(kind)

    def notation(fields, inference):  # noqa: ARG001 — the signature Kind.notation fixes
        return record
    return notation


# ---------------------------------------------------------------- value normalisation


MAX_SIZE = 10**9  # a guard against absurd sizes; exact Python ints below it


def allowed_text(type_name: str, lang: str = "en") -> str:
    """What a field of this type takes, in words (the catalogue's errors.type.<type>)."""
    return Phrase(f"errors.type.{type_name}")(lang)


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def normalise(fld: Field, value, kind: str, mark: Mark | None):
    """Check `value` against the field's type and return its canonical form.

    pair → (h, w); padding → 'same' | 'valid' | (top, bottom, left, right).
    """

    def bad(reason: str = "type"):
        """reason: the catalogue's errors.field_<reason>: type, positive, negative, padding, range, finite."""
        allowed = (Phrase(say=lambda lang: Phrase("errors.or")(lang).join(fld.choices)) if fld.type == "choice"
                   else Phrase(f"errors.type.{fld.type}"))
        return SpecError(Phrase(f"errors.field_{reason}", kind=kind), mark, fld.name, value, allowed)

    def integers(values: list, low: int) -> None:
        """Every value an int, ≥ low, and not absurd."""
        if not all(_is_int(v) for v in values):
            raise bad()
        if min(values) < low:
            raise bad("positive" if low else "negative")
        if max(values) > MAX_SIZE:
            raise SpecError(Phrase("errors.field_large", kind=kind), mark, fld.name, value,
                            Phrase("errors.at_most", max=MAX_SIZE))

    t = fld.type
    if t == "choice":
        if not isinstance(value, str) or value.lower() not in fld.choices:
            raise SpecError(Phrase("errors.field_choice", kind=kind, field=fld.name), mark, fld.name, value,
                            Phrase(say=lambda lang: Phrase("errors.or")(lang).join(f"'{c}'" for c in fld.choices)))
        return value.lower()
    if t in ("pos_int", "nonneg_int"):
        integers([value], 1 if t == "pos_int" else 0)
        return value
    if t == "pair":
        values = [value, value] if _is_int(value) else value
        if not (isinstance(values, list) and len(values) == 2):
            raise bad()
        integers(values, 1)
        return (values[0], values[1])
    if t == "padding":
        if isinstance(value, str):
            if value.lower() in ("same", "valid"):
                return value.lower()
            raise bad("padding")
        values = [value] * 4 if _is_int(value) else value
        if isinstance(values, list) and len(values) == 2:
            values = [values[0], values[0], values[1], values[1]]
        if not (isinstance(values, list) and len(values) == 4):
            raise bad()
        integers(values, 0)
        return tuple(values)
    if t == "groups":
        if isinstance(value, str) and value.lower() == "depthwise":
            return "depthwise"
        if not _is_int(value) or value < 1:
            raise bad()
        return value
    if t == "bool":
        if not isinstance(value, bool):
            raise bad()
        return value
    if t in ("rate", "pos_float", "float"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad()
        try:
            value = float(value)
        except OverflowError:  # an integer of hundreds of digits
            raise bad("range") from None
        if not math.isfinite(value):  # .nan and .inf are YAML floats too; no layer has a use for them
            raise bad("finite")
        if t == "rate" and not 0.0 <= value < 1.0:
            raise bad("range")
        if t == "pos_float" and not value > 0.0:
            raise bad("positive")
        return value
    raise AssertionError(f"unknown field type {t}")
