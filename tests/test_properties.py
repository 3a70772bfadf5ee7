"""Properties over random specs (hypothesis):

* random valid chains — random kinds with random valid fields on random input sizes — never crash: they
  give a report, whose shapes, parameters and MACs agree with an independent oracle that counts window
  positions by brute force, or whose error is the one the oracle predicts, at the layer it predicts;
* random corruptions of valid spec texts give either a result or exactly one CnncalcError whose line
  starts with the file name, a line and a column — never another exception type;
* folding nested blocks, repeats and branches at any depth keeps every column summing to the totals.
"""

import json
import os
import random
import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from cnncalc.analysis import analyze, fold
from cnncalc.cli import app
from cnncalc.errors import CnncalcError
from cnncalc.render.report import render
from cnncalc.spec.parser import parse_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# ---------------------------------------------------------------- an independent oracle

class Impossible(Exception):
    """The oracle's verdict that this layer cannot follow the previous one."""


def count_windows(n, f, s, p_a, p_b, d, ceil):
    """Number of window positions along one axis, by walking the starts 0, s, 2s, …: floor mode keeps
    windows inside the padded input; ceil mode (PyTorch's) also one that overhangs the end by fewer than
    s positions, if it starts inside the input or the left padding."""
    extent = d * (f - 1) + 1
    total = n + p_a + p_b
    count, start = 0, 0
    while True:
        overhang = start + extent - total
        if not ((overhang < s and start < n + p_a) if ceil else overhang <= 0):
            return count
        count += 1
        start += s


def pair(v):
    return (v, v) if isinstance(v, int) else tuple(v)


def pads_of(padding):
    """(top, bottom, left, right) for an explicit padding, None for 'same'."""
    if padding == "same":
        return None
    if padding == "valid":
        return (0, 0, 0, 0)
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


