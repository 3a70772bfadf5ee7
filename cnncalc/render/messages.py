"""The words of the calculator: every record the rules return, written as text in a language.

The rules (`cnncalc/layers`) return numbers and records (`layers.records`); this module picks
their numbers and asks the message catalogue (`render/lang`, areas `diagnostics` and `explain`)
for the sentence in a language, English by default.  The notation ('conv 3×3 s1 p1, 64') and the
window formula are symbols, the same in every language, and are written here once: the
diagnostics, the dimension errors and `cnncalc explain` quote them.
"""

from __future__ import annotations

from fractions import Fraction

from cnncalc.errors import CnncalcError, DimensionError, Mark, Phrase
from cnncalc.layers.arith import OutLength
from cnncalc.layers.records import ChannelsFirst, InexactDivision, Notation, UnusedArgument, UnusedOutput, Window
from cnncalc.render.lang import DEFAULT, text

# ---------------------------------------------------------------- the window formula


def window_formula(rec: OutLength, rounded: bool = True) -> str:
    """The output-size formula with the record's numbers, as a student writes it.

    rounded: '⌊(7 + 2·0 − 3)/3⌋ + 1 = 2' (⌈…⌉ in ceil mode), the size the layer has;
    otherwise '(7 + 2·0 − 3)/3 + 1 = 2.33', the exact quotient that shows a division is inexact.
    """
    pad = f"2·{rec.p_a}" if rec.p_a == rec.p_b else f"{rec.p_a} + {rec.p_b}"
    kernel = str(rec.f) if rec.d == 1 else f"({rec.d}·({rec.f} − 1) + 1)"
    body = f"({rec.n} + {pad} − {kernel})/{rec.s}"
    if not rounded:
        return f"{body} + 1 = {float(Fraction(rec.span, rec.s) + 1):.2f}"
    left, right = ("⌈", "⌉") if rec.ceil else ("⌊", "⌋")
    return f"{left}{body}{right} + 1 = {rec.n_out}"


# ---------------------------------------------------------------- notation

_PLAIN = {"global_avgpool": "global avgpool", "global_maxpool": "global maxpool",
          "adaptive_avgpool": "adaptive avgpool", "adaptive_maxpool": "adaptive maxpool"}  # kinds whose notation is only their name, where it differs


def pair_text(v) -> str:
    return f"{v[0]}" if v[0] == v[1] else f"{v[0]},{v[1]}"


def pads_text(window: Window) -> str:
    """' p1', ' p1,2', ' p(0,1,0,1)', ' same', ' same(0,1,0,1)' (asymmetric padding shown in full)."""
    t, b, l, r = window.p
    if window.same:
        return " same" if (t == b and l == r) else f" same({t},{b},{l},{r})"
    if t == b == l == r:
        return f" p{t}"
    if t == b and l == r:
        return f" p{t},{l}"
    return f" p({t},{b},{l},{r})"


def notation_text(n: Notation) -> str:
    """The course notation of a layer: 'conv 5×5 s1 p0, 8', 'maxpool 2×2 s2', 'dense 10', 'relu'."""
    if n.kind in ("conv", "conv_transpose"):
        w = n.window
        text = f"{n.kind} {w.f[0]}×{w.f[1]} s{pair_text(w.s)}{pads_text(w)}"
        if n.kind == "conv_transpose" and n.value:
            text += f" op{n.value}"  # output_padding
        if w.d != (1, 1):
            text += f" d{pair_text(w.d)}"
        if n.depthwise:
            text += " depthwise"
        elif w.groups != 1:
            text += f" g{w.groups}"
        if not n.bias:
            text += " no-bias"
        return text + f", {n.n_C}"
    if n.kind in ("maxpool", "avgpool"):
        w = n.window
        text = f"{n.kind} {w.f[0]}×{w.f[1]} s{pair_text(w.s)}"
        if any(w.p):
            text += pads_text(w)
        if w.ceil:
            text += " ceil"
        if n.kind == "avgpool" and any(w.p) and not n.count_include_pad:
            text += " excl-pad"
        return text
    if n.kind == "upsample":
        return f"upsample ×{n.value} {n.label}" if n.value else f"upsample {n.label}"
    if n.kind == "dense":
        return f"dense {n.n}" + ("" if n.bias else " no-bias")
    if n.kind in ("leaky_relu", "dropout", "drop_path", "elu"):
        return f"{n.kind} {n.value:g}"
    if n.kind == "gelu" and n.label:
        return f"gelu {n.label}"
    if n.kind == "block":
        return n.label
    if n.kind == "channel_slice":
        return f"channel_slice {n.channels[0]}:{n.channels[1]}"
    if n.kind == "channel_shuffle":
        return f"channel_shuffle g{n.groups}"
    name = _PLAIN.get(n.kind, n.kind)
    return name if n.output is None else f"{name} {n.output[0]}×{n.output[1]}"  # 'adaptive avgpool 6×6'


