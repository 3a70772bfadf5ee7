"""torchvision's model constructors as an oracle, where the wheel's compiled ops cannot load.

The torchvision wheel that pairs with torch 2.13 is linked against CUDA libraries that a CPU-only
machine lacks, so `import torchvision` fails while it registers fake (meta) kernels for its C ops
(`torchvision::nms`, …): the ops themselves never loaded. The model constructors are plain
Python and need none of those ops, so during the import the registrations of fake kernels for
`torchvision::` ops that do not exist are skipped; nothing else is touched, and the patch is
removed again at once.

    tv = torchvision_or_skip()          # in a test: skips cleanly without torch or torchvision
    model = tv.models.mobilenet_v3_small()
"""

from __future__ import annotations

import contextlib

# Every shipped spec written after a torchvision model: spec file stem, constructor, its keyword
# arguments. One list for the count test (test_torchvision_specs.py), the names test
# (test_tv_names.py) and benchmarks/torchvision_table.py.
TORCHVISION_SPECS = [
    ("alexnet", "alexnet", {}),
    ("vgg16", "vgg16", {}),
    ("vgg19_bn", "vgg19_bn", {}),
    ("resnet18", "resnet18", {}),
    ("resnet34", "resnet34", {}),
    ("resnet50", "resnet50", {}),
    ("resnet152", "resnet152", {}),
    ("resnext50_32x4d", "resnext50_32x4d", {}),
    ("wide_resnet50_2", "wide_resnet50_2", {}),
    ("densenet121", "densenet121", {}),
    ("densenet169", "densenet169", {}),
    ("squeezenet1_1", "squeezenet1_1", {}),
    ("mobilenet_v2", "mobilenet_v2", {}),
    ("mobilenet_v3_small", "mobilenet_v3_small", {}),
    ("mobilenet_v3_large", "mobilenet_v3_large", {}),
    ("efficientnet_b0", "efficientnet_b0", {}),
    ("shufflenet_v2_x1_0", "shufflenet_v2_x1_0", {}),
    ("regnet_y_400mf", "regnet_y_400mf", {}),
    ("googlenet", "googlenet", {"aux_logits": True, "init_weights": False}),
    ("inception_v3", "inception_v3", {"aux_logits": True, "init_weights": False}),
]


@contextlib.contextmanager
def _skip_missing_torchvision_fakes(torch):
    library = torch.library
    original = library.register_fake

    def register_fake(op, *args, **kwargs):
        if isinstance(op, str) and op.startswith("torchvision::"):
            namespace, name = op.split("::", 1)
            if not hasattr(getattr(torch.ops, namespace), name.split(".")[0]):
                func = args[0] if args else kwargs.get("func")
                return func if func is not None else (lambda fn: fn)
        return original(op, *args, **kwargs)

    library.register_fake = register_fake
    try:
        yield
    finally:
        library.register_fake = original


def import_torchvision():
    """The torchvision module, or None where torch or torchvision is absent or still cannot import."""
    try:
        import torch
    except ImportError:
        return None
    try:
        with _skip_missing_torchvision_fakes(torch):
            import torchvision
    except Exception:  # noqa: BLE001 — any failure to import means: no oracle here
        return None
    return torchvision


def torchvision_or_skip():
    import pytest

    tv = import_torchvision()
    if tv is None:
        pytest.skip("torchvision (0.28.0, with torch 2.13.0) is not importable here")
    return tv


def counts_of(model, input_shape):
    """What cnncalc's totals claim, measured on a torchvision module with one zero image of
    input_shape (n_H, n_W, n_C): trainable params (its parameters), non-trainable params (its
    buffers but num_batches_tracked), conv + linear MACs per sample from forward hooks (bias
    excluded, as cnncalc counts: a conv's out.numel()/m · in_channels/groups · f_H · f_W, a
    linear's in_features · out_features), and the logits' shape."""
    import torch

    nn = torch.nn
    macs = []

    def conv_hook(module, _inputs, out):
        f_H, f_W = module.kernel_size
        macs.append(out.numel() // out.shape[0] * (module.in_channels // module.groups) * f_H * f_W)

    def linear_hook(module, _inputs, _out):
        macs.append(module.in_features * module.out_features)

    handles = [m.register_forward_hook(conv_hook if isinstance(m, nn.Conv2d) else linear_hook)
               for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    n_H, n_W, n_C = input_shape
    try:
        with torch.no_grad():
            out = model.eval()(torch.zeros(1, n_C, n_H, n_W))
    finally:
        for handle in handles:
            handle.remove()
    return {"trainable": sum(p.numel() for p in model.parameters()),
            "non_trainable": sum(b.numel() for n, b in model.named_buffers() if not n.endswith("num_batches_tracked")),
            "macs": sum(macs), "output_shape": tuple(out.shape[1:])}


def assert_spec_equals(spec_path, model):
    """The spec's totals equal the module's counts (counts_of) at the spec's own input; returns the report."""
    from cnncalc import api

    report = api.report(spec_path)
    assert report.error is None, report.error
    t = report.totals
    theirs = counts_of(model, report.graph.input_shape)
    ours = {"trainable": t.trainable, "non_trainable": t.non_trainable, "macs": t.macs,
            "output_shape": tuple(t.output_shape)}
    assert ours == theirs
    return report
