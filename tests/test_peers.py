"""`cnncalc flops --as PEER` and `--explain-diff A B` (cnncalc/analysis/peers.py) against hand-worked
totals and against the real peers: on torchvision's own model for the torchvision specs, on the spec
built with one torch.nn module per layer (tests/peer_oracle.py) for the others."""

from __future__ import annotations

import functools
import glob
import json
import os

import pytest
from torchvision_import import TORCHVISION_SPECS

import helpers

from cnncalc import api
from cnncalc.analysis import peers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "specs", "**", "*.yaml"),
                                                                recursive=True))
BIG = {"specs/resnet152.yaml", "specs/densenet169.yaml", "specs/wide_resnet50_2.yaml", "specs/vgg19_bn.yaml",
       "specs/inception_v3.yaml", "specs/vgg16.yaml", "specs/resnext50_32x4d.yaml"}


def _spec(rel):
    return os.path.join(ROOT, rel)


# LeNet-5 as in Ng's course (specs/lenet5.yaml), worked by hand:
#   MACs 849,320 = conv1 28·28·8·5·5·3 (470,400) + conv2 10·10·16·5·5·8 (320,000) + 400·120 + 120·84 + 84·10
#   bias adds 8,086 = 28·28·8 (6,272) + 10·10·16 (1,600) + 120 + 84 + 10
#   relu outputs 8,076 = 6,272 + 1,600 + 120 + 84; maxpool reads 7,872 = 6,272 + 1,600; softmax over 10
LENET = {
    "cnncalc": 849_320,
    "torchinfo": 849_320 + 8_086,                                   # 857,406
    "ptflops": 849_320 + 8_086 + 2 * 8_076 + 2 * 7_872 + 10,         # 889,312: relu and pools twice
    "fvcore": 849_320,                                              # no bias, no element-wise op
    "thop": 849_320 + (3 * 10 - 1),                                 # 849,349: softmax 10 exp, 9 adds, 10 divs
}


@pytest.mark.parametrize("peer", sorted(LENET))
def test_lenet5_by_hand(peer):
    assert peers.count(api.report(_spec("specs/lenet5.yaml")), peer).total == LENET[peer]


def test_items_sum_to_the_total_and_diff_to_the_gap():
    report = api.report(_spec("specs/alexnet.yaml"))
    for peer in peers.NAMES:
        c = peers.count(report, peer)
        assert sum(c.items.values()) == c.total
    d = peers.diff(report, "ptflops", "fvcore")
    assert sum(line.gap for line in d.lines) == d.gap == d.a.total - d.b.total


def test_issue_figures():
    # the issue: torchinfo's Mult-Adds = cnncalc's MACs + one per bias add + 2·C per batchnorm layer
    resnet50 = api.report(_spec("specs/resnet50.yaml"))
    c = peers.count(resnet50, "torchinfo")
    # 53 batchnorm layers, 2·C each: Σ C = 26,560 over the stem, 16 blocks (3 each) and 4 projections
    assert c.items["batchnorm"] == 2 * 26_560 and c.layers["batchnorm"] == 53
    assert c.items["bias"] == 1_000  # only the classifier has a bias
    assert c.total == resnet50.totals.macs + 1_000 + 53_120 == 4_089_238_376
    alexnet = api.report(_spec("specs/alexnet.yaml"))
    # AlexNet: every conv and dense has a bias; 484,992 conv outputs + 4,096 + 4,096 + 1,000 dense outputs
    assert peers.count(alexnet, "torchinfo").total == alexnet.totals.macs + 494_184 == 714_682_664


@pytest.mark.torch
@pytest.mark.parametrize("spec, figure", [("alexnet", 714_682_664), ("resnet50", 4_089_238_376)])
def test_issue_figures_with_the_real_torchinfo_on_torchvision(spec, figure):
    pytest.importorskip("torchinfo")
    from peer_oracle import peer_total
    from torchvision_import import torchvision_or_skip

    tv = torchvision_or_skip()
    assert peer_total("torchinfo", getattr(tv.models, spec)(), (224, 224, 3)) == figure


@functools.lru_cache(maxsize=1)
def _built(rel, torchvision):
    """The report and the model the peers run on: torchvision's own module, or the spec built with one
    torch.nn module per layer (peer_oracle.standard_module)."""
    report = api.report(_spec(rel))
    if torchvision:
        from torchvision_import import torchvision_or_skip

        name, kwargs = TV[rel]
        return report, getattr(torchvision_or_skip().models, name)(**kwargs)
    from peer_oracle import standard_module

    return report, standard_module(report)


TV = {f"specs/{spec}.yaml": (name, kwargs) for spec, name, kwargs in TORCHVISION_SPECS}

