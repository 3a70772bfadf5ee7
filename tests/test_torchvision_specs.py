"""The shipped specs against torchvision's own constructors (no weights are downloaded): trainable
params equal the module's parameters, non-trainable params its running statistics (buffers other
than num_batches_tracked), conv + linear MACs those its forward hooks count, and the output size
its logits' (torchvision_import.assert_spec_equals). Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import TORCHVISION_SPECS, assert_spec_equals, torchvision_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = TORCHVISION_SPECS  # every shipped torchvision spec (tests/torchvision_import.py)


@pytest.mark.torch
@pytest.mark.parametrize("spec, name, kwargs", SPECS, ids=[s for s, _, _ in SPECS])
def test_spec_counts_equal_torchvisions_module(spec, name, kwargs):
    tv = torchvision_or_skip()
    assert_spec_equals(os.path.join(ROOT, "specs", f"{spec}.yaml"), getattr(tv.models, name)(**kwargs))
