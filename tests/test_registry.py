"""The registry of kinds, as the trainer sees it: every kind has every role, the engine names none.

A kind's trainer roles (layers.adapter.Trainer) live in its family's train.py: the adapter, its
parameter tensors, its part in initialisation, the memory its training keeps and its PyTorch
equivalent. These tests walk the registry for the missing ones, read the engine's source for kind
names, and add a kind through one registry entry (a ReLU6 defined here, numpy only) to show that
it trains, is initialised and matches PyTorch without an engine file knowing it.
"""

import ast
import inspect
import io
import math
import sys
import tokenize

import numpy as np
import pytest

from cnncalc import layers
from cnncalc.engine import executor, init, params
from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
from cnncalc.errors import EngineError
from cnncalc.layers.activation.kernels import softmax_cross_entropy
from cnncalc.layers.adapter import Elementwise, InitRole, Layer, Trainer, no_memory, no_tensors
from cnncalc.layers.base import Inference, Kind, fixed_notation
from helpers import spec


def test_every_kind_has_every_trainer_role_or_says_why_not():
    assert len(layers.KINDS) >= 16  # the walk below walks something
    missing = []
    for kind in layers.KINDS:
        if kind.trainer is None:
            if not kind.analysis_only.strip():
                missing.append(f"{kind.name}: no trainer and no reason (Kind.analysis_only)")
            continue
        role = layers.trainer(kind.name)
        if not isinstance(role, Trainer):
            missing.append(f"{kind.name}: {kind.trainer}.TRAINERS has no Trainer for it")
            continue
        if not (isinstance(role.adapter, type) and issubclass(role.adapter, Layer)
                and callable(getattr(role.adapter, "forward", None))
                and callable(getattr(role.adapter, "backward", None))):
            missing.append(f"{kind.name}: adapter")
        for name in ("tensors", "memory", "torch"):
            if not callable(getattr(role, name)):
                missing.append(f"{kind.name}: {name}")
        if not isinstance(role.init, InitRole):
            missing.append(f"{kind.name}: init role")
    assert missing == []


def test_the_kinds_that_train_are_the_ones_with_a_trainer_and_the_rest_are_refused():
    runnable = {k.name for k in layers.KINDS if layers.trainer(k.name) is not None}
    assert runnable == set(layers.trainable_names())
    # 'softmax' is fused with the loss when it ends the network: the logits are its input
    assert [k for k in runnable if layers.trainer(k).loss_input] == ["softmax"]


def _kind_strings(source: str) -> list[str]:
    """The string literals of source that are exactly a kind's name or alias ('softmax' in
    `kind == "softmax"`); comments, docstrings' prose and f-strings do not count."""
    spellings = {n for k in layers.KINDS for n in (k.name,) + k.aliases}
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.STRING:
            try:
                value = ast.literal_eval(token.string)
            except (ValueError, SyntaxError):  # an f-string
                continue
            if isinstance(value, str) and value.lower() in spellings:
                found.append(value)
    return found


def test_the_engine_names_no_kind():
    sources = {m.__name__: inspect.getsource(m) for m in (executor, params, init)}
    sources["estimate"] = inspect.getsource(tr.estimate)
    assert {name: _kind_strings(text) for name, text in sources.items()} == {name: [] for name in sources}


def test_the_kind_name_reader_finds_a_kind_name():
    # the reader above is what makes the engine test able to fail
    assert _kind_strings('x = 1\nif kind == "softmax":  # "conv"\n    pass\n') == ["softmax"]


def test_the_memory_estimate_adds_what_the_kinds_keep():
    # input 4×4×1 → maxpool 2 (2×2×1) → dropout → flatten (4) → dense 2, a batch of 10, one thread:
    # floats per sample, output + input: maxpool 4 + 16, dropout 4 + 4, flatten 4 + 4, dense 2 + 4 = 42
    # kept per sample: maxpool's int64 argmax 8·4 = 32 bytes, dropout's float32 mask 4·4 = 16 bytes
    # activations = 10 · (4·42 + 32 + 16) = 10 · 216 = 2160 bytes; no conv, no workspace
    report = tr.build(spec("- maxpool: 2\n- dropout: 0.5\n- flatten\n- dense: 2", (4, 4, 1)), "t.yaml", 10)[0]
    est = tr.estimate(report, 10, 100, "sgd", momentum=0.0, threads=1)
    assert est["activations"] == 2160 and est["workspace"] == 0
    assert est["weights"] == 4 * (4 * 2 + 2)


