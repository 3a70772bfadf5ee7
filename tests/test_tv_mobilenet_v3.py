"""MobileNetV3-Small and -Large specs against torchvision's own mobilenet_v3_small() and
mobilenet_v3_large() (no weights downloaded): trainable params equal the module's parameters,
non-trainable its running statistics, conv + linear MACs those counted by forward hooks on the
module, and the output size its logits'. Layer by layer too, in call order: the kinds of the
conv, dense, batchnorm and activation rows equal the modules the forward pass ran, each conv and
dense row's output shape and MACs the shape and MACs of its module, each batchnorm's eps and
momentum its module's. Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import assert_spec_equals, torchvision_or_skip


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = [("mobilenet_v3_small", "mobilenet_v3_small"), ("mobilenet_v3_large", "mobilenet_v3_large")]


def _torch_trace(model, torch, n_H, n_W, n_C):
    """(kind, out shape, MACs or (eps, momentum)) of every module the forward pass runs that a
    row of ours stands for, in call order; and the logits' shape."""
    nn = torch.nn
    kinds = {nn.Conv2d: "conv", nn.Linear: "dense", nn.BatchNorm2d: "batchnorm", nn.ReLU: "relu",
             nn.Hardswish: "hardswish", nn.Hardsigmoid: "hardsigmoid"}
    trace = []

    def hook(module, _inputs, out):
        kind = kinds[type(module)]
        if kind == "conv":
            k_H, k_W = module.kernel_size
            macs = out.numel() // out.shape[0] * (module.in_channels // module.groups) * k_H * k_W
            trace.append((kind, (out.shape[2], out.shape[3], out.shape[1]), macs))
        elif kind == "dense":
            trace.append((kind, (out.shape[1],), module.in_features * module.out_features))
        elif kind == "batchnorm":
            trace.append((kind, (out.shape[2], out.shape[3], out.shape[1]), (module.eps, module.momentum)))
        else:
            trace.append((kind, None, None))

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) in kinds]
    with torch.no_grad():
        out = model(torch.zeros(1, n_C, n_H, n_W))
    for h in handles:
        h.remove()
    return trace, tuple(out.shape[1:])


def _our_trace(report):
    trace = []
    for r in report.rows:
        if r.kind in ("conv", "dense"):
            trace.append((r.kind, r.out_shape, r.macs))
        elif r.kind == "batchnorm":
            fields = report.graph.node(r.name).fields
            trace.append((r.kind, r.out_shape, (fields["eps"], fields["momentum"])))
        elif r.kind in ("relu", "hardswish", "hardsigmoid"):
            trace.append((r.kind, None, None))
    return trace


@pytest.mark.torch
@pytest.mark.parametrize("spec, name", SPECS, ids=[s for s, _ in SPECS])
def test_mobilenet_v3_equals_torchvision(spec, name):
    tv = torchvision_or_skip()
    import torch

    model = getattr(tv.models, name)()
    report = assert_spec_equals(os.path.join(ROOT, "specs", f"{spec}.yaml"), model)
    trace, _ = _torch_trace(model, torch, *report.graph.input_shape)
    assert _our_trace(report) == trace
