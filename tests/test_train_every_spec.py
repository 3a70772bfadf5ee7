"""Every shipped spec that ends in one score per class trains: one step (forward, backward, SGD update)
on a tiny synthetic batch, at a reduced input where the architecture allows, with finite loss and
gradients and a non-zero gradient reaching every trainable layer; a few small ones against PyTorch.

The ImageNet specs reach their classifier through global or adaptive pooling, so a smaller image
changes only the activations, not the parameters; 32×32 is the smallest input they all analyse at,
except AlexNet (its stem and three stride-2 max pools need 64×64) and Inception v3, whose aux head needs
the full 299×299 (a step of two images there takes seconds and about 1.3 GiB). The aux heads of GoogLeNet
and Inception v3 train in the same step: their weighted losses reach every aux layer."""

import re
from pathlib import Path

import numpy as np
import pytest

from cnncalc.engine import train as tr
from cnncalc.engine.init import initialise
from cnncalc.errors import EngineError
from cnncalc.layers.activation.kernels import softmax_cross_entropy

SPECS = Path(__file__).resolve().parent.parent / "specs"
BATCH = 2

# spec file → the input the step runs at (None: the spec's own, already small)
INPUTS = {
    "alexnet": (64, 64, 3),
    "cifar_small": None,
    "densenet121": (32, 32, 3),
    "densenet169": (32, 32, 3),
    "efficientnet_b0": (32, 32, 3),
    "googlenet": (32, 32, 3),
    "inception_v3": None,
    "lenet5": None,
    "lenet5_classic": None,
    "mnist_lenet": None,
    "mnist_small": None,
    "mobilenet_v2": (32, 32, 3),
    "mobilenet_v3_large": (32, 32, 3),
    "mobilenet_v3_small": (32, 32, 3),
    "ng_39x39": None,
    "regnet_y_400mf": (32, 32, 3),
    "resnet152": (32, 32, 3),
    "resnet18": (32, 32, 3),
    "resnet18_cifar": None,
    "resnet34": (32, 32, 3),
    "resnet50": (32, 32, 3),
    "resnext50_32x4d": (32, 32, 3),
    "se_block": None,
    "shufflenet_v2_x1_0": (64, 64, 3),
    "small_vgg": None,
    "squeezenet1_1": (32, 32, 3),
    "vgg16": (32, 32, 3),
    "vgg19_bn": (32, 32, 3),
    "wide_resnet50_2": (32, 32, 3),
}
# specs that do not end in one score per class, with the reason
NOT_CLASSIFIERS = {
    "unet_small": "a segmentation net: it ends in a 32×32×2 map (tests/test_unet_small.py trains it with a head)",
}


def test_every_shipped_spec_is_listed():
    """A new spec must be given an input here (or a reason not to train it)."""
    shipped = {p.stem for p in SPECS.glob("*.yaml")}
    assert shipped == set(INPUTS) | set(NOT_CLASSIFIERS)
    assert not set(INPUTS) & set(NOT_CLASSIFIERS)


def _text(name):
    return (SPECS / f"{name}.yaml").read_text(encoding="utf-8")


def _build(name, text=None, seed=0):
    report, net = tr.build(text or _text(name), f"{name}.yaml", BATCH, INPUTS[name])
    initialise(net, seed)
    return report, net