# ---------------------------------------------------------------- diagnostics
# The sentences live in the catalogue (render/lang/diagnostics.py); these functions pick the record's
# numbers and ask it for the words in a language.


def diagnostic_message(d, lang: str = DEFAULT) -> str:
    """The sentence of a `base.Diagnostic`, naming its layer and quoting its numbers."""
    detail = d.detail
    if isinstance(detail, InexactDivision):
        formula = window_formula(detail.length, rounded=False)
        if detail.lost == 0:
            return text("diagnostics.inexact_padding", lang, layer=d.layer, formula=formula, axes=detail.axes,
                        remainder=detail.length.remainder)
        if detail.gaps:
            return text("diagnostics.inexact_gaps", lang, layer=d.layer, formula=formula, axes=detail.axes,
                        lost=detail.lost, f=detail.length.f_eff, s=detail.length.s)
        return text("diagnostics.inexact", lang, layer=d.layer, formula=formula, axes=detail.axes, lost=detail.lost)
    if isinstance(detail, UnusedOutput):
        return text("diagnostics.unused_output", lang, layer=d.layer, output=detail.output)
    if isinstance(detail, UnusedArgument):
        return text("diagnostics.unused_argument", lang, block=detail.block, argument=detail.argument)
    if isinstance(detail, ChannelsFirst):
        n_H, n_W, n_C = detail.shape
        return text("diagnostics.channels_first", lang, field=detail.field, written=_written(detail, detail.shape),
                    n_H=n_H, n_W=n_W, n_C=n_C)
    raise TypeError(f"no text for {type(detail).__name__}")


def _written(detail: ChannelsFirst, shape: tuple) -> str:
    """A shape as the user writes it where it was: '[3, 32, 32]' in a spec, '3x32x32' for --input."""
    return "x".join(map(str, shape)) if detail.field == "--input" else f"[{', '.join(map(str, shape))}]"


def diagnostic_fix(d, lang: str = DEFAULT) -> str:
    """What would make the diagnostic go away; '' for a note (it is what the architecture means)."""
    detail = d.detail
    if d.level == "note":
        return ""
    if isinstance(detail, InexactDivision):
        fixes = []
        if detail.fix_padding is not None:
            fixes.append(text("diagnostics.fix.padding", lang, p=detail.fix_padding))
        if detail.fix_stride is not None:
            fixes.append(text("diagnostics.fix.stride", lang, s=detail.fix_stride))
        if detail.fix_ceil:
            fixes.append(text("diagnostics.fix.ceil", lang))
        if detail.fix_same:
            fixes.append(text("diagnostics.fix.same", lang))
        out = [text("diagnostics.fix.divides", lang, fixes=text("diagnostics.fix.or", lang).join(fixes))] if fixes else []
        if detail.fix_inputs:
            out.append(text("diagnostics.fix.inputs", lang, sizes=detail.fix_inputs, axis=" and ".join(detail.axes)))
        return text("diagnostics.fix.then", lang).join(out)
    if isinstance(detail, UnusedOutput):
        return text("diagnostics.fix.unused_output", lang)
    if isinstance(detail, UnusedArgument):
        return text("diagnostics.fix.unused_argument", lang, argument=detail.argument)
    if isinstance(detail, ChannelsFirst):
        c, h, w = detail.shape
        return text("diagnostics.fix.channels_first", lang, fixed=_written(detail, (h, w, c)))
    raise TypeError(f"no text for {type(detail).__name__}")


