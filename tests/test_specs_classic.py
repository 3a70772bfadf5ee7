"""The classic networks against tables worked out by hand from the formulas.

    n_out = ⌊(n + 2p − f)/s⌋ + 1              activations  n_H·n_W·n_C (the input row included)
    conv params (f·f·n_C_prev + 1)·n_C        conv MACs    n_H·n_W·n_C · f·f·n_C_prev
    dense params (n_prev + 1)·n               dense MACs   n_prev·n
    batchnorm γ, β: 2·n_C trainable; running mean and variance: 2·n_C non-trainable
    receptive field r_out = r_in + (f − 1)·j_in, jump j_out = j_in·s; flatten and global pooling
    are one window over the whole map.

Every expected number below is a literal with its arithmetic beside it; cnncalc is only ever
the thing checked.  Each table has one row per layer, input included:
(kind, out_shape, activations, trainable params, MACs).
"""

import glob
import itertools
import os

import pytest

from cnncalc.analysis import analyze
from cnncalc.spec.parser import parse_file
from cnncalc.render.messages import diagnostic_message

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")


def table(spec):
    """cnncalc's report and its rows as (kind, out_shape, activations, trainable, macs)."""
    report = analyze(parse_file(os.path.join(SPECS, spec)))
    assert report.error is None and report.diagnostics == []
    return report, [(r.kind, r.out_shape, r.activations, r.trainable, r.macs) for r in report.rows]


def check(spec, expected, trainable, macs, activations, rf, non_trainable=0):
    """The whole table, then the totals (written out by hand too) and that the columns sum to them."""
    report, rows = table(spec)
    for i, (mine, hand) in enumerate(zip(rows, expected)):
        assert mine == hand, f"{spec} row {i}: cnncalc {mine} vs by hand {hand}"
    assert len(rows) == len(expected)
    t = report.totals
    assert (t.trainable, t.non_trainable, t.macs, t.activations) == (trainable, non_trainable, macs, activations)
    assert (sum(r[3] for r in expected), sum(r[4] for r in expected), sum(r[2] for r in expected)) \
        == (trainable, macs, activations)
    assert t.flops == 2 * macs
    assert (t.rf.r_H, t.rf.r_W, t.rf.j_H, t.rf.j_W) == rf
    return report


def test_lenet5_as_in_andrew_ngs_table():
    # Course 4, week 1, "Neural network example". The slide's parameter column leaves n_C_prev
    # out of the conv weights and counts one bias per layer; these follow the formulas.
    check("lenet5.yaml", [
        ("input", (32, 32, 3), 3072, 0, 0),             # 32·32·3
        ("conv", (28, 28, 8), 6272, 608, 470400),       # ⌊(32 − 5)/1⌋ + 1 = 28; 28·28·8; (5·5·3 + 1)·8; 6,272·75
        ("relu", (28, 28, 8), 6272, 0, 0),
        ("maxpool", (14, 14, 8), 1568, 0, 0),           # ⌊(28 − 2)/2⌋ + 1 = 14; 14·14·8
        ("conv", (10, 10, 16), 1600, 3216, 320000),     # ⌊(14 − 5)/1⌋ + 1 = 10; (5·5·8 + 1)·16; 1,600·200
        ("relu", (10, 10, 16), 1600, 0, 0),
        ("maxpool", (5, 5, 16), 400, 0, 0),             # ⌊(10 − 2)/2⌋ + 1 = 5; 5·5·16
        ("flatten", (400,), 400, 0, 0),
        ("dense", (120,), 120, 48120, 48000),           # FC3: (400 + 1)·120; 400·120
        ("relu", (120,), 120, 0, 0),
        ("dense", (84,), 84, 10164, 10080),             # FC4: (120 + 1)·84; 120·84
        ("relu", (84,), 84, 0, 0),
        ("dense", (10,), 10, 850, 840),                 # softmax layer: (84 + 1)·10; 84·10
        ("softmax", (10,), 10, 0, 0),
    ],
        trainable=62958,                                # 608 + 3,216 + 48,120 + 10,164 + 850
        macs=849320,                                    # 470,400 + 320,000 + 48,000 + 10,080 + 840
        activations=21612,                            # 3,072 + 2·6,272 + 1,568 + 2·1,600 + 2·400 + 2·120 + 2·84 + 2·10
        rf=(32, 32, 4, 4))                              # r 1 → 5 → 6 (j 2) → 14 → 16 (j 4) → 16 + 4·4 = 32 (flatten)


