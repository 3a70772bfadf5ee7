"""Every form of the spec language, checked through the layer graph it builds."""

from cnncalc.analysis import analyze, fold
from cnncalc.spec.parser import parse_text
from helpers import row, run, spec


def names(report):
    return [r.name for r in report.rows]


def test_short_mapping_sibling_full_and_alias_forms():
    r = run("- conv2d: {filters: 4, kernel: 3}\n"
            "- maxpool: 3\n  stride: 1\n  name: p\n"
            "- {kind: conv, filters: 2, kernel: 1, bias: false}\n"
            "- bn\n- flatten\n- fc: 3\n- linear: {units: 2}", (9, 9, 1))
    assert names(r) == ["input", "conv1", "p", "conv2", "batchnorm1", "flatten1", "dense1", "dense2"]
    assert row(r, "p").out_shape == (5, 5, 4)            # 7 − 3 + 1 with stride 1
    assert row(r, "conv2").trainable == 4 * 2


def test_parallel_concat_add_and_identity_branch():
    r = run("- parallel:\n    - [conv: {filters: 2, kernel: 1}]\n    - - conv: {filters: 3, kernel: 3, padding: 1}\n"
            "      - relu\n    - []\n"
            "- parallel:\n    - []\n    - [conv: {filters: 8, kernel: 1}]\n  merge: add\n  name: res", (4, 4, 3))
    cat = row(r, "parallel1.concat")
    assert cat.out_shape == (4, 4, 2 + 3 + 3)
    assert cat.inputs == ["parallel1.b0.conv1", "parallel1.b1.relu1", "input"]
    assert row(r, "res.add").inputs == ["parallel1.concat", "res.b1.conv1"]


def test_dag_with_forward_reference():
    r = run("- add: {from: [a, b]}\n- conv: {filters: 3, kernel: 1, name: a, from: input}\n"
            "- conv: {filters: 3, kernel: 3, padding: 1, name: b, from: input}", (4, 4, 3))
    assert names(r) == ["input", "a", "b", "add1"]
    assert r.graph.output == "b"                       # the last item is the chain's output
    assert any("never used" in d.message for d in r.diagnostics)


def test_repeat_and_block_arguments_and_expressions():
    blocks = ("blocks:\n  unit:\n    args: {filters: null, k: 3}\n    layers:\n"
              "      - conv: {filters: \"$filters * 2 // 2 + 1 - 1\", kernel: $k, padding: \"($k - 1) // 2\"}\n"
              "      - relu\n  two:\n    args: {filters: null}\n    layers:\n"
              "      - unit: {filters: $filters}\n      - unit: {filters: \"$filters * 2\", k: 1}\n")
    r = run("- two: {filters: 4, name: t}\n- repeat: 2\n  layers:\n    - unit: {filters: 5}", (8, 8, 3), blocks)
    assert names(r)[1:5] == ["t.unit1.conv1", "t.unit1.relu1", "t.unit2.conv1", "t.unit2.relu1"]
    assert row(r, "t.unit1.conv1").out_shape == (8, 8, 4)
    assert row(r, "t.unit2.conv1").out_shape == (8, 8, 8)
    assert row(r, "repeat1.1.unit1.conv1").inputs == ["repeat1.0.unit1.relu1"]
    assert row(r, "repeat1.1.unit1.conv1").depth == 3      # repeat1 / repeat1.1 / unit1


def test_list_argument_and_input_inside_block():
    blocks = ("blocks:\n  res:\n    args: {shortcut: []}\n    layers:\n"
              "      - conv: {filters: 4, kernel: 3, padding: 1, name: main}\n"
              "      - parallel: [[], $shortcut]\n        merge: add\n        from: input\n")
    r = run("- conv: {filters: 4, kernel: 1}\n- res: {shortcut: [{conv: {filters: 4, kernel: 1}}]}", (5, 5, 2), blocks)
    # `from: input` inside the block is the block's input (conv1), not the network's input
    assert row(r, "res1.parallel1.b1.conv1").inputs == ["conv1"]
    assert row(r, "res1.parallel1.add").inputs == ["conv1", "res1.parallel1.b1.conv1"]


def test_args_as_list_are_required_and_repeat_zero():
    blocks = "blocks:\n  b:\n    args: [n]\n    layers:\n      - dense: $n\n"
    r = run("- flatten\n- b: {n: 3}\n- repeat: 0\n  layers: [relu]", (2, 2, 1), blocks)
    assert row(r, "b1.dense1").out_shape == (3,)
    assert names(r)[-1] == "b1.dense1"


def test_input_override_and_vector_input():
    g = parse_text(spec("- dense: 3"), "t.yaml", input_override=(10,))
    assert analyze(g).rows[-1].out_shape == (3,)


def test_fold_by_depth_keeps_totals():
    blocks = "blocks:\n  u:\n    layers:\n      - conv: {filters: 2, kernel: 1}\n      - relu\n"
    r = run("- u\n- repeat: 3\n  layers: [u]\n- flatten", (3, 3, 2), blocks)
    for depth in (1, 2, 3, None):
        rows = fold(r, depth)
        assert sum(x.trainable for x in rows) == r.totals.trainable
        assert sum(x.macs for x in rows) == r.totals.macs
        assert sum(x.activations for x in rows) == r.totals.activations
        assert sum(x.folded for x in rows if x.kind != "input") == r.totals.layers
    assert [x.name for x in fold(r, 1)] == ["input", "u1", "repeat1", "flatten1"]
    assert fold(r, 1)[2].out_shape == (3, 3, 2) and fold(r, 1)[2].folded == 6
