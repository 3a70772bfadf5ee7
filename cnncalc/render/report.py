"""The only place analysis results become text: tables, markdown, json and csv.

Every format reads the same rows (`analysis.fold`) through the same columns
(`render.columns`); json and csv carry exact integers, tables add separators and
human units in the totals.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass

from cnncalc.analysis import Comparison, Report, Totals, fold
from cnncalc.analysis.pause import paused_gc
from cnncalc.errors import CnncalcError, printable
from cnncalc.render.columns import (
    AUX_MARK,
    COLUMNS,
    Column,
    cell,
    course_rows,
    human_bytes,
    rf_pair,
    rf_value,
    shape_cell,
    shape_text,
    type_text,
    view,
    with_human,
)
from cnncalc.render.lang import text as words
from cnncalc.render.messages import (
    diagnostic_fix,
    diagnostic_message,
    level_mark,
    record_json,
    warning_line,
    window_json,
)
from cnncalc.render.messages import error_line as _error_line
from cnncalc.render.text_table import box_table, fit, wrap

CONVENTION = words("totals.convention", "en")  # the counting convention JSON carries, in English

VIEW_NAMES = ("standard", "course")


def _title(command: str, view_name: str, lang: str) -> str:
    return words(f"tables.title.{'course' if view_name == 'course' else command}", lang)


def row_marks(report: Report, rows) -> list[list[tuple[str, int]]]:
    """For each of `rows`, the (level, number) of every diagnostic on it: number is the diagnostic's place
    in report.diagnostics, from 1, the number its line under the table carries.  A folded row (--depth)
    carries the marks of the layers inside it; a diagnostic of no row (a block argument) marks none."""
    marks: list[list[tuple[str, int]]] = [[] for _ in rows]
    where = {r.name: i for i, r in enumerate(rows)}
    scopes = {r.name: r.scope for r in report.rows}
    for number, d in enumerate(report.diagnostics, 1):
        i = where.get(d.layer)
        if i is None:  # folded away: the row of the outermost block holding it
            i = next((where[s] for s in scopes.get(d.layer, ()) if s in where and rows[where[s]].kind == "block"),
                     None)
        if i is not None:
            marks[i].append((d.level, number))
    return marks


def _marks_text(marks: list[tuple[str, int]]) -> str:
    return " ".join(level_mark(level, number) for level, number in marks)


def _has_branches(report: Report) -> bool:
    return any(len(r.inputs) > 1 for r in report.rows) or any(
        r.inputs and r.inputs[0] != prev.name for prev, r in zip(report.rows, report.rows[1:]))


def _reads_cell(column: Column, row, prev_output: str | None, lang: str = "en") -> str:
    """Cells for one row; 'Reads' stays empty when the row reads the row above it."""
    if column.key == "reads" and row.inputs == ([prev_output] if prev_output else []):
        return ""
    return cell(column, row, lang=lang)


def render(report: Report, command: str, fmt: str, depth: int | None = None, *, width: int | None = None,
           columns: list[str] | None = None, view_name: str = "standard", merge_pool: bool = False,
           lang: str = "en") -> str:
    """The report as text in one of the formats: table, json, csv or markdown.

    width: the terminal's cells, which a table fits by abbreviating headings and leaving out its least
    important columns (saying which); None shows every column. columns: the column keys to show
    (--columns), in order; view_name 'course': Andrew Ng's table (merge_pool: conv and pooling as one
    layer); lang: the headings' language. json always carries every field of every row.
    """
    with paused_gc():
        return _render(report, command, fmt, depth, width, columns, view_name, merge_pool, lang)


def _render(report: Report, command: str, fmt: str, depth: int | None, width, keys, view_name, merge_pool,
            lang) -> str:
    rows = fold(report, depth)
    if fmt == "json":
        return dumps(as_json(report, rows))
    course = view_name == "course"
    if course:
        rows = course_rows(rows, merge_pool)
    columns = view("course" if course else command, not course and _has_branches(report), keys)
    if fmt == "csv":
        return as_csv(rows, columns, row_marks(report, rows) if report.diagnostics else None)
    if fmt == "markdown":
        return as_markdown(report, rows, columns, command, view_name, lang)
    return as_table(report, rows, columns, command, width=width, view_name=view_name, lang=lang)


def dumps(data) -> str:
    """JSON text, UTF-8 kept, but every character a terminal could act on escaped as \\uXXXX.

    json escapes only U+0000–U+001F; DEL, the C1 controls (U+009B is CSI), line separators and
    bidirectional overrides would otherwise pass raw.  Outside strings JSON holds only ASCII.
    """
    text = json.dumps(data, indent=2, ensure_ascii=False)
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() or ch in " \n" else json.dumps(ch)[1:-1] for ch in text)
    return text + "\n"


def _totals_cells(columns: list[Column], totals_by_key: dict, label: str) -> list[str]:
    out = []
    for c in columns:
        if c.key == "name":
            out.append(label)
        elif c.summed:
            out.append(f"{totals_by_key[c.key]:,}")
        else:
            out.append("")
    return out


def _column_totals(rows, columns) -> dict:
    return {c.key: sum(c.value(r) for r in rows) for c in columns if c.summed}


def _footer(report: Report, rows, columns, lang: str = "en") -> list[list[str]]:
    """The Total row (every printed row); with aux heads, then its inference and aux parts.

    The lines under the table quote them: params the Total row (PyTorch counts the aux heads'
    parameters), MACs, other ops and activations the Inference row, the aux line the Aux row."""
    if not any(c.summed for c in columns):
        return []
    footer = [_totals_cells(columns, _column_totals(rows, columns), words("tables.total", lang))]
    if report.graph.aux:
        footer.append(_totals_cells(columns, _column_totals([r for r in rows if not r.aux], columns),
                                    words("totals.row.inference", lang)))
        footer.append(_totals_cells(columns, _column_totals([r for r in rows if r.aux], columns),
                                    words("totals.row.aux", lang)))
    return footer


def _body(report: Report, rows, columns, lang: str = "en") -> list[list[str]]:
    """Table cells, with a header line where a block, branch set or repeat opens (as torchinfo nests);
    a row with diagnostics ends its Layer cell with their marks ('conv1 ⚠1')."""
    return [cells for _, cells in body_lines(report, rows, columns, lang)]


def body_lines(report: Report, rows, columns, lang: str = "en") -> list[tuple[object, list[str]]]:
    """_body's lines as (row, cells): row is the Row a line shows, None for a block's header line
    (render/page.py ties each HTML table row to its layer by it)."""
    body = []
    opened: tuple = ()
    prev = None
    marks = row_marks(report, rows)
    for r, mark in zip(rows, marks):
        path = r.scope[:r.depth]
        common = 0
        while common < min(len(path), len(opened)) and path[common] == opened[common]:
            common += 1
        for level in range(common, len(path)):
            scope = report.graph.scopes.get(path[level])
            name = path[level]
            if level and name.startswith(path[level - 1] + "."):
                name = name[len(path[level - 1]) + 1:]
            header = ["  " * level + name if c.key == "name" else
                      (scope.label if scope else "block") if c.key == "type" else "" for c in columns]
            body.append((None, header))
        opened = path
        cells = [_reads_cell(c, r, prev, lang) for c in columns]
        if mark and columns and columns[0].key == "name":
            cells[0] += " " + _marks_text(mark)
        body.append((r, cells))
        prev = r.output
    return body


def as_table(report: Report, rows, columns, command: str, *, width: int | None = None,
             view_name: str = "standard", lang: str = "en") -> str:
    course = view_name == "course"
    body, footer = _body(report, rows, columns, lang), _footer(report, rows, columns, lang)
    chosen = fit([c.title(lang, course) for c in columns], [c.short(lang, course) for c in columns], body + footer,
                 [c.priority for c in columns], width)
    notes = []
    if chosen.left_out:
        names = ", ".join(columns[i].title(lang, course) for i in chosen.left_out)
        notes.append(words("tables.left_out", lang, count=len(chosen.left_out), width=width, names=names))
    if command in ("flops", "summary"):
        notes.append(words("totals.convention", lang))
    table = box_table(chosen.headers, [[r[i] for i in chosen.kept] for r in body],
                      [columns[i].justify for i in chosen.kept], [[r[i] for i in chosen.kept] for r in footer],
                      title=f"{report.graph.name} — {_title(command, view_name, lang)}",
                      caption=wrap("\n".join(notes), width) or None)
    totals = _totals_text(report.totals, command, report.error is None, bool(report.graph.aux),
                          report.output_reads_whole, lang)
    return table + wrap(totals, width) + "\n"


@dataclass(frozen=True)
class TableParts:
    """A table's pieces, for a format that lays them out itself (render/page.py's HTML): the same rows,
    cells, footer and lines under the table as the text table's.

    lines: (row, cells) as body_lines gives them; footer: the Total row (and aux rows); totals: the
    lines under the table; notes: the counting convention where the command states it.
    """

    title: str
    columns: list[Column]
    lines: list[tuple[object, list[str]]]
    footer: list[list[str]]
    totals: list[str]
    notes: list[str]


def table_parts(report: Report, depth: int | None = None, command: str = "summary", lang: str = "en") -> TableParts:
    """The parts of `command`'s table (every column of its view) at `depth`, as `as_table` draws them."""
    rows = fold(report, depth)
    columns = view(command, _has_branches(report))
    totals = _totals_text(report.totals, command, report.error is None, bool(report.graph.aux),
                          report.output_reads_whole, lang)
    return TableParts(f"{report.graph.name} — {_title(command, 'standard', lang)}", columns,
                      body_lines(report, rows, columns, lang), _footer(report, rows, columns, lang),
                      totals.splitlines(),
                      [words("totals.convention", lang)] if command in ("flops", "summary") else [])


