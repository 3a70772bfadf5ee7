"""The records between analysis, render and engine (`layers.records`, `shapes`), against numbers worked by
hand from the spec text: the effective window of conv and pooling layers (also as JSON numbers), the
diagnostic records with their arithmetic, the notation records, and the one definition of a shape's
product and text.

Same padding, by TensorFlow's rule: n_out = ⌈n/s⌉, total = max((n_out − 1)·s + f − n, 0), the odd pixel
after (bottom/right).
"""

import dataclasses
import json
import os

import pytest
from typer.testing import CliRunner

from cnncalc import shapes
from cnncalc.cli import app
from cnncalc.layers.records import InexactDivision, Notation, UnusedOutput, Window
from cnncalc.render.messages import diagnostic_fix, diagnostic_message, notation_text
from helpers import row, run, spec

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def json_rows(tmp_path, layers, input_shape):
    path = tmp_path / "net.yaml"
    path.write_text(spec(layers, input_shape))
    result = CliRunner().invoke(app, ["shapes", str(path), "--format", "json"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return {r["name"]: r for r in json.loads(result.stdout)["rows"]}, json.loads(result.stdout)


# (layers, input, row, the window as JSON numbers, worked from the spec text)
WINDOWS = [
    ("- conv: {filters: 4, kernel: 3, padding: 1}", (8, 8, 3), "conv1",
     {"f": [3, 3], "s": [1, 1], "p": [1, 1, 1, 1], "d": [1, 1], "groups": 1}),
    # [p_H, p_W] = [0, 2] → (top 0, bottom 0, left 2, right 2); groups 2 divides 4 and 6
    ("- conv: {filters: 6, kernel: [3, 5], stride: [1, 2], padding: [0, 2], dilation: [2, 1], groups: 2}",
     (9, 9, 4), "conv1", {"f": [3, 5], "s": [1, 2], "p": [0, 0, 2, 2], "d": [2, 1], "groups": 2}),
    # four numbers are (top, bottom, left, right) as written
    ("- conv: {filters: 2, kernel: 2, padding: [0, 1, 2, 3]}", (6, 6, 1), "conv1",
     {"f": [2, 2], "s": [1, 1], "p": [0, 1, 2, 3], "d": [1, 1], "groups": 1}),
    # depthwise: one group per input channel, n_C_prev = 5
    ("- conv: {kernel: 3, groups: depthwise}", (6, 6, 5), "conv1",
     {"f": [3, 3], "s": [1, 1], "p": [0, 0, 0, 0], "d": [1, 1], "groups": 5}),
    # same, n_H = 9, s 2, f 4: ⌈9/2⌉ = 5, total (5 − 1)·2 + 4 − 9 = 3 → (1, 2);
    #       n_W = 10:          ⌈10/2⌉ = 5, total (5 − 1)·2 + 4 − 10 = 2 → (1, 1)
    ("- conv: {filters: 2, kernel: 4, stride: 2, padding: same}", (9, 10, 3), "conv1",
     {"f": [4, 4], "s": [2, 2], "p": [1, 2, 1, 1], "d": [1, 1], "groups": 1}),
    # same with dilation 2 (f_eff = 5), s 1: total 5 − 1 = 4 → (2, 2) on both axes
    ("- conv: {filters: 2, kernel: 3, dilation: 2, padding: same}", (7, 7, 3), "conv1",
     {"f": [3, 3], "s": [1, 1], "p": [2, 2, 2, 2], "d": [2, 2], "groups": 1}),
    # pooling: the stride defaults to the kernel; no groups; ceil mode stated
    ("- maxpool: 2", (8, 8, 3), "maxpool1",
     {"f": [2, 2], "s": [2, 2], "p": [0, 0, 0, 0], "d": [1, 1], "ceil_mode": False}),
    ("- avgpool: {kernel: [3, 2], stride: [1, 2], padding: [1, 0], ceil_mode: true}", (8, 8, 3), "avgpool1",
     {"f": [3, 2], "s": [1, 2], "p": [1, 1, 0, 0], "d": [1, 1], "ceil_mode": True}),
    # same pooling, n = 7, f 3, s 2: ⌈7/2⌉ = 4, total 3·2 + 3 − 7 = 2 → (1, 1)
    ("- maxpool: {kernel: 3, stride: 2, padding: same}", (7, 7, 3), "maxpool1",
     {"f": [3, 3], "s": [2, 2], "p": [1, 1, 1, 1], "d": [1, 1], "ceil_mode": False}),
    ("- avgpool: {kernel: 2, padding: valid}", (8, 8, 3), "avgpool1",
     {"f": [2, 2], "s": [2, 2], "p": [0, 0, 0, 0], "d": [1, 1], "ceil_mode": False}),
]


@pytest.mark.parametrize("layers, input_shape, name, expected", WINDOWS, ids=[w[0] for w in WINDOWS])
def test_json_rows_carry_the_window_as_numbers(tmp_path, layers, input_shape, name, expected):
    rows, _ = json_rows(tmp_path, layers, input_shape)
    window = dict(rows[name]["window"])
    assert window.pop("same") == ("padding: same" in layers)   # written 'same': p holds what it resolved to
    assert window == expected
    # the record the engine reads says the same
    w = row(run(layers, input_shape), name).window
    assert (list(w.f), list(w.s), list(w.p), list(w.d)) == (expected["f"], expected["s"], expected["p"], expected["d"])
    assert w.groups == expected.get("groups") and w.ceil == expected.get("ceil_mode")


def test_rows_without_a_window_say_so(tmp_path):
    rows, _ = json_rows(tmp_path, "- flatten\n- dense: 3\n- relu", (2, 2, 1))
    assert [rows[n]["window"] for n in ("input", "flatten1", "dense1", "relu1")] == [None] * 4


def test_same_padding_gives_the_output_size_tensorflow_gives(tmp_path):
    """⌈n/s⌉ along each axis: 9 → 5 and 10 → 5 with stride 2."""
    rows, _ = json_rows(tmp_path, "- conv: {filters: 2, kernel: 4, stride: 2, padding: same}", (9, 10, 3))
    assert rows["conv1"]["output_shape"] == [5, 5, 2]
    assert rows["conv1"]["type"] == "conv 4×4 s2 same(1,2,1,1), 2"


def test_window_record_is_frozen():
    w = row(run("- conv: {filters: 2, kernel: 3}"), "conv1").window
    assert isinstance(w, Window)
    with pytest.raises(dataclasses.FrozenInstanceError):
        w.s = (2, 2)



# ---------------------------------------------------------------- diagnostic records


def test_inexact_division_record_for_a_known_case(tmp_path):
    """conv 3×3 s3 on 7×8: n_H: (7 − 3) mod 3 = 1 row lost; n_W: (8 − 3) mod 3 = 2 columns lost."""
    r = run("- conv: {filters: 2, kernel: 3, stride: 3}", (7, 8, 3))
    h, w = (d.detail for d in r.diagnostics)
    assert isinstance(h, InexactDivision) and isinstance(w, InexactDivision)
    assert (h.kind, h.axes, h.length.n, h.length.p_a, h.length.p_b, h.length.f, h.length.s) == \
        ("conv", ("n_H",), 7, 0, 0, 3, 3)
    assert (h.length.n_out, h.lost) == (2, 1)             # ⌊4/3⌋ + 1 = 2
    assert (w.axes, w.length.n, w.length.n_out, w.lost) == (("n_W",), 8, 2, 2)   # ⌊5/3⌋ + 1 = 2
    # what divides: n_H: 7 + 2p − 3 ≡ 0 (mod 3) → p = 1; same: (1, 1) → (7 + 2 − 3) = 6 divides by 3.
    # n_W: 5 + 2p ≡ 0 → p = 2.  No stride: a network's stride is its downsampling (issue 9).
    # input sizes along each axis with (n − 3) mod 3 = 0, one below and one above: 6 and 9
    assert (h.fix_padding, h.fix_stride, h.fix_ceil, h.fix_same, h.fix_inputs) == (1, None, False, True, (6, 9))
    assert (w.fix_padding, w.fix_stride, w.fix_ceil, w.fix_same, w.fix_inputs) == (2, None, False, True, (6, 9))
    d_h, d_w = r.diagnostics
    assert diagnostic_message(d_h) == ("conv1: (7 + 2·0 − 3)/3 + 1 = 2.33 is not an integer along n_H — "
                                       "the last input row is never read")
    assert diagnostic_fix(d_h) == ("padding 1 or padding: same divides exactly; "
                                   "or an input n_H of 6 or 9 (every layer then divides exactly)")
    assert diagnostic_message(d_w) == ("conv1: (8 + 2·0 − 3)/3 + 1 = 2.67 is not an integer along n_W — "
                                       "the last 2 input columns are never read")
    # the JSON diagnostics carry the same numbers
    _, data = json_rows(tmp_path, "- conv: {filters: 2, kernel: 3, stride: 3}", (7, 8, 3))
    detail = data["diagnostics"][0]["detail"]
    assert {k: detail[k] for k in ("what", "axes", "n", "p_before", "p_after", "f", "s", "d", "n_out", "lost")} == \
        {"what": "inexact_division", "axes": ["n_H"], "n": 7, "p_before": 0, "p_after": 0, "f": 3, "s": 3, "d": 1,
         "n_out": 2, "lost": 1}
    assert data["diagnostics"][1]["detail"]["lost"] == 2


def test_inexact_pool_on_both_axes_is_one_record():
    """maxpool 2 on 7×7: (7 − 2) mod 2 = 1 on both axes, the same arithmetic → one record for n_H and n_W."""
    r = run("- maxpool: 2", (7, 7, 3))
    [d] = r.diagnostics
    rec = d.detail
    assert rec.axes == ("n_H", "n_W") and rec.lost == 1 and rec.length.n_out == 3
    # 5 + 2p is odd for every p: no padding; no stride offered in a network; ceil mode always divides
    assert (rec.fix_padding, rec.fix_stride, rec.fix_ceil, rec.fix_same) == (None, None, True, False)
    assert diagnostic_message(d).endswith("along n_H and n_W — the last input row and column are never read")


def test_asymmetric_padding_remainder():
    """n = 9, f 2, s 3, padding after 1: span 9 + 0 + 1 − 2 = 8, remainder 2, of which 1 is padding:
    one real row lost.  With padding after 2 the remainder is padding only: no record."""
    r = run("- conv: {filters: 1, kernel: [2, 1], stride: [3, 1], padding: [0, 1, 0, 0]}", (9, 4, 1))
    [d] = r.diagnostics
    assert (d.detail.axes, d.detail.length.p_a, d.detail.length.p_b, d.detail.length.remainder, d.detail.lost) == \
        (("n_H",), 0, 1, 2, 1)
    assert "(9 + 0 + 1 − 2)/3 + 1 = 3.67" in diagnostic_message(d)
    assert run("- conv: {filters: 1, kernel: [2, 1], stride: [3, 1], padding: [0, 2, 0, 0]}", (9, 4, 1)
               ).diagnostics == []


def test_unused_output_record():
    r = run("- conv: {filters: 2, kernel: 1}\n- {name: dead, relu: null, from: input}\n- {relu: null, from: conv1}")
    [d] = r.diagnostics
    assert d.layer == "dead" and d.detail == UnusedOutput("relu1")
    assert diagnostic_message(d) == "dead: its output is never used (the network's output is relu1)"


# ---------------------------------------------------------------- notation records


def test_notation_records_hold_the_numbers():
    r = run("- conv: {filters: 6, kernel: [3, 1], stride: 2, padding: same, groups: 3, bias: false}\n"
            "- avgpool: {kernel: 2, padding: 1, count_include_pad: false}\n- leaky_relu: 0.2\n- dropout: 0.3\n"
            "- global_avgpool\n- dense: {units: 5, bias: false}", (8, 8, 3))
    conv = row(r, "conv1").layer_type
    assert conv == Notation("conv", row(r, "conv1").window, n_C=6, bias=False)
    assert conv.window.same and conv.window.groups == 3
    # ⌈8/2⌉ = 4; f_H 3: total 3·2 + 3 − 8 = 1 → (0, 1); f_W 1: total 3·2 + 1 − 8 < 0 → (0, 0)
    assert conv.window.p == (0, 1, 0, 0)
    assert notation_text(conv) == "conv 3×1 s2 same(0,1,0,0) g3 no-bias, 6"
    pool = row(r, "avgpool1").layer_type
    assert (pool.kind, pool.count_include_pad, pool.window.p) == ("avgpool", False, (1, 1, 1, 1))
    assert notation_text(pool) == "avgpool 2×2 s2 p1 excl-pad"
    assert row(r, "leaky_relu1").layer_type == Notation("leaky_relu", value=0.2)
    assert row(r, "dropout1").layer_type == Notation("dropout", value=0.3)
    assert notation_text(Notation("leaky_relu", value=0.1234567)) == "leaky_relu 0.123457"   # %g: six digits
    assert notation_text(row(r, "global_avgpool1").layer_type) == "global avgpool"
    assert row(r, "dense1").layer_type == Notation("dense", n=5, bias=False)


def test_every_kind_returns_a_notation_record():
    """Every kind in the registry, in one spec: each row's type is a record, never text."""
    from cnncalc import layers

    r = run("- conv: {filters: 4, kernel: 3, padding: 1}\n- batchnorm\n- relu\n- leaky_relu\n- sigmoid\n- tanh\n"
            "- identity\n- relu6\n- hardsigmoid\n- hardswish\n- silu\n- gelu: tanh\n- elu\n- prelu: 4\n"
            "- dropout\n- drop_path: 0.1\n- maxpool: {kernel: 2, stride: 1}\n- avgpool: {kernel: 2, stride: 1}\n"
            "- adaptive_avgpool: 5\n- adaptive_maxpool: 4\n- global_maxpool: {keep_dims: true}\n"
            "- conv_transpose: {filters: 4, kernel: 2, stride: 2}\n- upsample: 2\n- maxpool: 2\n"
            "- parallel: [[relu], [tanh]]\n  merge: add\n- parallel: [[relu], [tanh]]\n  merge: concat\n"
            "- parallel: [[relu], [tanh]]\n  merge: mul\n- channel_shuffle: 2\n- channel_slice: {stop: 4}\n"
            "- global_avgpool\n- {flatten: null, name: f}\n- dense: 3\n- softmax", (8, 8, 3))
    assert r.error is None
    assert {x.kind for x in r.rows} == set(layers.names()) | {"input"}
    assert all(isinstance(x.layer_type, Notation) and x.layer_type.kind == x.kind for x in r.rows)


# ---------------------------------------------------------------- one definition of a shape's facts


@pytest.mark.parametrize("shape, n, text", [
    ((28, 28, 1), 784, "28×28×1"),
    ((10,), 10, "10"),
    ((), 1, ""),                      # the empty product is 1
    ((3, 0, 2), 0, "3×0×2"),
    ((10**9, 10**9, 10**9), 10**27, "1000000000×1000000000×1000000000"),   # exact past 2^63
])
def test_shape_product_and_text(shape, n, text):
    assert shapes.elements(shape) == n and shapes.shape_text(shape) == text


def test_numpy_shapes_print_as_plain_numbers():
    np = pytest.importorskip("numpy")
    assert shapes.shape_text(np.zeros((2, 3)).shape) == "2×3"
    assert shapes.shape_text(np.array([4, 5], dtype=np.int64)) == "4×5"


def test_one_definition_imported_everywhere():
    """The product of a shape, its text and the input's name are defined once and imported, the engine's
    modules included."""
    import cnncalc.analysis
    import cnncalc.data.dataset
    import cnncalc.graph
    import cnncalc.render.columns

    assert cnncalc.analysis.elements is shapes.elements
    assert cnncalc.render.columns.shape_text is shapes.shape_text
    assert cnncalc.data.dataset.shape_text is shapes.shape_text
    assert cnncalc.analysis.INPUT is cnncalc.graph.INPUT
    import cnncalc.engine.executor
    import cnncalc.engine.train

    assert cnncalc.engine.executor.INPUT is cnncalc.graph.INPUT
    assert cnncalc.engine.executor.shape_text is shapes.shape_text
    assert cnncalc.engine.train.elements is shapes.elements
    offenders = []
    for folder, _, files in os.walk(os.path.join(ROOT, "cnncalc")):
        for f in files:
            path = os.path.join(folder, f)
            if f.endswith(".py") and path not in (os.path.join(ROOT, "cnncalc", "shapes.py"),
                                                  os.path.join(ROOT, "cnncalc", "graph.py")):
                text = open(path, encoding="utf-8").read()
                if '"×".join' in text or "'×'.join" in text or "n *= v" in text or 'INPUT = "input"' in text:
                    offenders.append(os.path.relpath(path, ROOT))
    assert offenders == []


def test_which_layers_reach_the_output_is_one_fact():
    """The analyzer's "never used" warnings and the trainer's skipped layers come from Graph.reaching."""
    from helpers import spec

    from cnncalc.analysis import analyze
    from cnncalc.spec.parser import parse_text

    text = spec("- conv: {filters: 2, kernel: 1, name: a}\n- conv: {filters: 2, kernel: 1, name: dead, from: input}\n"
                "- conv: {filters: 2, kernel: 1, name: b, from: a}\n- flatten\n- dense: 3")
    report = analyze(parse_text(text, "t.yaml"))
    assert report.graph.reaching(report.graph.output) == {"input", "a", "b", report.rows[-2].name, report.graph.output}
    assert [d.layer for d in report.diagnostics] == ["dead"]
