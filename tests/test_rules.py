"""Each layer kind's shape, parameters, MACs, other work and receptive field, worked by hand."""

import pytest

from cnncalc.errors import DimensionError
from helpers import row, run


def test_conv_basic_and_no_bias():
    r = run("- conv: {filters: 4, kernel: 3}\n- conv: {filters: 2, kernel: 3, bias: false}")
    c1, c2 = row(r, "conv1"), row(r, "conv2")
    assert c1.out_shape == (6, 6, 4) and c1.trainable == (9 * 3 + 1) * 4      # 112
    assert c1.macs == 6 * 6 * 4 * 27 and c1.other_ops == 6 * 6 * 4             # bias adds
    assert c2.out_shape == (4, 4, 2) and c2.trainable == 9 * 4 * 2 and c2.other_ops == 0
    assert (c2.rf.r_H, c2.rf.j_H) == (5, 1)


@pytest.mark.parametrize("padding, shape", [
    ("1", (8, 8, 1)),                # (8 + 2 − 3) + 1
    ("[1, 0]", (8, 6, 1)),           # p_H 1, p_W 0
    ("[0, 1, 2, 0]", (7, 7, 1)),     # (8 + 0 + 1 − 3) + 1 = 7; (8 + 2 + 0 − 3) + 1 = 8 … see next
    ("same", (8, 8, 1)),
    ("valid", (6, 6, 1)),
])
def test_conv_padding_forms(padding, shape):
    r = run(f"- conv: {{filters: 1, kernel: 3, padding: {padding}}}")
    if padding == "[0, 1, 2, 0]":
        shape = (7, 8, 1)            # H: 8 + 0 + 1 − 3 + 1 = 7; W: 8 + 2 + 0 − 3 + 1 = 8
    assert row(r, "conv1").out_shape == shape


def test_same_padding_asymmetric_is_resolved_and_shown():
    r = run("- conv: {filters: 2, kernel: 3, stride: 2, padding: same}", (6, 6, 1))
    c = row(r, "conv1")
    assert c.out_shape == (3, 3, 2)                      # ⌈6/2⌉
    assert c.resolved["pads"] == (0, 1, 0, 1)            # total 1, odd pixel bottom/right
    assert "same(0,1,0,1)" in c.notation


def test_conv_stride_dilation_rect_kernel():
    r = run("- conv: {filters: 3, kernel: [3, 5], stride: [1, 2], dilation: 2}", (16, 16, 2))
    c = row(r, "conv1")
    # H: 16 − (2·2 + 1) + 1 = 12; W: ⌊(16 − (2·4 + 1))/2⌋ + 1 = 4
    assert c.out_shape == (12, 4, 3)
    assert c.trainable == (3 * 5 * 2 + 1) * 3
    assert (c.rf.r_H, c.rf.r_W, c.rf.j_H, c.rf.j_W) == (5, 9, 1, 2)


def test_groups_and_depthwise():
    r = run("- conv: {filters: 8, kernel: 3, padding: 1, groups: 2}\n"
            "- conv: {kernel: 3, padding: 1, groups: depthwise}", (4, 4, 4))
    g, dw = row(r, "conv1"), row(r, "conv2")
    assert g.trainable == 3 * 3 * 2 * 8 + 8 and g.macs == 4 * 4 * 8 * 9 * 2
    assert dw.out_shape == (4, 4, 8) and dw.trainable == 9 * 8 + 8 and dw.macs == 4 * 4 * 8 * 9


def test_groups_must_divide():
    r = run("- conv: {filters: 6, kernel: 1, groups: 4}", (4, 4, 4))
    assert isinstance(r.error, DimensionError)
    assert "groups 4 must divide both n_C_prev = 4 and n_C = 6" in r.error.line()


def test_pools():
    r = run("- maxpool: 2\n- avgpool: {kernel: 3, stride: 1, padding: 1}\n- maxpool: {kernel: 3, stride: 2, ceil_mode: true}",
            (9, 9, 2))
    m, a, c = row(r, "maxpool1"), row(r, "avgpool1"), row(r, "maxpool2")
    assert m.out_shape == (4, 4, 2) and m.other_ops == 4 * 4 * 2 * 4      # window reads
    assert a.out_shape == (4, 4, 2) and a.trainable == 0
    assert c.out_shape == (2, 2, 2)                                       # ⌈(4 − 3)/2⌉ + 1 = 2
    assert (c.rf.r_H, c.rf.j_H) == (2 + 2 * 2 + 2 * 2, 4)                 # 2 → 6 (j 2) → 10, j 4


