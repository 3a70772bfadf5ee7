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


def test_schema_top_level(schema):
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["input", "layers"]
    assert set(schema["properties"]) == {"name", "description", "input", "layers", "blocks"}


def test_every_spelling_of_every_kind_has_exactly_its_fields(schema):
    by_head = {a["required"][0]: a for a in alternatives(schema)
               if a.get("required") and a["required"] != ["kind"] and a["required"][0] not in ("parallel", "repeat")}
    expected_heads = {s for kind in layers.KINDS for s in spellings(kind)}
    assert set(by_head) == expected_heads
    for kind in layers.KINDS:
        for spelling in spellings(kind):
            alternative = by_head[spelling]
            assert alternative["additionalProperties"] is False
            # the head itself, the kind's field names and aliases (as siblings), and name/from
            assert set(alternative["properties"]) == {spelling, "name", "from"} | field_keys(kind), spelling
            head = alternative["properties"][spelling]["anyOf"]
            mapping = next(v for v in head if v.get("type") == "object")
            assert set(mapping["properties"]) == {"name", "from"} | field_keys(kind)
            assert mapping["additionalProperties"] is False
            assert ({"type": "null"} in head)                   # `- relu` alone
            assert (len(head) == 3) == (kind.short is not None)  # a short scalar only where the kind has one


def test_full_form_alternatives(schema):
    full = [a for a in alternatives(schema) if a.get("required") == ["kind"]]
    assert len(full) == len(layers.KINDS)
    for kind, alternative in zip(layers.KINDS, full):
        assert alternative["properties"]["kind"]["enum"] == list(spellings(kind))
        assert set(alternative["properties"]) == {"kind", "name", "from"} | field_keys(kind)


def test_field_defaults_and_types_follow_the_tables(schema):
    by_head = {a["required"][0]: a for a in alternatives(schema) if a.get("required")}
    conv = by_head["conv"]["properties"]
    assert conv["stride"]["default"] == 1 and conv["padding"]["default"] == 0 and conv["bias"]["default"] is True
    assert "default" not in conv["kernel"]                         # required: no default
    types = {f.name: f.type for f in layers.lookup("conv").fields}
    assert types["kernel"] == "pair" and types["groups"] == "groups"
    assert {"type": "boolean"} in conv["bias"]["anyOf"]


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
    "- parallel: [[relu]]",                         # one branch
    "- parallel: [[relu], []]\n  merge: mul",
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
    "- bn",
    "- dropout: 0.5",
])
def test_valid_layers_validate(validator, layer):
    text = HEAD + "".join("  " + line + "\n" for line in layer.splitlines())
    assert validator.is_valid(load(text)), layer
    parse_text(text, "s.yaml")                                     # the parser accepts it too
