"""specs/unet_small.yaml against a U-Net written here in plain PyTorch: parameters, every layer's
output shape, the MACs of every conv and transposed conv (counted from the modules' own shapes),
and one training step's gradients of every parameter.

The trainer's loss wants one score per class (it refuses a map: per-pixel losses are not in it), so
the training test adds a classifier head (global average pool, dense 3) on the U-Net's 32×32×2 map
on both sides; every gradient still flows through both ups and both skips."""

import os

import numpy as np
import pytest

from cnncalc.analysis import analyze
from cnncalc.spec.parser import parse_file

SPEC = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "specs", "unet_small.yaml")


def torch_unet():
    """The network of the spec, by hand; attribute names = the spec's layer names (state_dict keys)."""
    import torch
    import torch.nn.functional as F
    from torch import nn

    def conv(c_in, c_out, k=3):
        return nn.Conv2d(c_in, c_out, k, padding=k // 2)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.cls = None
            self.enc1a, self.enc1b = conv(3, 8), conv(8, 8)
            self.enc2a, self.enc2b = conv(8, 16), conv(16, 16)
            self.mid_a, self.mid_b = conv(16, 32), conv(32, 32)
            self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
            self.dec2a, self.dec2b = conv(32, 16), conv(16, 16)
            self.up1_conv = conv(16, 8)
            self.dec1a, self.dec1b = conv(16, 8), conv(8, 8)
            self.head = conv(8, 2, 1)

        def forward(self, x, seen):
            def keep(name, v):
                seen[name] = v
                return v

            skip1 = keep("skip1", F.relu(self.enc1b(F.relu(self.enc1a(x)))))
            skip2 = keep("skip2", F.relu(self.enc2b(F.relu(self.enc2a(F.max_pool2d(skip1, 2))))))
            mid = keep("mid_b", F.relu(self.mid_b(F.relu(self.mid_a(F.max_pool2d(skip2, 2))))))
            cat2 = keep("cat2", torch.cat([keep("up2", self.up2(mid)), skip2], 1))
            dec2 = keep("dec2b", F.relu(self.dec2b(F.relu(self.dec2a(cat2)))))
            up1 = keep("up1", F.interpolate(dec2, scale_factor=2, mode="bilinear", align_corners=False))
            cat1 = keep("cat1", torch.cat([keep("up1_conv", self.up1_conv(up1)), skip1], 1))
            out = keep("head", self.head(F.relu(self.dec1b(F.relu(self.dec1a(cat1))))))
            return out if self.cls is None else self.cls(out.mean((2, 3)))

    return UNet()


def test_unet_small_counts_and_shapes_equal_pytorchs():
    torch = pytest.importorskip("torch")
    from torch import nn

    report = analyze(parse_file(SPEC))
    assert report.error is None and report.diagnostics == []
    rows = {r.name: r for r in report.rows}
    model = torch_unet()
    assert report.totals.trainable == sum(p.numel() for p in model.parameters())
    macs = {}

    def hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        if isinstance(module, nn.ConvTranspose2d):   # every input pixel through every weight of its group
            macs[module] = inputs[0][0].numel() * (module.out_channels // module.groups) * k
        else:                                        # every output through its window
            macs[module] = output[0].numel() * (module.in_channels // module.groups) * k

    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            m.register_forward_hook(hook)
    seen = {}
    with torch.no_grad():
        model(torch.zeros(1, 3, 32, 32), seen)
    for name, value in seen.items():
        n_C, n_H, n_W = value.shape[1:]
        assert rows[name].out_shape == (n_H, n_W, n_C), name
    for name, module in model.named_children():
        assert rows[name].macs == macs[module], name
        assert rows[name].trainable == sum(p.numel() for p in module.parameters()), name
    assert report.totals.macs == sum(macs.values())


def test_unet_small_training_step_gradients_equal_pytorchs():
    torch = pytest.importorskip("torch")
    from cnncalc.engine import train as tr
    from cnncalc.engine.init import initialise

    from cnncalc.layers.activation.kernels import softmax_cross_entropy

    with open(SPEC, encoding="utf-8") as f:
        text = f.read() + "  - global_avgpool\n  - dense: {units: 3, name: cls}\n"
    report, net = tr.build(text, SPEC, 2)
    initialise(net, 5)
    model = torch_unet()
    model.cls = torch.nn.Linear(2, 3)
    model.load_state_dict({k: torch.tensor(v.copy()) for k, v in net.state().items()}, strict=True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 32, 32)).astype(np.float32)
    y = np.array([0, 2])
    out = net.forward(x, True, np.random.default_rng(0))
    loss, dz, _ = softmax_cross_entropy(out, y)
    net.backward(dz)
    theirs = model(torch.from_numpy(x.copy()), {})
    torch_loss = torch.nn.functional.cross_entropy(theirs, torch.from_numpy(y))
    torch_loss.backward()
    np.testing.assert_allclose(out, theirs.detach().numpy(), rtol=1e-4, atol=1e-5)
    assert loss == pytest.approx(torch_loss.item(), rel=1e-5)
    named = dict(model.named_parameters())
    assert set(named) == set(net.grads)
    for k, g in net.grads.items():
        theirs_g = named[k].grad.numpy()
        assert np.abs(theirs_g).max() > 0, k
        # gradients through a 32×32 mean are small: the tolerance scales with each tensor's largest
        np.testing.assert_allclose(g, theirs_g, rtol=1e-3, atol=1e-4 * np.abs(theirs_g).max(), err_msg=k)
