"""More shipped specs against torchvision 0.28's own constructors (no weights are downloaded).

For each spec: trainable params equal the module's parameters, non-trainable params its buffers
other than num_batches_tracked, the output size its logits', and MACs the conv + linear
multiply-accumulates counted with forward hooks on the module (bias excluded, as cnncalc's
convention): a conv's out.numel()/m · in_channels/groups · f_H · f_W, a linear's
in_features · out_features per sample. Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import assert_spec_equals, torchvision_or_skip

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


@pytest.mark.torch
@pytest.mark.parametrize("spec, name, kwargs", SPECS, ids=[s for s, _, _ in SPECS])
def test_spec_equals_torchvisions_module(spec, name, kwargs):
    tv = torchvision_or_skip()
    assert_spec_equals(os.path.join(ROOT, "specs", f"{spec}.yaml"), getattr(tv.models, name)(**kwargs))
