"""The JSON Schema comes from the same field tables the parser validates with."""

import json
import os

import pytest

from cnncalc import layers
from cnncalc.spec.schema import schema

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_kind_and_field_is_in_the_schema():
    alternatives = schema()["$defs"]["layer"]["anyOf"]
    by_head = {next(iter(a["required"])): a for a in alternatives if a.get("required") and a["required"] != ["kind"]}
    for kind in layers.KINDS:
        for spelling in (kind.name,) + kind.aliases:
            props = by_head[spelling]["properties"]
            for field in kind.fields:
                for key in (field.name,) + field.aliases:
                    assert key in props, (spelling, key)
            assert set(props) == {spelling, "name", "from"} | {k for f in kind.fields for k in (f.name,) + f.aliases}


def test_schema_is_json():
    json.dumps(schema())


jsonschema = pytest.importorskip("jsonschema")


def load(path):
    import yaml

    with open(path) as fh:
        return yaml.safe_load(fh)


@pytest.mark.parametrize("spec", sorted(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(ROOT, "specs"))
                                        for f in fs if f.endswith(".yaml")))
def test_shipped_specs_validate(spec):
    jsonschema.validate(load(spec), schema())


@pytest.mark.parametrize("layer", ["{conv: {filters: 8, kernal: 3}}", "{conv: {filters: -1, kernel: 3}}",
                                   "{dropout: 2}", "{maxpool: {kernel: 2, ceil_mode: 3}}"])
def test_bad_layers_are_rejected(layer):
    import yaml

    doc = yaml.safe_load(f"input: [8, 8, 3]\nlayers:\n  - {layer}\n")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(doc, schema())
