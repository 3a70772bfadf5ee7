"""MobileNetV2, MobileNetV3-Small/-Large and EfficientNet-B0 name every layer as torchvision does,
not only those that own tensors (issue 7).

Oracle: torchvision 0.28's constructors (no weights downloaded).  Every leaf module that the forward
pass of one 224×224 zero image calls (activations, dropouts, pools and stochastic depth included) is a
row of the same name and of the kind its class stands for; so MobileNetV2's ReLU6 must be a relu6 row
at features.0.2, and the SE gate's activation a relu (V3) or silu (EfficientNet) at `….activation`.
EfficientNet's non-residual MBConvs hold a StochasticDepth that forward never calls: no row needed.
tests/test_tv_names.py checks the tensors' names and the output shapes.
"""

import os

import pytest
from torchvision_import import torchvision_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0"]

# torch module class → cnncalc kind (AdaptiveAvgPool2d pools to 1×1 in these four networks)
KIND_OF = {"Conv2d": "conv", "BatchNorm2d": "batchnorm", "Linear": "dense", "ReLU": "relu", "ReLU6": "relu6",
           "Hardswish": "hardswish", "Hardsigmoid": "hardsigmoid", "SiLU": "silu", "Sigmoid": "sigmoid",
           "Dropout": "dropout", "AdaptiveAvgPool2d": "global_avgpool", "StochasticDepth": "drop_path"}


@pytest.mark.torch
@pytest.mark.parametrize("spec", SPECS)
def test_every_called_torchvision_module_is_a_row_of_its_name_and_kind(spec):
    tv = torchvision_or_skip()
    import torch

    from cnncalc import api

    model = getattr(tv.models, spec)().eval()
    called: dict[str, str] = {}
    handles = []
    for name, module in model.named_modules():
        if not list(module.children()):
            def hook(_module, _inputs, _out, name=name):
                called[name] = type(_module).__name__
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 224, 224))
    finally:
        for handle in handles:
            handle.remove()
    report = api.report(os.path.join(ROOT, "specs", f"{spec}.yaml"), input_shape=(224, 224, 3))
    assert report.error is None, report.error
    kinds = {r.name: r.kind for r in report.rows}
    theirs = {name: KIND_OF.get(cls, cls) for name, cls in called.items()}
    assert {name: kinds.get(name) for name in theirs} == theirs
