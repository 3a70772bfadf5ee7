"""JSON Schema of the spec language, generated from the kinds' field tables.

The parser validates with the same tables (`layers.base.normalise`), so the
schema cannot drift from what `cnncalc` accepts; editors using
yaml-language-server complete and check specs with it.
"""

from __future__ import annotations

from cnncalc import __version__
from cnncalc import layers as registry
from cnncalc.layers.base import Field, allowed_text
from cnncalc.spec.parser import MERGES

_ARG = {"type": "string", "pattern": r"\$", "description": "a block argument ($name) or integer expression"}
_POS = {"type": "integer", "minimum": 1}
_NONNEG = {"type": "integer", "minimum": 0}


def _type_schema(type_name: str) -> dict:
    if type_name == "pos_int":
        return dict(_POS)
    if type_name == "nonneg_int":
        return dict(_NONNEG)
    if type_name == "pair":
        return {"anyOf": [_POS, {"type": "array", "items": _POS, "minItems": 2, "maxItems": 2}]}
    if type_name == "padding":
        return {"anyOf": [_NONNEG, {"type": "array", "items": _NONNEG, "minItems": 2, "maxItems": 2},
                          {"type": "array", "items": _NONNEG, "minItems": 4, "maxItems": 4},
                          {"enum": ["same", "valid"]}]}
    if type_name == "groups":
        return {"anyOf": [_POS, {"const": "depthwise"}]}
    if type_name == "bool":
        return {"type": "boolean"}
    if type_name == "rate":
        return {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    if type_name == "pos_float":
        return {"type": "number", "exclusiveMinimum": 0}
    return {"type": "number"}


def field_schema(f: Field) -> dict:
    schema = {"anyOf": [_type_schema(f.type), _ARG], "description": f"{f.doc} ({allowed_text(f.type)})"}
    if not f.required and f.default is not None:
        schema["default"] = f.default
    return schema


def _common() -> dict:
    return {"name": {"type": "string", "description": "a layer name, unique in its block"},
            "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                     "description": "the layer(s) read (default: the previous one); 'input' is the block's input"}}


def schema() -> dict:
    kind_names = []
    alternatives = []
    for kind in registry.KINDS:
        props = {}
        for f in kind.fields:
            for key in (f.name,) + f.aliases:
                props[key] = field_schema(f)
        props.update(_common())
        body = {"type": "object", "properties": dict(props), "additionalProperties": False}
        value = [{"type": "null"}, body]
        if kind.short:
            value.insert(0, field_schema(kind.field(kind.short)))
        for spelling in (kind.name,) + kind.aliases:
            kind_names.append(spelling)
            alternatives.append({
                "type": "object", "description": kind.doc, "required": [spelling],
                "properties": {spelling: {"anyOf": value}, **props}, "additionalProperties": False})
        alternatives.append({
            "type": "object", "description": f"{kind.name} (full form): {kind.doc}", "required": ["kind"],
            "properties": {"kind": {"enum": [kind.name, *kind.aliases]}, **props}, "additionalProperties": False})
    heads = kind_names + ["parallel", "repeat", "kind"]
    alternatives += [
        {"type": "object", "description": "branches side by side, merged", "required": ["parallel"],
         "properties": {"parallel": {"type": "array", "minItems": 2,
                                     "items": {"anyOf": [{"$ref": "#/$defs/layers"}, {"$ref": "#/$defs/layer"},
                                                         {"type": "null"}, _ARG]}},
                        "merge": {"enum": list(MERGES)}, **_common()}, "additionalProperties": False},
        {"type": "object", "description": "the layers below, k times", "required": ["repeat", "layers"],
         "properties": {"repeat": {"anyOf": [_NONNEG, _ARG]}, "layers": {"$ref": "#/$defs/layers"}, **_common()},
         "additionalProperties": False},
        {"type": "object", "description": "a call of a block from blocks:, with its arguments",
         "minProperties": 1, "not": {"anyOf": [{"required": [h]} for h in heads]}},
        {"type": "string", "description": "a kind or block with no fields, e.g. relu"},
    ]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"cnncalc-spec-{__version__}",
        "title": "cnncalc network spec",
        "type": "object",
        "required": ["input", "layers"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "input": {"anyOf": [{"type": "array", "items": _POS, "minItems": n, "maxItems": n} for n in (1, 3)],
                      "description": "[n_H, n_W, n_C] or [n]"},
            "layers": {"$ref": "#/$defs/layers"},
            "blocks": {"type": "object", "additionalProperties": {"anyOf": [
                {"$ref": "#/$defs/layers"},
                {"type": "object", "required": ["layers"], "additionalProperties": False,
                 "properties": {"args": {"anyOf": [{"type": "object"},
                                                   {"type": "array", "items": {"type": "string"}}]},
                                "layers": {"$ref": "#/$defs/layers"}, "description": {"type": "string"}}}]}},
        },
        "$defs": {
            "layers": {"type": "array", "items": {"$ref": "#/$defs/layer"}},
            "layer": {"anyOf": alternatives},
        },
    }

