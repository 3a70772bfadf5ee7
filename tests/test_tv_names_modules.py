"""Specs that name every layer as torchvision does, not only those that own tensors (issue 7), so
that `cnncalc params` reads as `print(model)`.

Oracle: torchvision 0.28's constructors (no weights downloaded). Forward hooks on every leaf module
record which ones run on one 224×224 zero image, their class and their output shape; each one that
runs must be a row of the same name, of the kind its class stands for (MobileNetV2's ReLU6 a relu6
row at features.0.2, the SE gate's activation a relu, silu or sigmoid), with that output shape.
Leaves that never run are not asked for (ShuffleNetV2's empty `branch1` in its stride-1 units,
EfficientNet's StochasticDepth in non-residual MBConvs). The ResNets, VGGs and AlexNet are not here:
torchvision calls one `relu` module several times per block, which no one-row-per-layer table can
name. tests/test_tv_names.py checks the tensors' names and shapes for every torchvision spec.
"""

import os

import pytest
from torchvision_import import torchvision_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = ["mobilenet_v2", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_b0",
         "shufflenet_v2_x1_0", "squeezenet1_1", "regnet_y_400mf", "densenet121", "densenet169"]

# torch module class → the cnncalc kinds it may be written as
KIND_OF = {"Conv2d": {"conv"}, "BatchNorm2d": {"batchnorm"}, "Linear": {"dense"}, "ReLU": {"relu"},
           "ReLU6": {"relu6"}, "Hardswish": {"hardswish"}, "Hardsigmoid": {"hardsigmoid"}, "SiLU": {"silu"},
           "Sigmoid": {"sigmoid"}, "Dropout": {"dropout"}, "StochasticDepth": {"drop_path"},
           "MaxPool2d": {"maxpool"}, "AvgPool2d": {"avgpool"},
           "AdaptiveAvgPool2d": {"global_avgpool", "adaptive_avgpool"}}


@pytest.mark.torch
@pytest.mark.parametrize("spec", SPECS)
def test_every_module_torchvision_runs_is_a_row_of_its_name_kind_and_shape(spec):
    tv = torchvision_or_skip()
    import torch

    from cnncalc import api

    model = getattr(tv.models, spec)().eval()
    seen: dict[str, tuple[str, set]] = {}
    handles = []
    for name, module in model.named_modules():
        if not list(module.children()):
            def hook(module, _inputs, out, name=name):
                seen.setdefault(name, (type(module).__name__, set()))[1].add(tuple(out.shape[1:]))
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 224, 224))
    finally:
        for handle in handles:
            handle.remove()
    report = api.report(os.path.join(ROOT, "specs", f"{spec}.yaml"), input_shape=(224, 224, 3))
    assert report.error is None, report.error
    rows = {r.name: r for r in report.rows}
    assert len(seen) > 50
    assert sorted(set(seen) - set(rows)) == []
    for name, (cls, shapes) in seen.items():
        assert rows[name].kind in KIND_OF.get(cls, {cls}), (name, cls, rows[name].kind)
        out = rows[name].out_shape
        expected = (out[2], out[0], out[1]) if len(out) == 3 else tuple(out)  # (n_H, n_W, n_C) → (C, H, W)
        # a pool to 1×1 in torchvision is cnncalc's global pool to the vector of n_C
        assert {s[:1] if len(expected) == 1 and s[1:] == (1, 1) else s for s in shapes} == {expected}, name
