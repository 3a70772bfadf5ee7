"""Stricter than tests/test_tv_names.py for specs whose every module torchvision calls has a row:
not only the tensors' names, but the names of the layers without tensors too (ReLUs, pools, the
SE gate's sigmoid), so `cnncalc params` reads as `print(model)`.

Oracle: torchvision 0.28's constructors. Forward hooks on every leaf module record which ones run
on one 224×224 zero image, and the output shape of each; every one that runs must be a row of the
spec with that output shape. (Leaves that never run, ShuffleNetV2's empty `branch1` in its
stride-1 units, are not asked for.)
"""

import os

import pytest
from torchvision_import import torchvision_or_skip

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SPECS = ["shufflenet_v2_x1_0", "squeezenet1_1", "regnet_y_400mf", "densenet121", "densenet169"]


@pytest.mark.torch
@pytest.mark.parametrize("spec", SPECS)
def test_every_module_torchvision_runs_is_a_row_of_its_shape(spec):
    import torch

    from cnncalc import api

    tv = torchvision_or_skip()
    model = getattr(tv.models, spec)().eval()
    report = api.report(os.path.join(ROOT, "specs", f"{spec}.yaml"), input_shape=(224, 224, 3))
    assert report.error is None, report.error
    rows = {r.name: r for r in report.rows}
    seen: dict[str, set[tuple]] = {}
    handles = []
    for name, module in model.named_modules():
        if not list(module.children()):
            def hook(_module, _inputs, out, name=name):
                seen.setdefault(name, set()).add(tuple(out.shape[1:]))
            handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, 224, 224))
    finally:
        for handle in handles:
            handle.remove()
    assert len(seen) > 50
    assert sorted(set(seen) - set(rows)) == []
    for name, shapes in seen.items():
        out = rows[name].out_shape
        expected = (out[2], out[0], out[1]) if len(out) == 3 else tuple(out)  # (n_H, n_W, n_C) → (C, H, W)
        # a pool to 1×1 in torchvision is cnncalc's global pool to the vector of n_C
        assert {s[:1] if len(expected) == 1 and s[1:] == (1, 1) else s for s in shapes} == {expected}, name
