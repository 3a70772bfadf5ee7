"""The one-layer calculator's and the solver's records (analysis/solve.py) as text or JSON data.

The window formula is render.messages.window_formula, the one the diagnostics quote; the words
come from the message catalogue (render/lang/calc.py) in the language asked for.
"""

from __future__ import annotations

import json
from fractions import Fraction

from cnncalc.analysis.solve import InputSizes, Solved, WindowCalc
from cnncalc.layers import arith
from cnncalc.layers.records import Window
from cnncalc.render.lang import text
from cnncalc.render.messages import notation_text, pads_text, record_json, window_formula
from cnncalc.shapes import shape_text

SHOWN = 20  # solutions printed in a table; JSON lists every one


def _symbolic(rec: arith.OutLength) -> str:
    """The course formula in symbols, as the record computes it (dilation and ceil mode shown)."""
    kernel = "f" if rec.d == 1 else "(d·(f − 1) + 1)"
    pad = "2p" if rec.p_a == rec.p_b else "p_a + p_b"
    left, right = ("⌈", "⌉") if rec.ceil else ("⌊", "⌋")
    return f"{left}(n + {pad} − {kernel})/s{right} + 1"


def _quotient(rec: arith.OutLength) -> str:
    """'(7 + 2·0 − 3)/3 + 1 = 2.33', or '= 3' when it is an integer."""
    if rec.exact:
        return window_formula(rec, rounded=False).rsplit(" = ", 1)[0] + f" = {Fraction(rec.span, rec.s) + 1}"
    return window_formula(rec, rounded=False)


def _layer(calc: WindowCalc) -> str:
    r = calc.length
    w = Window((r.f, r.f), (r.s, r.s), (r.p_a, r.p_b, r.p_a, r.p_b), (r.d, r.d), same=calc.same)
    out = f"{calc.kind} {r.f}×{r.f} s{r.s}{pads_text(w)}"
    if r.d != 1:
        out += f" d{r.d}"
    if r.ceil:
        out += " ceil"
    return out


