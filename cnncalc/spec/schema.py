"""JSON Schema of the spec language, generated from the kinds' field tables.

The parser validates with the same tables (`layers.base.normalise`), so the
schema cannot drift from what `cnncalc` accepts; editors using
yaml-language-server complete and check specs with it.
"""

from __future__ import annotations

from cnncalc import __version__
from cnncalc import layers as registry
from cnncalc.layers.base import Field, allowed_text
from cnncalc.spec.parser import CONSTRUCTS, MERGES

_ARG = {"type": "string", "pattern": r"\$", "description": "a block argument ($name) or integer expression"}
_POS = {"type": "integer", "minimum": 1}
_NONNEG = {"type": "integer", "minimum": 0}
_TYPES = ("pos_int", "nonneg_int", "pair", "padding", "groups", "bool", "rate", "pos_float", "float")


def _ref(name: str) -> dict:
    return {"$ref": f"#/$defs/{name}"}


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
    """A field: a reference to its value type (`$defs/pair`, …), with the field's own description and default."""
    if f.type == "choice":
        schema = {"anyOf": [{"enum": list(f.choices)}, _ref("arg")],
                  "description": f"{f.doc} ({' or '.join(f.choices)})"}
    else:
        schema = {"$ref": f"#/$defs/{f.type}", "description": f"{f.doc} ({allowed_text(f.type)})"}
    if not f.required and f.default is not None:
        schema["default"] = f.default
    return schema


def _kind_fields(kind) -> dict:
    """`$defs/<kind>`: the kind's fields (an alias refers to its field), with name and from.

    No additionalProperties here: each use closes the object with unevaluatedProperties,
    which sees the properties this definition evaluates (JSON Schema 2020-12).
    """
    props = {}
    for f in kind.fields:
        props[f.name] = field_schema(f)
        for alias in f.aliases:
            props[alias] = {"$ref": f"#/$defs/{kind.name}/properties/{f.name}", "description": f"same as {f.name}"}
    props["name"] = _ref("name")
    props["from"] = _ref("from")
    props["lint"] = _ref("lint")
    return {"description": kind.doc, "properties": props}


def _kind_value(kind) -> dict:
    """`$defs/<kind>.value`: what may follow the kind's name: its short value, nothing, or a mapping of fields."""
    value = [{"type": "null"}, {"type": "object", "$ref": f"#/$defs/{kind.name}", "unevaluatedProperties": False}]
    if kind.short:
        value.insert(0, _ref(f"{kind.name}/properties/{kind.field(kind.short).name}"))
    return {"anyOf": value}


def _lint_schema() -> dict:
    from cnncalc.analysis.lint import LINT_IDS

    ids = {"enum": list(LINT_IDS)}
    return {"type": "object", "required": ["ignore"], "additionalProperties": False,
            "description": "lints silenced here (cnncalc lint): on a layer, a block call, or a block",
            "properties": {"ignore": {"anyOf": [ids, {"type": "array", "items": ids, "minItems": 1}]}}}


def schema() -> dict:
    """The spec language as JSON Schema 2020-12; each kind's fields are written once, in `$defs/<kind>`."""
    defs: dict = {
        "layers": {"type": "array", "items": _ref("layer")},
        "arg": _ARG,
        "name": {"type": "string", "description": "a layer name, unique in its block"},
        "from": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
                 "description": "the layer(s) read (default: the previous one); 'input' is the block's input"},
        "lint": _lint_schema(),
    }
    for t in _TYPES:
        defs[t] = {"anyOf": [_type_schema(t), _ref("arg")], "description": allowed_text(t)}
    kind_names = []
    alternatives = []
    for kind in registry.KINDS:
        defs[kind.name] = _kind_fields(kind)
        defs[f"{kind.name}.value"] = _kind_value(kind)
        spellings = [kind.name, *kind.aliases]
        kind_names += spellings
        alternatives.append({
            "description": kind.doc, "type": "object", "$ref": f"#/$defs/{kind.name}",
            "properties": {s: _ref(f"{kind.name}.value") for s in spellings},
            "oneOf": [{"required": [s]} for s in spellings], "unevaluatedProperties": False})
        alternatives.append({
            "description": f"{kind.name} (full form): {kind.doc}", "type": "object", "$ref": f"#/$defs/{kind.name}",
            "required": ["kind"], "properties": {"kind": {"enum": spellings}}, "unevaluatedProperties": False})
    heads = kind_names + list(CONSTRUCTS) + ["kind"]
    common = {"name": _ref("name"), "from": _ref("from")}
    flat = {"type": "boolean", "description": "add no segment to the names: its layers are named as if written "
                                              "in the enclosing scope"}
    alternatives += [
        {"type": "object", "description": "branches side by side, merged", "required": ["parallel"],
         "properties": {"parallel": {"type": "array", "minItems": 1,
                                     "items": {"anyOf": [_ref("layers"), _ref("layer"), {"type": "null"},
                                                         _ref("arg")]}},
                        "merge": {"enum": list(MERGES)}, "flat": flat, **common}, "additionalProperties": False},
        {"type": "object", "description": "the layers below, k times", "required": ["repeat", "layers"],
         "properties": {"repeat": {"anyOf": [_NONNEG, _ref("arg")]}, "layers": _ref("layers"), "flat": flat,
                        **common},
         "additionalProperties": False},
        {"type": "object", "description": "a chain whose layers without a name are named 0, 1, 2, … (nn.Sequential)",
         "required": ["sequential"], "properties": {"sequential": _ref("layers"), **common},
         "additionalProperties": False},
        {"type": "object", "description": "a call of a block from blocks:, with its arguments",
         "minProperties": 1, "not": {"anyOf": [{"required": [h]} for h in heads]}},
        {"type": "string", "description": "a kind or block with no fields, e.g. relu"},
    ]
    defs["layer"] = {"anyOf": alternatives}
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
            "layers": _ref("layers"),
            "blocks": {"type": "object", "additionalProperties": {"anyOf": [
                _ref("layers"),
                {"type": "object", "required": ["layers"], "additionalProperties": False,
                 "properties": {"args": {"anyOf": [{"type": "object"},
                                                   {"type": "array", "items": {"type": "string"}}]},
                                "layers": _ref("layers"), "description": {"type": "string"},
                                "lint": _ref("lint"),
                                "sequential": {"type": "boolean",
                                               "description": "layers without a name are named 0, 1, 2, …"}}}]}},
            "aux": {"type": "array", "description": "extra outputs used only in training: "
                                                    "loss += weight · cross-entropy of each",
                    "items": {"type": "object", "required": ["from", "weight"], "additionalProperties": False,
                              "properties": {"from": {"type": "string", "description": "the layer (or block "
                                                      "call) whose output are the aux head's class scores"},
                                             "weight": {"type": "number", "minimum": 0,
                                                        "description": "the aux loss's weight, e.g. 0.3"}}}},
        },
        "$defs": defs,
    }
