"""The shipped torchvision architectures against the same networks built in PyTorch.

tests/torch_models.py writes torchvision's modules out in plain torch.nn; here forward hooks
record every conv, linear, pooling and batchnorm output shape and count MACs independently
(conv: output elements × n_C_prev/groups × f_H·f_W; linear: n_prev·n), and parameters are
PyTorch's own `numel` sums. All must equal cnncalc's numbers exactly.
"""

import os

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from cnncalc.analysis import analyze  # noqa: E402
from cnncalc.spec.parser import parse_file  # noqa: E402

from torch_models import MODELS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# torch module type → cnncalc kind; AdaptiveAvgPool2d is left out (cnncalc's global_avgpool
# is one layer with flatten, and AlexNet/VGG's adaptive pools are identities at 224×224).
KIND_OF = {nn.Conv2d: "conv", nn.Linear: "dense", nn.MaxPool2d: "maxpool", nn.AvgPool2d: "avgpool",
           nn.BatchNorm2d: "batchnorm"}


def torch_record(model):
    """(kind, output shape in cnncalc's order) per hooked module in execution order, and the MACs."""
    records, macs = [], [0]

    def hook(module, inputs, output):
        kind = KIND_OF[type(module)]
        shape = tuple(output.shape[1:])
        records.append((kind, (shape[1], shape[2], shape[0]) if len(shape) == 3 else shape))
        if isinstance(module, nn.Conv2d):
            k_H, k_W = module.kernel_size
            macs[0] += output[0].numel() * (module.in_channels // module.groups) * k_H * k_W
        elif isinstance(module, nn.Linear):
            macs[0] += module.in_features * module.out_features

    for m in model.modules():
        if type(m) in KIND_OF:
            m.register_forward_hook(hook)
    with torch.no_grad():
        model.eval()(torch.zeros(1, 3, 224, 224, device="meta"))
    return records, macs[0]


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_pytorch_exactly(name):
    with torch.device("meta"):
        model = MODELS[name]()
    records, torch_macs = torch_record(model)
    report = analyze(parse_file(os.path.join(ROOT, "specs", f"{name}.yaml")))
    assert report.error is None
    totals = report.totals

    assert totals.trainable == sum(p.numel() for p in model.parameters())
    running = sum(b.numel() for n, b in model.named_buffers() if n.endswith(("running_mean", "running_var")))
    assert totals.non_trainable == running
    assert totals.macs == torch_macs

    ours = [(r.kind, r.out_shape) for r in report.rows if r.kind in KIND_OF.values()]
    assert len(ours) == len(records)
    for i, (mine, theirs) in enumerate(zip(ours, records)):
        assert mine == theirs, f"layer {i}: cnncalc {mine} vs PyTorch {theirs}"
    assert totals.output_shape == (1000,)


@pytest.mark.torch
def test_published_totals():
    """torchvision's published parameter counts and ResNet-50's ≈4.09 GMACs, as a cross-check of the oracle."""
    published = {"alexnet": 61_100_840, "vgg16": 138_357_544, "resnet18": 11_689_512, "resnet50": 25_557_032,
                 "googlenet": 6_624_904, "densenet121": 7_978_856, "mobilenet_v2": 3_504_872}
    for name, params in published.items():
        with torch.device("meta"):
            assert sum(p.numel() for p in MODELS[name]().parameters()) == params, name
    report = analyze(parse_file(os.path.join(ROOT, "specs", "resnet50.yaml")))
    assert round(report.totals.macs / 1e9, 2) == 4.09
