"""`cnncalc compare`: the issue's pair (295,168 against 409,728 with biases, 294,912 against 409,600
without), the closed forms worked by hand and counted by PyTorch, per-stage differences against
torchvision's modules, JSON, Korean, errors."""

import json
import os
import subprocess
import sys
from fractions import Fraction

import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.analysis.compare import BottleneckConv, SeparableConv, StackedConvs
from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def spec(name):
    return os.path.join(ROOT, "specs", "compare", f"{name}.yaml") if "/" not in name else os.path.join(ROOT, name)


def run(args, code=0):
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert result.exit_code == code, (args, result.output)
    return result.output


def row(out, title):
    line = next(line for line in out.splitlines() if line.startswith(f"│ {title}"))
    return [c.strip() for c in line.strip("│").split("│")][1:]


def test_the_issues_pair_with_biases():
    # two 3×3: 2·(3·3·128 + 1)·128 = 2·1,153·128 = 295,168; one 5×5: (5·5·128 + 1)·128 = 3,201·128 = 409,728
    # MACs 32·32·128·(2·9·128) = 301,989,888 against 32·32·128·25·128 = 419,430,400
    # activations: the 32·32·128 = 131,072 input and every layer's output: 5 and 3 tensors
    out = run(["compare", spec("two_3x3"), spec("one_5x5")])
    assert row(out, "Trainable params") == ["295,168", "409,728", "+114,560", "×1.39"]
    assert row(out, "  weights") == ["294,912", "409,600", "+114,688", "×1.39"]
    assert row(out, "  biases") == ["256", "128", "-128", "×0.50"]
    assert row(out, "MACs") == ["301,989,888", "419,430,400", "+117,440,512", "×1.39"]
    assert row(out, "Activations (values)") == ["655,360", "393,216", "-262,144", "×0.60"]
    assert row(out, "Activation memory (float32)")[:2] == ["2,621,440 (2.50 MiB)", "1,572,864 (1.50 MiB)"]
    assert row(out, "Depth (weighted layers)") == ["2", "1", "-1", "×0.50"]
    assert row(out, "Non-linearities") == ["2", "1", "-1", "×0.50"]
    assert "Output: 32×32×128 against 32×32×128: the same" in out
    assert "Receptive field at the output: 5×5 against 5×5: the same" in out
    assert ("Biases: 256 against 128 (-128): the trainable params 295,168 against 409,728 are the weights 294,912 "
            "against 409,600 plus these biases") in out
    assert ("Closed form: 2 × 3×3 (two-3x3) against one 5×5 (one-5x5) on C = 128 channels, the same receptive "
            "field 5: 2·9·C² = 294,912 against 25·C² = 409,600 weights, ratio 18/25 = 0.72; +1 non-linearities "
            "(2 against 1)") in out


def test_the_issues_pair_without_biases():
    # 2·9·128² = 294,912 and 25·128² = 409,600: the notes' numbers
    out = run(["compare", spec("two_3x3_nobias"), spec("one_5x5_nobias")])
    assert row(out, "Trainable params") == ["294,912", "409,600", "+114,688", "×1.39"]
    assert row(out, "  biases") == ["0", "0", "+0", "—"]
    assert "No biases in either: the trainable params are the weights" in out
    assert "2·9·C² = 294,912 against 25·C² = 409,600 weights, ratio 18/25 = 0.72" in out


def test_order_does_not_change_the_closed_form():
    result = api.compare_designs([spec("one_5x5"), spec("two_3x3")])
    c = result.pairs[0].closed_form
    assert isinstance(c, StackedConvs) and (c.stack, c.single) == (1, 0) and c.ratio == Fraction(18, 25)


def test_separable_against_standard_and_pytorch():
    # 3·3·128 + 128·256 = 1,152 + 32,768 = 33,920 against 3·3·128·256 = 294,912: 1/256 + 1/9 = 265/2304
    out = run(["compare", spec("separable_128_256"), spec("standard_128_256")])
    assert ("f²·C + C·n_C = 9·128 + 128·256 = 33,920 against f²·C·n_C = 9·128·256 = 294,912 weights, ratio "
            "1/n_C + 1/f² = 1/256 + 1/9 = 265/2304 = 0.115") in out
    c = api.compare_designs([spec("separable_128_256"), spec("standard_128_256")]).pairs[0].closed_form
    assert isinstance(c, SeparableConv) and c.ratio == Fraction(1, 256) + Fraction(1, 9)
    torch = pytest.importorskip("torch")
    nn = torch.nn
    separable = nn.Sequential(nn.Conv2d(128, 128, 3, padding=1, groups=128, bias=False),
                              nn.Conv2d(128, 256, 1, bias=False))
    standard = nn.Conv2d(128, 256, 3, padding=1, bias=False)
    assert (c.weights_separable, c.weights_standard) == (sum(p.numel() for p in separable.parameters()),
                                                         sum(p.numel() for p in standard.parameters()))


