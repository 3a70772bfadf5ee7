"""specs/resnet18_cifar.yaml against torchvision's ResNet-18 turned into its CIFAR form in the test:
the 7×7 stride-2 stem replaced by a 3×3 stride-1 conv, the max pool by the identity, 10 classes.
Params, buffers, conv + linear MACs and the output equal the module's, and the tensor names and
shapes its state_dict()'s."""

import os

import pytest
from torchvision_import import assert_spec_equals, torchvision_or_skip

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "resnet18_cifar.yaml")


def _cifar_resnet18():
    tv = torchvision_or_skip()
    import torch

    model = tv.models.resnet18(num_classes=10)
    model.conv1 = torch.nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    model.maxpool = torch.nn.Identity()
    return model


@pytest.mark.torch
def test_counts_equal_the_cifar_form_of_torchvisions_resnet18():
    report = assert_spec_equals(SPEC, _cifar_resnet18())
    assert report.graph.input_shape == (32, 32, 3)


@pytest.mark.torch
def test_tensor_names_and_shapes_are_the_modules_state_dict():
    from cnncalc import api
    from cnncalc.engine.params import layout

    ours = {t.name: tuple(t.shape) for t in layout(api.report(SPEC))}
    theirs = {k: tuple(v.shape) for k, v in _cifar_resnet18().state_dict().items()}
    assert ours == theirs