def _aux_text(t: Totals, command: str, lang: str = "en") -> str:
    """The aux heads' line: what they add in training, apart from the inference figures above it."""
    parts = []
    if command in ("params", "summary"):
        parts.append(words("totals.aux.params", lang, trainable=f"{t.aux_trainable:,}",
                           non_trainable=f"{t.aux_non_trainable:,}"))
    if command in ("flops", "summary"):
        parts.append(words("totals.aux.ops", lang, macs=with_human(t.aux_macs, "MAC"), flops=f"{t.aux_flops:,}",
                           other_ops=f"{t.aux_other_ops:,}"))
    if command in ("shapes", "summary"):
        parts.append(words("totals.aux.activations", lang, count=f"{t.aux_activations:,}",
                           size=human_bytes(t.aux_activation_bytes)))
    return (words("totals.aux.line", lang, mark=AUX_MARK.strip(), parts="; ".join(parts))
            + (words("totals.aux.not_inference", lang) if command != "params" else ""))


def _totals_text(t: Totals, command: str, complete: bool, has_aux: bool = False, whole_input: bool = False,
                 lang: str = "en") -> str:
    lines = []
    if not complete:
        lines.append(words("totals.partial", lang))
    inference = words("totals.inference_only", lang) if has_aux else ""
    if command in ("params", "summary"):
        lines.append(words("totals.trainable", lang, value=with_human(t.trainable)))
        lines.append(words("totals.non_trainable", lang, value=f"{t.non_trainable:,}"))
        lines.append(words("totals.params", lang, value=with_human(t.params)))
        lines.append(words("totals.params_memory", lang, value=human_bytes(t.params_bytes)))
    if command in ("flops", "summary"):
        lines.append(words("totals.macs", lang, value=with_human(t.macs, "MAC"), inference=inference))
        lines.append(words("totals.flops", lang, value=with_human(t.flops, "FLOP")))
        lines.append(words("totals.other_ops", lang, value=with_human(t.other_ops)))
    if command in ("shapes", "summary"):
        lines.append(words("totals.activations", lang, count=f"{t.activations:,}", size=human_bytes(t.activation_bytes),
                           inference=inference))
        if t.output_shape:
            lines.append(words("totals.output", lang, shape=shape_cell(t.output_shape)))
        if t.rf is not None:
            whole = f" — {words('tables.rf_whole', lang)}" if whole_input else ""  # the number stays beside it
            lines.append(words("totals.rf", lang, rf=rf_pair(t.rf.r_H, t.rf.r_W, group=True) + whole,
                               jump=rf_pair(t.rf.j_H, t.rf.j_W, group=True)))
    if has_aux:
        lines.append(_aux_text(t, command, lang))
    return "\n".join(lines)


