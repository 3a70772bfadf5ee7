"""specs/densenet169.yaml and specs/regnet_y_400mf.yaml against torchvision 0.28's own constructors
(no weights are downloaded).

For each spec: trainable params equal the module's parameters, non-trainable params its buffers
other than num_batches_tracked, the output size its logits', and MACs the conv + linear
multiply-accumulates counted with forward hooks on the module (bias excluded, cnncalc's
convention): a conv's out.numel()/m · in_channels/groups · f_H · f_W, a linear's
in_features · out_features per sample. For RegNetY-400MF also the squeeze width of every SE
(torchvision: round(0.25 · the block's input width)) and the output shape of every conv.
Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import torchvision_or_skip

from cnncalc import api

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _spec(name):
    return os.path.join(ROOT, "specs", f"{name}.yaml")


def _hooked(torch, model, x):
    """conv + linear MACs of one sample, and every conv's output (n_H, n_W, n_C) in forward order."""
    macs, conv_shapes = [], []

    def conv_hook(module, _inputs, out):
        f_H, f_W = module.kernel_size
        per_sample = out.numel() // out.shape[0]
        macs.append(per_sample * (module.in_channels // module.groups) * f_H * f_W)
        conv_shapes.append((out.shape[2], out.shape[3], out.shape[1]))

    def linear_hook(module, _inputs, _out):
        macs.append(module.in_features * module.out_features)

    handles = []
    for module in model.modules():
        if isinstance(module, torch.nn.Conv2d):
            handles.append(module.register_forward_hook(conv_hook))
        elif isinstance(module, torch.nn.Linear):
            handles.append(module.register_forward_hook(linear_hook))
    with torch.no_grad():
        out = model(x)
    for handle in handles:
        handle.remove()
    return sum(macs), conv_shapes, out


def _check_totals(torch, model, report):
    assert report.error is None
    t = report.totals
    assert t.trainable == sum(p.numel() for p in model.parameters())
    assert t.non_trainable == sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    n_H, n_W, n_C = report.graph.input_shape
    assert (n_H, n_W, n_C) == (224, 224, 3)
    macs, conv_shapes, out = _hooked(torch, model, torch.zeros(1, n_C, n_H, n_W))
    assert t.output_shape == (out.shape[1],)
    assert t.macs == macs
    return conv_shapes


@pytest.mark.torch
def test_densenet169_equals_torchvisions_module():
    tv = torchvision_or_skip()
    import torch

    model = tv.models.densenet169().eval()
    _check_totals(torch, model, api.report(_spec("densenet169")))


@pytest.mark.torch
def test_regnet_y_400mf_equals_torchvisions_module():
    tv = torchvision_or_skip()
    import torch

    model = tv.models.regnet_y_400mf().eval()
    report = api.report(_spec("regnet_y_400mf"))
    conv_shapes = _check_totals(torch, model, report)
    # every conv's output shape; the projection runs before the residual branch in torchvision's
    # forward and after it in the spec, so compare as multisets
    ours = [tuple(r.out_shape) for r in report.rows if r.kind == "conv"]
    assert sorted(ours) == sorted(conv_shapes)


@pytest.mark.torch
def test_regnet_y_400mf_squeeze_widths_are_torchvisions():
    """SE squeezes to round(0.25 · block input), not a quarter of the block's own width."""
    tv = torchvision_or_skip()
    model = tv.models.regnet_y_400mf()
    theirs = [m.fc1.out_channels for m in model.modules() if type(m).__name__ == "SqueezeExcitation"]
    report = api.report(_spec("regnet_y_400mf"))
    # the SE's first 1×1 conv is the one fed by the keep_dims global average pool
    kinds = {r.name: r.kind for r in report.rows}
    ours = [r.out_shape[-1] for r in report.rows
            if r.kind == "conv" and [kinds.get(i) for i in r.inputs] == ["global_avgpool"]]
    assert len(theirs) == 16
    assert ours == theirs