# ------------------------------------------------------------------ every kind against its PyTorch twin

# one small net per kind, the kind between a conv and a dense layer so that gradients reach it and
# leave it; (name, layers, input, train): train False runs both sides in eval mode (dropout's masks)
HEAD = "- flatten\n- dense: 3"
EXAMPLES = [
    ("conv", "- conv: {filters: 3, kernel: 3, stride: 2, padding: same, groups: 1}\n" + HEAD, (6, 6, 2), True),
    ("conv-grouped", "- conv: {filters: 4, kernel: 3, padding: 1, dilation: 2, groups: 2, bias: false}\n" + HEAD,
     (6, 6, 2), True),
    ("maxpool", "- conv: {filters: 3, kernel: 1}\n- maxpool: {kernel: 3, stride: 2, ceil_mode: true}\n" + HEAD,
     (6, 6, 2), True),
    ("avgpool", "- conv: {filters: 3, kernel: 1}\n- avgpool: {kernel: 3, stride: 2, padding: 1, "
                "count_include_pad: false}\n" + HEAD, (6, 6, 2), True),
    ("global_avgpool", "- conv: {filters: 3, kernel: 3}\n- global_avgpool\n- dense: 3", (6, 6, 2), True),
    ("global_avgpool-keep_dims", "- conv: {filters: 3, kernel: 3}\n- global_avgpool: {keep_dims: true}\n"
                                 "- conv: {filters: 4, kernel: 1}\n" + HEAD, (6, 6, 2), True),
    ("global_maxpool", "- conv: {filters: 3, kernel: 3}\n- global_maxpool\n- dense: 3", (6, 6, 2), True),
    ("global_maxpool-keep_dims", "- conv: {filters: 3, kernel: 3}\n- global_maxpool: {keep_dims: true}\n"
                                 "- conv: {filters: 4, kernel: 1}\n" + HEAD, (6, 6, 2), True),
    ("adaptive_avgpool", "- conv: {filters: 3, kernel: 1}\n- adaptive_avgpool: [3, 4]\n" + HEAD, (7, 5, 2), True),
    ("adaptive_maxpool", "- conv: {filters: 3, kernel: 1}\n- adaptive_maxpool: [3, 4]\n" + HEAD, (7, 5, 2), True),
    ("dense-flatten", "- flatten\n- dense: {units: 4, bias: false}\n- dense: 3", (3, 3, 2), True),
    ("relu", "- conv: {filters: 3, kernel: 3}\n- relu\n" + HEAD, (6, 6, 2), True),
    ("leaky_relu", "- conv: {filters: 3, kernel: 3}\n- leaky_relu: 0.2\n" + HEAD, (6, 6, 2), True),
    ("sigmoid", "- conv: {filters: 3, kernel: 3}\n- sigmoid\n" + HEAD, (6, 6, 2), True),
    ("tanh", "- conv: {filters: 3, kernel: 3}\n- tanh\n" + HEAD, (6, 6, 2), True),
    ("identity", "- conv: {filters: 3, kernel: 3}\n- identity\n" + HEAD, (6, 6, 2), True),
    ("relu6", "- conv: {filters: 3, kernel: 3}\n- relu6\n" + HEAD, (6, 6, 2), True),
    ("hardsigmoid", "- conv: {filters: 3, kernel: 3}\n- hardsigmoid\n" + HEAD, (6, 6, 2), True),
    ("hardswish", "- conv: {filters: 3, kernel: 3}\n- hardswish\n" + HEAD, (6, 6, 2), True),
    ("silu", "- conv: {filters: 3, kernel: 3}\n- swish\n" + HEAD, (6, 6, 2), True),
    ("gelu", "- conv: {filters: 3, kernel: 3}\n- gelu\n- gelu: tanh\n" + HEAD, (6, 6, 2), True),
    ("elu", "- conv: {filters: 3, kernel: 3}\n- elu: 0.7\n- elu\n" + HEAD, (6, 6, 2), True),
    ("prelu", "- conv: {filters: 3, kernel: 3}\n- prelu: 3\n- flatten\n- prelu: {init: -0.5}\n- dense: 3",
     (6, 6, 2), True),
    ("softmax", "- conv: {filters: 3, kernel: 3}\n- softmax\n" + HEAD + "\n- softmax", (6, 6, 2), True),
    ("batchnorm", "- conv: {filters: 3, kernel: 3}\n- batchnorm: {eps: 0.001, momentum: 0.3}\n" + HEAD
                  + "\n- batchnorm", (6, 6, 2), True),
    ("dropout", "- conv: {filters: 3, kernel: 3}\n- dropout: 0.3\n" + HEAD, (6, 6, 2), False),
    ("drop_path", "- conv: {filters: 3, kernel: 3}\n- drop_path: 0.3\n" + HEAD, (6, 6, 2), False),
    ("drop_path-rate0", "- conv: {filters: 3, kernel: 3}\n- drop_path: 0.0\n" + HEAD, (6, 6, 2), True),
    ("add", "- conv: {filters: 3, kernel: 3, padding: 1}\n- parallel:\n    - [conv: {filters: 3, kernel: 1}]\n"
            "    - []\n  merge: add\n" + HEAD, (6, 6, 2), True),
    ("concat", "- conv: {filters: 3, kernel: 3, padding: 1}\n- parallel:\n    - [conv: {filters: 2, kernel: 1}]\n"
               "    - [tanh]\n  merge: concat\n" + HEAD, (6, 6, 2), True),
    ("mul", "- conv: {filters: 4, kernel: 3, padding: 1, name: a}\n- conv: {filters: 4, kernel: 1, from: input, name: b}\n"
            "- mul: {from: [a, b]}\n- parallel:\n    - [global_avgpool, dense: 4, sigmoid]\n    - []\n  merge: mul\n"
            "- parallel:\n    - []\n    - [avgpool: 6]\n  merge: mul\n" + HEAD, (6, 6, 2), True),
    ("channel", "- conv: {filters: 6, kernel: 3, padding: 1, name: a}\n- channel_slice: {stop: 3, name: l}\n"
                "- channel_slice: {start: 3, stop: 6, from: a, name: r}\n- conv: {filters: 3, kernel: 1, name: rc}\n"
                "- concat: {from: [l, rc]}\n- channel_shuffle: 2\n" + HEAD, (6, 6, 2), True),
    ("conv_transpose", "- conv: {filters: 4, kernel: 1}\n- conv_transpose: {filters: 4, kernel: 3, stride: 2, "
                       "padding: 1, output_padding: 1, groups: 2}\n" + HEAD, (3, 3, 2), True),
    ("conv_transpose-asymmetric", "- conv: {filters: 3, kernel: 1}\n- conv_transpose: {filters: 2, kernel: 3, "
                                  "stride: 2, padding: [0, 1, 1, 0], dilation: 2, bias: false}\n" + HEAD,
     (3, 3, 2), True),
    ("upsample-nearest", "- conv: {filters: 3, kernel: 1}\n- upsample: {size: [5, 7]}\n" + HEAD, (3, 2, 2), True),
    ("upsample-bilinear", "- conv: {filters: 3, kernel: 1}\n- upsample: {scale: 2, mode: bilinear}\n" + HEAD,
     (3, 2, 2), True),
]


