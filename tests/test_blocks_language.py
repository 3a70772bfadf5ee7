"""Blocks (issue 7): chain arguments spliced into a chain, empty arguments, one-branch parallel,
the block input's sizes ($in_n_H, $in_n_W, $in_n_C / $in_channels) in expressions, and the
warning for a declared argument never used.  Every number is worked by hand beside its assertion."""

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncalc.analysis import analyze
from cnncalc.cli import app
from cnncalc.errors import DimensionError, SpecError
from cnncalc.layers.records import UnusedArgument
from cnncalc.render.messages import record_json
from cnncalc.render.report import diagnostic_lines
from cnncalc.spec.parser import parse_text


def analysed(text, input_override=None):
    report = analyze(parse_text(text, "b.yaml", input_override))
    assert report.error is None, report.error
    return report


def rows(report):
    return {r.name: r for r in report.rows}


def where(text, needle, occurrence=1):
    """(line, column) of the n-th occurrence of needle in text, counted from 1 as editors do."""
    at = -1
    for _ in range(occurrence):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


# ---------------------------------------------------------------- chain arguments, spliced

UNIT = """\
input: [8, 8, 3]
blocks:
  unit:
    args: {filters: null, norm: [batchnorm]}
    layers:
      - conv: {filters: $filters, kernel: 3, padding: 1, bias: false}
      - $norm
      - relu
layers:
"""


def test_a_chain_argument_is_spliced_where_it_stands_and_an_empty_one_adds_no_layer():
    text = UNIT + ("  - unit: {filters: 8}\n"                                      # the default: [batchnorm]
                   "  - unit: {filters: 8, norm: []}\n"                            # empty list: no layer
                   "  - unit: {filters: 8, norm: null}\n"                          # null: no layer either
                   "  - unit: {filters: 8, norm: [batchnorm, {dropout: 0.25}]}\n"  # two layers spliced in
                   "  - unit: {filters: 8, norm: tanh}\n")                         # one layer, not a list
    r = analysed(text)
    assert [x.name for x in r.rows] == [
        "input",
        "unit1.conv1", "unit1.batchnorm1", "unit1.relu1",
        "unit2.conv1", "unit2.relu1",
        "unit3.conv1", "unit3.relu1",
        "unit4.conv1", "unit4.batchnorm1", "unit4.dropout1", "unit4.relu1",
        "unit5.conv1", "unit5.tanh1", "unit5.relu1"]
    by = rows(r)
    assert by["unit1.conv1"].trainable == 3 * 3 * 3 * 8                    # f·f·n_C_prev·n_C, no bias: 216
    assert by["unit2.conv1"].trainable == 3 * 3 * 8 * 8                    # 576
    assert by["unit1.batchnorm1"].trainable == 2 * 8                       # γ and β
    assert by["unit4.dropout1"].out_shape == (8, 8, 8)
    assert r.graph.node("unit4.dropout1").fields["rate"] == 0.25
    # the spliced layers are located where the call wrote them, not in the block
    dropout = r.graph.node("unit4.dropout1").mark
    assert (dropout.line, dropout.column) == where(text, "dropout: 0.25")
    assert (r.graph.node("unit4.batchnorm1").mark.line, r.graph.node("unit4.batchnorm1").mark.column) == \
        where(text, "batchnorm", 2)
    assert r.diagnostics == []


