"""Full layer names: `sequential` (nn.Sequential's 0, 1, 2, …), `sequential: true` blocks, and
`flat: true` block calls, repeats and parallels (issue 7).  Every expected name below is written by
hand from the rules in the README's "Names" section; tests/test_tv_names.py checks the shipped
torchvision specs against torchvision's own state_dict() keys."""

import json

import pytest
from typer.testing import CliRunner

from cnncalc.cli import app
from cnncalc.errors import SpecError
from cnncalc.spec.parser import parse_text

HEAD = """input: [8, 8, 4]
blocks:
  unit: [conv: {filters: 4, kernel: 3, padding: 1}, relu]      # conv1, relu1 (kind + count)
  cna:                                                          # torchvision's Conv2dNormActivation
    sequential: true
    layers: [conv: {filters: 4, kernel: 1}, batchnorm, relu]
"""


def names(layers: str, head: str = HEAD) -> list[str]:
    return [n.name for n in parse_text(head + "layers:\n" + layers, "net.yaml").nodes[1:]]


def graph(layers: str, head: str = HEAD):
    return parse_text(head + "layers:\n" + layers, "net.yaml")


def spec_error(layers: str, head: str = HEAD) -> SpecError:
    with pytest.raises(SpecError) as info:
        parse_text(head + "layers:\n" + layers, "net.yaml")
    return info.value


# ---------------------------------------------------------------- sequential

def test_sequential_numbers_its_unnamed_items_and_not_its_named_ones():
    assert names("""
  - sequential:
      - conv: {filters: 4, kernel: 1}
      - relu
      - conv: {filters: 4, kernel: 1, name: head}
      - relu
    name: features
""") == ["features.0", "features.1", "features.head", "features.2"]


def test_every_kind_of_item_takes_one_index_in_a_sequential():
    assert names("""
  - sequential:
      - relu                           # 0
      - unit                           # 1: a block call, its body counted by kind
      - sequential: [relu, relu]       # 2: a nested sequential, numbered afresh
      - repeat: 2                      # 3: a repeat, passes 3.0 and 3.1
        layers: [relu]
      - parallel: [[relu], []]         # 4: a parallel, branches 4.b0, 4.b1, merged by 4.concat
      - cna                            # 5: a sequential block: 5.0, 5.1, 5.2
      - cna: {name: named}             # no index: 6 is next
      - relu                           # 6
  - conv: {filters: 4, kernel: 1}      # outside: named by kind again
""") == ["sequential1.0",
         "sequential1.1.conv1", "sequential1.1.relu1",
         "sequential1.2.0", "sequential1.2.1",
         "sequential1.3.0.relu1", "sequential1.3.1.relu1",
         "sequential1.4.b0.relu1", "sequential1.4.concat",
         "sequential1.5.0", "sequential1.5.1", "sequential1.5.2",
         "sequential1.named.0", "sequential1.named.1", "sequential1.named.2",
         "sequential1.6",
         "conv1"]


def test_sequential_reads_like_its_layers_written_inline():
    g = graph("""
  - conv: {filters: 4, kernel: 1, name: stem}
  - sequential: [relu, {conv: {filters: 6, kernel: 3}}]
    name: body
  - relu
""")
    inputs = {n.name: n.inputs for n in g.nodes[1:]}
    assert inputs == {"stem": ["input"], "body.0": ["stem"], "body.1": ["body.0"], "relu1": ["body.1"]}
    assert g.output == "relu1"


def test_from_inside_a_sequential_uses_local_names_and_input():
    g = graph("""
  - conv: {filters: 4, kernel: 1, name: stem}
  - sequential:
      - conv: {filters: 4, kernel: 1}
      - conv: {filters: 4, kernel: 1, name: side, from: input}   # the sequential's input: stem
      - add: {from: [conv1, side]}                                # conv1: the local name of .0
    name: s
  - relu: {from: s}                                               # the sequential's output
""")
    inputs = {n.name: n.inputs for n in g.nodes[1:]}
    assert inputs["s.side"] == ["stem"]
    assert inputs["s.1"] == ["s.0", "s.side"]
    assert inputs["relu1"] == ["s.1"]


# ---------------------------------------------------------------- flat

def test_flat_block_call_names_its_layers_where_it_stands():
    assert names("""
  - conv: {filters: 4, kernel: 1}      # conv1
  - unit: {flat: true}                 # conv2, relu1: the counters go on
  - unit                               # unit2: `from: unit1` still reads the flat call
  - conv: {filters: 4, kernel: 1}      # conv3
""") == ["conv1", "conv2", "relu1", "unit2.conv1", "unit2.relu1", "conv3"]


def test_flat_calls_and_repeats_continue_a_sequentials_indices():
    # VGG's features.0 … written one block per stage
    head = HEAD + """  stage:
    args: {times: null}
    layers:
      - repeat: $times
        flat: true
        layers: [conv: {filters: 4, kernel: 3, padding: 1}, relu]
      - maxpool: 2
"""
    assert names("""
  - sequential:
      - stage: {times: 2, flat: true}
      - stage: {times: 1, flat: true}
    name: features
  - flatten
""", head) == ["features.0", "features.1", "features.2", "features.3", "features.4",
               "features.5", "features.6", "features.7", "flatten1"]