def window_text(calc: WindowCalc, lang: str = "en") -> str:
    """`cnncalc conv …` / `cnncalc pool …` as lines of text."""
    r = calc.length
    lines = [text("calc.header", lang, layer=_layer(calc), n=r.n),
             text("calc.formula", lang, symbolic=_symbolic(r), filled=window_formula(r))]
    if calc.same:
        total = r.p_a + r.p_b
        lines.append(text("calc.same_used", lang, p_a=r.p_a, p_b=r.p_b, n_ceil=-(-r.n // r.s), s=r.s,
                          f_eff=r.f_eff, n=r.n, total=total))
    if r.exact:
        lines.append(text("calc.exact", lang, quotient=_quotient(r)))
    else:
        lines.append(text("calc.inexact_ceil" if r.ceil else "calc.inexact_floor", lang, quotient=_quotient(r),
                          n_out=r.n_out))
        if calc.unread is not None:
            first, last = calc.unread
            if first == last:
                lines.append(text("calc.unread_one", lang, row=last))
            else:
                lines.append(text("calc.unread_many", lang, first=first, last=last, count=last - first + 1))
        elif not r.ceil:
            lines.append(text("calc.padding_only", lang, remainder=r.remainder))
    if calc.gap:
        lines.append(text("calc.gap", lang, s=r.s, f_eff=r.f_eff, gap=calc.gap))
    if calc.inexact is not None:
        lines.append(text("calc.fixes", lang, options=text("calc.or", lang).join(_fixes(calc, lang))))
    if calc.keeps_size:
        lines.append(text("calc.keeps", lang, n=r.n, s=r.s, values=", ".join(map(str, calc.keeps_size))))
    else:
        lines.append(text("calc.keeps_none", lang, n=r.n, s=r.s, p_a=calc.same_padding[0], p_b=calc.same_padding[1],
                          n_out=calc.same_n_out))
    if calc.exact_strides:
        lines.append(text("calc.exact_strides", lang, values=", ".join(map(str, calc.exact_strides))))
    else:
        lines.append(text("calc.exact_strides_none", lang))
    if calc.exact_paddings:
        lines.append(text("calc.exact_paddings", lang, s=r.s, values=", ".join(map(str, calc.exact_paddings))))
    else:
        lines.append(text("calc.exact_paddings_none", lang, s=r.s))
    return "\n".join(lines) + "\n"


def _fixes(calc: WindowCalc, lang: str) -> list[str]:
    """The InexactDivision record's fixes, each with its own division worked out."""
    fix, r = calc.inexact, calc.length
    out = []
    if fix.fix_padding is not None:
        p = fix.fix_padding
        out.append(text("calc.fix_padding", lang, p=p, formula=window_formula(arith.out_length(r.n, r.f, r.s, p, p, r.d))))
    if fix.fix_stride is not None:
        s = fix.fix_stride
        out.append(text("calc.fix_stride", lang, s=s,
                        formula=window_formula(arith.out_length(r.n, r.f, s, r.p_a, r.p_b, r.d))))
    if fix.fix_same:
        out.append(text("calc.fix_same", lang))
    if fix.fix_ceil:
        out.append(text("calc.fix_ceil", lang,
                        formula=window_formula(arith.out_length(r.n, r.f, r.s, r.p_a, r.p_b, r.d, ceil=True))))
    return out


def _length_json(r: arith.OutLength) -> dict:
    return {"n": r.n, "f": r.f, "s": r.s, "p_before": r.p_a, "p_after": r.p_b, "d": r.d, "ceil_mode": r.ceil,
            "n_out": r.n_out, "numerator": r.span, "remainder": r.remainder, "exact": r.exact, "lost": r.unread}


def window_json(calc: WindowCalc) -> dict:
    """The plain data of `cnncalc conv|pool … --format json`."""
    return {"kind": calc.kind, **_length_json(calc.length), "same": calc.same,
            "unread_rows": list(calc.unread) if calc.unread else None,
            "inexact": record_json(calc.inexact) if calc.inexact is not None else None,
            "keeps_size": calc.keeps_size, "same_padding": list(calc.same_padding), "same_n_out": calc.same_n_out,
            "exact_paddings": calc.exact_paddings, "exact_strides": calc.exact_strides, "gap": calc.gap}


# ---------------------------------------------------------------- the solver


def _values(sol, names) -> str:
    return ", ".join(f"{k} = {getattr(sol, k)}" for k in names)


def solve_text(solved: Solved, lang: str = "en") -> str:
    """`cnncalc solve --in … --out …` as lines of text."""
    known = ", ".join(f"{k} = {v}" for k, v in solved.known.items())
    ranges = [text("calc.solve_closed", lang, name=k) if v is None else f"{k} {v[0]}–{v[1]}"
              for k, v in solved.searched.items()]
    lines = [text("calc.solve_equation", lang, known=known), text("calc.solve_searched", lang, ranges=", ".join(ranges))]
    sols = solved.solutions
    if not sols:
        lines.append(text("calc.solve_none", lang))
    else:
        lines.append(text("calc.solve_count", lang, count=len(sols), exact=sum(x.exact for x in sols)))
        for sol in sols[:SHOWN]:
            r = sol.length
            line = f"  {_values(sol, solved.unknown)}: {window_formula(r)}  "
            if sol.exact:
                line += text("calc.solve_exact", lang)
            else:
                line += text("calc.solve_inexact", lang, quotient=window_formula(r, rounded=False))
                if r.unread:
                    line += "; " + text("calc.solve_lost", lang, lost=r.unread)
            lines.append(line)
        if len(sols) > SHOWN:
            lines.append(text("calc.solve_more", lang, more=len(sols) - SHOWN))
        if not any(x.exact for x in sols) and "n_in" in solved.known:
            what = text("calc.or", lang).join(text(f"calc.name_{k}", lang) for k in solved.unknown)
            lines.append(text("calc.solve_no_exact", lang, what=what, n_in=solved.known["n_in"]))
            if solved.exact_inputs:
                names = [k for k in solved.unknown]
                items = [f"{x.n_in} ({_values(x, names)})" if names else str(x.n_in) for x in solved.exact_inputs[:4]]
                lines.append(text("calc.solve_exact_inputs", lang, items=", ".join(items)))
    return "\n".join(lines) + "\n"


def _solution_json(sol) -> dict:
    return {"n_in": sol.n_in, "n_out": sol.n_out, "f": sol.f, "s": sol.s, "p": sol.p,
            "numerator": sol.length.span, "remainder": sol.length.remainder, "exact": sol.exact,
            "lost": sol.length.unread}


def solve_json(solved: Solved) -> dict:
    return {"known": solved.known, "unknown": list(solved.unknown),
            "searched": {k: list(v) if v is not None else None for k, v in solved.searched.items()},
            "solutions": [_solution_json(x) for x in solved.solutions],
            "exact_inputs": [_solution_json(x) for x in solved.exact_inputs]}


# ---------------------------------------------------------------- a spec's input sizes


def sizes_text(sizes: InputSizes, lang: str = "en") -> str:
    """`cnncalc solve SPEC --input-sizes` as lines of text."""
    shape = shape_text(sizes.input_shape)
    lines = [text("calc.sizes_header", lang, spec=sizes.spec, shape=shape)]
    for d in sizes.inexact:
        line = "  " + text("calc.sizes_inexact", lang, name=d.name, layer=notation_text(d.notation),
                           axis="/".join(d.axes), quotient=window_formula(d.length, rounded=False))
        lines.append(line + ("" if d.length.unread else text("calc.sizes_nothing_lost", lang)))
    axes = [("n_H", sizes.input_shape[0], sizes.sizes_H)]
    if not sizes.square:
        axes.append(("n_W", sizes.input_shape[1], sizes.sizes_W))
    if not sizes.inexact:
        lines.append(text("calc.sizes_all_exact", lang, n=shape_text(sizes.input_shape[:2])))
    for axis, n, found in axes:
        where = "" if sizes.square else text("calc.sizes_axis", lang, axis=axis)
        if found:
            lines.append(text("calc.sizes_found", lang, near=sizes.near, n=n, axis=where, sizes=", ".join(map(str, found))))
        else:
            lines.append(text("calc.sizes_none", lang, near=sizes.near, n=n, axis=where))
    return "\n".join(lines) + "\n"


def sizes_json(sizes: InputSizes) -> dict:
    return {"spec": sizes.spec, "input": list(sizes.input_shape), "near": sizes.near,
            "inexact": [{"name": d.name, "axes": list(d.axes), **_length_json(d.length)} for d in sizes.inexact],
            "sizes_H": sizes.sizes_H, "sizes_W": sizes.sizes_W}


def as_json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def error_line(exc, lang: str = "en") -> str:
    """An error in the language asked for: an ArgumentError's words from the catalogue, else its own line."""
    from cnncalc.errors import ArgumentError, printable
    from cnncalc.render.report import error_line as english

    if not isinstance(exc, ArgumentError):
        return english(exc, lang)  # a spec's error (--input-sizes), in the language asked for too
    message = text(exc.key, lang, field=exc.field, **exc.values)
    allowed = text(exc.key + "_allowed", lang, field=exc.field, **exc.values)
    if exc.received is None:
        return printable(text("calc.error_line_plain", lang, field=exc.field, message=message, allowed=allowed))
    return printable(text("calc.error_line", lang, field=exc.field, message=message, received=repr(exc.received),
                          allowed=allowed))
