"""`cnncalc memory` as a table, JSON or CSV: the plan's rows by part, the network-wide parts, the peak and the
assumptions, in human units (KiB, MiB, GiB, powers of 1024) with the exact bytes beside them; JSON and CSV
carry bytes only. The words are the catalogue's (render/lang/memory.py)."""

from __future__ import annotations

import csv
import io

from cnncalc.analysis.memory import KEPT, LAYER_PARTS, NETWORK_PARTS, MemoryPlan
from cnncalc.render.columns import human_bytes
from cnncalc.render.lang import text
from cnncalc.render.report import dumps
from cnncalc.render.text_table import box_table, fit, wrap

# the table's columns: (key, heading key, short heading key or None, priority: 0 never leaves, larger leaves first)
COLUMNS = (("name", "memory.h.layer", None, 0), ("kind", "memory.h.kind", None, 4),
           ("outputs", "memory.h.outputs", None, 1), ("kept", "memory.h.kept", "memory.h.kept_short", 2),
           ("params", "memory.h.params", None, 3), ("grads", "memory.h.grads", None, 5),
           ("optimizer", "memory.h.optimizer", "memory.h.optimizer_short", 5), ("dx", "memory.h.dx", "memory.h.dx_short", 6),
           ("workspace", "memory.h.workspace", "memory.h.workspace_short", 6), ("total", "memory.h.total", None, 0))


def _size(n: int) -> str:
    return human_bytes(n) if n else "—"


def _values(parts: dict) -> dict:
    out = {k: parts[k] for k in LAYER_PARTS if k not in KEPT}
    out["kept"] = sum(parts[k] for k in KEPT)
    out["total"] = sum(parts.values())
    return out


def render(result: MemoryPlan, fmt: str, lang: str = "en", width: int | None = None, budget=None) -> str:
    """budget: (text, bytes, base key, m, plan at m, plan at m + 1) from analysis.memory.largest_batch, or None."""
    if fmt == "json":
        return dumps(as_json(result, budget))
    if fmt == "csv":
        return as_csv(result)
    return as_text(result, lang, width, budget)


def as_text(result: MemoryPlan, lang: str = "en", width: int | None = None, budget=None) -> str:
    body = []
    for row in result.rows:
        v = _values(row.parts)
        body.append([row.name, row.kind] + [_size(v[k]) for k, *_ in COLUMNS[2:]])
    totals = {k: sum(r.parts[k] for r in result.rows) for k in LAYER_PARTS}
    tv = _values(totals)
    footer = [[text("memory.total", lang), ""] + [_size(tv[k]) for k, *_ in COLUMNS[2:]]]
    headers = [text(h, lang) for _, h, _, _ in COLUMNS]
    short = [text(s, lang) if s else None for _, _, s, _ in COLUMNS]
    chosen = fit(headers, short, body + footer, [p for *_, p in COLUMNS], width)
    pick = chosen.kept
    justify = ["left", "left"] + ["right"] * (len(COLUMNS) - 2)
    out = [box_table(chosen.headers, [[r[i] for i in pick] for r in body], [justify[i] for i in pick],
                     footer=[[r[i] for i in pick] for r in footer],
                     title=text("memory.title", lang, spec=result.spec, batch=f"{result.batch:,}",
                                optimizer=result.optimizer)).rstrip("\n")]
    parts = [[text(f"memory.p.{k}", lang), _size(result.parts[k]), f"{result.parts[k]:,}"] for k in NETWORK_PARTS]
    out.append(box_table([text("memory.h.part", lang), text("memory.h.bytes", lang), text("memory.h.exact", lang)],
                         parts, ["left", "right", "right"]).rstrip("\n"))
    notes = []
    if chosen.left_out:
        notes.append(text("memory.left_out", lang, count=len(chosen.left_out), width=width,
                          names=", ".join(headers[i] for i in chosen.left_out)))
    notes += [text("memory.rows_note", lang), text("memory.peak", lang, peak=human_bytes(result.peak), exact=result.peak),
             text("memory.dx_note", lang, unshared=human_bytes(result.dx_unshared),
                  shared=human_bytes(result.parts["dx_shared"])),
             text("memory.arena_note", lang, layer=result.arena_layer) if result.arena_layer
             else text("memory.no_arena", lang),
             text("memory.optimizers", lang)]
    paths = ", ".join(f"{p} ({len(names)})" for p, names in result.paths.items()) or text("memory.no_conv", lang)
    notes.append(text("memory.assume", lang, lanes=result.lanes, paths=paths))
    if any(p.startswith("max(") for p in result.paths):
        notes.append(text("memory.assume_max", lang))
    if budget is not None:
        notes.append(budget_line(budget, lang))
    out.extend(wrap(n, width) for n in notes)
    return "\n".join(out) + "\n"


def budget_line(budget, lang: str = "en") -> str:
    given, nbytes, base, m, fits, over = budget
    return text("memory.budget", lang, budget=given, exact=nbytes, base=text(base, lang), m=f"{m:,}",
                fit=human_bytes(fits.peak), fit_exact=fits.peak, m1=f"{m + 1:,}", over=human_bytes(over.peak),
                over_exact=over.peak)


def as_json(result: MemoryPlan, budget=None) -> dict:
    data = {"spec": result.spec, "batch": result.batch, "optimizer": result.optimizer, "lanes": result.lanes,
            "bytes": dict(result.parts), "peak_bytes": result.peak, "dx_unshared_bytes": result.dx_unshared,
            "arena_layer": result.arena_layer or None, "conv_paths": result.paths,
            "layers": [{"name": r.name, "kind": r.kind, "depth": r.depth, "folded": r.folded,
                        "conv_path": r.path or None, "bytes": dict(r.parts), "total_bytes": r.total}
                       for r in result.rows]}
    if budget is not None:
        given, nbytes, base, m, fits, over = budget
        data["budget"] = {"given": given, "bytes": nbytes, "largest_batch": m, "peak_bytes": fits.peak,
                          "next_batch_peak_bytes": over.peak}
    return data


def as_csv(result: MemoryPlan) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["name", "kind", "depth", "conv_path"] + [f"{k}_bytes" for k in LAYER_PARTS] + ["total_bytes"])
    for r in result.rows:
        writer.writerow([r.name, r.kind, r.depth, r.path] + [r.parts[k] for k in LAYER_PARTS] + [r.total])
    return buffer.getvalue()
