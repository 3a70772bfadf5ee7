"""Every form of the spec language, checked through the layer graph it builds and the numbers that
follow (worked by hand)."""

import pytest

from cnncalc.analysis import analyze, fold
from cnncalc.errors import SpecError
from cnncalc.spec.parser import parse_text
from helpers import row, run, spec
from cnncalc.render.messages import notation_text


def names(report):
    return [r.name for r in report.rows]


def graph_of(text, **kwargs):
    return parse_text(text, "lang.yaml", **kwargs)


def rf(r):
    return (r.rf.r_H, r.rf.r_W)


def node(graph, name):
    return graph.node(name)


# ---------------------------------------------------------------- the forms of one layer

def test_bare_kind_short_form_and_mapping_form():
    r = run("- conv: {filters: 4, kernel: 3}\n- relu\n- maxpool: 2\n- flatten\n- dense: 10\n- dropout: 0.3\n"
            "- leaky_relu: 0.2", (10, 10, 1))
    assert names(r) == ["input", "conv1", "relu1", "maxpool1", "flatten1", "dense1", "dropout1", "leaky_relu1"]
    g = r.graph
    assert node(g, "conv1").fields["filters"] == 4 and node(g, "conv1").fields["kernel"] == (3, 3)
    assert node(g, "maxpool1").fields["kernel"] == (2, 2)        # maxpool's short field is kernel
    assert node(g, "dense1").fields["units"] == 10               # dense's is units
    assert node(g, "dropout1").fields["rate"] == 0.3             # dropout's is rate
    assert node(g, "leaky_relu1").fields["alpha"] == 0.2         # leaky_relu's is alpha
    assert row(r, "maxpool1").out_shape == (4, 4, 4)             # 10 − 3 + 1 = 8, then 8/2
    assert row(r, "dense1").trainable == (64 + 1) * 10           # 4·4·4 = 64 inputs


def test_defaults_are_filled_in():
    g = graph_of("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 2, kernel: 3}\n  - maxpool: 2\n  - batchnorm\n")
    conv = node(g, "conv1").fields
    assert conv == {"filters": 2, "kernel": (3, 3), "stride": (1, 1), "padding": (0, 0, 0, 0),
                    "dilation": (1, 1), "groups": 1, "bias": True}
    pool = node(g, "maxpool1").fields
    assert pool["stride"] is None and pool["ceil_mode"] is False and pool["padding"] == (0, 0, 0, 0)
    assert node(g, "batchnorm1").fields == {"eps": 1e-5, "momentum": 0.1}


def test_sibling_fields_beside_the_short_form():
    r = run("- maxpool: 3\n  stride: 1\n  name: p\n- conv: 2\n  kernel: 1\n- conv: {filters: 3}\n  kernel: 3",
            (9, 9, 1))
    assert names(r) == ["input", "p", "conv1", "conv2"]
    assert r.graph.node("p").fields["stride"] == (1, 1)
    assert row(r, "p").out_shape == (7, 7, 1)                    # 9 − 3 + 1 with stride 1
    assert row(r, "conv1").out_shape == (7, 7, 2)                # conv: 2 sets filters
    assert row(r, "conv2").out_shape == (5, 5, 3)                # mapping plus a sibling kernel


def test_full_form_with_kind():
    r = run("- {kind: conv, filters: 2, kernel: 1, bias: false}\n- kind: maxpool\n  kernel: 2\n  name: pool",
            (4, 4, 3))
    assert names(r) == ["input", "conv1", "pool"]
    assert row(r, "conv1").trainable == 6                        # 1·1·3·2, no bias
    assert row(r, "pool").out_shape == (2, 2, 2)


