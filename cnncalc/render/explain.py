"""`cnncalc explain`: the steps of `analysis.explain` written out, formula by formula.

The formulas are symbols in course notation, the same in every language, written here; the words
around them come from the message catalogue (`render/lang/explain.py`).  Every result printed is a
number of the row the tables print (a test checks it spec by spec).
"""

from __future__ import annotations

from cnncalc.analysis import Report
from cnncalc.analysis import explain as steps_of
from cnncalc.errors import printable
from cnncalc.graph import INPUT
from cnncalc.render.columns import rf_pair, rf_value
from cnncalc.render.lang import text
from cnncalc.render.messages import notation_text, window_formula
from cnncalc.shapes import is_map, shape_text


def explain_text(report: Report, names: list[str] | None = None, lang: str = "en") -> str:
    """Every row of `report` (or the rows named) with its formulas, in `lang`."""
    lines = [text("explain.title", lang, name=report.graph.name), ""]
    for item in steps_of.explain(report, names):
        row = item.row
        if row.kind == INPUT:
            lines.append(text("explain.input", lang, name=row.name, shape=shape_text(row.out_shape)))
        else:
            inputs = " + ".join(shape_text(s) for s in row.in_shapes)
            lines.append(text("explain.layer", lang, name=row.name, notation=notation_text(row.layer_type),
                              inputs=inputs, output=shape_text(row.out_shape)))
        lines.extend("  " + step_line(step, row, lang) for step in item.steps)
        if row.rf_reads_whole:  # r past the input: what the number means
            n_H, n_W = report.graph.input_shape[:2]
            lines.append("  " + text("explain.field_whole_input", lang, r=_pair(row.rf.r_H, row.rf.r_W),
                                     n=_pair(n_H, n_W)))
        lines.append("")
    if names is None and report.error is None:
        t = report.totals
        lines.append(text("explain.totals", lang, params=f"{t.params:,}", macs=f"{t.macs:,}",
                          activations=f"{t.activations:,}"))
    return "\n".join(printable(line) for line in lines).rstrip("\n") + "\n"


def _dot(*values) -> str:
    return "·".join(str(v) for v in values)


def _kernel_symbols(f) -> str:
    return "f·f" if f[0] == f[1] else "f_H·f_W"


def step_line(step, row, lang: str) -> str:
    """One step as one line."""
    s = steps_of
    if isinstance(step, s.Length):
        return _length(step, lang)
    if isinstance(step, s.Same):
        return text("explain.same", lang, axes=step.axes, n=step.n, f=step.f_eff, s=step.s, n_out=step.n_out,
                    p_a=step.p_a, p_b=step.p_b, total=step.total, keep_total=step.keep_total)
    if isinstance(step, s.Remainder):
        return text("explain.remainder", lang, axes=step.axes, formula=window_formula(step.rec, rounded=False),
                    remainder=step.rec.remainder, lost=step.lost, n=step.rec.n)
    if isinstance(step, s.LastWindow):
        return text("explain.ceil", lang, axes=step.axes, exact=step.rec.exact, n_out=step.rec.n_out, s=step.rec.s,
                    start=step.start, end=step.end, last_input=step.last_input, reads=step.reads, beyond=step.beyond)
    if isinstance(step, s.ConvParams):
        return _conv_params(step, lang)
    if isinstance(step, s.ConvMacs):
        return _conv_macs(step, lang)
    if isinstance(step, s.DenseParams):
        bias = step.biases > 0
        formula, values = ("(n_prev + 1)·n", f"({step.n_prev} + 1)·{step.n}") if bias else \
            ("n_prev·n", _dot(step.n_prev, step.n))
        return text("explain.params" if bias else "explain.params_no_bias", lang, formula=formula, values=values,
                    result=f"{step.total:,}", weights=f"{step.weights:,}", biases=f"{step.biases:,}")
    if isinstance(step, s.DenseMacs):
        return text("explain.macs", lang, formula="n_prev·n", values=_dot(step.n_prev, step.n),
                    result=f"{step.macs:,}")
    if isinstance(step, s.BatchnormParams):
        return text("explain.params_batchnorm", lang, n_C=step.n_C, result=f"{step.trainable + step.non_trainable:,}",
                    trainable=f"{step.trainable:,}", non_trainable=f"{step.non_trainable:,}")
    if isinstance(step, s.Params):
        return text("explain.params_plain", lang, trainable=f"{step.trainable:,}",
                    non_trainable=f"{step.non_trainable:,}", result=f"{step.trainable + step.non_trainable:,}")
    if isinstance(step, s.Activations):
        if is_map(step.shape):
            return text("explain.activations", lang, formula="n_H·n_W·n_C", values=_dot(*step.shape),
                        result=f"{step.count:,}")
        if step.flat_of is not None:
            return text("explain.activations_flat", lang, values=_dot(*step.flat_of), result=f"{step.count:,}")
        return text("explain.activations_vector", lang, result=f"{step.count:,}")
    if isinstance(step, s.OtherOps):
        return text("explain.other_ops", lang, result=f"{step.count:,}")
    if isinstance(step, s.FieldStep):
        return _field(step, lang)
    if isinstance(step, s.FieldKept):
        rf = step.rf
        key = "explain.field_input" if row.kind == INPUT else (
            "explain.field_merged" if step.merged else "explain.field_kept" if step.kept else "explain.field_rule")
        return text(key, lang, r=_pair(rf.r_H, rf.r_W), j=_pair(rf.j_H, rf.j_W))
    raise TypeError(f"no text for {type(step).__name__}")