def test_a_chain_argument_splices_into_repeat_bodies_branches_and_inner_block_calls():
    text = """\
input: [4, 4, 2]
blocks:
  unit:
    args: {norm: [batchnorm]}
    layers:
      - conv: {filters: 2, kernel: 1}
      - $norm
  outer:
    args: {norm: [batchnorm], extra: []}
    layers:
      - repeat: 2
        layers: [$norm, $extra]
      - parallel:
          - [$norm, relu]
          - $extra
        merge: add
      - unit: {norm: $norm}
layers:
  - outer: {norm: [tanh], extra: [sigmoid, identity]}
  - outer: {norm: []}
"""
    r = analysed(text)
    names = [x.name for x in r.rows]
    assert names == [
        "input",
        "outer1.repeat1.0.tanh1", "outer1.repeat1.0.sigmoid1", "outer1.repeat1.0.identity1",
        "outer1.repeat1.1.tanh1", "outer1.repeat1.1.sigmoid1", "outer1.repeat1.1.identity1",
        "outer1.parallel1.b0.tanh1", "outer1.parallel1.b0.relu1",
        "outer1.parallel1.b1.sigmoid1", "outer1.parallel1.b1.identity1", "outer1.parallel1.add",
        "outer1.unit1.conv1", "outer1.unit1.tanh1",
        # norm: [] and extra's default []: the repeat is empty, the parallel is relu beside the identity
        "outer2.parallel1.b0.relu1", "outer2.parallel1.add", "outer2.unit1.conv1"]
    assert r.graph.node("outer2.parallel1.add").inputs == ["outer2.parallel1.b0.relu1", "outer1.unit1.tanh1"]


def test_a_list_written_inside_a_chain_is_still_an_error_not_a_splice():
    with pytest.raises(SpecError) as info:
        parse_text("input: [4, 4, 2]\nlayers:\n  - [relu, tanh]\n", "b.yaml")
    assert str(info.value.mark) == "b.yaml:3:5" and "a layer must be a kind name" in str(info.value)


def test_a_required_argument_still_needs_a_value_and_null_in_the_call_is_a_value():
    with pytest.raises(SpecError) as info:
        parse_text(UNIT.replace("norm: [batchnorm]", "norm: null") + "  - unit: {filters: 8}\n", "b.yaml")
    assert "block 'unit' needs argument norm" in str(info.value) and str(info.value.mark) == "b.yaml:10:5"
    r = analysed(UNIT.replace("norm: [batchnorm]", "norm: null") + "  - unit: {filters: 8, norm: null}\n")
    assert [x.name for x in r.rows] == ["input", "unit1.conv1", "unit1.relu1"]


# ---------------------------------------------------------------- parallel with a single branch

@pytest.mark.parametrize("merge", ["add", "concat"])
def test_parallel_takes_a_single_branch(merge):
    text = ("input: [8, 8, 3]\nlayers:\n  - conv: {filters: 4, kernel: 3, padding: 1}\n"
            f"  - parallel: [[conv: {{filters: 6, kernel: 3, padding: 1}}, relu]]\n    merge: {merge}\n")
    r = analysed(text)
    by = rows(r)
    assert [x.name for x in r.rows] == ["input", "conv1", "parallel1.b0.conv1", "parallel1.b0.relu1",
                                        f"parallel1.{merge}"]
    assert by[f"parallel1.{merge}"].out_shape == (8, 8, 6)      # one branch: its own shape
    assert by[f"parallel1.{merge}"].other_ops == 0              # add: (k − 1)·elements with k = 1
    assert by["parallel1.b0.conv1"].trainable == (3 * 3 * 4 + 1) * 6