def test_lenet5_classic():
    check("lenet5_classic.yaml", [
        ("input", (32, 32, 1), 1024, 0, 0),             # 32·32·1
        ("conv", (28, 28, 6), 4704, 156, 117600),       # ⌊(32 − 5)/1⌋ + 1 = 28; 28·28·6; (5·5·1 + 1)·6; 4,704·25
        ("tanh", (28, 28, 6), 4704, 0, 0),
        ("avgpool", (14, 14, 6), 1176, 0, 0),           # ⌊(28 − 2)/2⌋ + 1 = 14; 14·14·6
        ("conv", (10, 10, 16), 1600, 2416, 240000),     # ⌊(14 − 5)/1⌋ + 1 = 10; (5·5·6 + 1)·16; 1,600·150
        ("tanh", (10, 10, 16), 1600, 0, 0),
        ("avgpool", (5, 5, 16), 400, 0, 0),             # ⌊(10 − 2)/2⌋ + 1 = 5; 5·5·16
        ("flatten", (400,), 400, 0, 0),
        ("dense", (120,), 120, 48120, 48000),           # (400 + 1)·120; 400·120
        ("tanh", (120,), 120, 0, 0),
        ("dense", (84,), 84, 10164, 10080),             # (120 + 1)·84; 120·84
        ("tanh", (84,), 84, 0, 0),
        ("dense", (10,), 10, 850, 840),                 # (84 + 1)·10; 84·10
        ("softmax", (10,), 10, 0, 0),
    ],
        trainable=61706,                                # 156 + 2,416 + 48,120 + 10,164 + 850
        macs=416520,                                    # 117,600 + 240,000 + 48,000 + 10,080 + 840
        activations=16036,                            # 1,024 + 2·4,704 + 1,176 + 2·1,600 + 2·400 + 2·120 + 2·84 + 2·10
        rf=(32, 32, 4, 4))                              # as LeNet-5 above: 5, 6, 14, 16, 32


def test_ng_39x39_example():
    check("ng_39x39.yaml", [
        ("input", (39, 39, 3), 4563, 0, 0),             # 39·39·3
        ("conv", (37, 37, 10), 13690, 280, 369630),     # ⌊(39 + 0 − 3)/1⌋ + 1 = 37; (3·3·3 + 1)·10; 13,690·27
        ("relu", (37, 37, 10), 13690, 0, 0),
        ("conv", (17, 17, 20), 5780, 5020, 1445000),    # ⌊(37 + 0 − 5)/2⌋ + 1 = 17; (5·5·10 + 1)·20; 5,780·250
        ("relu", (17, 17, 20), 5780, 0, 0),
        ("conv", (7, 7, 40), 1960, 20040, 980000),      # ⌊(17 + 0 − 5)/2⌋ + 1 = 7; (5·5·20 + 1)·40; 1,960·500
        ("relu", (7, 7, 40), 1960, 0, 0),
        ("flatten", (1960,), 1960, 0, 0),               # 7·7·40 = 1,960
        ("dense", (10,), 10, 19610, 19600),             # (1,960 + 1)·10; 1,960·10
        ("softmax", (10,), 10, 0, 0),
    ],
        trainable=44950,                                # 280 + 5,020 + 20,040 + 19,610
        macs=2814230,                                   # 369,630 + 1,445,000 + 980,000 + 19,600
        activations=49403,                              # 4,563 + 2·13,690 + 2·5,780 + 3·1,960 + 2·10
        rf=(39, 39, 4, 4))                              # r 3 → 3 + 4·1 = 7 (j 2) → 7 + 4·2 = 15 (j 4) → 15 + 6·4 = 39