def _pair(a: int, b: int) -> str:
    """One value when both axes agree, else 'r_H×r_W'."""
    return str(rf_value(a)) if a == b else rf_pair(a, b)


def _length(step, lang: str) -> str:
    rec = step.rec
    axis = step.axes[0]
    pads = ("p_top", "p_bottom") if axis == "n_H" else ("p_left", "p_right")
    pad = "2p" if rec.p_a == rec.p_b else f"{pads[0]} + {pads[1]}"
    kernel = "f" if rec.d == 1 else "(d·(f − 1) + 1)"
    left, right = ("⌈", "⌉") if rec.ceil else ("⌊", "⌋")
    formula = f"{left}({axis}_prev + {pad} − {kernel})/s{right} + 1"
    return text("explain.length", lang, label=axis, formula=formula, values=window_formula(rec))


def _conv_params(step, lang: str) -> str:
    f = step.f
    g = step.groups
    if step.transposed:
        per = "n_C" if g == 1 else "(n_C/g)"
        per_v = str(step.n_C) if g == 1 else f"({step.n_C}/{g})"
        formula = f"n_C_prev·{per}·{_kernel_symbols(f)}"
        values = f"{step.n_C_prev}·{per_v}·{f[0]}·{f[1]}"
        if step.biases:
            formula, values = formula + " + n_C", values + f" + {step.n_C}"
    else:
        per = "n_C_prev" if g == 1 else "(n_C_prev/g)"
        per_v = str(step.n_C_prev) if g == 1 else f"({step.n_C_prev}/{g})"
        inner, inner_v = f"{_kernel_symbols(f)}·{per}", f"{f[0]}·{f[1]}·{per_v}"
        if step.biases:
            formula, values = f"({inner} + 1)·n_C", f"({inner_v} + 1)·{step.n_C}"
        else:
            formula, values = f"{inner}·n_C", f"{inner_v}·{step.n_C}"
    return text("explain.params" if step.biases else "explain.params_no_bias", lang, formula=formula, values=values,
                result=f"{step.total:,}", weights=f"{step.weights:,}", biases=f"{step.biases:,}")


def _conv_macs(step, lang: str) -> str:
    f, g = step.f, step.groups
    if step.transposed:
        per, per_v = ("n_C", str(step.channels)) if g == 1 else ("(n_C/g)", f"({step.channels}/{g})")
        formula = f"n_H_prev·n_W_prev·n_C_prev·{per}·{_kernel_symbols(f)}"
    else:
        per, per_v = ("n_C_prev", str(step.channels)) if g == 1 else ("(n_C_prev/g)", f"({step.channels}/{g})")
        formula = f"n_H·n_W·n_C·{_kernel_symbols(f)}·{per}"
    values = f"{_dot(*step.sizes)}·{per_v}·{f[0]}·{f[1]}" if step.transposed else \
        f"{_dot(*step.sizes)}·{f[0]}·{f[1]}·{per_v}"
    return text("explain.macs", lang, formula=formula, values=values, result=f"{step.macs:,}")


def _field(step, lang: str) -> str:
    both = len(step.axes) == 2
    suffix = "" if both else ("_H" if step.axes[0] == "n_H" else "_W")
    r_label, j_label = f"r{suffix}", f"j{suffix}"
    if step.d == 1:
        formula = f"{r_label}_prev + (f − 1)·{j_label}_prev"
        values = f"{rf_value(step.r_prev)} + ({step.f} − 1)·{rf_value(step.j_prev)}"
    else:
        formula = f"{r_label}_prev + (f − 1)·d·{j_label}_prev"
        values = f"{rf_value(step.r_prev)} + ({step.f} − 1)·{step.d}·{rf_value(step.j_prev)}"
    key = "explain.field_whole" if step.whole_map else "explain.field"
    return text(key, lang, r_label=r_label, j_label=j_label, formula=formula, values=values, r=rf_value(step.r),
                j_prev=rf_value(step.j_prev), s=step.s, j=rf_value(step.j))