def test_bottleneck_against_one_wide_conv_and_pytorch():
    # 256·64 + 9·64·64 + 64·256 = 16,384 + 36,864 + 16,384 = 69,632 against 9·256·256 = 589,824: 17/144
    out = run(["compare", spec("bottleneck_256"), spec("standard_256")])
    assert ("C·b + f²·b·b + b·n_C = 256·64 + 9·64·64 + 64·256 = 69,632 against f²·C·n_C = 9·256·256 = 589,824 "
            "weights, ratio 17/144 = 0.1181") in out
    c = api.compare_designs([spec("bottleneck_256"), spec("standard_256")]).pairs[0].closed_form
    assert isinstance(c, BottleneckConv) and c.terms == (16384, 36864, 16384)
    torch = pytest.importorskip("torch")
    nn = torch.nn
    block = [nn.Conv2d(256, 64, 1, bias=False), nn.Conv2d(64, 64, 3, bias=False), nn.Conv2d(64, 256, 1, bias=False)]
    assert c.terms == tuple(m.weight.numel() for m in block)
    assert c.weights_standard == nn.Conv2d(256, 256, 3, bias=False).weight.numel()


def test_no_closed_form_for_unrelated_designs_and_different_outputs():
    result = api.compare_designs([spec("two_3x3"), spec("standard_256")])
    pair = result.pairs[0]
    assert pair.closed_form is None and not pair.same_output
    out = run(["compare", spec("two_3x3"), spec("standard_256")])
    assert "Output: 32×32×128 against 56×56×256: different" in out and "Closed form" not in out


def test_stages_resnet18_against_resnet34_as_torchvision_counts():
    # resnet34 has 3, 4, 6, 3 BasicBlocks where resnet18 has 2, 2, 2, 2. At 56×56 one more BasicBlock(64):
    # 2·3·3·64·64 + 2·(64 + 64) = 73,728 + 256 = 73,984 trainable (convs without bias, two batchnorms)
    result = api.compare_designs([spec("specs/resnet18.yaml"), spec("specs/resnet34.yaml")])
    pair = result.pairs[0]
    stages = {(s.n_H, s.n_W): s for s in pair.stages}
    assert stages[(56, 56)].other.params - stages[(56, 56)].base.params == 73984
    assert stages[(112, 112)].other.params == stages[(112, 112)].base.params     # the same stem
    assert pair.closed_form is None and pair.same_output and not pair.same_rf
    assert sum(s.other.params - s.base.params for s in pair.stages) == (result.designs[1].trainable
                                                                          - result.designs[0].trainable)
    from torchvision_import import torchvision_or_skip

    tv = torchvision_or_skip()
    r18, r34 = tv.models.resnet18(), tv.models.resnet34()
    for size, layer in ((56, "layer1"), (28, "layer2"), (14, "layer3"), (7, "layer4")):
        diff = sum(p.numel() for p in getattr(r34, layer).parameters()) - sum(
            p.numel() for p in getattr(r18, layer).parameters())
        assert stages[(size, size)].other.params - stages[(size, size)].base.params == diff, layer


def test_json_and_korean():
    data = json.loads(run(["compare", spec("two_3x3"), spec("one_5x5"), "--format", "json"]))
    (c,) = data["comparisons"]
    assert c["metrics"]["trainable"] == {"base": 295168, "value": 409728, "difference": 114560,
                                         "ratio": 409728 / 295168}
    assert c["closed_form"]["what"] == "stacked" and c["closed_form"]["ratio"] == [18, 25]
    assert [s["biases"] for s in data["specs"]] == [256, 128]
    out = run(["compare", spec("two_3x3"), spec("one_5x5"), "--lang", "ko"])
    assert "편향: 256 대 128 (-128)" in out and "2·9·C² = 294,912 대 25·C² = 409,600 가중치" in out


def test_three_specs_each_against_the_first():
    out = run(["compare", spec("two_3x3"), spec("one_5x5"), spec("two_3x3_nobias")])
    assert "one-5x5 against two-3x3" in out and "two-3x3-nobias against two-3x3" in out


def test_errors(tmp_path):
    run(["compare", spec("two_3x3")], code=2)
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [8, 8, 8]\nlayers:\n  - conv: {filters: 6, kernel: 3, groups: 3}\n", encoding="utf-8")
    out = run(["compare", spec("two_3x3"), str(bad)], code=1)
    assert "bad.yaml:3:5" in out and "groups 3 must divide" in out and "Traceback" not in out


def test_lint_and_compare_import_neither_numpy_nor_numba():
    code = ("import sys; from typer.testing import CliRunner; from cnncalc.cli import app; "
            f"r = CliRunner().invoke(app, ['compare', {spec('two_3x3')!r}, {spec('one_5x5')!r}]); assert r.exit_code == 0; "
            f"r = CliRunner().invoke(app, ['lint', {spec('specs/vgg19_bn.yaml')!r}]); assert r.exit_code == 0; "
            "assert 'numpy' not in sys.modules and 'numba' not in sys.modules, sorted(sys.modules)")
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    subprocess.run([sys.executable, "-c", code], check=True, env=env, cwd=ROOT)


def test_depth_and_nonlinearities_leave_softmax_out():
    # LeNet-5 (specs/lenet5.yaml): conv, conv, dense ×3 = 5 weighted layers; relu after both convs and the two
    # hidden dense layers = 4; the final softmax normalises and is no hidden non-linearity.
    # Ng's 39×39 example: 3 convs + 1 dense = 4 weighted layers, 3 relus, then softmax.
    out = run(["compare", spec("specs/lenet5.yaml"), spec("specs/ng_39x39.yaml")])
    assert row(out, "Depth (weighted layers)") == ["5", "4", "-1", "×0.80"]
    assert row(out, "Non-linearities") == ["4", "3", "-1", "×0.75"]
