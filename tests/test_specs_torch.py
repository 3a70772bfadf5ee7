"""The shipped torchvision architectures against the same networks built in PyTorch.

tests/torch_models.py writes torchvision's modules out in plain torch.nn.  Here forward hooks
record, for every conv, linear, pooling and batchnorm call in execution order, the output
shape, the module's own parameters and running statistics, and its MACs counted
independently of cnncalc:

    conv:   output elements · (n_C_prev/groups) · f_H·f_W        linear: n_prev · n

Each record must equal the cnncalc row of the same kind at the same position, and the sums
must equal cnncalc's totals.  Models live on the meta device: no memory, no arithmetic.
"""

import os

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from cnncalc.analysis import analyze  # noqa: E402
from cnncalc.spec.parser import parse_file  # noqa: E402

from torch_models import MODELS  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# torch module type → cnncalc kind.  AdaptiveAvgPool2d is global_avgpool when it pools to 1×1
# (cnncalc's global_avgpool also flattens, so its shape is (n_C,)), adaptive_avgpool otherwise
# (AlexNet's 6×6 and VGG's 7×7, which the specs write as torchvision does).
KIND_OF = {nn.Conv2d: "conv", nn.Linear: "dense", nn.MaxPool2d: "maxpool", nn.AvgPool2d: "avgpool",
           nn.BatchNorm2d: "batchnorm", nn.AdaptiveAvgPool2d: "global_avgpool"}
KINDS = set(KIND_OF.values()) | {"adaptive_avgpool"}

# torchvision's published counts (`num_params`, and `_ops` in GMACs, of each model's weights meta)
PUBLISHED = {"alexnet": (61_100_840, 0.714), "vgg16": (138_357_544, 15.47), "resnet18": (11_689_512, 1.814),
             "resnet50": (25_557_032, 4.089), "googlenet": (6_624_904, 1.498),
             "densenet121": (7_978_856, 2.834), "mobilenet_v2": (3_504_872, 0.301)}

# the networks that end in a global or adaptive pool take any input size; odd sizes exercise floor and
# ceil modes, and AlexNet's and VGG's adaptive pools then average overlapping windows (or repeat pixels)
ANY_SIZE = ("alexnet", "vgg16", "resnet18", "resnet50", "googlenet", "densenet121", "mobilenet_v2")


def cnncalc_shape(shape):
    """(C, H, W) → (n_H, n_W, n_C); flat vectors stay (n,)."""
    return (shape[1], shape[2], shape[0]) if len(shape) == 3 else tuple(shape)


def torch_record(model, input_shape):
    """Per hooked call: (kind, out_shape, trainable, non_trainable, macs); and the adaptive pools that
    were the identity (their input already of the output size)."""
    n_H, n_W, n_C = input_shape
    records, noops = [], []

    def hook(module, inputs, output):
        kind = KIND_OF[type(module)]
        shape = tuple(output.shape[1:])
        if isinstance(module, nn.AdaptiveAvgPool2d):
            if shape[1:] != (1, 1):
                kind = "adaptive_avgpool"
                if shape == tuple(inputs[0].shape[1:]):
                    noops.append(module)
            else:
                shape = shape[:1]
        macs = 0
        if isinstance(module, nn.Conv2d):
            f_H, f_W = module.kernel_size
            macs = output[0].numel() * (module.in_channels // module.groups) * f_H * f_W
        elif isinstance(module, nn.Linear):
            macs = module.in_features * module.out_features
        trainable = sum(p.numel() for p in module.parameters(recurse=False))
        running = sum(b.numel() for name, b in module.named_buffers(recurse=False)
                      if name in ("running_mean", "running_var"))
        records.append((kind, cnncalc_shape(shape), trainable, running, macs))

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) in KIND_OF]
    with torch.no_grad():
        model.eval()(torch.zeros(1, n_C, n_H, n_W, device="meta"))
    for h in handles:
        h.remove()
    return records, noops


def compare(name, input_override=None):
    report = analyze(parse_file(os.path.join(ROOT, "specs", f"{name}.yaml"), input_override))
    assert report.error is None, report.error
    with torch.device("meta"):
        model = MODELS[name]()
    records, noops = torch_record(model, report.graph.input_shape)
    # the modules here have no aux heads (GoogLeNet's are checked in tests/test_aux_heads.py): the
    # inference rows must match, and the totals less the aux heads' share
    ours = [(r.kind, r.out_shape, r.trainable, r.non_trainable, r.macs) for r in report.rows
            if r.kind in KINDS and not r.aux]
    assert len(ours) == len(records), f"cnncalc has {len(ours)} hooked layers, PyTorch {len(records)}"
    for i, (mine, theirs) in enumerate(zip(ours, records)):
        assert mine == theirs, f"layer {i}: cnncalc {mine} vs PyTorch {theirs} (kind, shape, params, buffers, MACs)"

    # every parameter and buffer is in a hooked module, so the per-layer sums are the whole model's
    totals = report.totals
    assert totals.trainable - totals.aux_trainable == sum(p.numel() for p in model.parameters())
    assert totals.non_trainable - totals.aux_non_trainable == sum(b.numel() for n, b in model.named_buffers()
                                                                  if n.endswith(("running_mean", "running_var")))
    assert totals.macs == sum(r[4] for r in records)
    assert totals.output_shape == (1000,)
    return report, noops


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(MODELS))
def test_matches_pytorch_layer_by_layer(name):
    report, noops = compare(name)
    # AlexNet's 6×6 and VGG's 7×7 adaptive pools do nothing at 224×224 (and are in the specs all the same)
    assert len(noops) == (1 if name in ("alexnet", "vgg16") else 0)
    params, gmacs = PUBLISHED[name]       # published without aux heads
    assert report.totals.trainable - report.totals.aux_trainable == params
    assert round(report.totals.macs / 1e9, 3) == gmacs


@pytest.mark.torch
@pytest.mark.parametrize("name", ANY_SIZE)
@pytest.mark.parametrize("shape", [(111, 97, 3), (193, 143, 3)])
def test_matches_pytorch_at_other_sizes(name, shape):
    """--input H,W,C at sizes that leave remainders: 111 rows, or 143 columns, make all four of GoogLeNet's
    ceil-mode max pools round up, and the strided convs and pools of the others round down; a
    non-square input catches n_H and n_W swapped."""
    report, _ = compare(name, shape)
    assert report.graph.input_shape == shape


@pytest.mark.torch
@pytest.mark.parametrize("name, n_H_pooled", [("alexnet", 7), ("vgg16", 8)])
def test_the_adaptive_pool_keeps_torchvisions_classifier_at_256(name, n_H_pooled):
    """At 256×256 AlexNet's last pool gives 7×7 and VGG's 8×8, not 6×6 and 7×7: the adaptive pool is
    what keeps the classifier, so the parameters stay torchvision's and only the MACs grow."""
    report, noops = compare(name, (256, 256, 3))
    assert noops == []
    pool = [r for r in report.rows if r.kind == "adaptive_avgpool"][0]
    assert pool.in_shapes[0][:2] == (n_H_pooled, n_H_pooled)
    assert report.totals.trainable == PUBLISHED[name][0]


@pytest.mark.torch
@pytest.mark.parametrize("name", sorted(MODELS))
def test_oracle_has_torchvisions_published_parameter_count(name):
    """The hand-written PyTorch models are themselves checked against torchvision's `num_params`."""
    with torch.device("meta"):
        model = MODELS[name]()
    assert sum(p.numel() for p in model.parameters()) == PUBLISHED[name][0]