def test_the_examples_cover_every_kind_that_trains():
    covered = set()
    for _, text, shape, _ in EXAMPLES:
        report = tr.analyse(spec(text, shape), "t.yaml")
        covered |= {node.kind for node in report.graph.nodes[1:]}
    assert set(layers.trainable_names()) - covered == set()


@pytest.mark.torch
@pytest.mark.parametrize("name, text, shape, train", EXAMPLES, ids=[e[0] for e in EXAMPLES])
def test_each_kind_matches_its_pytorch_equivalent(name, text, shape, train):  # noqa: ARG001 — the id
    torch = pytest.importorskip("torch")
    from torch_builder import from_engine

    report, net = tr.build(spec(text, shape), "t.yaml", 4)
    initialise(net, 3)
    module = from_engine(report, net.state())  # strict: the tensors' names and shapes are torch's
    module.train(train)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((4,) + net.input_shape).astype(np.float32)
    y = np.arange(4) % 3
    logits = net.forward(x, train, np.random.default_rng(0))
    loss, dz, _ = softmax_cross_entropy(logits, y)
    net.backward(dz)
    theirs = module(torch.from_numpy(x.copy()))
    torch_loss = torch.nn.functional.cross_entropy(theirs, torch.from_numpy(y))
    torch_loss.backward()
    np.testing.assert_allclose(logits, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    named = dict(module.named_parameters())
    assert set(named) == set(net.grads)
    for k, g in net.grads.items():
        np.testing.assert_allclose(g, named[k].grad.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)
    for k, v in module.state_dict().items():
        if k in net.buffers:
            np.testing.assert_allclose(net.buffers[k], v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


# ------------------------------------------------------------------ a kind added through one entry

def relu6_forward(x, *, out):
    np.clip(x, 0.0, 6.0, out=out)
    return out, x


def relu6_backward(dout, cache, *, dx):
    x = cache
    np.multiply(dout, (x > 0.0) & (x < 6.0), out=dx)
    return dx


class Relu6Layer(Elementwise):
    forward_fn, backward_fn = relu6_forward, relu6_backward


def _relu6_torch(node, row, options):  # noqa: ARG001 — Trainer.torch's signature
    from torch import nn

    return nn.ReLU6()


ASKED_GAIN = math.sqrt(2.0)
TRAINERS = {"relu6_test": Trainer(Relu6Layer, no_tensors, InitRole(fans=None, gain=lambda _fields: ASKED_GAIN,
                                                                    see_through=False), no_memory, _relu6_torch)}


def _infer(fields, in_shapes, rfs, name, mark, sources):  # noqa: ARG001 — Kind.infer's signature
    return Inference(out_shape=in_shapes[0], other_ops=1, rf=rfs[0])


RELU6 = Kind("relu6_test", (), _infer, fixed_notation("relu6_test"), "min(max(0, x), 6)", trainer=__name__)


@pytest.fixture
def relu6(monkeypatch):
    """The registry with RELU6 in it, as one line in cnncalc/layers/__init__.py would put it."""
    assert sys.modules[__name__].TRAINERS is TRAINERS  # the kind's train module is this file
    monkeypatch.setattr(layers, "KINDS", layers.KINDS + (RELU6,))
    monkeypatch.setitem(layers._BY_NAME, RELU6.name, RELU6)
    return RELU6


NET6 = spec("""- conv: {filters: 4, kernel: 3, name: c}
- relu6_test
- conv: {filters: 3, kernel: 3, name: d}
- flatten
- dense: {units: 3, name: e}""", (6, 6, 2))


def test_an_added_kind_is_initialised_as_it_asks(relu6):  # noqa: ARG001 — the fixture registers it
    report, net = tr.build(NET6, "t.yaml", 4)
    schemes = initialise(net, 0, "he-glorot")
    # the conv before the added kind gets He's normal with the gain it asks for; the others Glorot
    assert schemes == {"c": "he_normal", "d": "glorot_uniform", "e": "glorot_uniform"}
    W = net.params["c.weight"]
    assert W.shape == (4, 2, 3, 3)
    assert init.scheme_for(report.graph, "c") == ("he_normal", ASKED_GAIN)


def test_an_added_kind_trains_and_matches_pytorch(relu6):  # noqa: ARG001 — the fixture registers it
    torch = pytest.importorskip("torch")
    from torch_builder import from_engine

    report, net = tr.build(NET6, "t.yaml", 5)
    initialise(net, 1)
    rng = np.random.default_rng(2)
    x = (3.0 * rng.standard_normal((5,) + net.input_shape)).astype(np.float32)
    y = np.arange(5) % 3
    # the weights put both kinks of ReLU6 to work: some outputs of c below 0, some above 6
    net.params["c.weight"][...] *= 8.0
    logits = net.forward(x, True)
    c = net.values["c"]
    assert (c < 0).any() and (c > 6).any()
    assert np.array_equal(net.values["relu6_test1"], np.clip(c, 0, 6))
    loss, dz, _ = softmax_cross_entropy(logits, y)
    net.backward(dz)

    module = from_engine(report, net.state())
    xt = torch.from_numpy(x.copy())
    theirs = module(xt)
    torch_loss = torch.nn.functional.cross_entropy(theirs, torch.from_numpy(y))
    torch_loss.backward()
    np.testing.assert_allclose(logits, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    grads = {k: p.grad.numpy() for k, p in module.named_parameters()}
    assert set(grads) == set(net.grads)
    for k, g in net.grads.items():
        np.testing.assert_allclose(g, grads[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_a_kind_without_a_trainer_is_refused_by_name(monkeypatch):
    # the same kind with no trainer (an analysis-only kind): the trainer refuses it, naming it
    analysis_only = Kind("relu6_test", (), _infer, fixed_notation("relu6_test"), "min(max(0, x), 6)",
                         analysis_only="a test: no trainer")
    monkeypatch.setattr(layers, "KINDS", layers.KINDS + (analysis_only,))
    monkeypatch.setitem(layers._BY_NAME, "relu6_test", analysis_only)
    with pytest.raises(EngineError, match=r"cannot run relu6_test layers \(a test: no trainer\)"):
        tr.build(NET6, "t.yaml", 4)
    assert "relu6_test" not in layers.trainable_names()
