"""The peers themselves (torchinfo, ptflops, fvcore, thop) run on a PyTorch model of a spec.

`standard_module(report)` is the spec as most PyTorch code writes it: one torch.nn module per
layer, as torch.nn names them (tests/torch_builder.py's SpecModule, with its pooling wrappers
and conv wrappers swapped for nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d and nn.AdaptiveAvgPool2d(1), and the final softmax run
as nn.Softmax), add, concat and mul as tensor operators. The peers count modules, so their
totals depend on how a model is written; cnncalc's `--as PEER` is their count on this form.
`peer_total(peer, model, input_shape)` runs the installed peer (the caller skips where absent).
"""

from __future__ import annotations

import contextlib
import io
import warnings

import torch
from torch import nn
from torch_builder import SpecModule

from cnncalc import layers


class _GlobalPool(nn.Module):
    def __init__(self, kind, keep_dims):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1) if kind == "global_avgpool" else nn.AdaptiveMaxPool2d(1)
        self.keep_dims = keep_dims

    def forward(self, x):
        y = self.pool(x)
        return y if self.keep_dims else torch.flatten(y, 1)


class _WithSoftmax(nn.Module):
    def __init__(self, body, softmax):
        super().__init__()
        self.body, self.softmax = body, softmax

    def forward(self, x):
        return self.softmax(self.body(x))


def standard_module(report) -> nn.Module:
    model = SpecModule(report)
    rows = {r.name: r for r in report.rows}
    for node in report.graph.nodes[1:]:
        row = rows[node.name]
        *path, leaf = node.name.split(".")
        parent = model.get_submodule(".".join(path)) if path else model
        if node.kind == "conv":
            conv = model.get_submodule(node.name)
            top, bottom, left, right = conv.pads
            assert top == bottom and left == right, "asymmetric padding has no nn.Conv2d form"
            plain = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, (top, left),
                              conv.dilation, conv.groups, conv.bias is not None)
            setattr(parent, leaf, plain)
        elif node.kind in ("maxpool", "avgpool"):
            w = row.window
            top, bottom, left, right = w.p
            assert top == bottom and left == right, "asymmetric padding has no nn.*Pool2d form"
            cls = nn.MaxPool2d if node.kind == "maxpool" else nn.AvgPool2d
            kw = {"ceil_mode": bool(w.ceil)}
            if node.kind == "avgpool":
                kw["count_include_pad"] = node.fields["count_include_pad"]
            setattr(parent, leaf, cls(w.f, w.s, (top, left), **kw))
        elif node.kind in ("global_avgpool", "global_maxpool"):
            setattr(parent, leaf, _GlobalPool(node.kind, node.fields.get("keep_dims", False)))
    # the aux heads run in training only; in eval mode torchvision's models skip them, as cnncalc's totals do
    training_only = report.graph.training_only()
    model.order = [(name, inputs) for name, inputs in model.order if name not in training_only]
    last = report.graph.node(report.graph.output)
    if layers.trainer(last.kind).loss_input:  # SpecModule stops at the logits; the peers see the softmax too
        return _WithSoftmax(model, nn.Softmax(dim=1)).eval()
    return model.eval()


def peer_total(peer: str, model: nn.Module, input_shape) -> int:
    """The peer's total at batch 1 in eval mode, with its defaults; its printing silenced."""
    n_H, n_W, n_C = input_shape if len(input_shape) == 3 else (None, None, input_shape[0])
    size = (n_C, n_H, n_W) if n_H is not None else (n_C,)
    x = torch.zeros(1, *size)
    model = model.eval()
    sink = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
        warnings.simplefilter("ignore")
        if peer == "torchinfo":
            import torchinfo

            return int(torchinfo.summary(model, input_data=x, verbose=0).total_mult_adds)
        if peer == "ptflops":
            from torchvision_import import import_torchvision

            import_torchvision()  # ptflops imports torchvision.ops, whose C ops may not load (see there)
            import ptflops

            macs, _ = ptflops.get_model_complexity_info(model, size, as_strings=False,
                                                        print_per_layer_stat=False, verbose=False)
            return int(macs)
        if peer == "fvcore":
            from fvcore.nn import FlopCountAnalysis

            analysis = FlopCountAnalysis(model, x)
            analysis.unsupported_ops_warnings(False)
            analysis.uncalled_modules_warnings(False)
            return int(analysis.total())
        if peer == "thop":
            import thop

            with torch.no_grad():
                ops, _ = thop.profile(model, inputs=(x,), verbose=False)
            return int(ops)
    raise ValueError(peer)
