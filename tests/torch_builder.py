"""The same graph as a PyTorch module: the oracle for the engine's numbers and for its weight names.

`SpecModule(report)` holds one submodule per layer, nested along the dotted layer names
(`parallel1.b0.conv1` is `module.parallel1.b0.conv1`), so its state_dict() names are PyTorch's
own and the engine's must equal them. forward(x) walks the graph and returns the logits: the
input of a final softmax, which the loss (F.cross_entropy) applies itself, as the engine does.
Paddings come from the analysis rows (asymmetric ones through F.pad), as the engine's do.
"""

import torch
import torch.nn.functional as F
from torch import nn


class PaddedConv2d(nn.Conv2d):
    """nn.Conv2d after an explicit (top, bottom, left, right) zero padding: 'same' with even kernels."""

    def __init__(self, pads, *args, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads

    def forward(self, x):
        t, b, l, r = self.pads
        return super().forward(F.pad(x, (l, r, t, b)))


class Pool2d(nn.Module):
    def __init__(self, kind, kernel, stride, pads, ceil_mode, count_include_pad=True):
        super().__init__()
        self.kind, self.kernel, self.stride, self.pads = kind, kernel, stride, pads
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x):
        t, b, l, r = self.pads
        if t == b and l == r:
            if self.kind == "maxpool":
                return F.max_pool2d(x, self.kernel, self.stride, (t, l), ceil_mode=self.ceil_mode)
            return F.avg_pool2d(x, self.kernel, self.stride, (t, l), ceil_mode=self.ceil_mode,
                                count_include_pad=self.count_include_pad)
        assert self.kind == "maxpool" and not self.ceil_mode, "asymmetric padding: maxpool without ceil mode only"
        return F.max_pool2d(F.pad(x, (l, r, t, b), value=-float("inf")), self.kernel, self.stride)


class GlobalAvgPool(nn.Module):
    def forward(self, x):
        return x.mean((2, 3))


class Add(nn.Module):
    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Concat(nn.Module):
    def forward(self, *xs):
        return torch.cat(xs, 1)


def make(node, row):
    f, kind = node.fields, node.kind
    if kind == "conv":
        n_H_prev, n_W_prev, n_C_prev = row.in_shapes[0]
        return PaddedConv2d(row.resolved["pads"], n_C_prev, row.resolved["n_C"], f["kernel"], f["stride"],
                            dilation=f["dilation"], groups=row.resolved["groups"], bias=f["bias"])
    if kind in ("maxpool", "avgpool"):
        return Pool2d(kind, f["kernel"], row.resolved["stride"], row.resolved["pads"], f["ceil_mode"],
                      f.get("count_include_pad", True))
    if kind == "dense":
        return nn.Linear(row.in_shapes[0][0], row.out_shape[0], bias=f["bias"])
    if kind == "batchnorm":
        n_C = row.out_shape[-1]
        cls = nn.BatchNorm2d if len(row.out_shape) == 3 else nn.BatchNorm1d
        return cls(n_C, eps=f["eps"], momentum=f["momentum"])
    simple = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "flatten": nn.Flatten,
              "identity": nn.Identity, "global_avgpool": GlobalAvgPool, "add": Add, "concat": Concat}
    if kind in simple:
        return simple[kind]()
    if kind == "leaky_relu":
        return nn.LeakyReLU(f["alpha"])
    if kind == "softmax":
        return nn.Softmax(dim=1)
    if kind == "dropout":
        return nn.Dropout(f["rate"])
    raise NotImplementedError(kind)


class SpecModule(nn.Module):
    def __init__(self, report):
        super().__init__()
        graph = report.graph
        rows = {r.name: r for r in report.rows}
        self.order = [(n.name, list(n.inputs)) for n in graph.nodes[1:]]
        last = graph.node(graph.output)
        self.logits = last.inputs[0] if last.kind == "softmax" else last.name
        for node in graph.nodes[1:]:
            self._put(node.name, make(node, rows[node.name]))

    def _put(self, dotted, module):
        parent = self
        *path, leaf = dotted.split(".")
        for part in path:
            if not hasattr(parent, part):
                parent.add_module(part, nn.Module())
            parent = getattr(parent, part)
        parent.add_module(leaf, module)

    def layer(self, dotted):
        return self.get_submodule(dotted)

    def forward(self, x):
        values = {"input": x}
        for name, inputs in self.order:
            values[name] = self.layer(name)(*[values[i] for i in inputs])
            if name == self.logits:
                return values[name]
        return values[self.logits]


def from_engine(report, state, dtype=torch.float32):
    """A SpecModule holding the engine's state ({name: numpy array}), loaded strictly by name."""
    module = SpecModule(report).to(dtype)
    module.load_state_dict({k: torch.tensor(v.copy()) for k, v in state.items()}, strict=True)
    return module
