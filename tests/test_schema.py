"""`cnncalc schema`: valid JSON, generated from the same field tables (`cnncalc.layers.KINDS`) the parser
validates with; with jsonschema installed, every shipped spec validates and broken layers do not."""

import json
import os

import pytest
import yaml
from typer.testing import CliRunner

from cnncalc import layers
from cnncalc.cli import app
from cnncalc.errors import SpecError
from cnncalc.spec.parser import parse_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(ROOT, "specs")) for f in fs
               if f.endswith(".yaml"))


@pytest.fixture(scope="module")
def schema():
    result = CliRunner().invoke(app, ["schema"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def alternatives(schema):
    return schema["$defs"]["layer"]["anyOf"]


def spellings(kind):
    return (kind.name,) + kind.aliases


def field_keys(kind):
    return {key for f in kind.fields for key in (f.name,) + f.aliases}


def resolve(schema, node):
    """Follow a local `$ref` (`#/$defs/…`, JSON Pointer) to the schema it names."""
    while "$ref" in node and set(node) <= {"$ref", "description", "default"}:
        node = _pointer(schema, node["$ref"])
    return node


def _pointer(schema, ref):
    assert ref.startswith("#/"), ref
    node = schema
    for part in ref[2:].split("/"):
        node = node[part]
    return node


def test_schema_top_level(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["input", "layers"]
    assert set(schema["properties"]) == {"name", "description", "input", "layers", "blocks", "aux"}


def test_one_definition_per_kind_referenced_by_every_spelling(schema):
    """Each kind's fields are written once, in `$defs/<kind>`; its spellings refer to it."""
    defs = schema["$defs"]
    by_ref = {}
    for a in alternatives(schema):
        if a.get("$ref"):
            by_ref.setdefault(a["$ref"], []).append(a)
    for kind in layers.KINDS:
        fields = defs[kind.name]
        assert set(fields["properties"]) == {"name", "from", "lint"} | field_keys(kind), kind.name
        head, full = by_ref.pop(f"#/$defs/{kind.name}")
        # the head form: exactly one of the spellings, each reading the kind's value definition
        assert set(head["properties"]) == set(spellings(kind))
        assert [o["required"] for o in head["oneOf"]] == [[s] for s in spellings(kind)]
        assert all(v == {"$ref": f"#/$defs/{kind.name}.value"} for v in head["properties"].values())
        assert head["unevaluatedProperties"] is False
        value = defs[f"{kind.name}.value"]["anyOf"]
        assert {"type": "null"} in value                                      # `- relu` alone
        mapping = next(v for v in value if v.get("type") == "object")
        assert mapping == {"type": "object", "$ref": f"#/$defs/{kind.name}", "unevaluatedProperties": False}
        assert (len(value) == 3) == (kind.short is not None)                  # a short value only where it has one
        # the full form
        assert full["required"] == ["kind"] and full["properties"]["kind"]["enum"] == list(spellings(kind))
        assert full["unevaluatedProperties"] is False
        # an alias is a reference to its field, not a copy
        for f in kind.fields:
            for alias in f.aliases:
                assert fields["properties"][alias]["$ref"] == f"#/$defs/{kind.name}/properties/{f.name}"
    assert by_ref == {}
    fixed = {"layer", "layers", "arg", "name", "from", "pos_int", "nonneg_int", "pair", "padding", "groups", "bool",
             "rate", "pos_float", "float"}
    assert not fixed & {k.name for k in layers.KINDS}                          # no kind hides a shared definition


def test_field_defaults_and_types_follow_the_tables(schema):
    conv = schema["$defs"]["conv"]["properties"]
    assert conv["stride"]["default"] == 1 and conv["padding"]["default"] == 0 and conv["bias"]["default"] is True
    assert "default" not in conv["kernel"]                         # required: no default
    for f in layers.lookup("conv").fields:
        assert conv[f.name]["$ref"] == f"#/$defs/{f.type}"
    assert {"type": "boolean"} in resolve(schema, conv["bias"])["anyOf"]


def test_schema_is_small(schema):
    """Before the `$defs`, every field was copied into every spelling: 15,177 lines for 20 kinds, about
    760 a kind. With one `$defs` entry per kind and `$ref`s for the spellings it is about 100 a kind;
    a schema that copies fields again grows far past 150 a kind."""
    from cnncalc import layers

    kinds = [k.name for k in layers.KINDS]
    assert len(json.dumps(schema, indent=2).splitlines()) < 150 * len(kinds)
    for kind in kinds:
        assert kind in schema["$defs"], kind


@pytest.fixture(scope="module")
def validator(schema):
    """Only the tests that validate need jsonschema: without it they skip, the ones above still run."""
    jsonschema = pytest.importorskip("jsonschema")
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)                                       # the schema itself is a valid JSON Schema
    return cls(schema)


def load(text):
    return yaml.safe_load(text)


@pytest.mark.parametrize("spec", SPECS, ids=[os.path.relpath(p, ROOT) for p in SPECS])
def test_shipped_specs_validate(validator, spec):
    with open(spec, encoding="utf-8") as fh:
        errors = [e.message for e in validator.iter_errors(load(fh))]
    assert errors == []


HEAD = "input: [8, 8, 3]\nlayers:\n"


@pytest.mark.parametrize("layer", [
    "- conv: {filters: 8, kernal: 3}",              # unknown field
    "- conv: {filters: 8, kernel: 3}\n  strid: 2",   # unknown sibling field
    "- conv: {filters: -1, kernel: 3}",             # negative
    "- conv: {filters: 0, kernel: 3}",              # zero
    "- conv: {filters: 8, kernel: [3, 3, 3]}",      # wrong pair
    "- conv: {filters: 8, kernel: 3, padding: sam}",
    "- conv: {filters: 8, kernel: 3, bias: 1}",     # wrong type
    "- conv: {filters: eight, kernel: 3}",
    "- dropout: 2",                                 # out of range
    "- maxpool: {kernel: 2, ceil_mode: 3}",
    "- relu: 3",                                    # no short value
    "- {kind: conv, filters: 8, kernl: 3}",         # unknown field in full form
    "- repeat: -1\n  layers: [relu]",
    "- parallel: []",                               # no branch
    "- parallel: [[relu], []]\n  merge: max",
    "- conv2d: {filters: 8, kernel: 3}\n  conv: 8",   # two spellings of one kind
    "- conv: 8\n  units: 3",                        # a field of another kind beside the head
    "- {kind: conv, filters: 8, kernel: 3, relu: null}",  # a second head in full form
    "- conv: {filters: 8, kernel: 3, name: 3}",     # name must be a string
    "- conv: {filters: 8, kernel: 3, kind: conv}",  # kind inside the mapping
    "- maxpool: {pool_size: 0}",                    # an alias keeps its field's type
    "- {kind: maxpool, kernel: 2, ceil: 2}",        # an alias in full form too
    "- conv: {filters: 8, kernel: 3, padding: [1, 2, 3]}",
    "- dense: 0",                                   # the short value keeps its field's type
    "- {kind: nonsense}",
])
def test_broken_layers_do_not_validate(validator, layer):
    text = HEAD + "".join("  " + line + "\n" for line in layer.splitlines())
    assert not validator.is_valid(load(text)), layer
    with pytest.raises(SpecError):                                 # and the parser agrees
        parse_text(text, "s.yaml")


@pytest.mark.parametrize("text", [
    "input: [8, 8, 3]\n",                                          # no layers
    "layers: [relu]\n",                                            # no input
    "input: [8, 8, 3]\nlayers: [relu]\nlayres: 1\n",               # unknown top-level key
    "input: [8, 0, 3]\nlayers: [relu]\n",                          # zero size
    "input: [8, 8]\nlayers: [relu]\n",                             # two sizes: neither [n] nor [n_H, n_W, n_C]
    "input: [8, 8, 3, 1]\nlayers: [relu]\n",
])
def test_broken_top_level_does_not_validate(validator, text):
    assert not validator.is_valid(load(text)), text
    with pytest.raises(SpecError):
        parse_text(text, "s.yaml")


@pytest.mark.parametrize("layer", [
    "- conv: {filters: 8, kernel: [3, 5], stride: [1, 2], padding: [0, 1, 2, 0], dilation: 2, groups: 2}",
    "- conv: {kernel: 3, groups: depthwise, use_bias: false}",
    "- maxpool: 2\n  stride: 1",
    "- {kind: fc, units: 3}",
    "- parallel: [[relu], [], [conv: {filters: 2, kernel: 1}]]\n  merge: concat\n  name: p",
    "- repeat: 2\n  layers: [relu, tanh]",
    "- parallel: [[relu]]\n  merge: add",             # one branch (a residual-free block, a gate's body)
    "- bn",
    "- dropout: 0.5",
    "- conv2d: {n_C: 4, f: [1, 3], use_bias: false}",  # aliases
    "- pool: 3\n  s: 1\n  p: 1\n  name: p1",
    "- {kind: avg_pool, pool_size: 2, count_include_pad: false}",
])
def test_valid_layers_validate(validator, layer):
    text = HEAD + "".join("  " + line + "\n" for line in layer.splitlines())
    assert validator.is_valid(load(text)), layer
    parse_text(text, "s.yaml")                                     # the parser accepts it too