def test_mnist_small():
    report = check("mnist_small.yaml", [
        ("input", (28, 28, 1), 784, 0, 0),              # 28·28·1
        ("conv", (28, 28, 16), 12544, 160, 112896),     # ⌊(28 + 2·1 − 3)/1⌋ + 1 = 28; (3·3·1 + 1)·16; 12,544·9
        ("batchnorm", (28, 28, 16), 12544, 32, 0),      # γ, β: 2·16
        ("relu", (28, 28, 16), 12544, 0, 0),
        ("maxpool", (14, 14, 16), 3136, 0, 0),          # ⌊(28 − 2)/2⌋ + 1 = 14; 14·14·16
        ("conv", (14, 14, 32), 6272, 4640, 903168),     # ⌊(14 + 2·1 − 3)/1⌋ + 1 = 14; (3·3·16 + 1)·32; 6,272·144
        ("batchnorm", (14, 14, 32), 6272, 64, 0),       # 2·32
        ("relu", (14, 14, 32), 6272, 0, 0),
        ("maxpool", (7, 7, 32), 1568, 0, 0),            # ⌊(14 − 2)/2⌋ + 1 = 7; 7·7·32
        ("flatten", (1568,), 1568, 0, 0),
        ("dense", (64,), 64, 100416, 100352),           # (1,568 + 1)·64; 1,568·64
        ("relu", (64,), 64, 0, 0),
        ("dropout", (64,), 64, 0, 0),
        ("dense", (10,), 10, 650, 640),                 # (64 + 1)·10; 64·10
        ("softmax", (10,), 10, 0, 0),
    ],
        trainable=105962,                               # 160 + 32 + 4,640 + 64 + 100,416 + 650
        non_trainable=96,                               # running mean and variance: 2·16 + 2·32
        macs=1117056,                                   # 112,896 + 903,168 + 100,352 + 640
        activations=63716,                              # 784 + 3·12,544 + 3,136 + 3·6,272 + 2·1,568 + 3·64 + 2·10
        rf=(34, 34, 4, 4))                              # r 3 → 4 (j 2) → 4 + 2·2 = 8 → 10 (j 4) → 10 + 6·4 = 34
    assert report.totals.params == 106058               # Keras' "Total params": 105,962 + 96


def test_cifar_small():
    # 'same' with f = 3, s = 1: total padding (32 − 1)·1 + 3 − 32 = 2, one on each side, so n_H stays
    check("cifar_small.yaml", [
        ("input", (32, 32, 3), 3072, 0, 0),             # 32·32·3
        ("conv", (32, 32, 32), 32768, 896, 884736),     # (3·3·3 + 1)·32; 32·32·32·27
        ("batchnorm", (32, 32, 32), 32768, 64, 0),      # 2·32
        ("relu", (32, 32, 32), 32768, 0, 0),
        ("conv", (32, 32, 32), 32768, 9248, 9437184),   # (3·3·32 + 1)·32; 32,768·288
        ("batchnorm", (32, 32, 32), 32768, 64, 0),
        ("relu", (32, 32, 32), 32768, 0, 0),
        ("maxpool", (16, 16, 32), 8192, 0, 0),          # ⌊(32 − 2)/2⌋ + 1 = 16; 16·16·32
        ("conv", (16, 16, 64), 16384, 18496, 4718592),  # (3·3·32 + 1)·64; 16·16·64·288
        ("batchnorm", (16, 16, 64), 16384, 128, 0),     # 2·64
        ("relu", (16, 16, 64), 16384, 0, 0),
        ("conv", (16, 16, 64), 16384, 36928, 9437184),  # (3·3·64 + 1)·64; 16,384·576
        ("batchnorm", (16, 16, 64), 16384, 128, 0),
        ("relu", (16, 16, 64), 16384, 0, 0),
        ("maxpool", (8, 8, 64), 4096, 0, 0),            # ⌊(16 − 2)/2⌋ + 1 = 8; 8·8·64
        ("conv", (8, 8, 128), 8192, 73856, 4718592),    # (3·3·64 + 1)·128; 8·8·128·576
        ("batchnorm", (8, 8, 128), 8192, 256, 0),       # 2·128
        ("relu", (8, 8, 128), 8192, 0, 0),
        ("conv", (8, 8, 128), 8192, 147584, 9437184),   # (3·3·128 + 1)·128; 8,192·1,152
        ("batchnorm", (8, 8, 128), 8192, 256, 0),
        ("relu", (8, 8, 128), 8192, 0, 0),
        ("maxpool", (4, 4, 128), 2048, 0, 0),           # ⌊(8 − 2)/2⌋ + 1 = 4; 4·4·128
        ("global_avgpool", (128,), 128, 0, 0),          # one mean per channel
        ("dropout", (128,), 128, 0, 0),
        ("dense", (10,), 10, 1290, 1280),               # (128 + 1)·10; 128·10
        ("softmax", (10,), 10, 0, 0),
    ],
        # convs 896 + 9,248 + 18,496 + 36,928 + 73,856 + 147,584 = 287,008; batchnorm 2·(64 + 128 + 256) = 896;
        # dense 1,290
        trainable=289194,
        non_trainable=896,                              # running statistics: 2·(2·32 + 2·64 + 2·128)
        macs=38634752,                                  # 884,736 + 3·9,437,184 + 2·4,718,592 + 1,280
        # 3,072 + 6·32,768 + 8,192 + 6·16,384 + 4,096 + 6·8,192 + 2,048 + 2·128 + 2·10
        activations=361748,
        rf=(60, 60, 8, 8))                              # 3, 5, 6 (j 2), 10, 14, 16 (j 4), 24, 32, 36 (j 8), 36 + 3·8


