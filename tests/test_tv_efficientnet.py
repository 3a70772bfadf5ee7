"""specs/efficientnet_b0.yaml against torchvision's efficientnet_b0() (no weights downloaded):
trainable params, buffers (less num_batches_tracked), output size and conv + linear MACs, and the
rates of its stochastic-depth layers. Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import torchvision_or_skip

from cnncalc import api

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "efficientnet_b0.yaml")


def _conv_linear_macs(model, x):
    """Multiply-accumulates of every nn.Conv2d and nn.Linear in one forward of x (one sample), bias
    excluded: conv out.numel() · (in_channels / groups) · kH · kW, linear in_features · out_features."""
    import torch
    from torch import nn

    total = []

    def conv_hook(m, _inputs, out):
        total.append(out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1])

    def linear_hook(m, _inputs, out):
        total.append(out.numel() // m.out_features * m.in_features * m.out_features)

    handles = [m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
               for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        out = model(x)
    for h in handles:
        h.remove()
    return sum(total), out


@pytest.mark.torch
def test_efficientnet_b0_equals_torchvisions_module():
    tv = torchvision_or_skip()
    import torch

    model = tv.models.efficientnet_b0().eval()
    report = api.report(SPEC)
    assert report.error is None
    t = report.totals
    assert t.trainable == sum(p.numel() for p in model.parameters())
    assert t.non_trainable == sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    n_H, n_W, n_C = report.graph.input_shape
    assert (n_H, n_W, n_C) == (224, 224, 3)
    macs, out = _conv_linear_macs(model, torch.zeros(1, n_C, n_H, n_W))
    assert t.macs == macs
    assert t.output_shape == (out.shape[1],)


@pytest.mark.torch
def test_efficientnet_b0_stochastic_depth_rates_equal_torchvisions():
    tv = torchvision_or_skip()
    model = tv.models.efficientnet_b0()
    # only the residual blocks apply their StochasticDepth; the others hold one that forward skips
    rates = [m.stochastic_depth.p for m in model.modules() if getattr(m, "use_res_connect", False)]
    report = api.report(SPEC)
    ours = [r.layer_type.value for r in report.rows if r.kind == "drop_path"]
    assert ours == pytest.approx(rates, abs=1e-12) and len(rates) == 9