@pytest.mark.parametrize("spelling, kind", [
    ("conv2d", "conv"), ("convolution", "conv"), ("Conv2D", "conv"),
    ("max_pool", "maxpool"), ("maxpool2d", "maxpool"), ("pool", "maxpool"), ("max-pool", "maxpool"),
    ("avg_pool", "avgpool"), ("average_pool", "avgpool"),
    ("gap", "global_avgpool"), ("gmp", "global_maxpool"),
    ("AdaptiveAvgPool2d", "adaptive_avgpool"), ("adaptive_max_pool", "adaptive_maxpool"),
    ("fc", "dense"), ("linear", "dense"), ("fully_connected", "dense"),
    ("bn", "batchnorm"), ("batch_norm", "batchnorm"), ("BatchNorm2d", "batchnorm"),
    ("lrelu", "leaky_relu"), ("ReLU", "relu"), ("noop", "identity"),
])
def test_kind_aliases(spelling, kind):
    layer = {"conv": f"{spelling}: {{filters: 2, kernel: 1}}", "maxpool": f"{spelling}: 2",
             "avgpool": f"{spelling}: 2", "dense": f"{spelling}: 3", "adaptive_avgpool": f"{spelling}: 2",
             "adaptive_maxpool": f"{spelling}: 2"}.get(kind, spelling)
    prefix = "- flatten\n" if kind == "dense" else ""
    r = run(prefix + f"- {layer}", (4, 4, 2))
    last = r.rows[-1]
    assert last.kind == kind and last.name == f"{kind}1"


def test_merge_aliases():
    r = run("- relu: {name: a}\n- sum: {from: [a, input]}\n- cat: {from: [a, input]}\n"
            "- residual: {from: [a, input], name: res}\n- concatenate: {from: [concat1, res]}", (2, 2, 1))
    assert [x.kind for x in r.rows[2:]] == ["add", "concat", "add", "concat"]
    assert r.rows[-1].out_shape == (2, 2, 3)                     # (1 + 1) + 1


@pytest.mark.parametrize("fields, expected", [
    ("out_channels: 4, kernel_size: 3", (6, 6, 4)),
    ("n_C: 4, f: 3, s: 1, p: 0", (6, 6, 4)),
    ("filters: 4, kernel: 3, strides: 2, pad: 1", (4, 4, 4)),        # ⌊(8 + 2 − 3)/2⌋ + 1
    ("filters: 4, kernel: 3, d: 2, use_bias: false", (4, 4, 4)),      # 8 − 5 + 1
    ("filters: 4, kernel: 3, dilation_rate: 2", (4, 4, 4)),
])
def test_field_aliases(fields, expected):
    r = run(f"- conv: {{{fields}}}")
    assert row(r, "conv1").out_shape == expected


def test_pool_and_dense_field_aliases():
    r = run("- maxpool: {pool_size: 2, strides: 1, ceil: true}\n- flatten\n- dense: {out_features: 3}\n"
            "- dropout: {p: 0.1}\n- leaky_relu: {negative_slope: 0.3}", (3, 3, 1))
    assert row(r, "maxpool1").out_shape == (2, 2, 1)             # (3 − 2)/1 + 1
    assert row(r, "dense1").trainable == 15                      # (4 + 1)·3
    assert r.graph.node("dropout1").fields["rate"] == 0.1
    assert r.graph.node("leaky_relu1").fields["alpha"] == 0.3


# ---------------------------------------------------------------- parallel

def test_parallel_concat_with_an_identity_branch():
    r = run("- parallel:\n"
            "    - [conv: {filters: 2, kernel: 1}]\n"
            "    - - conv: {filters: 3, kernel: 3, padding: 1}\n"
            "      - relu\n"
            "    - []", (4, 4, 3))
    cat = row(r, "parallel1.concat")
    assert cat.kind == "concat"
    assert cat.out_shape == (4, 4, 8)                            # 2 + 3 + 3 (the identity keeps 3)
    assert cat.inputs == ["parallel1.b0.conv1", "parallel1.b1.relu1", "input"]
    assert row(r, "parallel1.b1.conv1").inputs == ["input"]
    assert r.graph.output == "parallel1.concat"


def test_parallel_add_named_and_read_by_name():
    r = run("- parallel:\n    - []\n    - [conv: {filters: 3, kernel: 3, padding: 1}]\n  merge: add\n  name: res\n"
            "- relu\n- tanh: {from: res}\n- add: {from: [relu1, tanh1]}", (4, 4, 3))
    add = row(r, "res.add")
    assert add.kind == "add" and add.inputs == ["input", "res.b1.conv1"]
    assert add.other_ops == 48                                   # 4·4·3 additions
    assert row(r, "relu1").inputs == ["res.add"]
    assert row(r, "tanh1").inputs == ["res.add"]                 # the parallel's name is its merged output
    assert r.graph.scopes["res"].label == "parallel (add)"


