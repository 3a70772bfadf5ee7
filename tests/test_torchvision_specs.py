"""The shipped specs against torchvision's own constructors (no weights are downloaded): trainable
params equal the module's parameters, non-trainable params its running statistics (buffers other
than num_batches_tracked), conv + linear MACs those its forward hooks count, and the output size
its logits' (torchvision_import.assert_spec_equals). Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import assert_spec_equals, torchvision_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = [  # spec, constructor name, keyword arguments
    ("resnet18", "resnet18", {}),
    ("resnet50", "resnet50", {}),
    ("vgg16", "vgg16", {}),
    ("alexnet", "alexnet", {}),
    ("densenet121", "densenet121", {}),
    ("mobilenet_v2", "mobilenet_v2", {}),
    ("googlenet", "googlenet", {"aux_logits": True, "init_weights": False}),  # aux params counted, eval MACs
]


@pytest.mark.torch
@pytest.mark.parametrize("spec, name, kwargs", SPECS, ids=[s for s, _, _ in SPECS])
def test_spec_counts_equal_torchvisions_module(spec, name, kwargs):
    tv = torchvision_or_skip()
    assert_spec_equals(os.path.join(ROOT, "specs", f"{spec}.yaml"), getattr(tv.models, name)(**kwargs))
