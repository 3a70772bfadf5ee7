"""The shipped specs against torchvision's own constructors (no weights are downloaded): trainable
params equal the module's parameters, non-trainable params its running statistics (buffers other
than num_batches_tracked), and the output size its logits'. Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import torchvision_or_skip

from cnncalc import api

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = [  # spec, constructor name, keyword arguments
    ("resnet18", "resnet18", {}),
    ("resnet50", "resnet50", {}),
    ("vgg16", "vgg16", {}),
    ("alexnet", "alexnet", {}),
    ("densenet121", "densenet121", {}),
    ("mobilenet_v2", "mobilenet_v2", {}),
    ("googlenet", "googlenet", {"aux_logits": False, "init_weights": False}),  # the spec has no aux heads
]


@pytest.mark.torch
@pytest.mark.parametrize("spec, name, kwargs", SPECS, ids=[s for s, _, _ in SPECS])
def test_spec_counts_equal_torchvisions_module(spec, name, kwargs):
    tv = torchvision_or_skip()
    import torch

    model = getattr(tv.models, name)(**kwargs).eval()
    report = api.report(os.path.join(ROOT, "specs", f"{spec}.yaml"))
    assert report.error is None
    t = report.totals
    assert t.trainable == sum(p.numel() for p in model.parameters())
    assert t.non_trainable == sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked"))
    n_H, n_W, n_C = report.graph.input_shape
    with torch.no_grad():
        out = model(torch.zeros(1, n_C, n_H, n_W))
    assert t.output_shape == (out.shape[1],)