def test_parallel_of_two_identities_and_null_branch():
    r = run("- parallel: [[], ~]", (2, 2, 3))
    assert row(r, "parallel1.concat").inputs == ["input", "input"]
    assert row(r, "parallel1.concat").out_shape == (2, 2, 6)


def test_parallel_reading_another_layer():
    r = run("- relu: {name: a}\n- tanh\n- parallel: [[sigmoid], []]\n  from: a", (2, 2, 1))
    assert row(r, "parallel1.b0.sigmoid1").inputs == ["a"]
    assert row(r, "parallel1.concat").inputs == ["parallel1.b0.sigmoid1", "a"]


# ---------------------------------------------------------------- named layers, from:, DAGs

def test_dag_with_forward_references():
    r = run("- add: {from: [a, b]}\n"
            "- conv: {filters: 3, kernel: 1, name: a, from: input}\n"
            "- conv: {filters: 3, kernel: 3, padding: 1, name: b, from: input}\n"
            "- relu: {from: add1}", (4, 4, 3))
    assert names(r) == ["input", "a", "b", "add1", "relu1"]     # topological, spec order where free
    assert row(r, "add1").inputs == ["a", "b"]
    assert r.graph.output == "relu1"                             # the last item is the output
    assert r.diagnostics == []


def test_output_is_the_last_item_and_unused_layers_warn():
    r = run("- add: {from: [a, b]}\n- conv: {filters: 3, kernel: 1, name: a, from: input}\n"
            "- conv: {filters: 3, kernel: 3, padding: 1, name: b, from: input}", (4, 4, 3))
    assert r.graph.output == "b"
    assert [d.layer for d in r.diagnostics] == ["a", "add1"]
    assert r.totals.output_shape == (4, 4, 3)


def test_from_a_single_name_or_a_list_of_one():
    r = run("- relu: {name: a}\n- tanh\n- sigmoid: {from: a}\n- identity: {from: [a]}", (2, 2, 1))
    assert row(r, "sigmoid1").inputs == ["a"] and row(r, "identity1").inputs == ["a"]


def test_auto_names_count_per_kind_and_skip_given_names():
    r = run("- conv: {filters: 2, kernel: 1, name: conv1}\n- conv: {filters: 2, kernel: 1}\n- relu\n- relu\n"
            "- tanh: {name: relu3}\n- relu", (2, 2, 1))
    assert names(r) == ["input", "conv1", "conv2", "relu1", "relu2", "relu3", "relu4"]


def test_names_may_use_dashes_and_underscores():
    r = run("- relu: {name: stem-act_1}\n- tanh: {from: stem-act_1}", (2, 2, 1))
    assert names(r) == ["input", "stem-act_1", "tanh1"]


# ---------------------------------------------------------------- repeat

def test_repeat_chains_its_layers_and_scopes_their_names():
    r = run("- repeat: 3\n  layers:\n    - conv: {filters: 2, kernel: 3, padding: 1}\n    - relu\n- flatten",
            (4, 4, 1))
    assert names(r)[1:] == ["repeat1.0.conv1", "repeat1.0.relu1", "repeat1.1.conv1", "repeat1.1.relu1",
                            "repeat1.2.conv1", "repeat1.2.relu1", "flatten1"]
    assert row(r, "repeat1.0.conv1").inputs == ["input"]
    assert row(r, "repeat1.1.conv1").inputs == ["repeat1.0.relu1"]
    assert row(r, "flatten1").inputs == ["repeat1.2.relu1"]
    assert row(r, "repeat1.0.conv1").trainable == 20             # (9·1 + 1)·2
    assert row(r, "repeat1.1.conv1").trainable == 38             # (9·2 + 1)·2
    assert rf(row(r, "repeat1.2.relu1")) == (7, 7)                # three 3×3: 1 + 2 + 2 + 2
    assert row(r, "repeat1.2.conv1").depth == 2                  # repeat1 / repeat1.2
    assert r.graph.scopes["repeat1"].label == "repeat ×3"
    assert r.graph.scopes["repeat1.1"].label == "repeat 2 of 3"


def test_repeat_zero_leaves_the_layers_out_and_a_named_repeat_is_its_last_layer():
    r = run("- relu\n- repeat: 0\n  layers: [tanh]\n- repeat: 2\n  name: stage\n  layers: [sigmoid]\n"
            "- identity: {from: stage}\n- add: {from: [stage, relu1]}", (2, 2, 1))
    assert names(r) == ["input", "relu1", "stage.0.sigmoid1", "stage.1.sigmoid1", "identity1", "add1"]
    assert row(r, "identity1").inputs == ["stage.1.sigmoid1"]


