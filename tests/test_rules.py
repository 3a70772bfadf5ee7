"""Each layer kind through `analyze(parse_text(...))` on tiny specs, worked by hand: shapes, parameters
(trainable / non-trainable), MACs, other work, activations and receptive fields; the merges; and the
diagnostics with their arithmetic and their fixes.

The specs are built by `helpers.spec`: line 1 `name: t`, line 2 `input: …`, line 3 `layers:`, and the
first layer on line 4 with its kind at column 5 (`  - conv: …`).
"""

import signal
from contextlib import contextmanager

import pytest

from cnncalc.errors import CnncalcError, DimensionError
from helpers import row, run
from cnncalc.render.messages import diagnostic_fix, diagnostic_message, notation_text


def names(report):
    return [r.name for r in report.rows]


def rf(r):
    return (r.rf.r_H, r.rf.r_W, r.rf.j_H, r.rf.j_W)


@contextmanager
def time_limit(seconds):
    """Fail instead of hanging: the analysis of one tiny spec must be instant."""
    def expire(signum, frame):  # noqa: ARG001 — a signal handler's signature
        raise TimeoutError(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# ---------------------------------------------------------------- conv

def test_conv_basic_and_no_bias():
    r = run("- conv: {filters: 4, kernel: 3}\n- conv: {filters: 2, kernel: 3, bias: false}")
    c1, c2 = row(r, "conv1"), row(r, "conv2")
    assert c1.out_shape == (6, 6, 4)                     # 8 − 3 + 1 = 6
    assert (c1.trainable, c1.non_trainable) == (112, 0)  # (3·3·3 + 1)·4
    assert c1.macs == 3888                               # 6·6·4 = 144 outputs × 27
    assert c1.other_ops == 144                           # one bias add per output
    assert c1.activations == 144
    assert rf(c1) == (3, 3, 1, 1)
    assert c2.out_shape == (4, 4, 2)
    assert c2.trainable == 72                            # 3·3·4·2, no bias
    assert c2.macs == 1152                               # 32 outputs × 36
    assert c2.other_ops == 0
    assert rf(c2) == (5, 5, 1, 1)                        # 3 + 2·1
    assert r.error is None and r.diagnostics == []
    assert notation_text(c1.layer_type) == "conv 3×3 s1 p0, 4" and notation_text(c2.layer_type) == "conv 3×3 s1 p0 no-bias, 2"


@pytest.mark.parametrize("padding, pads, shape", [
    ("0", (0, 0, 0, 0), (6, 6, 1)),            # 8 − 3 + 1
    ("1", (1, 1, 1, 1), (8, 8, 1)),            # 8 + 2 − 3 + 1
    ("2", (2, 2, 2, 2), (10, 10, 1)),          # 8 + 4 − 3 + 1
    ("[1, 0]", (1, 1, 0, 0), (8, 6, 1)),       # [p_H, p_W]: H 8 + 2 − 3 + 1, W 8 − 3 + 1
    ("[0, 1, 2, 0]", (0, 1, 2, 0), (7, 8, 1)),  # [top, bottom, left, right]: H 8 + 1 − 3 + 1, W 8 + 2 − 3 + 1
    ("same", (1, 1, 1, 1), (8, 8, 1)),         # total (8 − 1)·1 + 3 − 8 = 2
    ("SAME", (1, 1, 1, 1), (8, 8, 1)),
    ("valid", (0, 0, 0, 0), (6, 6, 1)),
])
def test_conv_padding_forms(padding, pads, shape):
    r = run(f"- conv: {{filters: 1, kernel: 3, padding: {padding}}}", (8, 8, 1))
    c = row(r, "conv1")
    assert c.window.p == pads
    assert c.out_shape == shape
    assert c.macs == shape[0] * shape[1] * 9


@pytest.mark.parametrize("n, kernel, stride, pads, out", [
    (6, 3, 2, (0, 1, 0, 1), 3),        # ⌈6/2⌉ = 3; total 2·2 + 3 − 6 = 1, odd pixel bottom/right
    (5, 3, 2, (1, 1, 1, 1), 3),        # ⌈5/2⌉ = 3; total 2·2 + 3 − 5 = 2
    (224, 7, 2, (2, 3, 2, 3), 112),    # total 111·2 + 7 − 224 = 5
    (7, 1, 2, (0, 0, 0, 0), 4),        # ⌈7/2⌉ = 4; total max(3·2 + 1 − 7, 0) = 0
])
def test_same_padding_resolved(n, kernel, stride, pads, out):
    r = run(f"- conv: {{filters: 2, kernel: {kernel}, stride: {stride}, padding: same}}", (n, n, 1))
    c = row(r, "conv1")
    assert c.window.p == pads
    assert c.out_shape == (out, out, 2)
    assert r.diagnostics == []


def test_same_padding_asymmetric_is_shown():
    r = run("- conv: {filters: 2, kernel: 3, stride: 2, padding: same}", (6, 6, 1))
    assert "same(0,1,0,1)" in notation_text(row(r, "conv1").layer_type)


def test_same_padding_on_a_rectangular_input():
    # H: n 6, ⌈6/2⌉ = 3, total 2·2 + 3 − 6 = 1 → (0, 1); W: n 5, ⌈5/2⌉ = 3, total 4 + 3 − 5 = 2 → (1, 1)
    r = run("- conv: {filters: 1, kernel: 3, stride: 2, padding: same}", (6, 5, 1))
    c = row(r, "conv1")
    assert c.window.p == (0, 1, 1, 1)
    assert c.out_shape == (3, 3, 1)


def test_conv_stride_dilation_and_rectangular_kernel():
    r = run("- conv: {filters: 3, kernel: [3, 5], stride: [1, 2], dilation: 2}", (16, 16, 2))
    c = row(r, "conv1")
    # H: f_eff = 2·2 + 1 = 5, (16 − 5)/1 + 1 = 12;  W: f_eff = 2·4 + 1 = 9, ⌊(16 − 9)/2⌋ + 1 = 4
    assert c.out_shape == (12, 4, 3)
    assert c.trainable == 93                  # (3·5·2 + 1)·3
    assert c.macs == 4320                     # 12·4·3 = 144 outputs × 3·5·2 = 30
    assert rf(c) == (5, 9, 1, 2)              # H 1 + 2·2, W 1 + 4·2; jumps 1, 2
    # W divides inexactly: (16 − 9)/2 + 1 = 4.5, one column never read; H is exact
    assert len(r.diagnostics) == 1
    assert "(16 + 2·0 − (2·(5 − 1) + 1))/2 + 1 = 4.50 is not an integer along n_W" in diagnostic_message(r.diagnostics[0])
    assert "last input column is never read" in diagnostic_message(r.diagnostics[0])


def test_conv_stride_halves():
    r = run("- conv: {filters: 8, kernel: 3, stride: 2, padding: 1}", (8, 8, 4))
    c = row(r, "conv1")
    assert c.out_shape == (4, 4, 8)           # ⌊(8 + 2 − 3)/2⌋ + 1 = 3 + 1
    assert c.macs == 4608                     # 4·4·8 = 128 × 36
    assert rf(c) == (3, 3, 2, 2)
    assert [d.level for d in r.diagnostics] == ["note"]  # remainder 1 falls in the bottom padding: a note


def test_groups():
    r = run("- conv: {filters: 8, kernel: 3, padding: 1, groups: 2}", (4, 4, 4))
    g = row(r, "conv1")
    assert g.out_shape == (4, 4, 8)
    assert g.trainable == 152                 # 3·3·(4/2)·8 + 8 = 144 + 8
    assert g.macs == 2304                     # 4·4·8 = 128 outputs × 3·3·2
    assert g.window.groups == 2
    assert "g2" in notation_text(g.layer_type)


def test_depthwise_default_filters_multiplier_and_no_bias():
    r = run("- conv: {kernel: 3, padding: 1, groups: depthwise}\n"
            "- conv: {filters: 16, kernel: 3, padding: 1, groups: depthwise}\n"
            "- conv: {kernel: 3, padding: 1, groups: depthwise, bias: false}", (4, 4, 8))
    dw, mult, nb = row(r, "conv1"), row(r, "conv2"), row(r, "conv3")
    assert dw.out_shape == (4, 4, 8)          # filters default to n_C_prev
    assert dw.trainable == 80                 # 3·3·1·8 + 8
    assert dw.macs == 1152                    # 4·4·8 = 128 × 9
    assert dw.window.groups == 8
    assert mult.out_shape == (4, 4, 16)       # groups = n_C_prev = 8, two filters per channel
    assert mult.trainable == 160              # 3·3·1·16 + 16
    assert mult.macs == 2304                  # 4·4·16 = 256 × 9
    assert nb.out_shape == (4, 4, 16) and nb.trainable == 144 and nb.other_ops == 0   # 3·3·1·16
    assert "depthwise" in notation_text(dw.layer_type)


def test_conv_without_filters_is_an_error():
    r = run("- conv: {kernel: 3}")
    assert isinstance(r.error, CnncalcError)
    assert r.error.field == "filters" and "conv needs the number of filters" in r.error.line()
    assert names(r) == ["input"]


# ---------------------------------------------------------------- pooling

def test_maxpool_short_form_stride_defaults_to_kernel():
    r = run("- maxpool: 2", (8, 8, 2))
    m = row(r, "maxpool1")
    assert m.out_shape == (4, 4, 2)           # (8 − 2)/2 + 1
    assert (m.trainable, m.non_trainable, m.macs) == (0, 0, 0)
    assert m.other_ops == 128                 # 4·4·2 outputs × 4 window reads
    assert rf(m) == (2, 2, 2, 2)
    assert notation_text(m.layer_type) == "maxpool 2×2 s2"


def test_pool_with_explicit_stride_and_padding():
    r = run("- maxpool: 3\n  stride: 1\n- avgpool: {kernel: 3, stride: 1, padding: 1}", (5, 5, 2))
    m, a = row(r, "maxpool1"), row(r, "avgpool1")
    assert m.out_shape == (3, 3, 2)           # 5 − 3 + 1
    assert a.out_shape == (3, 3, 2)           # 3 + 2 − 3 + 1
    assert a.other_ops == 162                 # 3·3·2 = 18 × 9
    assert rf(a) == (5, 5, 1, 1)              # 3 + 2
    assert a.trainable == 0


def test_pool_asymmetric_padding():
    # [top, bottom, left, right] = [0, 1, 0, 1]: ⌊(5 + 1 − 2)/2⌋ + 1 = 3, remainder 0
    r = run("- maxpool: {kernel: 2, padding: [0, 1, 0, 1]}", (5, 5, 1))
    assert row(r, "maxpool1").out_shape == (3, 3, 1)
    assert r.diagnostics == []


def test_ceil_mode():
    r = run("- maxpool: {kernel: 3, stride: 2, ceil_mode: true}", (4, 4, 2))
    c = row(r, "maxpool1")
    assert c.out_shape == (2, 2, 2)           # ⌈(4 − 3)/2⌉ + 1 = 2  (floor would give 1)
    assert c.other_ops == 72                  # 8 outputs × 9
    assert r.diagnostics == []
    assert notation_text(c.layer_type).endswith(" ceil")


def test_ceil_mode_on_a_map_smaller_than_the_window():
    # ⌈(1 − 2)/2⌉ + 1 = ⌈−0.5⌉ + 1 = 1: the window starts at 0 inside the 1×1 input (PyTorch gives 1×1)
    r = run("- maxpool: {kernel: 2, ceil_mode: true}", (1, 1, 4))
    assert r.error is None
    assert row(r, "maxpool1").out_shape == (1, 1, 4)
    # ⌈(1 − 4)/2⌉ + 1 = 0: even ceil mode has no window here
    assert isinstance(run("- maxpool: {kernel: 4, stride: 2, ceil_mode: true}", (1, 1, 4)).error, DimensionError)


def test_ceil_mode_googlenet_pool():
    r = run("- maxpool: {kernel: 3, stride: 2, ceil_mode: true}\n"
            "- maxpool: {kernel: 3, stride: 1, padding: 1, ceil_mode: true}", (112, 112, 64))
    assert row(r, "maxpool1").out_shape == (56, 56, 64)   # ⌈109/2⌉ + 1
    assert row(r, "maxpool2").out_shape == (56, 56, 64)   # (56 + 2 − 3)/1 + 1
    assert r.diagnostics == []
    floor = run("- maxpool: {kernel: 3, stride: 2}", (112, 112, 64))
    assert row(floor, "maxpool1").out_shape == (55, 55, 64)   # ⌊109/2⌋ + 1
    assert "ceil_mode: true" in diagnostic_fix(floor.diagnostics[0])


def test_pool_receptive_field_chain():
    r = run("- conv: {filters: 1, kernel: 3, padding: 1}\n- maxpool: 2\n- conv: {filters: 1, kernel: 3, padding: 1}",
            (8, 8, 1))
    # conv 3 → r 3; pool 2 s2 → 3 + 1·1 = 4, j 2; conv 3 → 4 + 2·2 = 8, j 2
    assert rf(row(r, "maxpool1")) == (4, 4, 2, 2)
    assert rf(row(r, "conv2")) == (8, 8, 2, 2)


def test_global_avgpool():
    r = run("- conv: {filters: 16, kernel: 3}\n- global_avgpool", (7, 7, 3))
    g = row(r, "global_avgpool1")
    assert g.out_shape == (16,)
    assert g.other_ops == 400                 # 5·5·16 values summed
    assert rf(g) == (7, 7, 1, 1)              # 3 + (5 − 1)·1: the whole 5×5 map
    assert g.trainable == 0


def test_pool_on_a_flat_vector_is_an_error():
    for kind in ("maxpool: 2", "avgpool: 2", "global_avgpool"):
        r = run(f"- flatten\n- {kind}", (4, 4, 3))
        assert isinstance(r.error, DimensionError)
        assert "flat vector of 48 from flatten1" in r.error.line()
        assert names(r) == ["input", "flatten1"]


# ---------------------------------------------------------------- dense and flatten

def test_flatten_and_dense():
    r = run("- flatten\n- dense: 5\n- dense: {units: 3, bias: false}", (2, 3, 4))
    f, d1, d2 = row(r, "flatten1"), row(r, "dense1"), row(r, "dense2")
    assert f.out_shape == (24,)               # 2·3·4
    assert (f.trainable, f.macs, f.other_ops) == (0, 0, 0)
    assert rf(f) == (2, 3, 1, 1)              # a window over the whole 2×3 map
    assert d1.out_shape == (5,)
    assert d1.trainable == 125                # (24 + 1)·5
    assert d1.macs == 120                     # 24·5
    assert d1.other_ops == 5                  # bias adds
    assert rf(d1) == (2, 3, 1, 1)
    assert d2.trainable == 15 and d2.macs == 15 and d2.other_ops == 0   # 5·3
    assert notation_text(d2.layer_type) == "dense 3 no-bias"


def test_flatten_of_a_flat_vector_is_the_identity():
    r = run("- flatten\n- flatten", (2, 2, 3))
    assert row(r, "flatten2").out_shape == (12,)


def test_vector_input():
    r = run("- dense: 4\n- relu\n- dense: 2", (10,))
    assert row(r, "dense1").trainable == 44    # (10 + 1)·4
    assert row(r, "dense2").trainable == 10    # (4 + 1)·2
    assert r.totals.trainable == 54 and r.totals.output_shape == (2,)


# ---------------------------------------------------------------- batchnorm, activations, dropout

def test_batchnorm_on_maps_and_vectors():
    r = run("- batchnorm\n- flatten\n- bn", (2, 2, 3))
    bn, bn_flat = row(r, "batchnorm1"), row(r, "batchnorm2")
    assert (bn.trainable, bn.non_trainable) == (6, 6)            # γ, β per channel; mean, var
    assert bn.other_ops == 24                                    # 2 per element, 12 elements
    assert bn.out_shape == (2, 2, 3)
    assert (bn_flat.trainable, bn_flat.non_trainable, bn_flat.other_ops) == (24, 24, 24)   # 12 features
    assert r.totals.trainable == 30 and r.totals.non_trainable == 30 and r.totals.params == 60


@pytest.mark.parametrize("layer, name, ops_per_element", [
    ("relu", "relu1", 1), ("leaky_relu: 0.2", "leaky_relu1", 1), ("sigmoid", "sigmoid1", 1),
    ("tanh", "tanh1", 1), ("softmax", "softmax1", 3), ("identity", "identity1", 0),
    ("dropout: 0.3", "dropout1", 0),
])
def test_elementwise_layers(layer, name, ops_per_element):
    r = run(f"- {layer}", (2, 2, 3))
    x = row(r, name)
    assert x.out_shape == (2, 2, 3)
    assert (x.trainable, x.non_trainable, x.macs) == (0, 0, 0)
    assert x.other_ops == ops_per_element * 12
    assert x.activations == 12
    assert rf(x) == (1, 1, 1, 1)


def test_notations_of_elementwise_layers():
    r = run("- leaky_relu: 0.2\n- dropout: 0.25", (2, 2, 3))
    assert notation_text(row(r, "leaky_relu1").layer_type) == "leaky_relu 0.2"
    assert notation_text(row(r, "dropout1").layer_type) == "dropout 0.25"


def test_input_row_and_totals():
    r = run("- conv: {filters: 2, kernel: 1}\n- relu", (3, 3, 4))
    i = row(r, "input")
    assert i.out_shape == (3, 3, 4) and i.activations == 36 and rf(i) == (1, 1, 1, 1)
    t = r.totals
    assert t.trainable == 10                  # (1·1·4 + 1)·2
    assert t.macs == 72                       # 3·3·2 = 18 outputs × 4
    assert t.flops == 144
    assert t.other_ops == 36                  # 18 bias adds + 18 relus
    assert t.activations == 72                # 36 + 18 + 18
    assert t.activation_bytes == 288
    assert t.params_bytes == 40
    assert t.layers == 2
    assert t.output_shape == (3, 3, 2)


# ---------------------------------------------------------------- merges

def test_add_and_concat_with_widest_receptive_field():
    r = run("- conv: {filters: 4, kernel: 3, padding: 1, name: a}\n"
            "- conv: {filters: 4, kernel: 5, padding: 2, name: b, from: input}\n"
            "- add: {from: [a, b]}\n"
            "- concat: {from: [a, b, add1]}")
    add, cat = row(r, "add1"), row(r, "concat1")
    assert add.out_shape == (8, 8, 4)
    assert add.other_ops == 256               # 8·8·4 additions
    assert add.trainable == 0
    assert rf(add) == (5, 5, 1, 1)            # widest of 3 and 5
    assert add.in_shapes == [(8, 8, 4), (8, 8, 4)]
    assert cat.out_shape == (8, 8, 12)        # 4 + 4 + 4
    assert cat.other_ops == 0
    assert rf(cat) == (5, 5, 1, 1)


def test_add_of_three_inputs():
    r = run("- relu: {name: a}\n- tanh: {name: b, from: input}\n- add: {from: [a, b, input]}", (2, 2, 3))
    assert row(r, "add1").other_ops == 24     # (3 − 1) additions × 12 elements


def test_concat_of_flat_vectors():
    r = run("- flatten: {name: f}\n- dense: {units: 3, name: d}\n- concat: {from: [f, d]}", (2, 2, 1))
    assert row(r, "concat1").out_shape == (7,)   # 4 + 3


def test_widest_receptive_field_over_paths_with_different_jumps():
    r = run("- conv: {filters: 2, kernel: 1, stride: 2, name: a}\n"
            "- maxpool: {kernel: 2, name: b, from: input}\n"
            "- conv: {filters: 2, kernel: 3, padding: 1, name: c, from: b}\n"
            "- concat: {from: [a, c]}", (8, 8, 2))
    # a: r 1, j 2;  b: r 2, j 2;  c: 2 + 2·2 = 6, j 2
    assert rf(row(r, "a")) == (1, 1, 2, 2) and rf(row(r, "c")) == (6, 6, 2, 2)
    assert rf(row(r, "concat1")) == (6, 6, 2, 2)
    assert row(r, "concat1").out_shape == (4, 4, 4)


# ---------------------------------------------------------------- diagnostics: inexact division

def test_inexact_division_warns_with_arithmetic_and_a_fix():
    r = run("- conv: {filters: 1, kernel: 3, stride: 3}", (7, 7, 1))
    assert r.error is None and len(r.diagnostics) == 1
    d = r.diagnostics[0]
    assert d.level == "warning" and d.layer == "conv1"
    assert (d.mark.line, d.mark.column) == (4, 5)
    # (7 + 0 − 3)/3 + 1 = 4/3 + 1 = 2.33
    assert diagnostic_message(d) == ("conv1: (7 + 2·0 − 3)/3 + 1 = 2.33 is not an integer along n_H and n_W — "
                         "the last input row and column are never read")
    # p = 1: (7 + 2 − 3) = 6 divides by 3; same padding (1, 1) is exact; a network never changes its
    # stride (the downsampling factor); inputs n with (n − 3) mod 3 = 0 nearest 7: 6 and 9
    assert diagnostic_fix(d) == ("padding 1 or padding: same divides exactly; "
                                 "or an input of 6 or 9 (every layer then divides exactly)")
    assert row(r, "conv1").out_shape == (2, 2, 1)


@pytest.mark.parametrize("layer", [
    "conv: {filters: 1, kernel: 3, stride: 3, padding: 1}",     # (7 + 2 − 3)/3 + 1 = 3
    "conv: {filters: 1, kernel: 3, stride: 2}",                 # (7 − 3)/2 + 1 = 3
    "conv: {filters: 1, kernel: 3, stride: 3, padding: same}",  # pads (1, 1): (7 + 2 − 3)/3 + 1 = 3
])
def test_the_suggested_fixes_do_divide(layer):
    r = run(f"- {layer}", (7, 7, 1))
    assert r.error is None and r.diagnostics == []
    assert row(r, "conv1").out_shape == (3, 3, 1)


def test_inexact_along_one_axis_with_several_lost_rows():
    r = run("- conv: {filters: 1, kernel: 3, stride: 3}", (8, 6, 1))
    assert len(r.diagnostics) == 1
    # H: (8 − 3)/3 + 1 = 2.67, remainder 2; W: (6 − 3)/3 + 1 = 2 exactly
    assert diagnostic_message(r.diagnostics[0]) == ("conv1: (8 + 2·0 − 3)/3 + 1 = 2.67 is not an integer along n_H — "
                                        "the last 2 input rows are never read")


def test_inexact_pool_suggests_ceil_mode():
    r = run("- maxpool: 2", (7, 7, 1))
    d = r.diagnostics[0]
    assert diagnostic_message(d).startswith("maxpool1: (7 + 2·0 − 2)/2 + 1 = 3.50 is not an integer along n_H and n_W")
    # no padding p ≤ ⌊2/2⌋ makes 5 + 2p even; ceil mode always fits; even inputs divide: 6 and 8
    assert diagnostic_fix(d) == "ceil_mode: true divides exactly; or an input of 6 or 8 (every layer then divides exactly)"


def test_warnings_do_not_stop_the_analysis():
    r = run("- conv: {filters: 1, kernel: 3, stride: 3}\n- flatten\n- dense: 2", (7, 7, 1))
    assert names(r) == ["input", "conv1", "flatten1", "dense1"]
    assert row(r, "dense1").trainable == 10         # (2·2·1 + 1)·2


def test_strict_turns_the_warning_into_the_error():
    r = run("- relu\n- conv: {filters: 1, kernel: 3, stride: 3}\n- relu", (7, 7, 1), strict=True)
    assert isinstance(r.error, DimensionError)
    text = r.error.line()
    assert text.startswith("t.yaml:5:5: conv1: (7 + 2·0 − 3)/3 + 1 = 2.33 is not an integer")
    assert "--strict" in text and "padding 1" in text
    assert names(r) == ["input", "relu1"]
    assert r.diagnostics == []


def test_remainder_in_the_padding_is_not_a_warning():
    r = run("- conv: {filters: 1, kernel: 7, stride: 2, padding: 3}", (224, 224, 3))
    # (224 + 6 − 7) mod 2 = 1 ≤ p_b = 3: only padding unread, a note (issue 9), never a warning
    assert [d.level for d in r.diagnostics] == ["note"]
    assert row(r, "conv1").out_shape == (112, 112, 1)
    assert run("- conv: {filters: 1, kernel: 7, stride: 2, padding: 3}", (224, 224, 3), strict=True).error is None


def test_unused_output_is_a_warning():
    r = run("- relu: {name: a}\n- tanh: {from: input}")
    assert [d.layer for d in r.diagnostics] == ["a"]
    assert "never used" in diagnostic_message(r.diagnostics[0])


# ---------------------------------------------------------------- dimension errors

# (layers, input, rows kept, line, column, fragments of the one-line error)
DIMENSION_ERRORS = [
    ("- conv: {filters: 1, kernel: 5}", (3, 3, 1), ["input"], 4, 5,
     # 5 > 3 + 0 + 0; the fix pads (5 − 3 + 1)//2 = 1 on each side
     ["conv1: conv window 5 is larger than the padded input 3 + 0 + 0 = 3 along n_H (input 3×3×1)",
      "padding 1 on each side"]),
    ("- conv: {filters: 1, kernel: [1, 4], padding: [0, 1]}", (3, 1, 1), ["input"], 4, 5,
     ["window 4 is larger than the padded input 1 + 1 + 1 = 3 along n_W"]),
    ("- relu\n- maxpool: 2\n- maxpool: 2\n- maxpool: 2", (4, 4, 1), ["input", "relu1", "maxpool1", "maxpool2"], 7, 5,
     ["maxpool3: maxpool window 2 is larger than the padded input 1 + 0 + 0 = 1"]),   # 4 → 2 → 1
    ("- conv: {filters: 2, kernel: 1, name: a}\n- add: {from: [a, input]}", (4, 4, 3), ["input", "a"], 5, 5,
     ["add1: add needs equal shapes but a gives 4×4×2 and input gives 4×4×3", "1×1 conv"]),
    ("- conv: {filters: 2, kernel: 3, name: a}\n- concat: {from: [input, a]}", (4, 4, 3), ["input", "a"], 5, 5,
     ["concat1: concat needs equal n_H×n_W but input gives 4×4×3 and a gives 2×2×2"]),
    # the merges compare both spatial sizes, each alone: a [2, 1] kernel takes one row off a 4×5
    # input (4 − 2 + 1 = 3 rows, 5 columns), a [1, 2] kernel one column (4 rows, 5 − 2 + 1 = 4 columns)
    ("- conv: {filters: 3, kernel: [2, 1], name: a}\n- add: {from: [a, input]}", (4, 5, 3), ["input", "a"], 5, 5,
     ["add1: add needs equal shapes but a gives 3×5×3 and input gives 4×5×3"]),
    ("- conv: {filters: 3, kernel: [1, 2], name: a}\n- add: {from: [input, a]}", (4, 5, 3), ["input", "a"], 5, 5,
     ["add1: add needs equal shapes but input gives 4×5×3 and a gives 4×4×3"]),
    ("- conv: {filters: 2, kernel: [2, 1], name: a}\n- concat: {from: [input, a]}", (4, 5, 3), ["input", "a"], 5, 5,
     ["concat1: concat needs equal n_H×n_W but input gives 4×5×3 and a gives 3×5×2"]),
    ("- conv: {filters: 2, kernel: [1, 2], name: a}\n- concat: {from: [input, a]}", (4, 5, 3), ["input", "a"], 5, 5,
     ["concat1: concat needs equal n_H×n_W but input gives 4×5×3 and a gives 4×4×2"]),
    ("- flatten: {name: f}\n- concat: {from: [input, f]}", (2, 2, 3), ["input", "f"], 5, 5,
     ["concat needs equal n_H×n_W but input gives 2×2×3 and f gives 12"]),
    ("- flatten\n- conv: {filters: 1, kernel: 1}", (4, 4, 3), ["input", "flatten1"], 5, 5,
     ["conv1: conv needs an n_H×n_W×n_C feature map but reads a flat vector of 48 from flatten1",
      "move flatten"]),
    ("- relu\n- dense: 4", (4, 4, 3), ["input", "relu1"], 5, 5,
     ["dense1: dense reads the 4×4×3 feature map of relu1, but needs a flat vector",
      "add `- flatten` before it (giving 48 inputs) or `- global_avgpool` (giving 3)"]),   # 4·4·3 = 48
    ("- conv: {filters: 6, kernel: 1, groups: 4}", (4, 4, 4), ["input"], 4, 5,
     ["conv1: groups 4 must divide both n_C_prev = 4 and n_C = 6",
      "e.g. 1, 2"]),                     # common divisors of 4 and 6
    ("- conv: {filters: 8, kernel: 1, groups: 4}", (4, 4, 6), ["input"], 4, 5,
     ["groups 4 must divide both n_C_prev = 6 and n_C = 8", "e.g. 1, 2"]),
]


@pytest.mark.parametrize("layers, shape, kept, line, column, fragments", DIMENSION_ERRORS)
def test_dimension_errors_keep_rows_up_to_the_failure(layers, shape, kept, line, column, fragments):
    r = run(layers, shape)
    assert isinstance(r.error, DimensionError)
    text = r.error.line()
    assert "\n" not in text
    assert text.startswith(f"t.yaml:{line}:{column}: ")
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    assert names(r) == kept
    # the totals are those of the rows kept
    assert r.totals.layers == len(kept) - 1
    assert r.totals.trainable == sum(x.trainable for x in r.rows)


def test_huge_channel_counts_with_bad_groups_answer_at_once():
    # 999,999,937 is prime: groups 2 divides neither; the fix lists the common divisors (just 1)
    with time_limit(1):
        r = run("- conv: {filters: 999999937, kernel: 1, groups: 2}", (1, 1, 999999937))
    assert isinstance(r.error, DimensionError)
    assert "e.g. 1" in r.error.line()


def test_huge_inexact_window_answers_at_once():
    # H: (999,999,999 − 999,999,998)/2 + 1 = 1.5: one row unread; the fix needs no search over 10⁹ strides
    with time_limit(1):
        r = run("- conv: {filters: 1, kernel: [999999998, 1], stride: 2}", (999999999, 1, 1))
    assert r.error is None
    assert row(r, "conv1").out_shape == (1, 1, 1)
    assert len(r.diagnostics) == 1 and "1.50 is not an integer along n_H" in diagnostic_message(r.diagnostics[0])
    # the padding search stops within s of the smallest padding that fits: 2p + 1 even never, so none
    assert r.diagnostics[0].detail.fix_padding is None


def test_unread_rows_never_exceed_the_input():
    # n = 1, kernel 1, stride 3, padding [2, 0, 2, 0]: the padded axis is 3 long; ⌊(1 + 2 + 0 − 1)/3⌋ + 1 = 1
    # window, at position 0 (padding).  The remainder is 2, but only one input row (position 2) exists.
    r = run("- conv: {filters: 1, kernel: 1, stride: 3, padding: [2, 0, 2, 0]}", (1, 1, 1))
    assert row(r, "conv1").out_shape == (1, 1, 1)
    # a 1-wide window at stride 3 skips rows by design: a note (issue 9)
    assert [diagnostic_message(d) for d in r.diagnostics] == [
        "conv1: (1 + 2 + 0 − 1)/3 + 1 = 1.67 is not an integer along n_H and n_W — "   # 2/3 + 1
        "the last input row and column are never read, like those between its 1-wide windows at stride 3: "
        "a window narrower than its stride subsamples by design"]


def test_rectangular_pool_reads_f_H_times_f_W_per_output():
    # 6×6×1, window 3×2, strides 1 and 2: n_H = (6 − 3)/1 + 1 = 4, n_W = (6 − 2)/2 + 1 = 3;
    # each of the 4·3·1 = 12 outputs reads 3·2 = 6 values → 72 (a square 3·3 would give 108)
    r = run("- maxpool: {kernel: [3, 2], stride: [1, 2]}", (6, 6, 1))
    pool = row(r, "maxpool1")
    assert pool.out_shape == (4, 3, 1) and pool.other_ops == 72
    assert (pool.rf.r_H, pool.rf.r_W, pool.rf.j_H, pool.rf.j_W) == (3, 2, 1, 2)


def test_inexact_fix_never_changes_a_networks_stride():
    # (6 − 3)/2 + 1 = 2.5: strides 1 and 3 would divide the span 3, but a stride is the architecture's
    # downsampling factor (issue 9); no symmetric padding helps (6 + 2p − 3 is odd), 'same' pads (0, 1):
    # (6 + 1 − 3)/2 + 1 = 3 exactly; odd inputs divide: 5 and 7
    r = run("- conv: {filters: 1, kernel: 3, stride: 2}", (6, 6, 1))
    (d,) = r.diagnostics
    assert diagnostic_fix(d) == "padding: same divides exactly; or an input of 5 or 7 (every layer then divides exactly)"
