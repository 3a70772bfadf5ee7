"""More shipped specs against torchvision 0.28's own constructors (no weights are downloaded).

For each spec: trainable params equal the module's parameters, non-trainable params its buffers
other than num_batches_tracked, the output size its logits', and MACs the conv + linear
multiply-accumulates counted with forward hooks on the module (bias excluded, as cnncalc's
convention): a conv's out.numel()/m · in_channels/groups · f_H · f_W, a linear's
in_features · out_features per sample. Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import torchvision_or_skip

from cnncalc import api

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = [  # spec, constructor name, keyword arguments
    ("resnet34", "resnet34", {}),
    ("resnet152", "resnet152", {}),
    ("vgg19_bn", "vgg19_bn", {}),
    ("squeezenet1_1", "squeezenet1_1", {}),
    ("resnext50_32x4d", "resnext50_32x4d", {}),
    ("wide_resnet50_2", "wide_resnet50_2", {}),
    ("shufflenet_v2_x1_0", "shufflenet_v2_x1_0", {}),
]


def _hooked_macs(torch, model, x):
    """conv + linear MACs of one sample, from the shapes the module actually produced."""
    macs = []

    def conv_hook(module, _inputs, out):
        f_H, f_W = module.kernel_size
        per_sample = out.numel() // out.shape[0]
        macs.append(per_sample * (module.in_channels // module.groups) * f_H * f_W)

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
    return sum(macs), out


@pytest.mark.torch
@pytest.mark.parametrize("spec, name, kwargs", SPECS, ids=[s for s, _, _ in SPECS])
def test_spec_equals_torchvisions_module(spec, name, kwargs):
    tv = torchvision_or_skip()
    import torch

    model = getattr(tv.models, name)(**kwargs).eval()
    report = api.report(os.path.join(ROOT, "specs", f"{spec}.yaml"))
    assert report.error is None
    t = report.totals
    assert t.trainable == sum(p.numel() for p in model.parameters())
    assert t.non_trainable == sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    n_H, n_W, n_C = report.graph.input_shape
    macs, out = _hooked_macs(torch, model, torch.zeros(1, n_C, n_H, n_W))
    assert t.output_shape == (out.shape[1],)
    assert t.macs == macs