def test_repeat_with_a_single_layer_not_in_a_list():
    r = run("- repeat: 2\n  layers: relu", (2, 2, 1))
    assert names(r) == ["input", "repeat1.0.relu1", "repeat1.1.relu1"]


def test_names_inside_a_repeat_are_local_to_each_round():
    r = run("- repeat: 2\n  layers:\n    - relu: {name: a}\n    - tanh\n    - add: {from: [a, tanh1]}", (2, 2, 1))
    assert row(r, "repeat1.1.add1").inputs == ["repeat1.1.a", "repeat1.1.tanh1"]
    assert row(r, "repeat1.1.a").inputs == ["repeat1.0.add1"]


# ---------------------------------------------------------------- blocks with arguments

UNIT = ("blocks:\n"
        "  unit:\n"
        "    args: {filters: null, k: 3}\n"
        "    layers:\n"
        "      - conv: {filters: $filters, kernel: $k, padding: \"($k - 1) // 2\"}\n"
        "      - relu\n")


def test_block_with_required_and_default_arguments():
    r = run("- unit: {filters: 4}\n- unit: {filters: 2, k: 1, name: last}", (5, 5, 3), UNIT)
    assert names(r)[1:] == ["unit1.conv1", "unit1.relu1", "last.conv1", "last.relu1"]
    first, second = r.graph.node("unit1.conv1").fields, r.graph.node("last.conv1").fields
    assert first["kernel"] == (3, 3) and first["padding"] == (1, 1, 1, 1)      # (3 − 1)//2 = 1
    assert second["kernel"] == (1, 1) and second["padding"] == (0, 0, 0, 0)    # (1 − 1)//2 = 0
    assert row(r, "unit1.conv1").trainable == 112                 # (9·3 + 1)·4
    assert row(r, "last.conv1").trainable == 10                   # (1·4 + 1)·2
    assert row(r, "last.conv1").inputs == ["unit1.relu1"]
    assert r.graph.scopes["unit1"].label == "unit"


@pytest.mark.parametrize("expression, value", [
    ("\"$f * 4\"", 12),                    # 3·4
    ("\"$f * 4 // 3\"", 4),                # 12 // 3
    ("\"($f + 1) * 2 - 1\"", 7),           # 4·2 − 1
    ("\"$f // 2\"", 1),                    # 3 // 2 (floor)
    ("\"-$f + 10\"", 7),
    ("\"$f*$f\"", 9),
    ("$f", 3),
    ("\" $f \"", 3),
])
def test_integer_expressions(expression, value):
    blocks = f"blocks:\n  b:\n    args: {{f: 3}}\n    layers:\n      - dense: {expression}\n"
    r = run("- flatten\n- b", (1, 1, 2), blocks)
    assert r.graph.node("b1.dense1").fields["units"] == value
    assert row(r, "b1.dense1").out_shape == (value,)


def test_args_as_a_list_are_all_required():
    blocks = "blocks:\n  b:\n    args: [n, m]\n    layers:\n      - dense: $n\n      - dense: $m\n"
    r = run("- flatten\n- b: {n: 3, m: 2}", (2, 2, 1), blocks)
    assert row(r, "b1.dense1").out_shape == (3,) and row(r, "b1.dense2").out_shape == (2,)


def test_block_without_arguments_as_a_plain_list():
    blocks = "blocks:\n  act:\n    - relu\n    - tanh\n"
    r = run("- act\n- act", (2, 2, 1), blocks)
    assert names(r)[1:] == ["act1.relu1", "act1.tanh1", "act2.relu1", "act2.tanh1"]


