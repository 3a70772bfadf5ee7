"""Random valid specs never crash; random corruptions give exactly one clean, located error."""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnncalc.analysis import analyze
from cnncalc.errors import CnncalcError
from cnncalc.spec.parser import parse_text

LAYER = st.one_of(
    st.builds(lambda f, k, s, p, d, b: f"- conv: {{filters: {f}, kernel: {k}, stride: {s}, padding: {p}, "
                                       f"dilation: {d}, bias: {str(b).lower()}}}",
              st.integers(1, 8), st.integers(1, 5), st.integers(1, 3),
              st.sampled_from(["0", "1", "same", "valid", "[1, 2]", "[0, 1, 1, 0]"]), st.integers(1, 2), st.booleans()),
    st.builds(lambda kind, k, s, ceil: f"- {kind}: {{kernel: {k}, stride: {s}, ceil_mode: {str(ceil).lower()}}}",
              st.sampled_from(["maxpool", "avgpool"]), st.integers(1, 3), st.integers(1, 3), st.booleans()),
    st.sampled_from(["- relu", "- tanh", "- sigmoid", "- batchnorm", "- dropout: 0.2", "- leaky_relu: 0.1",
                     "- identity", "- flatten", "- global_avgpool", "- dense: 7", "- softmax"]),
    st.just("- parallel: [[conv: {filters: 3, kernel: 3, padding: same}], []]\n  merge: concat"),
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layers=st.lists(LAYER, min_size=1, max_size=10), n_H=st.integers(1, 40), n_W=st.integers(1, 40),
       n_C=st.integers(1, 5))
def test_random_valid_specs_never_crash(layers, n_H, n_W, n_C):
    text = f"input: [{n_H}, {n_W}, {n_C}]\nlayers:\n" + "\n".join("  " + line.replace("\n", "\n  ")
                                                                    for line in layers) + "\n"
    report = analyze(parse_text(text, "r.yaml"))
    for row in report.rows:
        assert all(isinstance(v, int) and v >= 1 for v in row.out_shape)
        assert isinstance(row.macs, int) and row.macs >= 0
    if report.error is not None:
        assert str(report.error).startswith("r.yaml:")


VALID = """name: base
input: [32, 32, 3]
blocks:
  unit:
    args: {filters: null}
    layers:
      - conv: {filters: $filters, kernel: 3, padding: 1}
      - relu
layers:
  - unit: {filters: 8}
  - maxpool: 2
  - parallel:
      - [conv: {filters: 4, kernel: 1}]
      - []
    merge: concat
  - repeat: 2
    layers: [unit: {filters: 6}]
  - flatten
  - dense: 10
  - softmax
"""

JUNK = ["-1", "0", "x", "[", "]", "{", "}", ":", "same", "null", "99999999999", "- relu", "  ", "&a", "*a", "!!str"]


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10**9), edits=st.integers(1, 4))
def test_random_corruptions_give_one_clean_error(seed, edits):
    rng = random.Random(seed)
    lines = VALID.splitlines()
    for _ in range(edits):
        i = rng.randrange(len(lines))
        action = rng.randrange(4)
        if action == 0:
            del lines[i]
            if not lines:
                lines = ["x"]
        elif action == 1:
            lines.insert(i, lines[i])
        elif action == 2 and lines[i]:
            j = rng.randrange(len(lines[i]))
            lines[i] = lines[i][:j] + rng.choice(JUNK) + lines[i][j + 1:]
        else:
            words = lines[i].split(" ")
            words[rng.randrange(len(words))] = rng.choice(JUNK)
            lines[i] = " ".join(words)
    text = "\n".join(lines) + "\n"
    try:
        report = analyze(parse_text(text, "c.yaml"))
    except CnncalcError as exc:
        message = str(exc)
        assert "\n" not in message and message.startswith("c.yaml")
        return
    if report.error is not None:
        assert "\n" not in str(report.error) and str(report.error).startswith("c.yaml:")
