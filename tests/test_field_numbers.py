"""Float fields (leaky_relu's alpha, batchnorm's eps and momentum, dropout's rate) refuse what no
layer can use: NaN, ±infinity (YAML's .nan/.inf) and integers too large for a float, each as one
located error line; the same values through the CLI exit 1 without a traceback."""

import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.cli import app
from cnncalc.errors import SpecError

HUGE = "1" + "0" * 400  # an exact YAML int: float() of it overflows

SPEC = """name: t
input: [8, 8, 3]
layers:
  - conv: {{f: 3, n_C: 4}}
  - {kind}: {{{field}: {value}}}
"""


@pytest.mark.parametrize("kind,field", [("leaky_relu", "alpha"), ("batchnorm", "eps"), ("batchnorm", "momentum"),
                                        ("dropout", "rate")])
@pytest.mark.parametrize("value,reason", [(".nan", "must be finite"), (".inf", "must be finite"),
                                          ("-.inf", "must be finite"),
                                          pytest.param(HUGE, "out of range", id="400-digit-int")])
def test_non_finite_and_overflowing_floats_are_located_errors(tmp_path, kind, field, value, reason):
    path = tmp_path / "t.yaml"
    path.write_text(SPEC.format(kind=kind, field=field, value=value))
    if kind == "dropout" and value != HUGE:
        reason = "out of range|must be finite"  # a rate's range check may speak first
    with pytest.raises(SpecError, match=reason) as info:
        api.report(str(path))
    line = info.value.line()
    assert "\n" not in line and f"{path}:5:" in line and f"field '{field}'" in line
    result = CliRunner().invoke(app, ["summary", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "Traceback" not in result.output


def test_a_finite_value_is_still_read_exactly(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text(SPEC.format(kind="leaky_relu", field="alpha", value="0.25"))
    report = api.report(str(path))
    assert report.error is None
    node = next(n for n in report.graph.nodes if n.kind == "leaky_relu")
    assert node.fields["alpha"] == 0.25
