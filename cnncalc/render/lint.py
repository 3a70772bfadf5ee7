"""`cnncalc lint` as text or JSON: each finding's place, id, reason and fix, from the catalogue."""

from __future__ import annotations

import dataclasses

from cnncalc.analysis.lint import Finding, LintReport
from cnncalc.errors import printable
from cnncalc.render.lang import text
from cnncalc.render.report import dumps


def reason(f: Finding, lang: str = "en") -> str:
    return text(f"lint.{f.id}.reason", lang, layer=f.layer, d=f.detail)


def fix(f: Finding, lang: str = "en") -> str:
    return text(f"lint.{f.id}.fix", lang, layer=f.layer, d=f.detail)


def render(result: LintReport, fmt: str, lang: str = "en") -> str:
    if fmt == "json":
        return dumps(as_json(result, lang))
    return as_text(result, lang)


def as_text(result: LintReport, lang: str = "en") -> str:
    g = result.report.graph
    lines = [text("lint.title", lang, spec=g.name)]
    for f in result.findings:
        where = f"{f.mark}: " if f.mark else ""
        lines.append(printable(f"{where}{f.layer}: {f.id}: {reason(f, lang)}"))
        lines.append(printable(f"  {text('lint.fix', lang)}: {fix(f, lang)}"))
    if not result.findings:
        lines.append(text("lint.none", lang))
    lines.append(text("lint.summary", lang, found=len(result.findings), silenced=len(result.silenced)))
    return "\n".join(lines) + "\n"


def detail_json(detail) -> dict:
    """A finding's record as numbers, with its derived counts (the properties the wording quotes)."""
    out = dataclasses.asdict(detail)
    for name, value in vars(type(detail)).items():
        if isinstance(value, property):
            out[name] = getattr(detail, name)
    return out


def finding_json(f: Finding, lang: str = "en") -> dict:
    return {"id": f.id, "layer": f.layer, "file": f.mark.file if f.mark else None,
            "line": f.mark.line if f.mark else None, "column": f.mark.column if f.mark else None,
            "reason": reason(f, lang), "fix": fix(f, lang), "detail": detail_json(f.detail)}


def as_json(result: LintReport, lang: str = "en") -> dict:
    g = result.report.graph
    return {"spec": g.name, "file": g.file,
            "findings": [finding_json(f, lang) for f in result.findings],
            "silenced": [finding_json(f, lang) for f in result.silenced]}
