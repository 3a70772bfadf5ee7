"""Issue 6, analysis side: the holes found by hand and by the fuzzer, each with the number or the line
that shows it closed.  Expected numbers are worked out in the comments (powers of two, the output-length
formula), never copied from our own output.
"""

from decimal import ROUND_HALF_UP, Decimal

import pytest
from typer.testing import CliRunner

import cnncalc.spec.loader as loader_module
import cnncalc.spec.parser as parser_module
from cnncalc import api
from cnncalc.analysis import analyze
from cnncalc.cli import app
from cnncalc.errors import DimensionError, SpecError, printable
from cnncalc.layers.arith import BOUND
from cnncalc.render.columns import BEYOND, human, human_bytes
from cnncalc.render.report import as_json, diagnostic_lines, error_line, render
from cnncalc.spec.parser import parse_file, parse_text

H = "input: [8, 8, 3]\nlayers:\n"
FORMATS = ("table", "json", "csv", "markdown")


def write(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


# ---------------------------------------------------------------- expansion work, not only layers

def test_nested_repeats_of_an_empty_chain_are_refused_at_the_stated_limit(tmp_path):
    # 200,000 × 200,000 passes that build nothing: 4·10^10 steps; refused after MAX_WORK of them
    text = H + "  - repeat: 200000\n    layers:\n      - repeat: 200000\n        layers: []\n  - relu\n"
    path = write(tmp_path, text)
    with pytest.raises(SpecError) as info:
        parse_file(path)
    message = str(info.value)
    assert f"more than {parser_module.MAX_WORK:,} steps" in message
    assert "\n" not in message and message.startswith(f"{path}:")


def test_work_counts_passes_and_items(monkeypatch):
    # `repeat: N` over [relu] costs 1 (the repeat item) + N passes + N relu items = 2N + 1
    text = H + "  - repeat: 50\n    layers: [relu]\n"
    monkeypatch.setattr(parser_module, "MAX_WORK", 101)
    assert len(parse_text(text).nodes) == 51                 # input + 50 relus
    monkeypatch.setattr(parser_module, "MAX_WORK", 100)
    with pytest.raises(SpecError, match="more than 100 steps"):
        parse_text(text)


def test_empty_repeats_count_their_passes(monkeypatch):
    # 600 passes of `repeat: 2` over []: 600 + 600 items + 1200 passes, and not one layer
    monkeypatch.setattr(parser_module, "MAX_WORK", 1000)
    with pytest.raises(SpecError, match="more than 1,000 steps"):
        parse_text(H + "  - repeat: 600\n    layers:\n      - repeat: 2\n        layers: []\n  - relu\n")


def test_blocks_that_call_blocks_twice_over_an_empty_body_are_refused():
    # b_i calls b_(i−1) twice and b0 is empty: b30 is 2^30 calls (30 deep, within the nesting limit
    # of 32) and not one layer, so only the work count stops it
    blocks = "blocks:\n  b0: []\n" + "".join(f"  b{i}: [b{i - 1}, b{i - 1}]\n" for i in range(1, 31))
    with pytest.raises(SpecError) as info:
        parse_text(blocks + H + "  - b30\n  - relu\n")
    assert f"more than {parser_module.MAX_WORK:,} steps" in str(info.value)


def test_blocks_nested_past_the_limit_are_not_called_recursive():
    blocks = "blocks:\n  b0: [relu]\n" + "".join(f"  b{i}: [b{i - 1}]\n" for i in range(1, 34))
    with pytest.raises(SpecError) as info:
        parse_text(blocks + H + "  - b33\n")
    assert "blocks call blocks more than 32 deep" in str(info.value)
    assert "calls itself" not in str(info.value)             # none of them does


def test_block_calls_count_the_body_they_copy(monkeypatch):
    # b0 is [relu, relu] (3 values); b1 calls b0 twice; b6 = 2^6 calls of b0
    blocks = "blocks:\n  b0: [relu, relu]\n" + "".join(f"  b{i}: [b{i - 1}, b{i - 1}]\n" for i in range(1, 7))
    monkeypatch.setattr(parser_module, "MAX_WORK", 300)
    with pytest.raises(SpecError, match="more than 300 steps"):
        parse_text(blocks + H + "  - b6\n")


# ---------------------------------------------------------------- receptive field and jump past BOUND

def chain_report(layer: str, count: int, input_shape="[1, 1, 1]"):
    return analyze(parse_text(f"input: {input_shape}\nlayers:\n  - repeat: {count}\n    layers: [{layer}]\n"))


def test_jump_is_exact_up_to_the_bound_and_marked_beyond():
    # kernel-1 stride-2 pools on a 1×1 map stay 1×1 (⌊(1 − 1)/2⌋ + 1 = 1); the jump doubles each time
    layer = "{maxpool: {kernel: 1, stride: 2}}"
    assert 2**59 < BOUND < 2**60
    exact = chain_report(layer, 59)
    assert exact.error is None and exact.totals.rf.j_H == 2**59 == 576460752303423488
    beyond = chain_report(layer, 60)
    assert beyond.error is None and beyond.totals.rf.j_H == BOUND + 1
    table = render(beyond, "shapes", "table")
    assert f"jump {BEYOND}×{BEYOND}" in table
    assert str(2**60) not in table


def test_receptive_field_of_stride_two_pools_doubles():
    # kernel 2, stride 2: r_k = r_(k−1) + (2 − 1)·j_(k−1) with j = 2^(k−1), so r_k = 2^k
    report = chain_report("{maxpool: {kernel: 2, stride: 2, padding: 1}}", 40)  # 1×1 stays 1×1: ⌊(3 − 2)/2⌋ + 1
    assert report.error is None
    assert report.totals.rf.r_H == report.totals.rf.r_W == 2**40 == 1099511627776


@pytest.mark.parametrize("layer, count", [
    ("{maxpool: {kernel: 1, stride: 1000000000}}", 500),        # jump 10^4500 if kept exact
    ("{maxpool: {kernel: 1, stride: 2}}", 14300),               # jump 2^14300: 4,305 digits
])
def test_absurd_fields_print_as_beyond_in_every_format(layer, count):
    report = chain_report(layer, count)
    assert report.error is None
    assert report.totals.rf.j_H == BOUND + 1
    # kept bounded on every row (exact, 2^14300 per row would need gigabytes at 200,000 layers)
    assert max(max(r.rf.j_H, r.rf.r_H) for r in report.rows) == BOUND + 1
    for fmt in FORMATS:
        text = render(report, "shapes", fmt)
        assert BEYOND in text, fmt
        assert str(BOUND + 1) not in text and "10000000000000000000" not in text
    data = as_json(report, report.rows)
    assert data["rows"][-1]["jump"] == [BEYOND, BEYOND]
    assert data["rows"][-1]["receptive_field"] == [1, 1]        # kernel 1 never widens the field
    stride = int(layer.split("stride: ")[1].rstrip("}"))
    assert data["rows"][1]["jump"] == [stride, stride]           # the first pool is still exact


def test_outputs_past_the_bound_are_a_dimension_error():
    # each `parallel: [[], []]` concatenates a map with itself: n_C = 2^k after k of them;
    # 2^59 < 10^18 < 2^60, so the 60th concat fails and the 59 before it stay in the report
    report = chain_report("{parallel: [[], []]}", 5000)
    assert isinstance(report.error, DimensionError)
    assert "larger than 10^18" in report.error.line()
    assert report.rows[-1].out_shape == (1, 1, 2**59)
    assert len(report.rows) == 1 + 59
    for fmt in FORMATS:
        render(report, "summary", fmt)                           # prints, nothing overflows


# ---------------------------------------------------------------- --input under the same rule as input:

@pytest.mark.parametrize("value, fragment", [
    ("1" + "0" * 30 + ",32,3", "absurdly large input"),
    ("1" + "0" * 160 + ",32,3", "'--input'"),
    ("1000000001,32,3", "sizes up to 1,000,000,000"),
    ("1e30,32,3", "allowed: H,W,C"),
    ("1_000,32,3", "allowed: H,W,C"),
    ("٣,32,3", "allowed: H,W,C"),                                # an Arabic-Indic three: int() takes it
    ("3\n,32,3", "\\n"),                                       # the newline is escaped, not run
])
def test_input_option_is_checked_like_the_spec_input(specs_dir, value, fragment):
    result = invoke("shapes", specs_dir / "lenet5.yaml", "--input", value)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and result.stdout == ""
    assert "'--input'" in result.output
    assert fragment in result.output


def test_input_option_at_the_limit_is_accepted(specs_dir):
    # 10^9 is the largest size `input:` takes: conv1 (5×5, no padding) gives 10^9 − 5 + 1 rows
    result = invoke("shapes", specs_dir / "lenet5.yaml", "--input", "1000000000,32,3", "-f", "json")
    assert result.exit_code == 0, result.output
    assert '"output_shape": [\n        999999996,' in result.stdout


def test_api_input_override_is_checked_too(specs_dir):
    with pytest.raises(SpecError) as info:
        api.report(str(specs_dir / "lenet5.yaml"), (10**30, 32, 3))
    assert info.value.field == "--input" and "absurdly large input" in str(info.value)


def test_the_largest_allowed_input_renders_in_every_format(specs_dir):
    # 10^9 × 10^9 × 3 into LeNet-5: all counts exceed a float's exact range, none its range
    report = api.report(str(specs_dir / "lenet5.yaml"), (10**9, 10**9, 3))
    assert report.error is None
    assert report.rows[0].activations == 3 * 10**18
    for fmt in FORMATS:
        for command in ("shapes", "params", "flops", "summary"):
            render(report, command, fmt)


@pytest.fixture
def specs_dir():
    import pathlib

    return pathlib.Path(__file__).resolve().parent.parent / "specs"


# ---------------------------------------------------------------- human units, exact in integers

@pytest.mark.parametrize("n", [0, 7, 999, 1000, 1005, 1_234_567, 4_089_184_256, 999_999_999_999_999, -25_557_032])
def test_human_rounds_half_up_like_decimal(n):
    for size, suffix in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if abs(n) >= size:
            expected = (Decimal(n) / Decimal(size)).quantize(Decimal('0.01'), ROUND_HALF_UP)
            if abs(expected) >= 1000:  # 999,999,999,999,999 rounds to 1000.00 T: the next unit reads it
                assert human(n) == "1.00e+15"
            else:
                assert human(n) == f"{expected} {suffix}"
            break
    else:
        assert human(n) == str(n)


def test_human_past_float_range():
    assert human(10**400, "MAC") == "1.00e+400 MAC"
    assert human(123_456 * 10**300) == "1.23e+305"
    assert human_bytes(3 * 2**30) == "3.00 GiB"
    assert human_bytes(5 * 2**60) == "5.00 EiB"
    assert human_bytes(10**400) == "1.00e+400 B"


# ---------------------------------------------------------------- control characters in user text

EVIL = "net\n\x1b[2J\x1b[31mred\u202e\x9b\x07"


def no_raw_controls(text: str):
    for ch in ("\x1b", "\u202e", "\x9b", "\x07", "\r"):
        assert ch not in text, repr(ch)


def test_printable_escapes_controls_and_keeps_the_rest():
    assert printable("a\nb\tc\r") == "a\\nb\\tc\\r"
    assert printable("\x1b[31m") == "\\x1b[31m"
    assert printable("\x7f\x9b\u202e\u2028") == "\\x7f\\x9b\\u202e\\u2028"
    assert printable("conv 3×3 s2 ⌊(7 + 2·0 − 3)/2⌋") == "conv 3×3 s2 ⌊(7 + 2·0 − 3)/2⌋"


def test_spec_name_with_controls_in_every_format(tmp_path):
    text = "name: \"net\\n\\e[2J\\e[31mred\\u202e\\x9b\\a\"\n"          # YAML escapes for EVIL
    path = write(tmp_path, text + H + "  - conv: {filters: 2, kernel: 3, stride: 2}\n")
    report = api.report(path)
    assert report.graph.name == EVIL
    for fmt in FORMATS:
        out = render(report, "summary", fmt)
        no_raw_controls(out)
        if fmt in ("table", "markdown"):
            first = out.splitlines()[0]
            assert "net\\n\\x1b[2J\\x1b[31mred\\u202e\\x9b\\x07" in first
    # the warning (stride 2 leaves a row unread) is one line without raw controls
    lines = diagnostic_lines(report)
    assert len(lines) == 1 and "\n" not in lines[0]


def test_control_characters_in_a_key_stay_on_one_error_line(tmp_path):
    path = write(tmp_path, H + "  - conv: {filters: 2, kernel: 3, \"bad\\nkey\\e[2J\": 1}\n")
    with pytest.raises(SpecError) as info:
        parse_file(path)
    line = error_line(info.value)
    assert "\n" not in line
    no_raw_controls(line)
    assert "field 'bad\\nkey\\x1b[2J'" in line


def test_file_name_with_a_newline_and_esc_through_the_cli(tmp_path):
    path = write(tmp_path, H + "  - convv: 3\n", name="a\nb\x1b[31m.yaml")
    result = invoke("shapes", path)
    assert result.exit_code == 1
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    no_raw_controls(result.stderr)
    assert lines[0].startswith("error: " + printable(path) + ":3:5:")


def test_json_escapes_c1_and_bidi_controls(tmp_path):
    path = write(tmp_path, "name: \"x\\x9by\\u202ez\\u2028\"\n" + H + "  - relu\n")
    out = render(api.report(path), "shapes", "json")
    no_raw_controls(out)
    assert "\u2028" not in out
    import json

    assert json.loads(out)["spec"] == "x\x9by\u202ez\u2028"    # still the same text once parsed


# ---------------------------------------------------------------- the node limits

def test_many_written_nodes_are_not_an_alias_bomb(monkeypatch):
    # 1,000 written layers of 6 nodes each: far past an alias limit of 100, and no alias in sight
    monkeypatch.setattr(loader_module, "MAX_ALIAS_NODES", 100)
    text = H + "  - flatten\n" + "  - dense: {units: 4, bias: false}\n" * 1000
    assert len(parse_text(text).nodes) == 1002


def test_alias_nodes_are_counted_per_expansion(monkeypatch):
    # an anchored list of 9 strings (10 nodes) used 20 times: 200 aliased nodes
    monkeypatch.setattr(loader_module, "MAX_ALIAS_NODES", 199)
    text = "description:\n  a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"  b{i}: *a\n" for i in range(20)) + H + "  - relu\n"
    with pytest.raises(SpecError, match="aliases expand to more than 199 nodes"):
        parse_text(text)
    monkeypatch.setattr(loader_module, "MAX_ALIAS_NODES", 200)
    parse_text(text)


def test_node_limit_is_stated(monkeypatch):
    monkeypatch.setattr(loader_module, "MAX_NODES", 50)
    with pytest.raises(SpecError, match="more than 50 nodes"):
        parse_text(H + "  - relu\n" * 60)


def test_warning_about_a_file_with_controls_in_its_name_is_one_line(tmp_path):
    # the warning (stride 2 leaves the last row unread) starts with the file name
    path = write(tmp_path, H + "  - conv: {filters: 2, kernel: 3, stride: 2}\n", name="w\n\x1b[31m.yaml")
    lines = diagnostic_lines(api.report(path))
    assert len(lines) == 1 and lines[0].startswith("warning: " + printable(path) + ":3:5: ")
    assert "\n" not in lines[0]
    no_raw_controls(lines[0])


# ---------------------------------------------------------------- references through empty repeats

def test_a_long_chain_of_empty_repeats_resolves():
    # r_i is `repeat: 0` reading r_(i−1): it names what it read, so the final relu reads the input
    lines = ["  - {repeat: 0, layers: [relu], name: r0}"] + [
        f"  - {{repeat: 0, layers: [relu], name: r{i}, from: r{i - 1}}}" for i in range(1, 5000)]
    graph = parse_text(H + "\n".join(lines) + "\n  - {relu: {from: r4999}}\n")
    assert [(n.name, n.inputs) for n in graph.nodes] == [("input", []), ("relu1", ["input"])]


def test_empty_repeats_that_read_each_other_are_a_cycle():
    text = H + ("  - {repeat: 0, layers: [relu], name: r1, from: r2}\n"
                "  - {repeat: 0, layers: [relu], name: r2, from: r1}\n  - relu\n")
    with pytest.raises(SpecError, match="cycle through empty repeats"):
        parse_text(text)


def test_a_long_cycle_is_named_in_order():
    # l0 reads l2999, l_i reads l_(i−1): one cycle of 3,000 layers, printed in order
    lines = ["  - {relu: {from: l2999}, name: l0}"] + [
        f"  - {{relu: {{from: l{i - 1}}}, name: l{i}}}" for i in range(1, 3000)]
    with pytest.raises(SpecError) as info:
        parse_text(H + "\n".join(lines) + "\n")
    assert "the layers form a cycle: l1 → l2 → l3 → " in str(info.value)
    assert " → l2999 → l0 → l1;" in str(info.value)