def slide(shape, f, s, d, padding, ceil=False):
    n_H, n_W = shape[0], shape[1]
    if padding == "same":
        return -(-n_H // s[0]), -(-n_W // s[1])        # TensorFlow: ⌈n/s⌉ whatever the kernel
    t, b, l, r = pads_of(padding)
    out = (count_windows(n_H, f[0], s[0], t, b, d[0], ceil), count_windows(n_W, f[1], s[1], l, r, d[1], ceil))
    if min(out) < 1:
        raise Impossible("window larger than the padded input")
    return out


def oracle(layer, shape):
    """(out_shape, trainable, macs) of one generated layer, or Impossible."""
    kind, fields = layer
    is_map = len(shape) == 3
    if kind == "conv":
        if not is_map:
            raise Impossible("conv on a flat vector")
        n_C_prev = shape[2]
        groups = n_C_prev if fields["groups"] == "depthwise" else fields["groups"]
        n_C = fields.get("filters", n_C_prev)
        if n_C_prev % groups or n_C % groups:
            raise Impossible("groups")
        f, s, d = pair(fields["kernel"]), pair(fields["stride"]), pair(fields["dilation"])
        n_H, n_W = slide(shape, f, s, d, fields["padding"])
        weights = f[0] * f[1] * (n_C_prev // groups) * n_C
        macs = n_H * n_W * n_C * f[0] * f[1] * (n_C_prev // groups)
        return (n_H, n_W, n_C), weights + (n_C if fields["bias"] else 0), macs
    if kind in ("maxpool", "avgpool"):
        if not is_map:
            raise Impossible("pool on a flat vector")
        f = pair(fields["kernel"])
        s = pair(fields["stride"]) if fields.get("stride") is not None else f
        pads = pads_of(fields["padding"])
        if pads is not None and (max(pads[:2]) > f[0] // 2 or max(pads[2:]) > f[1] // 2):
            raise Impossible("pool padding over half the window (PyTorch refuses it)")
        n_H, n_W = slide(shape, f, s, (1, 1), fields["padding"], fields["ceil_mode"])
        return (n_H, n_W, shape[2]), 0, 0
    if kind == "global_avgpool":
        if not is_map:
            raise Impossible("global pool on a flat vector")
        return (shape[2],), 0, 0
    if kind == "flatten":
        return ((shape[0] * shape[1] * shape[2],) if is_map else shape), 0, 0
    if kind == "dense":
        if is_map:
            raise Impossible("dense on a map")
        units = fields["units"]
        return (units,), (shape[0] + 1) * units if fields["bias"] else shape[0] * units, shape[0] * units
    if kind == "batchnorm":
        return shape, 2 * shape[-1], 0
    if kind == "parallel_concat":      # [[conv same, F filters], []]
        if not is_map:
            raise Impossible("conv on a flat vector")
        k, filters = fields["kernel"], fields["filters"]
        return (shape[0], shape[1], shape[2] + filters), (k * k * shape[2] + 1) * filters, \
            shape[0] * shape[1] * filters * k * k * shape[2]
    if kind == "parallel_add":         # [[depthwise conv same], []]
        if not is_map:
            raise Impossible("conv on a flat vector")
        return shape, 9 * shape[2] + shape[2], shape[0] * shape[1] * shape[2] * 9
    return shape, 0, 0                 # element-wise kinds and dropout


# ---------------------------------------------------------------- random valid layers

small = st.integers(1, 4)
pair_or_int = st.one_of(small, st.lists(small, min_size=2, max_size=2))
paddings = st.one_of(st.integers(0, 2), st.lists(st.integers(0, 2), min_size=2, max_size=2),
                     st.lists(st.integers(0, 2), min_size=4, max_size=4), st.sampled_from(["same", "valid"]))


@st.composite
def conv_layer(draw):
    strides = st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2, max_size=2))
    fields = {"kernel": draw(pair_or_int), "stride": draw(strides),
              "padding": draw(paddings), "dilation": draw(st.sampled_from([1, 2, [1, 2]])),
              "groups": draw(st.sampled_from([1, 1, 2, 3, "depthwise"])), "bias": draw(st.booleans())}
    if fields["groups"] != "depthwise" or draw(st.booleans()):
        fields["filters"] = draw(st.integers(1, 8))
    return ("conv", fields)


@st.composite
def pool_layer(draw):
    kernel = draw(pair_or_int)
    ceil = draw(st.booleans())
    # PyTorch allows padding up to half the kernel; keep ceil mode inside that rule
    limit = min(pair(kernel)) // 2
    padding = draw(st.integers(0, limit)) if ceil else draw(st.one_of(st.integers(0, 2), st.just("valid")))
    fields = {"kernel": kernel, "stride": draw(st.one_of(st.none(), st.integers(1, 3))), "padding": padding,
              "ceil_mode": ceil}
    return (draw(st.sampled_from(["maxpool", "avgpool"])), fields)


SIMPLE = [("relu", {}), ("leaky_relu", {"alpha": 0.1}), ("sigmoid", {}), ("tanh", {}), ("softmax", {}),
          ("identity", {}), ("batchnorm", {}), ("dropout", {"rate": 0.25}), ("flatten", {}), ("global_avgpool", {})]

layer_strategy = st.one_of(
    conv_layer(), pool_layer(), st.sampled_from(SIMPLE),
    st.builds(lambda u, b: ("dense", {"units": u, "bias": b}), st.integers(1, 10), st.booleans()),
    st.builds(lambda k, f: ("parallel_concat", {"kernel": k, "filters": f}), st.sampled_from([1, 3, 5]),
              st.integers(1, 4)),
    st.just(("parallel_add", {})),
)


def yaml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    return str(v)


def layer_text(layer):
    kind, fields = layer
    if kind == "parallel_concat":
        conv = f"conv: {{filters: {fields['filters']}, kernel: {fields['kernel']}, padding: same}}"
        return f"- parallel: [[{conv}], []]\n  merge: concat"
    if kind == "parallel_add":
        return "- parallel: [[conv: {kernel: 3, padding: same, groups: depthwise}], []]\n  merge: add"
    if not fields:
        return f"- {kind}"
    body = ", ".join(f"{k}: {yaml_value(v)}" for k, v in fields.items() if v is not None)
    return f"- {kind}: {{{body}}}"


def spec_text(layers, shape):
    body = "\n".join("  " + line for layer in layers for line in layer_text(layer).splitlines())
    return f"input: {list(shape)}\nlayers:\n{body}\n"


def top_rows(report):
    """One row per generated layer: folding at depth 1 sums a parallel's layers into one row."""
    return fold(report, 1)[1:]


@FAST
@given(layers=st.lists(layer_strategy, min_size=1, max_size=8),
       shape=st.one_of(st.tuples(st.integers(1, 40), st.integers(1, 40), st.integers(1, 6)),
                       st.tuples(st.integers(1, 50))))
def test_random_valid_chains_agree_with_the_oracle(layers, shape):
    text = spec_text(layers, shape)
    report = analyze(parse_text(text, "r.yaml"))           # a SpecError here would be a bug: the fields are valid
    expected_rows = []
    failing = None
    current = shape
    for i, layer in enumerate(layers):
        try:
            current, trainable, macs = oracle(layer, current)
        except Impossible:
            failing = i
            break
        expected_rows.append((current, trainable, macs))
    rows = top_rows(report)
    if failing is None:
        assert report.error is None, (text, str(report.error))
    else:
        assert isinstance(report.error, CnncalcError), text
        assert "\n" not in str(report.error) and re.match(r"r\.yaml:\d+:\d+: ", str(report.error))
        # the error is reported at the layer the oracle rejects: line 3 + that layer's first line
        line = 3 + sum(len(layer_text(x).splitlines()) for x in layers[:failing])
        assert report.error.mark.line == line or layers[failing][0].startswith("parallel"), (text, str(report.error))
    assert [(r.out_shape, r.trainable, r.macs) for r in rows[:len(expected_rows)]] == expected_rows, text
    if failing is None:
        assert len(rows) == len(layers)
    # whatever happened, the numbers are exact integers that add up
    t = report.totals
    for key in ("trainable", "non_trainable", "macs", "other_ops", "activations"):
        values = [getattr(r, key) for r in report.rows]
        assert all(isinstance(v, int) and v >= 0 for v in values)
        assert sum(values) == getattr(t, key)
    data = json.loads(render(report, "summary", "json"))
    assert sum(r["params"] for r in data["rows"]) == data["totals"]["params"]
    assert data["totals"]["flops"] == 2 * sum(r["macs"] for r in data["rows"])


# ---------------------------------------------------------------- random corruptions

VALID = """name: base
input: [32, 32, 3]
blocks:
  unit:
    args: {filters: null, k: 3}
    layers:
      - conv: {filters: $filters, kernel: $k, padding: "($k - 1) // 2"}
      - batchnorm
      - relu
layers:
  - unit: {filters: 8}
  - maxpool: 2
    stride: 2
  - parallel:
      - [conv: {filters: 4, kernel: 1}]
      - - conv: {filters: 4, kernel: 3, padding: same}
        - relu
      - []
    merge: concat
    name: mix
  - repeat: 2
    layers: [unit: {filters: 16}]
  - conv: {filters: 16, kernel: 1, name: proj, from: mix}
  - add: {from: [proj, repeat1]}
  - global_avgpool
  - dense: {units: 10, bias: false}
  - softmax
"""

with open(os.path.join(ROOT, "specs", "lenet5.yaml"), encoding="utf-8") as _fh:
    LENET = _fh.read()

SOURCES = [VALID, LENET]
JUNK = ["-1", "0", "'x'", "x", "1.5", "true", "null", "[]", "{}", "[1, 2, 3]", "999999999999", "99999999",
        "same", "$x", "!!str 3", "&a", "*a", "-", ":", "[", "]", "{", "}", "#", "  ", "\t", "'", '"', "|", ">",
        "? ", "!", "%", "@", "\\", "é", "\x00", "- relu", "from: input", "name: mix"]
SCALAR = re.compile(r"(?<=: )[^\s,\]\}\{\[]+|(?<=\[)[^\s,\]]+|(?<=, )[^\s,\]\}]+")


def corrupt(text, rng, edits):
    lines = text.splitlines()
    for _ in range(edits):
        if not lines:
            lines = [""]
        i = rng.randrange(len(lines))
        action = rng.randrange(7)
        line = lines[i]
        if action == 0:
            del lines[i]
        elif action == 1:
            lines.insert(i, line)
        elif action == 2 and line:                       # replace a character
            j = rng.randrange(len(line))
            lines[i] = line[:j] + rng.choice(JUNK) + line[j + 1:]
        elif action == 3 and line:                       # delete a character
            j = rng.randrange(len(line))
            lines[i] = line[:j] + line[j + 1:]
        elif action == 4 and line:                       # duplicate a character
            j = rng.randrange(len(line))
            lines[i] = line[:j] + line[j] + line[j:]
        else:                                            # swap a value for a string, a negative, …
            spots = list(SCALAR.finditer(line))
            if spots:
                m = rng.choice(spots)
                lines[i] = line[:m.start()] + rng.choice(JUNK) + line[m.end():]
    return "\n".join(lines) + "\n"


LOCATED = re.compile(r"c\.yaml:\d+:\d+: ")


@settings(max_examples=50, deadline=None)
@given(source=st.sampled_from(SOURCES), seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 4))
def test_random_corruptions_give_a_result_or_one_located_error(source, seed, edits):
    text = corrupt(source, random.Random(seed), edits)
    try:
        report = analyze(parse_text(text, "c.yaml"))
    except CnncalcError as exc:                          # any other exception type fails the test
        message = str(exc)
        assert "\n" not in message, message
        assert LOCATED.match(message), message
        return
    if report.error is not None:
        message = str(report.error)
        assert "\n" not in message and LOCATED.match(message), message
    assert sum(r.trainable for r in report.rows) == report.totals.trainable


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), edits=st.integers(1, 3))
def test_random_corruptions_through_the_cli(tmp_path_factory, seed, edits):
    text = corrupt(VALID, random.Random(seed), edits)
    path = tmp_path_factory.mktemp("corrupt") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    result = CliRunner().invoke(app, ["summary", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code in (0, 1), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    if result.exit_code == 1:
        assert len(errors) == 1 and errors[0].startswith(f"error: {path}:"), result.stderr
    else:
        assert errors == []


# ---------------------------------------------------------------- folding nested structures

BLOCKS = ("blocks:\n"
          "  unit:\n    args: {k: 1}\n    layers:\n"
          "      - conv: {filters: 2, kernel: $k, padding: same}\n      - relu\n"
          "  pair:\n    layers: [unit, unit: {k: 3}]\n")


@st.composite
def nested(draw, depth=0):
    """A small chain of items that keep a 2-channel map: layers, blocks, repeats and parallels."""
    items = []
    for _ in range(draw(st.integers(1, 3))):
        choice = draw(st.integers(0, 5 if depth < 3 else 1))
        if choice == 0:
            items.append(["- conv: {filters: 2, kernel: 3, padding: 1}"])
        elif choice == 1:
            items.append([draw(st.sampled_from(["- relu", "- batchnorm", "- unit", "- pair"]))])
        elif choice in (2, 3):
            inner = draw(nested(depth + 1))
            items.append([f"- repeat: {draw(st.integers(0, 3))}", "  layers:"] + ["    " + x for x in inner])
        else:
            left, right = draw(nested(depth + 1)), draw(nested(depth + 1))
            merge = draw(st.sampled_from(["add", "concat"])) if depth else "add"
            items.append(["- parallel:", "    -"] + ["      " + x for x in left] + ["    -"]
                         + ["      " + x for x in right] + [f"  merge: {merge}"])
            if merge == "concat":
                items.append(["- conv: {filters: 2, kernel: 1}"])
    return [line for item in items for line in item]


@FAST
@given(lines=nested(), depth=st.integers(1, 6))
def test_fold_at_any_depth_keeps_the_totals(lines, depth):
    text = BLOCKS + "input: [4, 4, 2]\nlayers:\n" + "".join("  " + x + "\n" for x in lines)
    report = analyze(parse_text(text, "n.yaml"))
    assert report.error is None, (text, str(report.error))
    t = report.totals
    rows = fold(report, depth)
    for key in ("trainable", "non_trainable", "macs", "other_ops", "activations"):
        assert sum(getattr(r, key) for r in rows) == getattr(t, key), (key, depth)
    assert sum(r.folded for r in rows if r.kind != "input") == t.layers == len(report.rows) - 1
    assert all(len(r.scope) < depth for r in rows)
    assert len(rows) <= len(report.rows)