def test_block_argument_that_is_a_list_of_layers():
    blocks = ("blocks:\n  res:\n    args: {shortcut: []}\n    layers:\n"
              "      - conv: {filters: 4, kernel: 3, padding: 1, name: main}\n"
              "      - parallel: [[], $shortcut]\n        merge: add\n        from: input\n")
    r = run("- conv: {filters: 4, kernel: 1}\n"
            "- res: {shortcut: [{conv: {filters: 4, kernel: 1}}, bn]}\n"
            "- res", (5, 5, 2), blocks)
    # `from: input` in the block is the block's own input (conv1 here, not the network's input)
    assert row(r, "res1.parallel1.b1.conv1").inputs == ["conv1"]
    assert row(r, "res1.parallel1.b1.batchnorm1").inputs == ["res1.parallel1.b1.conv1"]
    assert row(r, "res1.parallel1.add").inputs == ["conv1", "res1.parallel1.b1.batchnorm1"]
    # the default [] makes the second call's shortcut the identity
    assert row(r, "res2.parallel1.add").inputs == ["res1.parallel1.add", "res1.parallel1.add"]
    # res1.main is never read (the parallel reads the block input): a warning per call
    assert {d.layer for d in r.diagnostics} == {"res1.main", "res2.main"}


def test_input_inside_a_block_is_the_block_input():
    blocks = ("blocks:\n  skip:\n    layers:\n      - conv: {filters: 2, kernel: 1, name: c}\n"
              "      - add: {from: [c, input]}\n")
    r = run("- conv: {filters: 2, kernel: 3, padding: 1}\n- skip", (3, 3, 1), blocks)
    assert row(r, "skip1.add1").inputs == ["skip1.c", "conv1"]
    assert row(r, "skip1.c").inputs == ["conv1"]


def test_names_in_a_block_look_outwards_from_the_call():
    blocks = "blocks:\n  join:\n    layers:\n      - add: {from: [input, stem]}\n"
    r = run("- relu: {name: stem}\n- tanh\n- join", (2, 2, 1), blocks)
    assert row(r, "join1.add1").inputs == ["tanh1", "stem"]


def test_block_called_with_from():
    blocks = "blocks:\n  b:\n    layers: [relu, tanh]\n"
    r = run("- sigmoid: {name: s}\n- identity\n- b: {from: s}", (2, 2, 1), blocks)
    assert row(r, "b1.relu1").inputs == ["s"]


def test_nested_blocks_and_name_scoping():
    blocks = ("blocks:\n"
              "  unit:\n    args: {filters: null}\n    layers:\n"
              "      - conv: {filters: $filters, kernel: 1}\n      - relu\n"
              "  two:\n    args: {filters: null}\n    layers:\n"
              "      - unit: {filters: $filters}\n      - unit: {filters: \"$filters * 2\"}\n")
    r = run("- two: {filters: 4, name: t}\n- repeat: 2\n  layers:\n    - two: {filters: 1}", (3, 3, 2), blocks)
    assert names(r)[1:5] == ["t.unit1.conv1", "t.unit1.relu1", "t.unit2.conv1", "t.unit2.relu1"]
    assert row(r, "t.unit1.conv1").out_shape == (3, 3, 4)
    assert row(r, "t.unit2.conv1").out_shape == (3, 3, 8)       # 4·2
    assert row(r, "t.unit2.conv1").trainable == 40              # (4 + 1)·8
    inner = "repeat1.1.two1.unit2.conv1"
    assert row(r, inner).out_shape == (3, 3, 2)                  # 1·2
    assert row(r, "repeat1.1.two1.unit1.conv1").inputs == ["repeat1.0.two1.unit2.relu1"]
    assert row(r, inner).scope == ("repeat1", "repeat1.1", "repeat1.1.two1", "repeat1.1.two1.unit2")
    assert row(r, inner).depth == 4


def test_the_same_local_name_in_two_block_calls():
    blocks = "blocks:\n  b:\n    layers:\n      - relu: {name: a}\n      - tanh: {from: a}\n"
    r = run("- b\n- b", (2, 2, 1), blocks)
    assert names(r)[1:] == ["b1.a", "b1.tanh1", "b2.a", "b2.tanh1"]


def test_block_layers_in_full_form_and_block_call_in_full_form():
    blocks = "blocks:\n  b:\n    args: {n: 2}\n    layers:\n      - {kind: dense, units: $n}\n"
    r = run("- flatten\n- {kind: b, n: 5}", (1, 1, 3), blocks)
    assert row(r, "b1.dense1").out_shape == (5,)


# ---------------------------------------------------------------- top-level keys and --input

def test_name_description_and_default_name():
    g = graph_of("name: my-net\ndescription: a test\ninput: [4]\nlayers: [relu]\n")
    assert g.name == "my-net" and g.input_shape == (4,)
    g = parse_text("input: [4]\nlayers: [relu]\n", "some/dir/small_net.yaml")
    assert g.name == "small_net"


