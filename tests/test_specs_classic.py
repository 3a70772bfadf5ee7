"""The classic networks against tables worked out by hand from the formulas.

n_out = ⌊(n + 2p − f)/s⌋ + 1;  conv params (f·f·n_C_prev + 1)·n_C;  dense (n_prev + 1)·n;
activations n_H·n_W·n_C;  conv MACs n_H·n_W·n_C·f·f·n_C_prev;  dense MACs n_prev·n.
Every expected number below is a literal with its arithmetic beside it.
"""

import os

import pytest

from cnncalc.analysis import analyze
from cnncalc.spec.parser import parse_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def weighted_rows(spec):
    """(kind, output shape, activations, trainable) for every layer but activations/flatten/dropout."""
    report = analyze(parse_file(os.path.join(ROOT, "specs", spec)))
    assert report.error is None and not report.diagnostics
    rows = [(r.kind, r.out_shape, r.activations, r.trainable) for r in report.rows
            if r.kind in ("conv", "maxpool", "avgpool", "dense", "batchnorm", "flatten")]
    return report, rows


def test_lenet5_as_in_andrew_ngs_table():
    report, rows = weighted_rows("lenet5.yaml")
    assert rows == [
        ("conv", (28, 28, 8), 6272, 608),      # (32 − 5)/1 + 1 = 28; 28·28·8 = 6,272; (5·5·3 + 1)·8 = 608
        ("maxpool", (14, 14, 8), 1568, 0),     # (28 − 2)/2 + 1 = 14; 14·14·8 = 1,568
        ("conv", (10, 10, 16), 1600, 3216),    # (14 − 5)/1 + 1 = 10; (5·5·8 + 1)·16 = 3,216
        ("maxpool", (5, 5, 16), 400, 0),       # (10 − 2)/2 + 1 = 5; 5·5·16 = 400
        ("flatten", (400,), 400, 0),
        ("dense", (120,), 120, 48120),         # (400 + 1)·120
        ("dense", (84,), 84, 10164),           # (120 + 1)·84
        ("dense", (10,), 10, 850),             # (84 + 1)·10
    ]
    t = report.totals
    assert t.trainable == 62958                # 608 + 3,216 + 48,120 + 10,164 + 850
    assert t.macs == 849320                    # 28·28·8·75 + 10·10·16·200 + 400·120 + 120·84 + 84·10
    assert t.flops == 2 * 849320
    # input 3,072 + conv/relu 2·6,272 + 1,568 + 2·1,600 + 400 + flatten 400 + 2·120 + 2·84 + 2·10
    assert t.activations == 3072 + 2 * 6272 + 1568 + 2 * 1600 + 400 + 400 + 2 * 120 + 2 * 84 + 2 * 10
    assert (t.rf.r_H, t.rf.j_H) == (32, 4)     # 1 → 5 → 6 (j 2) → 14 → 16 (j 4) → all 32 rows after flatten


def test_lenet5_classic():
    report, rows = weighted_rows("lenet5_classic.yaml")
    assert rows == [
        ("conv", (28, 28, 6), 4704, 156),      # (5·5·1 + 1)·6 = 156
        ("avgpool", (14, 14, 6), 1176, 0),
        ("conv", (10, 10, 16), 1600, 2416),    # (5·5·6 + 1)·16 = 2,416
        ("avgpool", (5, 5, 16), 400, 0),
        ("flatten", (400,), 400, 0),
        ("dense", (120,), 120, 48120),
        ("dense", (84,), 84, 10164),
        ("dense", (10,), 10, 850),
    ]
    assert report.totals.trainable == 61706    # 156 + 2,416 + 48,120 + 10,164 + 850


def test_ng_39x39_example():
    report, rows = weighted_rows("ng_39x39.yaml")
    assert rows == [
        ("conv", (37, 37, 10), 13690, 280),    # (39 − 3)/1 + 1 = 37; (3·3·3 + 1)·10 = 280
        ("conv", (17, 17, 20), 5780, 5020),    # (37 − 5)/2 + 1 = 17; (5·5·10 + 1)·20 = 5,020
        ("conv", (7, 7, 40), 1960, 20040),     # (17 − 5)/2 + 1 = 7; (5·5·20 + 1)·40 = 20,040
        ("flatten", (1960,), 1960, 0),         # 7·7·40 = 1,960
        ("dense", (10,), 10, 19610),           # (1,960 + 1)·10
    ]
    # 37·37·10·27 + 17·17·20·250 + 7·7·40·500 + 1,960·10
    assert report.totals.macs == 369630 + 1445000 + 980000 + 19600


def test_mnist_small():
    report, rows = weighted_rows("mnist_small.yaml")
    assert rows == [
        ("conv", (28, 28, 16), 12544, 160),    # p1: (28 + 2 − 3) + 1 = 28; (3·3·1 + 1)·16 = 160
        ("batchnorm", (28, 28, 16), 12544, 32),  # γ, β: 2·16
        ("maxpool", (14, 14, 16), 3136, 0),
        ("conv", (14, 14, 32), 6272, 4640),    # (3·3·16 + 1)·32 = 4,640
        ("batchnorm", (14, 14, 32), 6272, 64),
        ("maxpool", (7, 7, 32), 1568, 0),
        ("flatten", (1568,), 1568, 0),
        ("dense", (64,), 64, 100416),          # (1,568 + 1)·64
        ("dense", (10,), 10, 650),             # (64 + 1)·10
    ]
    assert report.totals.non_trainable == 96   # running mean and variance: 2·16 + 2·32


def test_cifar_small_same_padding_keeps_size():
    report, rows = weighted_rows("cifar_small.yaml")
    convs = [r for r in rows if r[0] == "conv"]
    assert [r[1] for r in convs] == [(32, 32, 32), (32, 32, 32), (16, 16, 64), (16, 16, 64),
                                     (8, 8, 128), (8, 8, 128)]
    # (3·3·3 + 1)·32, (3·3·32 + 1)·32, (3·3·32 + 1)·64, (3·3·64 + 1)·64, (3·3·64 + 1)·128, (3·3·128 + 1)·128
    assert [r[3] for r in convs] == [896, 9248, 18496, 36928, 73856, 147584]
    assert report.totals.output_shape == (10,)


@pytest.mark.parametrize("spec, params, macs", [
    ("compare/two_3x3.yaml", 295168, 301989888),   # 2·(3·3·128 + 1)·128; 2·32·32·128·9·128
    ("compare/one_5x5.yaml", 409728, 419430400),   # (5·5·128 + 1)·128; 32·32·128·25·128
])
def test_two_3x3_against_one_5x5(spec, params, macs):
    report = analyze(parse_file(os.path.join(ROOT, "specs", spec)))
    t = report.totals
    assert (t.trainable, t.macs, t.output_shape) == (params, macs, (32, 32, 128))
    assert (t.rf.r_H, t.rf.r_W) == (5, 5)         # 1 + 2 + 2 = 5 and 1 + 4 = 5


@pytest.mark.parametrize("spec", sorted(
    os.path.relpath(os.path.join(d, f), os.path.join(ROOT, "specs"))
    for d, _, files in os.walk(os.path.join(ROOT, "specs")) for f in files if f.endswith(".yaml")))
def test_every_shipped_spec_analyses(spec):
    report = analyze(parse_file(os.path.join(ROOT, "specs", spec)))
    assert report.error is None
    # the only warnings allowed are the strided 1×1 projections that really skip the last row/column
    assert all("kernel" not in d.message and "+ 2·0 − 1)/2" in d.message for d in report.diagnostics)