def test_global_avgpool_flatten_dense():
    r = run("- global_avgpool\n- dense: 5\n- dense: {units: 3, bias: false}", (7, 7, 16))
    g, d1, d2 = row(r, "global_avgpool1"), row(r, "dense1"), row(r, "dense2")
    assert g.out_shape == (16,) and g.other_ops == 7 * 7 * 16
    assert g.rf.r_H == 7
    assert d1.trainable == (16 + 1) * 5 and d1.macs == 80
    assert d2.trainable == 15 and d2.other_ops == 0


def test_batchnorm_and_activations():
    r = run("- batchnorm\n- relu\n- leaky_relu: 0.2\n- sigmoid\n- tanh\n- dropout: 0.3\n- flatten\n- softmax",
            (2, 2, 3))
    bn = row(r, "batchnorm1")
    assert (bn.trainable, bn.non_trainable, bn.other_ops) == (6, 6, 2 * 12)
    assert row(r, "relu1").other_ops == 12 and row(r, "dropout1").other_ops == 0
    assert row(r, "softmax1").other_ops == 3 * 12 and row(r, "softmax1").out_shape == (12,)
    assert row(r, "leaky_relu1").notation == "leaky_relu 0.2"


def test_add_concat_and_widest_receptive_field():
    r = run("- conv: {filters: 4, kernel: 3, padding: 1, name: a}\n"
            "- conv: {filters: 4, kernel: 5, padding: 2, name: b, from: input}\n"
            "- add: {from: [a, b]}\n"
            "- concat: {from: [a, b, add1]}")
    add, cat = row(r, "add1"), row(r, "concat1")
    assert add.out_shape == (8, 8, 4) and add.other_ops == 8 * 8 * 4
    assert add.rf.r_H == 5                               # widest of 3 and 5
    assert cat.out_shape == (8, 8, 12) and cat.other_ops == 0


def test_concat_of_flat_vectors():
    r = run("- flatten: {name: f}\n- dense: {units: 3, name: d}\n- concat: {from: [f, d]}", (2, 2, 1))
    assert row(r, "concat1").out_shape == (7,)


def test_inexact_division_warns_with_arithmetic_and_strict_errors():
    r = run("- conv: {filters: 1, kernel: 3, stride: 3}", (7, 7, 1))
    assert r.error is None and len(r.diagnostics) == 1
    text = r.diagnostics[0].message + " — " + r.diagnostics[0].fix
    assert "(7 + 2·0 − 3)/3 + 1 = 2.33 is not an integer" in text
    assert "last input row and column are never read" in text
    assert "padding 1" in text and "stride 2" in text
    strict = run("- conv: {filters: 1, kernel: 3, stride: 3}", (7, 7, 1), strict=True)
    assert isinstance(strict.error, DimensionError) and "--strict" in strict.error.line()
    assert [x.name for x in strict.rows] == ["input"]


def test_remainder_in_padding_is_not_a_warning():
    r = run("- conv: {filters: 1, kernel: 7, stride: 2, padding: 3}", (224, 224, 3))
    assert r.diagnostics == []                            # (224 + 6 − 7) mod 2 = 1 ≤ p_b = 3


@pytest.mark.parametrize("layers, shape, expected", [
    ("- conv: {filters: 1, kernel: 5}", (3, 3, 1), "conv window 5 is larger than the padded input 3 + 0 + 0 = 3"),
    ("- conv: {filters: 2, kernel: 1, name: a}\n- add: {from: [a, input]}", (4, 4, 3),
     "add needs equal shapes but a gives 4×4×2 and input gives 4×4×3"),
    ("- conv: {filters: 2, kernel: 3, name: a}\n- concat: {from: [a, input]}", (4, 4, 3),
     "concat needs equal n_H×n_W but a gives 2×2×2 and input gives 4×4×3"),
    ("- flatten\n- conv: {filters: 1, kernel: 1}", (4, 4, 3), "conv needs an n_H×n_W×n_C feature map"),
    ("- dense: 4", (4, 4, 3), "add `- flatten` before it"),
    ("- maxpool: 2\n- maxpool: 2\n- maxpool: 2", (4, 4, 1), "maxpool window 2 is larger than the padded input 1"),
])
def test_dimension_errors_keep_rows_up_to_the_failure(layers, shape, expected):
    r = run(layers, shape)
    assert isinstance(r.error, DimensionError)
    assert expected in r.error.line()
    assert r.error.mark is not None and r.error.mark.line >= 4
    assert r.rows[0].name == "input" and len(r.rows) == layers.count("\n- ") + 1