def test_flat_repeat_outside_a_sequential_counts_by_kind():
    assert names("""
  - repeat: 2
    flat: true
    layers: [conv: {filters: 4, kernel: 1}, relu]
  - relu
""") == ["conv1", "relu1", "conv2", "relu2", "relu3"]


def test_flat_parallel_branches_share_the_counters_and_its_merge_takes_no_index():
    assert names("""
  - parallel:
      - [conv: {filters: 4, kernel: 1}]
      - [conv: {filters: 4, kernel: 1}]
    merge: add
    flat: true
  - parallel: [[relu], []]
    merge: add
    flat: true
    name: join
""") == ["conv1", "conv2", "add1", "relu1", "join"]
    # in a sequential, the branches' layers take indices, the merge none: the relu after it is 2
    assert names("""
  - sequential:
      - parallel:
          - [conv: {filters: 4, kernel: 1}]
          - [conv: {filters: 4, kernel: 1}]
        merge: add
        flat: true
      - relu
    name: s
""") == ["s.0", "s.1", "s.add1", "s.2"]


def test_a_flat_sequential_block_is_named_as_the_enclosing_scope_names():
    # flat: the block's own numbering does not apply; its layers are named as if written here
    assert names("  - cna: {flat: true}\n") == ["conv1", "batchnorm1", "relu1"]


def test_the_resnet_shape_torchvision_names():
    head = """input: [8, 8, 4]
blocks:
  basic:
    args: {filters: null, stride: 1, shortcut: []}
    layers:
      - parallel:
          - - conv: {filters: $filters, kernel: 3, stride: $stride, padding: 1, bias: false, name: conv1}
            - batchnorm: {name: bn1}
            - relu
          - $shortcut
        merge: add
        flat: true
      - relu
  stage:
    args: {filters: null}
    sequential: true
    layers:
      - basic:
          filters: $filters
          stride: 2
          shortcut:
            - sequential: [{conv: {filters: $filters, kernel: 1, stride: 2, bias: false}}, batchnorm]
              name: downsample
      - basic: {filters: $filters}
"""
    assert names("  - stage: {filters: 8, name: layer2}\n", head) == [
        "layer2.0.conv1", "layer2.0.bn1", "layer2.0.relu1", "layer2.0.downsample.0", "layer2.0.downsample.1",
        "layer2.0.add1", "layer2.0.relu2",
        "layer2.1.conv1", "layer2.1.bn1", "layer2.1.relu1", "layer2.1.add1", "layer2.1.relu2"]


# ---------------------------------------------------------------- from: inside flat constructs

def test_from_inside_a_flat_block_keeps_its_meaning():
    head = HEAD + """  pair:
    layers:
      - conv: {filters: 4, kernel: 1}                  # local conv1, whatever its full name
      - conv: {filters: 4, kernel: 1, from: input}     # local conv2: reads the call's input
      - concat: {from: [conv1, conv2]}
"""
    g = graph("""
  - conv: {filters: 4, kernel: 1}                      # conv1 (network level)
  - pair: {flat: true, name: p}
  - relu: {from: p}
  - relu: {from: conv1}                                # the network's conv1, not the block's
""", head)
    inputs = {n.name: n.inputs for n in g.nodes[1:]}
    assert [n.name for n in g.nodes[1:]] == ["conv1", "conv2", "conv3", "concat1", "relu1", "relu2"]
    assert inputs["conv2"] == ["conv1"] and inputs["conv3"] == ["conv1"]   # `input` is the call's input
    assert inputs["concat1"] == ["conv2", "conv3"]                         # local conv1, conv2
    assert inputs["relu1"] == ["concat1"] and inputs["relu2"] == ["conv1"]


def test_from_in_a_flat_repeat_reads_each_pass_input():
    g = graph("""
  - conv: {filters: 4, kernel: 1}
  - repeat: 2
    flat: true
    layers:
      - relu
      - add: {from: [relu1, input]}                    # input: this pass's input
""")
    inputs = {n.name: n.inputs for n in g.nodes[1:]}
    assert inputs == {"conv1": ["input"], "relu1": ["conv1"], "add1": ["relu1", "conv1"],
                      "relu2": ["add1"], "add2": ["relu2", "add1"]}


def test_a_flat_parallels_layers_never_take_a_name_already_used_where_they_land():
    # the merge is named `relu1` first; the branch's unnamed relu, local relu1 in its branch, is relu2
    assert names("""
  - parallel: [[relu], []]
    flat: true
    name: relu1
""") == ["relu2", "relu1"]