def _batch(net, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((BATCH,) + net.input_shape).astype(np.float32)
    return x, np.arange(BATCH, dtype=np.int64) % net.n_classes


@pytest.mark.parametrize("name", sorted(NOT_CLASSIFIERS))
def test_a_spec_without_class_scores_is_refused_with_the_reason(name):
    with pytest.raises(EngineError, match="training needs one score per class"):
        tr.build(_text(name), f"{name}.yaml", BATCH)


@pytest.mark.parametrize("name", sorted(INPUTS))
def test_one_training_step_is_finite_and_reaches_every_layer(name):
    _, net = _build(name)
    if INPUTS[name] is not None:
        n_H, n_W, n_C = INPUTS[name]
        assert net.input_shape == (n_C, n_H, n_W)
    before = {k: v.copy() for k, v in net.params.items()}
    x, y = _batch(net)
    opt = tr.make_optimizer(net, "sgd", 0.01, 0.9)
    loss, _ = tr.Loop(net, opt, BATCH).step(x, y, np.random.default_rng(2))
    assert np.isfinite(loss)
    # a fresh net's loss is near ln K: the logits are small but not all zero
    assert 0.0 < loss < 3 * np.log(net.n_classes)
    assert set(net.grads) == set(net.params) and net.params
    layers_with_grad = set()
    for k, g in net.grads.items():
        assert np.isfinite(g).all(), k
        if np.any(g):
            layers_with_grad.add(k.rsplit(".", 1)[0])
    # every trainable layer sits before the logits and no ReLU can silence a whole layer for
    # random inputs, so each receives some gradient
    assert layers_with_grad == {k.rsplit(".", 1)[0] for k in net.params}
    # the update moved every parameter that had a gradient, by lr · gradient (SGD's first step)
    for k, v in net.params.items():
        assert np.isfinite(v).all(), k
        assert np.allclose(v, before[k] - 0.01 * net.grads[k], atol=1e-6), k


def _no_random_drops(text):
    """The spec with every dropout and drop_path rate 0: a training step is then deterministic and
    PyTorch's masks need not be reproduced (each kind's masks are tested in its own file)."""
    text = re.sub(r"(dropout:\s*)[0-9.]+", r"\g<1>0.0", text)
    return re.sub(r"(rate:\s*)[0-9.]+", r"\g<1>0.0", text)


# At 32×32 with 2 images the last stages of MobileNetV3 and EfficientNet are 1×1, and a training
# batchnorm over 2 values per channel is ill-conditioned: float32 PyTorch itself then differs from
# float64 PyTorch by ~1e-4 to ~1e-1 in the logits. 64×64 with 4 images leaves 2×2 maps (16 values).
# ShuffleNetV2 has a test of its own below: its gradients are ill-conditioned in float32 (tiny
# maps under batchnorm), so float32 PyTorch itself strays from float64 by up to ~6%.
PARITY = {"se_block": (None, 4), "mobilenet_v3_small": ((64, 64, 3), 4), "efficientnet_b0": ((64, 64, 3), 4)}


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(PARITY))
def test_logits_and_gradients_equal_pytorchs(name):
    torch = pytest.importorskip("torch")
    from torch_builder import from_engine

    shape, m = PARITY[name]
    report, net = tr.build(_no_random_drops(_text(name)), f"{name}.yaml", m, shape)
    initialise(net, 3)
    # float64 PyTorch is the reference: float32 sums over deep nets differ from it by ~1e-5
    model = from_engine(report, net.state(), torch.float64)
    model.train()
    rng = np.random.default_rng(4)
    x = rng.standard_normal((m,) + net.input_shape).astype(np.float32)
    y = np.arange(m, dtype=np.int64) % net.n_classes
    logits = net.forward(x, True, np.random.default_rng(5))
    loss, dz, _ = softmax_cross_entropy(logits, y)
    net.backward(dz)
    ref_logits = model(torch.tensor(x, dtype=torch.float64))
    ref = torch.nn.functional.cross_entropy(ref_logits, torch.tensor(y))
    ref.backward()
    assert logits.shape == tuple(ref_logits.shape)
    theirs = ref_logits.detach().numpy()
    np.testing.assert_allclose(logits, theirs, rtol=1e-4, atol=1e-4 * np.abs(theirs).max())
    assert loss == pytest.approx(ref.item(), rel=1e-5)
    named = dict(model.named_parameters())
    assert set(named) == set(net.grads)
    for k, g in net.grads.items():
        theirs = named[k].grad.numpy()
        # deep nets sum many float32 terms: the tolerance scales with each tensor's largest gradient,
        # over a float32 noise floor for gradients that are zero in exact arithmetic (a batchnorm bias
        # whose output a later batchnorm re-centres)
        np.testing.assert_allclose(g, theirs, rtol=1e-3, atol=1e-4 * np.abs(theirs).max() + 1e-6, err_msg=k)
    for k, v in model.state_dict().items():
        if k in net.buffers:
            np.testing.assert_allclose(net.buffers[k], v.numpy(), rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.torch
def test_shufflenet_gradients_stray_from_float64_no_more_than_float32_pytorchs():
    """ShuffleNetV2 at 64×64, 4 images: float32 PyTorch's own gradients differ from float64 PyTorch's by
    up to ~6% of a tensor's largest value (ill-conditioned batchnorms on 2×2 and 4×4 maps), so a fixed
    tolerance cannot tell a bug from rounding. Ours must stray no further than float32 PyTorch's
    (twice its error, plus a small floor): a wrong channel_slice, channel_shuffle or concat gradient
    puts ours orders of magnitude further off."""
    torch = pytest.importorskip("torch")
    from torch_builder import from_engine

    name, shape, m = "shufflenet_v2_x1_0", (64, 64, 3), 4
    report, net = tr.build(_no_random_drops(_text(name)), f"{name}.yaml", m, shape)
    initialise(net, 3)
    rng = np.random.default_rng(4)
    x = rng.standard_normal((m,) + net.input_shape).astype(np.float32)
    y = np.arange(m, dtype=np.int64) % net.n_classes
    logits = net.forward(x, True, np.random.default_rng(5))
    _, dz, _ = softmax_cross_entropy(logits, y)
    net.backward(dz)
    grads = {}
    for dtype in (torch.float64, torch.float32):
        model = from_engine(report, net.state(), dtype)
        model.train()
        torch.nn.functional.cross_entropy(model(torch.tensor(x, dtype=dtype)), torch.tensor(y)).backward()
        grads[dtype] = {k: p.grad.double().numpy() for k, p in model.named_parameters()}
    for k, g in net.grads.items():
        exact, single = grads[torch.float64][k], grads[torch.float32][k]
        scale = np.abs(exact).max()
        ours = np.abs(g - exact).max()
        theirs = np.abs(single - exact).max()
        assert ours <= 2 * theirs + 1e-4 * scale + 1e-6, (k, ours, theirs, scale)
