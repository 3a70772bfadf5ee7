"""The shipped torchvision specs name their layers and tensors as torchvision does, so weights move
between cnncalc and PyTorch by name (issue 7).

Oracle: torchvision 0.28's own constructors (no weights are downloaded).  For each spec in SPECS,
(1) the engine's tensor layout (cnncalc.engine.params.layout: parameters and buffers, named
`<row>.<role>`) equals `model.state_dict()` key for key, shape for shape; (2) every torchvision
leaf module whose name is also a cnncalc row name (conv, batchnorm, linear, pool, activation …)
produces, on a zero image (224×224, or the spec's side in SIZES), the row's output shape; every row
that owns a tensor is among them.  Where the spec has aux heads, which torchvision runs only in
training, the model runs in train mode too, so the aux rows are compared as well.  A new spec is
one line in SPECS; SKIP holds specs not converted yet (none of these).
"""

import os

import pytest
from torchvision_import import TORCHVISION_SPECS, torchvision_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = TORCHVISION_SPECS  # every shipped torchvision spec (tests/torchvision_import.py)
SIZES = {"inception_v3": 299}  # spec → input side where 224 will not do (its aux head needs 299)
SKIP: dict[str, str] = {}  # spec → why its names do not follow torchvision's yet


def _report(spec):
    from cnncalc import api

    if spec in SKIP:
        pytest.skip(SKIP[spec])
    side = SIZES.get(spec, 224)
    report = api.report(os.path.join(ROOT, "specs", f"{spec}.yaml"), input_shape=(side, side, 3))
    assert report.error is None, report.error
    return report


def _model(name, kwargs):
    tv = torchvision_or_skip()
    return getattr(tv.models, name)(**kwargs)


@pytest.mark.torch
@pytest.mark.parametrize("spec, name, kwargs", SPECS, ids=[s for s, _, _ in SPECS])
def test_tensor_names_and_shapes_are_torchvisions_state_dict(spec, name, kwargs):
    from cnncalc.engine.params import layout

    model = _model(name, kwargs)
    ours = {t.name: tuple(t.shape) for t in layout(_report(spec))}
    theirs = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    assert sorted(set(ours) - set(theirs)) == [] and sorted(set(theirs) - set(ours)) == []
    assert ours == theirs


@pytest.mark.torch
@pytest.mark.parametrize("spec, name, kwargs", SPECS, ids=[s for s, _, _ in SPECS])
def test_every_named_layer_has_torchvisions_output_shape(spec, name, kwargs):
    import torch

    from cnncalc.engine.params import layout

    model = _model(name, kwargs).eval()
    report = _report(spec)
    rows = {r.name: r for r in report.rows}
    seen: dict[str, list[tuple]] = {}
    handles = []
    for module_name, module in model.named_modules():
        if module_name in rows and not list(module.children()):
            def hook(_module, _inputs, out, module_name=module_name):
                seen.setdefault(module_name, []).append(tuple(out.shape[1:]))
            handles.append(module.register_forward_hook(hook))
    side = SIZES.get(spec, 224)
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, side, side))
            if any(r.aux for r in report.rows):
                # aux heads run only in training; two images, as a training batchnorm on a 1×1 map needs
                model.train()(torch.zeros(2, 3, side, side))
    finally:
        for handle in handles:
            handle.remove()
    owners = {t.node for t in layout(report)}
    assert sorted(owners - set(seen)) == []  # every conv, batchnorm and dense row was compared
    for module_name, shapes in seen.items():
        out = rows[module_name].out_shape
        expected = (out[2], out[0], out[1]) if len(out) == 3 else tuple(out)  # (n_H, n_W, n_C) → (C, H, W)
        # torchvision's avgpool keeps a 1×1 map where cnncalc's global pool gives the vector of n_C
        assert {s[:1] if len(expected) == 1 and s[1:] == (1, 1) else s for s in shapes} == {expected}, module_name
