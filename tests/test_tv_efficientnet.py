"""specs/efficientnet_b0.yaml against torchvision's efficientnet_b0() (no weights downloaded):
trainable params, buffers (less num_batches_tracked), output size and conv + linear MACs, and the
rates of its stochastic-depth layers. Skips where torchvision cannot import."""

import os

import pytest
from torchvision_import import assert_spec_equals, torchvision_or_skip

from cnncalc import api

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "efficientnet_b0.yaml")


@pytest.mark.torch
def test_efficientnet_b0_equals_torchvisions_module():
    tv = torchvision_or_skip()
    report = assert_spec_equals(SPEC, tv.models.efficientnet_b0())
    assert report.graph.input_shape == (224, 224, 3)


@pytest.mark.torch
def test_efficientnet_b0_stochastic_depth_rates_equal_torchvisions():
    tv = torchvision_or_skip()
    model = tv.models.efficientnet_b0()
    # only the residual blocks apply their StochasticDepth; the others hold one that forward skips
    rates = [m.stochastic_depth.p for m in model.modules() if getattr(m, "use_res_connect", False)]
    report = api.report(SPEC)
    ours = [r.layer_type.value for r in report.rows if r.kind == "drop_path"]
    assert ours == pytest.approx(rates, abs=1e-12) and len(rates) == 9