def test_a_flat_parallels_unnamed_merge_is_still_read_by_its_old_local_name():
    g = graph("""
  - parallel: [[relu], []]
    merge: add
    flat: true
  - relu: {from: parallel1}
""")
    assert {n.name: n.inputs for n in g.nodes[1:]}["relu2"] == ["add1"]


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("layers, line, column", [
    ("""
  - conv: {filters: 4, kernel: 1, name: a}
  - sequential: [relu]
    name: a
""", 11, 11),                                          # a sequential's name against a layer's
    ("""
  - conv: {filters: 4, kernel: 1}
  - unit: {flat: true}
  - conv: {filters: 4, kernel: 1, name: conv2}
""", 11, 41),                                          # conv2 is the flat call's conv already
    ("""
  - parallel:
      - [conv: {filters: 4, kernel: 1, name: x}]
      - [conv: {filters: 4, kernel: 1, name: x}]
    flat: true
""", 11, 46),                                          # two flat branches land in one scope
    ("""
  - parallel: [[relu: {name: x}], []]
    flat: true
    name: x
""", 9, 30),                                           # a branch's layer against the merge's name
])
def test_duplicate_full_names_are_one_located_error(layers, line, column):
    err = spec_error(layers)
    assert err.message.startswith("duplicate layer name")
    assert (err.mark.file, err.mark.line, err.mark.column) == ("net.yaml", line, column)


def test_a_flat_block_called_twice_with_named_layers_is_a_duplicate_naming_the_call():
    head = HEAD + """  named:
    layers: [conv: {filters: 4, kernel: 1, name: c}]
"""
    err = spec_error("""
  - named: {flat: true}
  - named: {flat: true}
""", head)
    assert err.message == "duplicate layer name (in block 'named' called at net.yaml:12:5)"
    assert (err.mark.line, err.received) == (8, "c")


@pytest.mark.parametrize("layers, message", [
    ("  - conv: {filters: 4, kernel: 1, flat: true}\n", "unknown field for conv"),
    ("  - unit: {flat: 1}\n", "flat must be true or false"),
    ("  - sequential: [relu]\n    flat: true\n", "unknown field for sequential"),
    ("  - sequential: relu\n", "sequential needs a list of layers"),
])
def test_misplaced_flat_and_bad_sequential_are_refused(layers, message):
    assert spec_error(layers).message == message


def test_block_sequential_must_be_a_boolean_and_flat_is_no_argument_name():
    err = spec_error("  - relu\n", "input: [8, 8, 4]\nblocks:\n  b:\n    sequential: yes please\n    layers: [relu]\n")
    assert "sequential must be true or false" in err.message and err.mark.line == 4
    err = spec_error("  - relu\n", "input: [8, 8, 4]\nblocks:\n  b:\n    args: {flat: 1}\n    layers: [relu]\n")
    assert err.message == "block 'b' cannot take an argument called 'flat'"


def test_cli_prints_the_duplicate_as_one_line_and_exits_1(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(HEAD + "layers:\n  - unit: {flat: true}\n  - relu: {name: relu1}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["params", str(spec)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and f"{spec}:9:" in lines[0] and "duplicate layer name" in lines[0]
    assert "Traceback" not in result.output


# ---------------------------------------------------------------- the table tree and --depth

def test_depth_folds_a_sequential_like_a_repeat_and_flat_constructs_have_no_row(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(HEAD + """layers:
  - conv: {filters: 4, kernel: 1}
  - unit: {flat: true}
  - sequential:
      - cna
      - relu
    name: s
  - global_avgpool
""", encoding="utf-8")

    def rows(*extra):
        out = CliRunner().invoke(app, ["params", str(spec), "-f", "json", *extra], env={"COLUMNS": "200"})
        assert out.exit_code == 0, out.output
        return [(r["name"], r.get("layers")) for r in json.loads(out.stdout)["rows"]]

    assert [n for n, _ in rows()] == ["input", "conv1", "conv2", "relu1", "s.0.0", "s.0.1", "s.0.2", "s.1",
                                      "global_avgpool1"]
    # depth 1: the sequential is one row of its 4 layers; the flat call's layers stay top-level rows
    assert rows("--depth", "1") == [("input", 1), ("conv1", 1), ("conv2", 1), ("relu1", 1),
                                    ("s", 4), ("global_avgpool1", 1)]
    assert [n for n, _ in rows("--depth", "2")] == ["input", "conv1", "conv2", "relu1", "s.0", "s.1",
                                                    "global_avgpool1"]


def test_table_nests_a_sequential_under_its_header_row(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(HEAD + "layers:\n  - sequential: [cna, relu]\n    name: s\n", encoding="utf-8")
    out = CliRunner().invoke(app, ["params", str(spec)], env={"COLUMNS": "200"})
    assert out.exit_code == 0, out.output
    cells = [[c.strip() for c in ln.split("│")[1:3]] for ln in out.stdout.splitlines() if ln.startswith("│")]
    first = [c[0] for c in cells]
    assert first[:7] == ["input", "s", "0", "0", "1", "2", "1"]
    assert cells[1][1] == "sequential" and cells[2][1] == "cna"
