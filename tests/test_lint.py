"""`cnncalc lint`: each lint on a small spec that triggers it and one that does not, the numbers in its
reason and fix worked by hand (in the comments) or read from PyTorch; silencing with `lint: {ignore:
[...]}`; located errors for unknown ids; exit codes (0, 1 with --strict, 1 for a spec error)."""

import json
import os
import textwrap

import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.analysis import lint as lint_mod
from cnncalc.analysis.lint import LINT_IDS, lint
from cnncalc.cli import app
from cnncalc.spec.parser import parse_text
from cnncalc.analysis import analyze

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(args, code=0):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == code, (args, result.output)
    return result.output


def spec_file(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return str(path)


def findings(text):
    return lint(analyze(parse_text(textwrap.dedent(text), "net.yaml")))


def ids(text):
    return [f.id for f in findings(text).findings]


# ---------------------------------------------------------------- bias before batchnorm

BIAS_BN = """\
    input: [8, 8, 3]
    layers:
      - conv: {filters: 16, kernel: 3}
      - batchnorm
      - relu
    """


def test_bias_before_bn_names_the_wasted_biases(tmp_path):
    # conv1: (3·3·3 + 1)·16 = 448 params, of which 16 biases; bias: false gives 3·3·3·16 = 432
    out = run(["lint", spec_file(tmp_path, BIAS_BN)])
    assert "net.yaml:3:5: conv1: bias-before-bn: conv1's 16 biases are cancelled by batchnorm1" in out
    assert "16 parameters wasted" in out
    assert "fix: bias: false on conv1 (saves 16 parameters)" in out
    assert api.report(spec_file(tmp_path, BIAS_BN.replace("16, kernel: 3", "16, kernel: 3, bias: false"),
                                "nobias.yaml")).totals.trainable == 448 - 16 + 32  # + batchnorm's γ, β


def test_bias_before_bn_not_without_bias_or_with_a_layer_between():
    assert ids(BIAS_BN.replace("kernel: 3}", "kernel: 3, bias: false}")) == []
    assert ids("""\
        input: [8, 8, 3]
        layers: [{conv: {filters: 16, kernel: 3}}, relu, batchnorm]
        """) == []


# ---------------------------------------------------------------- dense-heavy head

DENSE = """\
    input: [8, 8, 4]
    layers:
      - conv: {filters: 8, kernel: 3, padding: 1}
      - relu
      - flatten
      - dense: 10
    """


def test_dense_heavy_says_what_global_pooling_would_need():
    # conv (3·3·4 + 1)·8 = 296; dense reads 8·8·8 = 512: (8·8·8 + 1)·10 = 5,130; total 5,426, 5,130/5,426 = 94.5%
    # with global_avgpool: (8 + 1)·10 = 90; dense 90 of 296 + 90 = 386 (23.3%)
    small_rf, f = findings(DENSE).findings  # the 3×3 conv's field, 3×3 of 8×8, is the other finding
    from cnncalc.render.lint import fix, reason

    assert small_rf.id == "small-receptive-field" and f.id == "dense-heavy" and f.layer == "dense1"
    assert reason(f) == ("dense layers hold 5,130 of the 5,426 trainable parameters (94.5%); dense1 reads the "
                         "flattened 8×8×8 map: (8·8·8 + 1)·10 = 5,130")
    assert fix(f) == ("global_avgpool instead of flatten1: dense1 would read 8 values, (8 + 1)·10 = 90 parameters; "
                      "dense layers 90 of 386 (23.3%)")
    # the promised head, built: its params are what the fix says
    gap = analyze(parse_text(textwrap.dedent(DENSE.replace("flatten", "global_avgpool")), "g.yaml"))
    assert gap.totals.trainable == 386


def test_dense_heavy_not_with_a_pooled_head_or_a_heavy_trunk():
    assert "dense-heavy" not in ids(DENSE.replace("flatten", "global_avgpool"))
    # conv (3·3·64 + 1)·64 = 36,928 against dense (4·4·64 + 1)·10 = 10,250: under half
    assert "dense-heavy" not in ids("""\
        input: [4, 4, 64]
        layers: [{conv: {filters: 64, kernel: 3, padding: 1}}, flatten, {dense: 10}]
        """)


# ---------------------------------------------------------------- stride larger than the kernel

GAPS = """\
    input: [7, 7, 1]
    layers:
      - conv: {filters: 1, kernel: 1, stride: 3}
    """


def test_stride_over_kernel_lists_the_rows_never_read():
    # n_out = ⌊(7 − 1)/3⌋ + 1 = 3 windows at rows 0, 3, 6: rows 1, 2, 4, 5 are never read
    (f,) = findings(GAPS).findings
    from cnncalc.render.lint import fix, reason

    assert f.id == "stride-over-kernel"
    assert reason(f) == ("stride 3 is larger than the 1-wide window: 4 of 7 rows and as many columns are never "
                         "read (rows and columns 1, 2, 4, 5)")
    assert fix(f) == "a stride of at most 1, or a kernel of at least 3, so that the windows touch"


def test_stride_over_kernel_per_axis_and_against_pytorch():
    # kernel [1, 3], stride 2 on 6×6: along n_H windows at rows 0, 2, 4 leave 1, 3, 5; along n_W 3 > 2: no gap
    text = """\
        input: [6, 6, 1]
        layers: [{conv: {filters: 1, kernel: [1, 3], stride: 2}}]
        """
    (f,) = findings(text).findings
    from cnncalc.render.lint import reason

    assert reason(f) == "along n_H stride 2 > window 1: 3 of 6 rows never read (rows 1, 3, 5)"
    torch = pytest.importorskip("torch")
    # PyTorch: a row r is read iff a ones-kernel conv of an input with only row r set gives something
    unread = []
    for r in range(6):
        x = torch.zeros(1, 1, 6, 6)
        x[0, 0, r, :] = 1
        if torch.nn.functional.conv2d(x, torch.ones(1, 1, 1, 3), stride=2).abs().sum() == 0:
            unread.append(r)
    assert tuple(unread) == f.detail.axes[0].positions and len(unread) == f.detail.axes[0].unread


@pytest.mark.parametrize("n, f, s, p, unread", [
    (12, 3, 5, 0, (3, 4, 8, 9, 10, 11)),  # ⌊(12 − 3)/5⌋ + 1 = 2 windows, rows 0–2 and 5–7; 10, 11 the remainder
    (7, 1, 3, 0, (1, 2, 4, 5)),            # ⌊6/3⌋ + 1 = 3 windows at 0, 3, 6
    (10, 2, 5, 1, (1, 2, 3, 6, 7, 8)),     # padded 12: ⌊10/5⌋ + 1 = 3 windows at −1…0, 4…5, 9…10: row 9 read
])
def test_stride_over_kernel_rows_against_pytorch(n, f, s, p, unread):
    (finding,) = [x for x in findings(f"input: [{n}, {n}, 1]\nlayers: [{{conv: {{filters: 1, kernel: {f}, stride: {s}, "
                                      f"padding: {p}}}}}]\n").findings if x.id == "stride-over-kernel"]
    axis = finding.detail.axes[0]
    assert axis.positions == unread[:6] and axis.unread == len(unread)
    torch = pytest.importorskip("torch")
    read_by_torch = []
    for r in range(n):
        x = torch.zeros(1, 1, n, n)
        x[0, 0, r, :] = 1
        if torch.nn.functional.conv2d(x, torch.ones(1, 1, f, f), stride=s, padding=p).abs().sum() > 0:
            read_by_torch.append(r)
    assert tuple(r for r in range(n) if r not in read_by_torch) == unread


def test_stride_over_kernel_counts_many_rows_and_spares_shared_inputs():
    # kernel 2 stride 5 on 100: windows at 0, 5, …, 95 (n_out = ⌊98/5⌋ + 1 = 20) read 2 rows each: 60 unread
    (f,) = findings("""\
        input: [100, 100, 1]
        layers: [{maxpool: {kernel: 2, stride: 5}}]
        """).findings
    assert f.detail.axes[0].unread == 100 - 2 * 20 and f.detail.axes[0].positions == (2, 3, 4, 7, 8, 9)
    # ResNet's 1×1 stride-2 projection: the other branch reads every row, so it is no finding
    assert ids("""\
        input: [8, 8, 4]
        layers:
          - parallel: [[{conv: {filters: 4, kernel: 3, stride: 2, padding: 1}}], [{conv: {filters: 4, kernel: 1, stride: 2}}]]
            merge: add
        """) == []
    assert ids(GAPS.replace("kernel: 1, stride: 3", "kernel: 3, stride: 2")) == []


# ---------------------------------------------------------------- receptive field at the classifier

def test_small_receptive_field_on_ngs_example():
    # 39×39×3: conv 3 s1 → r 3; conv 5 s2 → 3 + 4·1 = 7, j 2; conv 5 s2 → 7 + 4·2 = 15, j 4.
    # 3×3 convs needed at 7×7: ⌈(39 − 15)/(2·4)⌉ = 3
    out = run(["lint", os.path.join(ROOT, "specs", "ng_39x39.yaml")])
    assert ("flatten1: small-receptive-field: the features flatten1 passes to the classifier (from relu3) each "
            "see 15×15 of the 39×39 input") in out
    assert "fix: 3 more 3×3 conv(s) at relu3's resolution (each adds 2·j = 8×8), or downsample earlier" in out


def test_small_receptive_field_not_when_it_covers_the_input():
    def three_convs(n):  # three 3×3 convs: r = 1 + 3·2 = 7
        return f"input: [{n}, {n}, 3]\nlayers: [" + "{conv: {filters: 4, kernel: 3}}, " * 3 + "global_avgpool, {dense: 2}]\n"

    assert ids(three_convs(7)) == []
    (f,) = findings(three_convs(8)).findings
    assert (f.id, f.detail.r_H, f.detail.convs_needed) == ("small-receptive-field", 7, 1)  # ⌈(8 − 7)/(2·1)⌉


# ---------------------------------------------------------------- dropout before batchnorm

DROP = """\
    input: [8, 8, 3]
    layers:
      - conv: {filters: 4, kernel: 3, bias: false}
      - dropout: 0.2
      - batchnorm
    """


def test_dropout_before_bn():
    (f,) = findings(DROP).findings
    from cnncalc.render.lint import fix, reason

    assert (f.id, f.layer) == ("dropout-before-bn", "dropout1")
    assert reason(f).startswith("dropout1 (rate 0.2) feeds batchnorm1: batchnorm's running variance")
    assert fix(f) == "move dropout1 after batchnorm1, after the last batchnorm (e.g. just before the classifier)"
    assert ids(DROP.replace("- dropout: 0.2\n      - batchnorm", "- batchnorm\n      - dropout: 0.2")) == []


# ---------------------------------------------------------------- ceil-mode pooling past the end

POOL = """\
    input: [6, 6, 1]
    layers:
      - maxpool: {kernel: 3, stride: 2, ceil_mode: true}
    """


def test_pool_past_end_against_pytorch():
    # ceil mode: ⌈(6 − 3)/2⌉ + 1 = 3 windows, the last at rows 4…6: one past the 6-long map, 2 of 3 rows read
    (f,) = findings(POOL).findings
    from cnncalc.render.lint import fix, reason

    assert reason(f) == ("ceil mode's last window along n_H covers positions 4…6, 1 past the end of the 6-long map "
                         "(and the same along n_W): that maxpool window reads 2 of its 3 positions")
    assert fix(f).startswith("ceil_mode: false drops the partial window (n_H = 2, n_W = 2)")
    torch = pytest.importorskip("torch")
    # a sum over the window's real values (divisor 1) of ones: the last window in row direction holds 2·3
    y = torch.nn.functional.avg_pool2d(torch.ones(1, 1, 6, 6), 3, 2, ceil_mode=True, divisor_override=1)
    assert y.shape[-1] == 3 and y[0, 0, -1, 0].item() == (3 - f.detail.axes[0].past) * 3


def test_pool_past_end_with_padding_and_not_when_it_fits():
    # padding 1: ⌈(6 + 2 − 3)/2⌉ + 1 = 4 windows, the last at padded 6…8 = rows 5…7, the map and padding end at 6
    (f,) = findings(POOL.replace("ceil_mode: true", "padding: 1, ceil_mode: true")).findings
    a = f.detail.axes[0]
    assert (a.start, a.end, a.past, a.n_out) == (5, 7, 1, 4)
    assert ids(POOL.replace("[6, 6, 1]", "[7, 7, 1]")) == []      # ⌈4/2⌉ + 1 = 3, the last at 4…6: fits
    assert ids(POOL.replace(", ceil_mode: true", "")) == []        # floor mode never reads past


def test_googlenets_ceil_pools_are_real_findings():
    # torchvision's GoogLeNet: 112 → ⌈(112 − 3)/2⌉ + 1 = 56, the last window at 110…112: one past
    result = api.lint(os.path.join(ROOT, "specs", "googlenet.yaml"))
    past = [(f.layer, f.detail.axes[0].n, f.detail.axes[0].past) for f in result.findings]
    assert past == [("maxpool1", 112, 1), ("maxpool2", 56, 1), ("maxpool3", 28, 1)]


# ---------------------------------------------------------------- unused block argument

UNUSED = """\
    input: [8, 8, 3]
    blocks:
      unit:
        args: {filters: 8, spare: 3}
        layers: [{conv: {filters: $filters, kernel: 3, bias: false}}, relu]
    layers:
      - unit: {filters: 4}
    """


def test_unused_argument_reuses_the_parsers_record(tmp_path):
    out = run(["lint", spec_file(tmp_path, UNUSED)])
    assert "net.yaml:4:24: unit: unused-argument: block 'unit': argument $spare is declared" in out
    silenced = UNUSED.replace("        args:", "        lint: {ignore: [unused-argument]}\n        args:")
    assert ids(silenced) == []
    # silenced on the block, the warning is gone from every command
    assert "spare" not in run(["shapes", spec_file(tmp_path, silenced, "quiet.yaml")])


# ---------------------------------------------------------------- silencing, errors, exit codes

def test_silenced_on_a_layer_and_on_a_block_call(tmp_path):
    layer = BIAS_BN.replace("- conv: {filters: 16, kernel: 3}",
                            "- conv: {filters: 16, kernel: 3}\n        lint: {ignore: [bias-before-bn]}")
    result = findings(layer)
    assert result.findings == [] and [f.id for f in result.silenced] == ["bias-before-bn"]
    out = run(["lint", spec_file(tmp_path, layer), "--strict"])
    assert "0 finding(s), 1 silenced" in out
    call = """\
        input: [8, 8, 3]
        blocks:
          unit: [{conv: {filters: 4, kernel: 3}}, batchnorm]
        layers:
          - unit: {lint: {ignore: bias-before-bn}}
          - unit
        """
    result = findings(call)
    assert [f.layer for f in result.findings] == ["unit2.conv1"]
    assert [f.layer for f in result.silenced] == ["unit1.conv1"]


def test_unknown_lint_id_is_a_located_error(tmp_path):
    bad = BIAS_BN.replace("- conv: {filters: 16, kernel: 3}",
                          "- conv: {filters: 16, kernel: 3}\n        lint: {ignore: [bias-before-batchnorm]}")
    out = run(["lint", spec_file(tmp_path, bad)], code=1)
    assert "net.yaml:4:21" in out and "unknown lint id" in out and "bias-before-batchnorm" in out
    assert all(i in out for i in LINT_IDS)
    assert "Traceback" not in out
    out = run(["shapes", spec_file(tmp_path, BIAS_BN.replace("kernel: 3}", "kernel: 3, lint: {skip: [x]}}"),
                                   "b.yaml")], code=1)
    assert "b.yaml:3:42" in out and "lint takes one field, ignore" in out


def test_groups_that_do_not_divide_are_the_located_error(tmp_path):
    # the conv rules refuse it (groups must divide n_C_prev and n_C): lint prints that error and exits 1
    path = spec_file(tmp_path, """\
        input: [8, 8, 8]
        layers:
          - conv: {filters: 6, kernel: 3, groups: 3}
        """)
    out = run(["lint", path], code=1)
    assert "net.yaml:3:5" in out and "groups 3 must divide both n_C_prev = 8 and n_C = 6" in out


def test_strict_exit_codes_and_json(tmp_path):
    lenet = os.path.join(ROOT, "specs", "lenet5.yaml")
    run(["lint", lenet])
    run(["lint", lenet, "--strict"], code=1)
    run(["lint", os.path.join(ROOT, "specs", "resnet18.yaml"), "--strict"])
    data = json.loads(run(["lint", spec_file(tmp_path, DENSE), "--format", "json"]))
    (f,) = [f for f in data["findings"] if f["id"] == "dense-heavy"]
    assert f["id"] == "dense-heavy" and f["line"] == 6 and f["detail"]["params_now"] == 5130
    assert f["detail"]["params_gap"] == 90 and f["detail"]["total_params_gap"] == 386
    assert data["silenced"] == []


def test_korean(tmp_path):
    out = run(["lint", spec_file(tmp_path, BIAS_BN), "--lang", "ko"])
    assert "conv1의 편향 16개는 batchnorm1이 상쇄함" in out and "수정: conv1에 bias: false" in out
    assert "발견 1건, 무시 0건" in out


# ---------------------------------------------------------------- the shipped specs

SHIPPED = sorted(os.path.relpath(os.path.join(d, f), ROOT) for d, _, fs in os.walk(os.path.join(ROOT, "specs"))
                 for f in fs if f.endswith(".yaml"))
# what each shipped spec really has (reviewed one by one; see the README's lint section)
EXPECTED = {
    "specs/alexnet.yaml": {"small-receptive-field": 1},          # 195×195 of 224×224
    "specs/vgg16.yaml": {"small-receptive-field": 1, "dense-heavy": 1},  # 212×212; 123.6 M of 138.4 M in dense
    "specs/vgg19_bn.yaml": {"bias-before-bn": 16, "dense-heavy": 1},     # torchvision keeps the conv biases
    "specs/squeezenet1_1.yaml": {"small-receptive-field": 1},     # 207×207
    "specs/googlenet.yaml": {"pool-past-end": 3},
    # the course and example specs: LeNet-5's 16×16 of 32×32 and 48,120 of 62,958 params in its first dense
    "specs/lenet5.yaml": {"small-receptive-field": 1, "dense-heavy": 1},
    "specs/lenet5_classic.yaml": {"small-receptive-field": 1, "dense-heavy": 1},
    "specs/mnist_lenet.yaml": {"small-receptive-field": 1, "dense-heavy": 1},
    "specs/mnist_small.yaml": {"bias-before-bn": 2, "small-receptive-field": 1, "dense-heavy": 1},
    "specs/small_vgg.yaml": {"small-receptive-field": 1, "dense-heavy": 1},
    "specs/cifar_small.yaml": {"bias-before-bn": 6},
    "specs/ng_39x39.yaml": {"small-receptive-field": 1},                # 15×15 of 39×39
}


@pytest.mark.parametrize("spec", SHIPPED)
def test_shipped_specs_get_only_their_real_findings(spec):
    result = api.lint(os.path.join(ROOT, spec))
    counts = {}
    for f in result.findings:
        counts[f.id] = counts.get(f.id, 0) + 1
    assert counts == EXPECTED.get(spec, {}), spec


def test_vgg19_bn_wasted_biases_are_torchvisions():
    from torchvision_import import torchvision_or_skip

    tv = torchvision_or_skip()
    torch = pytest.importorskip("torch")
    model = tv.models.vgg19_bn()
    modules = list(model.features)
    wasted = sum(m.bias.numel() for m, nxt in zip(modules, modules[1:])
                 if isinstance(m, torch.nn.Conv2d) and m.bias is not None and isinstance(nxt, torch.nn.BatchNorm2d))
    result = api.lint(os.path.join(ROOT, "specs", "vgg19_bn.yaml"))
    assert sum(f.detail.biases for f in result.findings if f.id == "bias-before-bn") == wasted == 5504


def test_every_lint_id_has_wording():
    from cnncalc.render.lang import catalogue

    for lang in ("en", "ko"):
        for lint_id in LINT_IDS:
            assert f"lint.{lint_id}.reason" in catalogue()[lang] and f"lint.{lint_id}.fix" in catalogue()[lang]
    assert lint_mod.LINT_IDS == LINT_IDS