def as_json(report: Report, rows) -> dict:
    t = report.totals
    g = report.graph
    return {
        "spec": g.name,
        "file": g.file,
        "input": list(g.input_shape),
        "convention": CONVENTION,
        "rows": [{
            "name": r.name, "kind": r.kind, "type": type_text(r.layer_type), "window": _window(r.window),
            "inputs": list(r.inputs),
            "input_shapes": [list(s) for s in r.in_shapes], "output_shape": list(r.out_shape),
            "trainable": r.trainable, "non_trainable": r.non_trainable, "params": r.params,
            "macs": r.macs, "flops": r.flops, "other_ops": r.other_ops,
            "activations": r.activations, "activation_bytes": r.activation_bytes,
            "receptive_field": [rf_value(r.rf.r_H), rf_value(r.rf.r_W)] if r.rf else None,
            "jump": [rf_value(r.rf.j_H), rf_value(r.rf.j_W)] if r.rf else None,
            "rf_whole_input": r.rf_whole_input,
            "depth": r.depth, "layers": r.folded, "aux": r.aux,
            "diagnostics": [{"level": level, "number": number} for level, number in mark],
        } for r, mark in zip(rows, row_marks(report, rows))],
        "totals": {
            "trainable": t.trainable, "non_trainable": t.non_trainable, "params": t.params,
            "params_bytes": t.params_bytes, "macs": t.macs, "flops": t.flops, "other_ops": t.other_ops,
            "activations": t.activations, "activation_bytes": t.activation_bytes,
            "output_shape": list(t.output_shape), "layers": t.layers,
            "receptive_field": [rf_value(t.rf.r_H), rf_value(t.rf.r_W)] if t.rf else None,
            "rf_whole_input": report.output_row_whole,
            # the aux heads' share: in params above; apart from macs, flops, other_ops and activations
            "aux_trainable": t.aux_trainable, "aux_non_trainable": t.aux_non_trainable, "aux_params": t.aux_params,
            "aux_macs": t.aux_macs, "aux_flops": t.aux_flops, "aux_other_ops": t.aux_other_ops,
            "aux_activations": t.aux_activations, "aux_activation_bytes": t.aux_activation_bytes,
        },
        "aux": [{"layer": h.name, "weight": h.weight} for h in g.aux],
        "diagnostics": [diagnostic_json(d, number) for number, d in enumerate(report.diagnostics, 1)],
        "error": error_json(report.error) if report.error else None,
    }


