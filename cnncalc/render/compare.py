"""`cnncalc compare` as text or JSON: each design against the first, metric by metric, stage by stage,
with the closed form of a known pair and the bias term named. The box table is `text_table.box_table`,
the units and receptive fields those of every other table (`render.columns`)."""

from __future__ import annotations

import dataclasses

from cnncalc.analysis.compare import METRICS, BottleneckConv, DesignComparison, SeparableConv, StackedConvs
from cnncalc.render.columns import human_bytes, rf_pair, rf_value, shape_text
from cnncalc.render.lang import text
from cnncalc.render.report import dumps, error_json
from cnncalc.render.text_table import box_table


def _ratio(base: int, value: int) -> float | None:
    return value / base if base else None


def _cell(metric: str, value: int) -> str:
    return f"{value:,} ({human_bytes(value)})" if metric == "activation_bytes" else f"{value:,}"


def _rf_text(rf) -> str:
    return rf_pair(*rf) if rf else "—"


def _closed_form(c, names: list[str], lang: str) -> str:
    if isinstance(c, StackedConvs):
        return text("compare.stacked", lang, c=c, stack=names[c.stack], single=names[c.single])
    if isinstance(c, SeparableConv):
        return text("compare.separable", lang, c=c, separable=names[c.separable], standard=names[c.standard])
    return text("compare.bottleneck", lang, c=c, bottleneck=names[c.bottleneck], standard=names[c.standard])


def render(result: DesignComparison, fmt: str, lang: str = "en") -> str:
    if fmt == "json":
        return dumps(as_json(result))
    return as_text(result, lang)


def as_text(result: DesignComparison, lang: str = "en") -> str:
    names = [d.name for d in result.designs]
    base = result.designs[0]
    out = []
    for pair in result.pairs:
        other = result.designs[pair.index]
        verdict = {True: text("compare.same", lang), False: text("compare.differs", lang)}
        out.append(text("compare.title", lang, base=base.name, other=other.name))
        out.append(text("compare.output", lang, base=shape_text(base.output_shape),
                        other=shape_text(other.output_shape), verdict=verdict[pair.same_output]))
        out.append(text("compare.rf", lang, base=_rf_text(base.rf), other=_rf_text(other.rf),
                        verdict=verdict[pair.same_rf]))
        body = []
        for m in METRICS:
            a, b = getattr(base, m), getattr(other, m)
            ratio = _ratio(a, b)
            body.append([text(f"compare.m.{m}", lang), _cell(m, a), _cell(m, b), f"{b - a:+,}",
                         f"×{ratio:.2f}" if ratio is not None else "—"])
        out.append(box_table([text("compare.metric", lang), base.name, other.name, text("compare.difference", lang),
                              text("compare.ratio", lang)], body, ["left", "right", "right", "right", "right"])
                   .rstrip("\n"))
        out.append(text("compare.biases", lang, b0=base.biases, b1=other.biases, t0=base.trainable,
                        t1=other.trainable, w0=base.weights, w1=other.weights, o0=base.other_params,
                        o1=other.other_params))
        if pair.closed_form is not None:
            out.append(_closed_form(pair.closed_form, names, lang))
        out.append(text("compare.stages", lang))
        rows = []
        for s in pair.stages:
            label = f"{s.n_H}×{s.n_W}" if s.n_H is not None else text("compare.vector", lang)
            p0, p1 = (s.base.params if s.base else 0), (s.other.params if s.other else 0)
            m0, m1 = (s.base.macs if s.base else 0), (s.other.macs if s.other else 0)
            rows.append([label, _span(s.base), _span(s.other), f"{p0:,}", f"{p1:,}", f"{p1 - p0:+,}",
                         f"{m0:,}", f"{m1:,}", f"{m1 - m0:+,}"])
        out.append(box_table([text("compare.stage", lang), text("compare.rows", lang, spec=base.name),
                              text("compare.rows", lang, spec=other.name),
                              text("compare.params_of", lang, spec=base.name),
                              text("compare.params_of", lang, spec=other.name), text("compare.d_params", lang),
                              text("compare.macs_of", lang, spec=base.name),
                              text("compare.macs_of", lang, spec=other.name), text("compare.d_macs", lang)],
                             rows, ["left", "left", "left"] + ["right"] * 6).rstrip("\n"))
        out.append("")
    return "\n".join(out)


def _span(stage) -> str:
    if stage is None:
        return "—"
    return stage.first if stage.rows == 1 else f"{stage.first} … {stage.last} ({stage.rows})"


def _record(record) -> dict:
    out = {"what": {StackedConvs: "stacked", SeparableConv: "separable", BottleneckConv: "bottleneck"}[type(record)]}
    out.update(dataclasses.asdict(record))
    for name, value in vars(type(record)).items():
        if isinstance(value, property):
            v = getattr(record, name)
            out[name] = [v.numerator, v.denominator] if name == "ratio" else v
    return out


def _design_json(d) -> dict:
    data = {m: getattr(d, m) for m in METRICS}
    data.update({"spec": d.name, "file": d.file, "output_shape": list(d.output_shape),
                 "receptive_field": [rf_value(v) for v in d.rf] if d.rf else None,
                 "stages": [dataclasses.asdict(s) for s in d.stages]})
    return data


def as_json(result: DesignComparison) -> dict:
    base = result.designs[0]
    comparisons = []
    for pair in result.pairs:
        other = result.designs[pair.index]
        comparisons.append({
            "spec": other.name, "against": base.name, "same_output": pair.same_output,
            "same_receptive_field": pair.same_rf,
            "metrics": {m: {"base": getattr(base, m), "value": getattr(other, m),
                            "difference": getattr(other, m) - getattr(base, m),
                            "ratio": _ratio(getattr(base, m), getattr(other, m))} for m in METRICS},
            "stages": [{"n_H": s.n_H, "n_W": s.n_W, "base": dataclasses.asdict(s.base) if s.base else None,
                        "value": dataclasses.asdict(s.other) if s.other else None} for s in pair.stages],
            "closed_form": _record(pair.closed_form) if pair.closed_form is not None else None,
        })
    return {"specs": [_design_json(d) for d in result.designs], "comparisons": comparisons,
            "errors": [error_json(e) if e else None for e in result.errors]}