def strict_message(d, lang: str = DEFAULT) -> str:
    """A warning's sentence as the error --strict makes of it."""
    return text("diagnostics.strict", lang, message=diagnostic_message(d, lang))


LEVEL_MARKS = {"warning": "⚠", "note": "ℹ"}  # a row's mark: the level's sign and the line's number


def level_mark(level: str, number: int) -> str:
    """'⚠1', 'ℹ2': the mark a table row and its diagnostic line share (each sign one terminal cell)."""
    return f"{LEVEL_MARKS[level]}{number}"


def warning_line(d, lang: str = DEFAULT, number: int | None = None) -> str:
    """'⚠1 warning: file:line:col: sentence — fix', the line a diagnostic prints on stderr
    (a note: 'ℹ2 note: …', no fix); number: the diagnostic's mark on its table row, if any."""
    fix = diagnostic_fix(d, lang)
    where = f"{d.mark}: " if d.mark else ""
    key = "diagnostics.note" if d.level == "note" else "diagnostics.warning"
    line = text(key, lang, where=where, message=diagnostic_message(d, lang)) + (f" — {fix}" if fix else "")
    return f"{level_mark(d.level, number)} {line}" if number is not None else line


# ---------------------------------------------------------------- dimension errors


def dimension_error(key: str, mark: Mark | None, fix: tuple[str, dict] | None = None, allowed: str | None = None,
                    **values) -> DimensionError:
    """The DimensionError of a layer rule: `diagnostics.<key>` with the rule's numbers, and its fix
    (`diagnostics.<fix key>` with its own values), said in the language the error is printed in."""
    return DimensionError(Phrase(f"diagnostics.{key}", **values), mark, allowed=allowed,
                          fix=Phrase(f"diagnostics.{fix[0]}", **fix[1]) if fix else None)


def strict_error(d) -> DimensionError:
    """The error --strict makes of a warning, in words that `error_text` can say in any language."""
    return DimensionError(Phrase(say=lambda lang: strict_message(d, lang)), d.mark,
                          fix=Phrase(say=lambda lang: diagnostic_fix(d, lang)))


def error_text(error: CnncalcError, lang: str = DEFAULT) -> str:
    """The error's one line in `lang`: its catalogue phrases and frame said in that language."""
    return error.line(lang)


def error_line(error: CnncalcError, lang: str = DEFAULT) -> str:
    """'error: …', the line the CLI prints before exiting 1."""
    return text("diagnostics.error", lang, line=error_text(error, lang))


def record_json(record) -> dict:
    """A diagnostic's record as JSON numbers: {'what': 'inexact_division', 'n': 7, …}."""
    if isinstance(record, InexactDivision):
        r = record.length
        return {"what": "inexact_division", "kind": record.kind, "axes": list(record.axes), "n": r.n,
                "p_before": r.p_a, "p_after": r.p_b, "f": r.f, "s": r.s, "d": r.d, "n_out": r.n_out,
                "lost": record.lost, "fix_padding": record.fix_padding, "fix_stride": record.fix_stride,
                "fix_ceil": record.fix_ceil, "fix_same": record.fix_same, "fix_inputs": list(record.fix_inputs),
                "padding_only": record.lost == 0, "gaps": record.gaps}
    if isinstance(record, UnusedArgument):
        return {"what": "unused_argument", "block": record.block, "argument": record.argument}
    if isinstance(record, ChannelsFirst):
        return {"what": "channels_first", "field": record.field, "shape": list(record.shape),
                "fixed": [record.shape[1], record.shape[2], record.shape[0]]}
    return {"what": "unused_output", "output": record.output}


def window_json(w: Window | None) -> dict | None:
    """A row's window as numbers: {'f': [3, 3], 's': [1, 1], 'p': [1, 1, 1, 1], 'd': [1, 1], 'groups': 1}."""
    if w is None:
        return None
    out = {"f": list(w.f), "s": list(w.s), "p": list(w.p), "d": list(w.d)}
    if w.groups is not None:
        out["groups"] = w.groups
    if w.ceil is not None:
        out["ceil_mode"] = w.ceil
    return out