def _window(w) -> dict | None:
    """window_json's numbers, and whether the padding was written `same` (its p the numbers it resolved to)."""
    out = window_json(w)
    if out is not None:
        out["same"] = w.same
    return out


def diagnostic_json(d, number: int | None = None) -> dict:
    """A diagnostic as data; number: its mark's number on the rows (rows[…]["diagnostics"])."""
    return {"number": number, "level": d.level, "layer": d.layer, "file": d.mark.file if d.mark else None,
            "line": d.mark.line if d.mark else None, "column": d.mark.column if d.mark else None,
            "message": diagnostic_message(d), "fix": diagnostic_fix(d), "detail": record_json(d.detail)}


def error_json(e: CnncalcError) -> dict:
    return {"file": e.mark.file if e.mark else None, "line": e.mark.line if e.mark else None,
            "column": e.mark.column if e.mark else None, "field": e.field, "message": e.line()}


def as_csv(rows, columns, marks=None) -> str:
    """One line per row; with diagnostics (marks: row_marks), a trailing `diagnostics` field per row,
    'warning:1 note:2', the levels and numbers of the JSON's diagnostics on that row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    keys = [c.key for c in columns if c.key != "reads"] + ["inputs"]
    writer.writerow(keys + (["diagnostics"] if marks is not None else []))
    for i, r in enumerate(rows):
        values = [COLUMNS[k].value(r) for k in keys[:-1]] + [" ".join(r.inputs)]
        if marks is not None:
            values.append(" ".join(f"{level}:{number}" for level, number in marks[i]))
        writer.writerow([printable(v) if isinstance(v, str) else v for v in values])
    return buffer.getvalue()


def as_markdown(report: Report, rows, columns, command: str, view_name: str = "standard", lang: str = "en") -> str:
    def esc(text: str) -> str:
        return printable(text).replace("|", "\\|")

    out = [f"### {esc(report.graph.name)} — {_title(command, view_name, lang)}", ""]
    out.append("| " + " | ".join(c.title(lang, view_name == "course") for c in columns) + " |")
    out.append("|" + "|".join(":---" if c.justify == "left" else "---:" for c in columns) + "|")
    for cells in _body(report, rows, columns, lang):
        out.append("| " + " | ".join(esc(text) for text in cells) + " |")
    for cells in _footer(report, rows, columns, lang):
        out.append("| " + " | ".join(f"**{esc(v)}**" if v else "" for v in cells) + " |")
    out.append("")
    for line in _totals_text(report.totals, command, report.error is None, bool(report.graph.aux),
                             report.output_reads_whole, lang).splitlines():
        out.append(f"- {line}")
    if command in ("flops", "summary"):
        out.append("- " + words("totals.convention_line", lang, convention=words("totals.convention", lang)))
    out.append("")
    return "\n".join(out)


def diagnostic_lines(report: Report, lang: str = "en", numbered: bool = False) -> list[str]:
    """Each diagnostic's line; numbered: with the mark its table row carries ('⚠1 warning: …')."""
    return [line for _, line in diagnostic_entries(report, lang, numbered)]