# Where torchvision writes an op as a function or a tensor method rather than a module, the peers that
# count modules see less on its model than on the one-module-per-layer build that --as describes; the gap
# is exactly those ops (batch 1): ptflops counts a patched functional once instead of module hook +
# functional, thop an unregistered call not at all, fvcore ignores aten::mean.
#   DenseNet's head: F.relu and F.adaptive_avg_pool2d on 7·7·n_C (121: 1,024 channels, 169: 1,664)
#   MobileNetV2's head: F.adaptive_avg_pool2d on 7·7·1,280;  ShuffleNetV2's head: x.mean([2, 3]) on 7·7·1,024
TV_GAPS = {
    ("densenet121", "ptflops"): 49 * 1024 + 49 * 1024,   # relu outputs once less, pool reads once less
    ("densenet121", "thop"): (49 + 1) * 1024,            # the adaptive pool's (window + 1) per output
    ("densenet169", "ptflops"): 49 * 1664 + 49 * 1664,
    ("densenet169", "thop"): (49 + 1) * 1664,
    ("mobilenet_v2", "ptflops"): 49 * 1280,
    ("mobilenet_v2", "thop"): (49 + 1) * 1280,
    ("shufflenet_v2_x1_0", "ptflops"): 2 * 49 * 1024,
    ("shufflenet_v2_x1_0", "fvcore"): 49 * 1024,
    ("shufflenet_v2_x1_0", "thop"): (49 + 1) * 1024,
}
# GoogLeNet and Inception v3 call F.relu in every BasicConv2d (and Inception v3 F.max_pool2d and
# F.avg_pool2d inside its blocks): for ptflops and thop they are checked on the one-module build only.
TV_FUNCTIONAL = {("googlenet", "ptflops"), ("inception_v3", "ptflops"), ("inception_v3", "thop")}


def _sweep(rel, peer):
    pytest.importorskip("torch")
    from torchvision_import import import_torchvision

    import_torchvision()  # first: ptflops imports torchvision.ops, whose C ops may not load (see there)
    pytest.importorskip(peer)
    from peer_oracle import peer_total

    stem = os.path.basename(rel)[:-5]
    on_torchvision = rel in TV and (stem, peer) not in TV_FUNCTIONAL
    report, model = _built(rel, on_torchvision)
    expected = peers.count(report, peer).total - (TV_GAPS.get((stem, peer), 0) if on_torchvision else 0)
    assert peer_total(peer, model, report.graph.input_shape) == expected


# spec-major order, so that the cache above builds each model once for the four peers
_CASES = [(rel, peer) for rel in SPECS for peer in peers.PEERS]


@pytest.mark.torch
@pytest.mark.parametrize("rel, peer", [c for c in _CASES if c[0] not in BIG], ids=lambda v: os.path.basename(v))
def test_real_peer_equals_as_peer(rel, peer):
    _sweep(rel, peer)


@pytest.mark.torch
@pytest.mark.slow
@pytest.mark.parametrize("rel, peer", [c for c in _CASES if c[0] in BIG], ids=lambda v: os.path.basename(v))
def test_real_peer_equals_as_peer_big_models(rel, peer):
    _sweep(rel, peer)


def test_every_torchvision_spec_is_swept():
    assert {f"specs/{s}.yaml" for s, _, _ in TORCHVISION_SPECS} <= set(SPECS)


# ---------------------------------------------------------------- the command line

def _run(*args):
    from typer.testing import CliRunner

    from cnncalc.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def test_cli_as_torchinfo_resnet50():
    result = _run("flops", _spec("specs/resnet50.yaml"), "--as", "torchinfo")
    assert result.exit_code == 0, result.output
    assert "torchinfo total: 4,089,238,376 (Mult-Adds)" in result.output
    assert "53,120" in result.output and "4,089,184,256" in result.output  # batchnorm; MACs as cnncalc counts


def test_cli_explain_diff_alexnet_ptflops_fvcore():
    result = _run("flops", _spec("specs/alexnet.yaml"), "--explain-diff", "ptflops", "fvcore", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    gaps = {line["item"]: line["gap"] for line in data["items"]}
    # bias adds: 494,184 (above); relu outputs 193,600 + 139,968 + 64,896 + 2·43,264 + 2·4,096 = 493,184,
    # twice (module hook + F.relu); pooling: ptflops 2 × reads (55·55·64 + 27·27·192 + 13·13·256 + 6·6·256
    # = 386,048), fvcore the adaptive average's 6·6·256 = 9,216 reads once
    assert gaps == {"macs": 0, "bias": 494_184, "activation": 2 * 493_184, "pooling": 2 * 386_048 - 9_216}
    assert data["gap"] == data["total_a"] - data["total_b"] == 494_184 + 986_368 + 762_880


def test_cli_table_formats_agree():
    for fmt in ("table", "csv", "markdown"):
        result = _run("flops", _spec("specs/lenet5.yaml"), "--as", "ptflops", "--format", fmt)
        assert result.exit_code == 0, result.output
        assert "889,312" in result.output


def test_cli_keras_says_why():
    result = _run("flops", _spec("specs/lenet5.yaml"), "--as", "keras")
    assert result.exit_code == 1
    assert "Keras' summary() reports parameters" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("args", [("--explain-diff", "cnncalc", "keras"), ("--explain-diff", "thop", "nope"),
                                  ("--as", "thop", "--explain-diff", "thop", "fvcore")])
def test_cli_usage_errors(args):
    result = _run("flops", _spec("specs/lenet5.yaml"), *args)
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_korean_wording():
    from cnncalc.render.peers import render_count, render_diff

    report = api.report(_spec("specs/lenet5.yaml"))
    text = render_count(peers.count(report, "torchinfo"), "lenet5", "table", "ko")
    assert "편향 덧셈" in text and "857,406" in text
    assert "배치 정규화" not in text  # LeNet-5 has none: the row is left out
    diff = render_diff(peers.diff(report, "thop", "fvcore"), "lenet5", "table", "ko")
    assert "소프트맥스" in diff and "+29" in diff


@pytest.mark.parametrize("args", [("--as", "fvcore"), ("--explain-diff", "thop", "torchinfo")])
def test_peer_options_do_not_import_numpy_or_numba(args):
    argv = ["flops", _spec("specs/lenet5.yaml"), *args]
    assert not {"numpy", "numba", "torch"} & helpers.modules_after(argv)
