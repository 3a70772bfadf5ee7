"""MobileNetV3-Small and -Large specs against torchvision's own mobilenet_v3_small() and
mobilenet_v3_large() (no weights downloaded): trainable params equal the module's parameters,
non-trainable its running statistics, conv + linear MACs those counted by forward hooks on the
module, the output size its logits', and every conv and dense row's output shape the shape its
module produced and its MACs, in call order. Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import torchvision_or_skip

from cnncalc import api

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = [("mobilenet_v3_small", "mobilenet_v3_small"), ("mobilenet_v3_large", "mobilenet_v3_large")]


def _torch_counts(model, torch, n_H, n_W, n_C):
    """MACs of every Conv2d and Linear (bias excluded) and their output shapes, in call order."""
    nn = torch.nn
    macs = []
    shapes = []

    def hook(module, inputs, out):
        if isinstance(module, nn.Conv2d):
            k_H, k_W = module.kernel_size
            per_out = module.in_channels // module.groups * k_H * k_W
            macs.append(out.numel() // out.shape[0] * per_out)
            shapes.append((out.shape[2], out.shape[3], out.shape[1]))
        else:
            macs.append(module.in_features * module.out_features)
            shapes.append((out.shape[1],))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        out = model(torch.zeros(1, n_C, n_H, n_W))
    for h in handles:
        h.remove()
    return macs, shapes, tuple(out.shape[1:])


@pytest.mark.torch
@pytest.mark.parametrize("spec, name", SPECS, ids=[s for s, _ in SPECS])
def test_mobilenet_v3_equals_torchvision(spec, name):
    tv = torchvision_or_skip()
    import torch

    model = getattr(tv.models, name)().eval()
    report = api.report(os.path.join(ROOT, "specs", f"{spec}.yaml"))
    assert report.error is None
    t = report.totals
    assert t.trainable == sum(p.numel() for p in model.parameters())
    assert t.non_trainable == sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    n_H, n_W, n_C = report.graph.input_shape
    macs, shapes, out_shape = _torch_counts(model, torch, n_H, n_W, n_C)
    assert t.macs == sum(macs)
    rows = [r for r in report.rows if r.kind in ("conv", "dense")]
    assert [r.out_shape for r in rows] == shapes
    assert [r.macs for r in rows] == macs
    assert t.output_shape == out_shape