@pytest.mark.torch
@pytest.mark.parametrize("merge", ["add", "concat"])
def test_a_single_branch_parallel_trains_as_pytorch_does(merge):
    """The trainer's add and concat of one input against the same net in PyTorch (values, gradients)."""
    torch = pytest.importorskip("torch")
    from torch_builder import from_engine

    from cnncalc.engine import train as tr
    from cnncalc.engine.init import initialise
    from cnncalc.layers.activation.kernels import softmax_cross_entropy
    from helpers import spec

    text = spec("- conv: {filters: 3, kernel: 3, padding: 1}\n"
                f"- parallel: [[conv: {{filters: 3, kernel: 1}}, tanh]]\n  merge: {merge}\n"
                "- flatten\n- dense: 3", (5, 5, 2))
    report, net = tr.build(text, "t.yaml", 4)
    initialise(net, 3)
    module = from_engine(report, net.state())
    x = np.random.default_rng(4).standard_normal((4,) + net.input_shape).astype(np.float32)
    y = np.arange(4) % 3
    logits = net.forward(x, True, np.random.default_rng(0))
    loss, dz, _ = softmax_cross_entropy(logits, y)
    net.backward(dz)
    theirs = module(torch.from_numpy(x.copy()))
    torch.nn.functional.cross_entropy(theirs, torch.from_numpy(y)).backward()
    np.testing.assert_allclose(logits, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    named = dict(module.named_parameters())
    for k, g in net.grads.items():
        np.testing.assert_allclose(g, named[k].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


# ---------------------------------------------------------------- the block input's sizes

INVERTED = """\
input: [8, 8, 3]
blocks:
  inverted:                      # MobileNetV2's inverted residual, stride 1, channels not threaded
    args: {t: null}
    layers:
      - parallel:
          - - conv: {filters: "$in_channels * $t", kernel: 1, bias: false}
            - relu
            - conv: {filters: "$in_channels * $t", kernel: 3, padding: 1, groups: depthwise, bias: false}
            - conv: {filters: $in_n_C, kernel: 1, bias: false}
          - []
        merge: add
layers:
  - conv: {filters: 16, kernel: 3, padding: 1}
  - inverted: {t: 4}
  - conv: {filters: 24, kernel: 1}
  - inverted: {t: 2}
"""


def test_in_channels_is_the_block_input_channel_count():
    r = analysed(INVERTED)
    by = rows(r)
    # first call: n_C = 16, expansion 16·4 = 64
    assert by["inverted1.parallel1.b0.conv1"].out_shape == (8, 8, 64)
    assert by["inverted1.parallel1.b0.conv1"].trainable == 16 * 64                # 1×1: 1024
    assert by["inverted1.parallel1.b0.conv2"].trainable == 3 * 3 * 64             # depthwise: 576
    assert by["inverted1.parallel1.b0.conv3"].trainable == 64 * 16                # project back: 1024
    assert by["inverted1.parallel1.add"].out_shape == (8, 8, 16)
    # second call: n_C = 24, expansion 24·2 = 48
    assert by["inverted2.parallel1.b0.conv1"].trainable == 24 * 48                # 1152
    assert by["inverted2.parallel1.b0.conv2"].trainable == 3 * 3 * 48             # 432
    assert by["inverted2.parallel1.b0.conv3"].trainable == 48 * 24                # 1152
    assert r.totals.trainable == (3 * 3 * 3 + 1) * 16 + 1024 + 576 + 1024 + (16 + 1) * 24 + 1152 + 432 + 1152


GLOBAL = """\
input: [6, 10, 2]
blocks:
  whole:
    layers:
      - avgpool: {kernel: [$in_n_H, $in_n_W]}
      - conv: {filters: "$in_n_H + 2 * $in_n_W", kernel: 1}
layers:
  - whole
"""


def test_in_n_H_and_in_n_W_are_the_block_input_rows_and_columns_and_follow_the_input_option():
    by = rows(analysed(GLOBAL))
    assert analysed(GLOBAL).graph.node("whole1.avgpool1").fields["kernel"] == (6, 10)
    assert by["whole1.avgpool1"].out_shape == (1, 1, 2)
    assert by["whole1.conv1"].out_shape == (1, 1, 6 + 2 * 10)                # 26 filters
    by = rows(analysed(GLOBAL, input_override=(12, 4, 5)))                    # --input 12,4,5
    assert by["whole1.avgpool1"].out_shape == (1, 1, 5)                       # kernel (12, 4)
    assert by["whole1.conv1"].trainable == (5 + 1) * (12 + 2 * 4)             # 20 filters on 5 channels


def test_sizes_are_those_of_each_block_own_input_when_blocks_nest_and_of_from():
    text = """\
input: [8, 8, 3]
blocks:
  inner:
    args: {c: null}
    layers:
      - conv: {filters: "$c + $in_channels", kernel: 1}
  pair:
    layers:
      - conv: {filters: "$in_channels * 2", kernel: 1}
      - inner: {c: $in_channels}
layers:
  - pair
  - conv: {filters: 5, kernel: 1, name: a}
  - conv: {filters: 7, kernel: 1}
  - inner: {c: 1, from: a}
"""
    report = analyze(parse_text(text, "b.yaml"))
    by = rows(report)
    assert by["pair1.conv1"].out_shape == (8, 8, 6)                # pair's input has 3 channels: 3·2
    assert by["pair1.inner1.conv1"].out_shape == (8, 8, 9)         # c = 3 (pair's input), inner's own input 6
    assert by["inner1.conv1"].out_shape == (8, 8, 6)               # reads a (5 channels), not conv1 (7): 1 + 5
    assert [d.layer for d in report.diagnostics] == ["conv1"]      # the 7-filter conv (a is named) is unused


def test_in_channels_is_refused_on_a_vector_with_a_located_line():
    text = ("input: [8, 8, 3]\nblocks:\n  widen:\n    layers:\n      - dense: \"$in_channels + 1\"\n"
            "layers:\n  - flatten\n  - widen\n")
    with pytest.raises(SpecError) as info:
        parse_text(text, "b.yaml")
    line, column = where(text, '"$in_channels')
    assert str(info.value.mark) == f"b.yaml:{line}:{column}"
    assert "$in_channels needs a feature map" in str(info.value) and "vector of 192" in str(info.value)
    assert "called at b.yaml:8:5" in str(info.value) and "\n" not in info.value.line()


def test_the_block_input_must_be_written_before_the_call_when_its_shape_is_asked_for():
    text = ("input: [8, 8, 3]\nblocks:\n  widen:\n    layers:\n      - conv: {filters: $in_channels, kernel: 1}\n"
            "layers:\n  - widen: {from: later}\n  - relu: {name: later, from: input}\n")
    with pytest.raises(SpecError) as info:
        parse_text(text, "b.yaml")
    assert str(info.value.mark) == "b.yaml:7:5"
    assert "must be known where it is called" in str(info.value) and "received 'later'" in str(info.value)
    # the same call without $in_channels is fine: forward references stay allowed
    parse_text(text.replace("$in_channels", "4"), "b.yaml")


def test_a_cycle_met_while_computing_the_block_input_shape_is_a_located_error_not_a_hang():
    text = ("input: [8, 8, 3]\nblocks:\n  widen:\n    layers:\n      - conv: {filters: $in_channels, kernel: 1}\n"
            "layers:\n  - relu: {name: a, from: b}\n  - relu: {name: b, from: a}\n  - widen: {from: a}\n")
    with pytest.raises(SpecError) as info:
        parse_text(text, "b.yaml")
    assert "cycle" in str(info.value) and info.value.mark.line in (7, 8)


def test_a_dimension_error_before_a_sized_block_is_raised_at_its_layer():
    text = ("input: [8, 8, 3]\nblocks:\n  widen:\n    layers:\n      - conv: {filters: $in_channels, kernel: 1}\n"
            "layers:\n  - conv: {filters: 4, kernel: 9}\n  - widen\n")
    with pytest.raises(DimensionError) as info:
        parse_text(text, "b.yaml")
    assert str(info.value.mark) == "b.yaml:7:5" and "conv1" in str(info.value)


@pytest.mark.parametrize("name", ["in_channels", "in_n_H", "in_n_W", "in_n_C"])
def test_the_size_names_cannot_be_declared_as_arguments(name):
    text = (f"input: [8, 8, 3]\nblocks:\n  b:\n    args: {{{name}: 3}}\n    layers: [relu]\nlayers:\n  - b\n")
    with pytest.raises(SpecError) as info:
        parse_text(text, "b.yaml")
    assert str(info.value.mark) == "b.yaml:4:12" and f"received '{name}'" in str(info.value)


# ---------------------------------------------------------------- a declared argument never used

UNUSED = """\
input: [8, 8, 3]
blocks:
  b:
    args: {filters: null, stride: 1, pad: 0}
    layers:
      - conv: {filters: "$filters * 2", kernel: 3, padding: $pad}
  spare:
    args: [k]
    layers: [relu]
layers:
  - b: {filters: 2}
  - b: {filters: 3}
"""


def test_an_argument_never_used_is_one_located_warning_per_declaration():
    report = analysed(UNUSED)
    found = [(d.layer, d.detail, str(d.mark)) for d in report.diagnostics]
    line_stride, col_stride = where(UNUSED, "stride")
    line_k, col_k = where(UNUSED, "k]")
    # once each, however often the block is called (b twice) or not at all (spare)
    assert found == [("b", UnusedArgument("b", "stride"), f"b.yaml:{line_stride}:{col_stride}"),
                     ("spare", UnusedArgument("spare", "k"), f"b.yaml:{line_k}:{col_k}")]
    assert (line_stride, col_stride) == (4, 27) and (line_k, col_k) == (8, 12)
    assert diagnostic_lines(report)[0] == (
        "warning: b.yaml:4:27: block 'b': argument $stride is declared but never used in its layers"
        " — use $stride in the block's layers or remove it from args")
    assert record_json(report.diagnostics[0].detail) == {"what": "unused_argument", "block": "b",
                                                         "argument": "stride"}


def test_the_cli_prints_the_unused_argument_warning_and_succeeds(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(UNUSED, encoding="utf-8")
    result = CliRunner().invoke(app, ["params", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    # under a table each line starts with its mark's number (issue 9); these two mark no row
    lines = [x for x in result.stderr.splitlines() if " warning: " in x]
    assert len(lines) == 2 and lines[0].startswith(f"⚠1 warning: {path}:4:27: block 'b': argument $stride")


def test_an_argument_used_only_inside_an_expression_or_passed_on_counts_as_used():
    text = ("input: [8, 8, 3]\nblocks:\n  b:\n    args: {n: 2, m: 1, rest: []}\n"
            "    layers:\n      - conv: {filters: \"($n + 1) * 2\", kernel: 1}\n      - c: {k: $m, tail: $rest}\n"
            "  c:\n    args: {k: null, tail: null}\n    layers: [conv: {filters: $k, kernel: 1}, $tail]\n"
            "layers:\n  - b\n")
    report = analysed(text)
    assert report.diagnostics == []
    assert rows(report)["b1.conv1"].out_shape == (8, 8, 6)      # (2 + 1)·2


def test_errors_in_a_sized_block_still_go_through_the_cli_as_one_line(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text("input: [8, 8, 3]\nblocks:\n  w:\n    layers: [dense: \"$in_n_H\"]\nlayers:\n  - flatten\n"
                    "  - w\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["summary", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    errors = [x for x in result.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: {path}:4:21: ") and "Traceback" not in result.output


# ---------------------------------------------------------------- the README's example

def test_the_readme_inverted_residual_example_expands_as_worked_by_hand():
    from pathlib import Path

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    block = next(b for b in readme.split("```yaml\n")[1:] if "inverted:" in b).split("```")[0]
    report = analysed("input: [56, 56, 64]\n" + block)     # what test_readme's as_spec gives it
    names = [x.name for x in report.rows]
    assert names[1:] == (
        [f"inverted1.parallel1.b0.{n}" for n in ("conv1", "batchnorm1", "relu1", "conv2", "batchnorm2", "relu2",
                                                 "conv3", "batchnorm3")] + ["inverted1.parallel1.add"]
        # act: [] leaves both activations out of the second call
        + [f"inverted2.parallel1.b0.{n}" for n in ("conv1", "batchnorm1", "conv2", "batchnorm2", "conv3",
                                                   "batchnorm3")] + ["inverted2.parallel1.add"])
    by = rows(report)
    assert by["inverted1.parallel1.b0.conv1"].out_shape == (56, 56, 64 * 6)
    assert by["inverted2.parallel1.b0.conv1"].out_shape == (56, 56, 64 * 4)
    # t = 6: 64·384 + 2·384 + 9·384 + 2·384 + 384·64 + 2·64; t = 4: the same with 256
    first = 64 * 384 + 2 * 384 + 9 * 384 + 2 * 384 + 384 * 64 + 2 * 64
    second = 64 * 256 + 2 * 256 + 9 * 256 + 2 * 256 + 256 * 64 + 2 * 64
    assert (first, second) == (54272, 36224)
    assert report.totals.trainable == first + second
    assert report.diagnostics == []