def test_input_override():
    text = spec("- conv: {filters: 8, kernel: 5}\n- maxpool: 2", (32, 32, 3))
    g = parse_text(text, "t.yaml", input_override=(28, 28, 3))
    assert g.input_shape == (28, 28, 3)
    r = analyze(g)
    assert row(r, "conv1").out_shape == (24, 24, 8)              # 28 − 5 + 1
    assert row(r, "maxpool1").out_shape == (12, 12, 8)
    assert analyze(parse_text(text, "t.yaml")).rows[-1].out_shape == (14, 14, 8)   # 32 − 5 + 1 = 28 → 14


def test_input_override_to_a_vector_and_over_a_broken_input():
    text = "input: [8, 0]\nlayers:\n  - dense: 3\n"
    g = parse_text(text, "t.yaml", input_override=(10,))
    assert analyze(g).rows[-1].out_shape == (3,) and analyze(g).totals.trainable == 33   # (10 + 1)·3


# ---------------------------------------------------------------- folding by depth

FOLD_BLOCKS = "blocks:\n  u:\n    layers:\n      - conv: {filters: 2, kernel: 1}\n      - relu\n"


def test_fold_by_depth_keeps_totals():
    r = run("- u\n- repeat: 3\n  layers: [u]\n- parallel: [[u], []]\n  merge: add\n- flatten", (3, 3, 2),
            FOLD_BLOCKS)
    t = r.totals
    for depth in (1, 2, 3, 4, 10, None):
        rows = fold(r, depth)
        for key in ("trainable", "non_trainable", "macs", "other_ops", "activations"):
            assert sum(getattr(x, key) for x in rows) == getattr(t, key), (depth, key)
        assert sum(x.folded for x in rows if x.kind != "input") == t.layers
    top = fold(r, 1)
    assert [x.name for x in top] == ["input", "u1", "repeat1", "parallel1", "flatten1"]
    assert [notation_text(x.layer_type) for x in top[1:4]] == ["u", "repeat ×3", "parallel (add)"]
    # repeat1 folds 3 rounds × (conv + relu) = 6 layers; its output is that of its last layer
    assert top[2].folded == 6 and top[2].out_shape == (3, 3, 2) and top[2].output == "repeat1.2.u1.relu1"
    assert top[2].trainable == 3 * 6                              # each conv (2 + 1)·2 = 6
    assert top[3].folded == 3                                     # conv, relu, add
    assert top[1].inputs == ["input"]
    second = fold(r, 2)
    assert [x.name for x in second if x.kind == "block"] == ["repeat1.0", "repeat1.1", "repeat1.2",
                                                             "parallel1.b0.u1"]
    assert len(fold(r, None)) == len(r.rows) == len(fold(r, 10))


def test_fold_depth_below_one_is_depth_one():
    r = run("- u", (2, 2, 1), FOLD_BLOCKS)
    assert [x.name for x in fold(r, 0)] == [x.name for x in fold(r, 1)] == ["input", "u1"]


def test_spec_errors_are_raised_not_returned():
    with pytest.raises(SpecError):
        run("- relu: {from: nowhere}")


# ---------------------------------------------------------------- names that stand for another layer

def test_a_named_repeat_of_zero_rounds_is_the_layer_it_reads():
    # repeat: 0 leaves the layers out, so `r` is what the repeat reads: x
    r = run("- relu: {name: x}\n- tanh\n- repeat: 0\n  name: r\n  from: x\n  layers: [sigmoid]\n"
            "- identity: {from: r}", (2, 2, 1))
    assert row(r, "identity1").inputs == ["x"]


def test_a_block_with_no_layers_is_the_layer_it_reads():
    blocks = "blocks:\n  skip:\n    layers: []\n"
    r = run("- relu: {name: x}\n- tanh\n- skip: {from: x, name: s}\n- identity: {from: s}", (2, 2, 1), blocks)
    assert row(r, "identity1").inputs == ["x"]


def test_a_chain_continues_after_an_empty_repeat_with_from():
    r = run("- relu: {name: x}\n- tanh\n- repeat: 0\n  from: x\n  layers: [sigmoid]\n- identity", (2, 2, 1))
    assert row(r, "identity1").inputs == ["x"]