@pytest.mark.parametrize("spec, expected, trainable, macs", [
    ("compare/two_3x3.yaml", [
        ("input", (32, 32, 128), 131072, 0, 0),            # 32·32·128
        ("conv", (32, 32, 128), 131072, 147584, 150994944),  # (3·3·128 + 1)·128; 131,072·1,152
        ("relu", (32, 32, 128), 131072, 0, 0),
        ("conv", (32, 32, 128), 131072, 147584, 150994944),
        ("relu", (32, 32, 128), 131072, 0, 0),
    ], 295168, 301989888),                                 # 2·(3·3·128 + 1)·128; 2·32·32·128·9·128
    ("compare/one_5x5.yaml", [
        ("input", (32, 32, 128), 131072, 0, 0),
        ("conv", (32, 32, 128), 131072, 409728, 419430400),  # (5·5·128 + 1)·128; 131,072·3,200
        ("relu", (32, 32, 128), 131072, 0, 0),
    ], 409728, 419430400),
])
def test_two_3x3_against_one_5x5(spec, expected, trainable, macs):
    check(spec, expected, trainable, macs,
          activations=131072 * len(expected),              # every tensor is 32·32·128
          rf=(5, 5, 1, 1))                                 # 1 + 2 + 2 = 5 and 1 + 4 = 5


# ---------------------------------------------------------------- every shipped spec

SHIPPED = sorted(os.path.relpath(p, SPECS) for p in glob.glob(os.path.join(SPECS, "**", "*.yaml"), recursive=True))

# The one warning the shipped specs may raise: a 1×1 stride-2 projection on an even map reads every
# other row and column, so ⌊(n − 1)/2⌋ + 1 leaves the last one unread. torchvision's ResNets do the
# same; the warning adds nothing there (the rows between windows are skipped too).
# The ResNets' and RegNet's 1×1 stride-2 projections, and every remainder that falls in the padding,
# are notes (issue 9): what the architecture means.  The one warning left: SqueezeNet 1.1's first conv
# (3×3, stride 2, no padding) on 224 leaves the last row and column unread, ⌊(224 − 3)/2⌋ + 1 = 111,
# as torchvision's does.
ALLOWED_WARNINGS = {"squeezenet1_1.yaml": {"features.0"}}
WINDOWS = {"squeezenet1_1.yaml": ((3, 3), (2, 2), (0, 0, 0, 0))}


def test_the_specs_are_found():
    assert {"lenet5.yaml", "resnet50.yaml", "densenet121.yaml", "compare/two_3x3.yaml"} <= set(SHIPPED)


@pytest.mark.parametrize("spec", SHIPPED)
def test_every_shipped_spec_analyses_cleanly(spec):
    report = analyze(parse_file(os.path.join(SPECS, spec)))
    assert report.error is None, report.error
    warnings = [d for d in report.diagnostics if d.level == "warning"]
    unexpected = [diagnostic_message(d) for d in warnings if d.layer not in ALLOWED_WARNINGS.get(spec, ())]
    assert unexpected == []
    for d in warnings:
        fields = report.graph.node(d.layer).fields
        assert (fields["kernel"], fields["stride"], fields["padding"]) == WINDOWS[spec]
    for d in report.diagnostics:  # every note: only padding unread, or a window narrower than its stride
        assert d.level in ("warning", "note") and (d.level == "warning" or d.detail.lost == 0 or d.detail.gaps)
    # the totals are the rows' sums; every layer after the input counts once
    assert report.totals.layers == len(report.rows) - 1
    assert report.totals.trainable == sum(r.trainable for r in report.rows) > 0
    assert report.totals.macs == sum(r.macs for r in report.rows if not r.aux)   # aux heads: training only
    assert report.totals.aux_macs == sum(r.macs for r in report.rows if r.aux)


@pytest.mark.parametrize("spec", SHIPPED)
def test_every_shipped_spec_says_what_it_is(spec):
    """A header comment before `name:`: the source of the architecture and the input it assumes."""
    with open(os.path.join(SPECS, spec), encoding="utf-8") as f:
        opening = list(itertools.takewhile(lambda line: line.startswith("#"), f.read().splitlines()))
    assert [line for line in opening if not line.startswith("# yaml-language-server")], f"{spec}: no header"