def diagnostic_entries(report: Report, lang: str = "en", numbered: bool = True) -> list[tuple[str, str]]:
    """(level, line) for each diagnostic, for the CLI to print each level in its own style."""
    return [(d.level, printable(warning_line(d, lang, number if numbered else None)))
            for number, d in enumerate(report.diagnostics, 1)]


def error_line(error: CnncalcError, lang: str = "en") -> str:
    return _error_line(error, lang)


# ---------------------------------------------------------------- comparison

_COMPARE_ROWS = (  # (catalogue key under totals.side., value, numeric); csv and json name them in English
    ("trainable", lambda t: t.trainable, True),
    ("params", lambda t: t.params, True),
    ("macs", lambda t: t.macs, True),
    ("flops", lambda t: t.flops, True),
    ("other_ops", lambda t: t.other_ops, True),
    ("activations", lambda t: t.activations, True),
    ("output", lambda t: shape_text(t.output_shape), False),
    ("rf", lambda t: rf_pair(t.rf.r_H, t.rf.r_W) if t.rf else "", False),
    ("layers", lambda t: t.layers, True),
)


def _side_title(key: str, lang: str = "en") -> str:
    return words(f"totals.side.{key}", lang)


def render_compare(comparison: Comparison, fmt: str, lang: str = "en") -> str:
    names = [f"{n} ({f})" for n, f in zip(comparison.names, comparison.files)]
    if fmt == "json":
        data = {"specs": [], "convention": CONVENTION}
        for name, file, t, e in zip(comparison.names, comparison.files, comparison.totals, comparison.errors):
            entry = {"spec": name, "file": file, "error": error_json(e) if e else None}
            for key, get, numeric in _COMPARE_ROWS:
                field = _side_title(key).split(" (")[0].lower().replace(" ", "_")
                entry[field] = get(t)
                if numeric:
                    base = get(comparison.totals[0])
                    entry[field + "_ratio"] = (get(t) / base) if base else None
            data["specs"].append(entry)
        return dumps(data)
    header = [words("totals.side.metric", lang)] + names
    body = []
    for key, get, numeric in _COMPARE_ROWS:
        base = get(comparison.totals[0])
        cells = [_side_title(key, lang)]
        for i, t in enumerate(comparison.totals):
            v = get(t)
            if numeric:
                text = f"{v:,}"
                if i > 0:
                    text += f" (×{v / base:.2f})" if base else " (—)"
            else:
                text = str(v)
            cells.append(text)
        body.append(cells)
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(["metric"] + [printable(f) for f in comparison.files])
        for key, get, _ in _COMPARE_ROWS:
            writer.writerow([_side_title(key)] + [get(t) for t in comparison.totals])
        return buffer.getvalue()
    if fmt == "markdown":
        lines = ["| " + " | ".join(header) + " |", "|:---|" + "---:|" * len(names)]
        lines = [printable(line) for line in lines]
        lines += ["| " + " | ".join(printable(c).replace("|", "\\|") for c in row) + " |" for row in body]
        return "\n".join(lines) + "\n"
    return box_table(header, body, ["left"] + ["right"] * len(names),
                     title=words("totals.side.title", lang), caption=words("totals.convention", lang))
