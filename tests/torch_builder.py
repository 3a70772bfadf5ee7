"""The same graph as a PyTorch module: the oracle for the engine's numbers and for its weight names.

`SpecModule(report)` holds one submodule per layer, nested along the dotted layer names
(`parallel1.b0.conv1` is `module.parallel1.b0.conv1`), so its state_dict() names are PyTorch's
own and the engine's must equal them. forward(x) walks the graph and returns the logits: the
input of a final softmax, which the loss (F.cross_entropy) applies itself, as the engine does.
Only what the spec states reaches torch (`stated`); every other option is torch's own default.
A stated padding comes from the analysis rows ('same' resolved, asymmetric ones through F.pad).
"""

import torch
import torch.nn.functional as F
from torch import nn

from cnncalc import layers
from cnncalc.layers.base import normalise


class PaddedConv2d(nn.Conv2d):
    """nn.Conv2d after an explicit (top, bottom, left, right) zero padding: 'same' with even kernels."""

    def __init__(self, pads, *args, **kwargs):
        super().__init__(*args, padding=0, **kwargs)
        self.pads = pads

    def forward(self, x):
        t, b, l, r = self.pads
        return super().forward(F.pad(x, (l, r, t, b)))


class Pool2d(nn.Module):
    """F.max_pool2d / F.avg_pool2d with only the options the spec states (`options`); the rest are torch's
    defaults. Asymmetric padding goes through F.pad: -inf for max, zeros for average (the divisor then
    counts the padding; without count_include_pad it is the real pixels, the same pool of a padded mask)."""

    def __init__(self, kind, kernel, pads, options):
        super().__init__()
        self.kind, self.kernel, self.pads, self.options = kind, kernel, pads, options

    def forward(self, x):
        t, b, l, r = self.pads
        pool = F.max_pool2d if self.kind == "maxpool" else F.avg_pool2d
        if t == b and l == r:
            padding = {"padding": (t, l)} if any(self.pads) else {}
            return pool(x, self.kernel, **padding, **self.options)
        assert not self.options.get("ceil_mode"), "asymmetric padding: no ceil mode"
        stride = self.options.get("stride")
        if self.kind == "maxpool":
            return F.max_pool2d(F.pad(x, (l, r, t, b), value=-float("inf")), self.kernel, stride)
        total = F.avg_pool2d(F.pad(x, (l, r, t, b)), self.kernel, stride)
        if self.options.get("count_include_pad", True):
            return total
        ones = F.pad(torch.ones_like(x[:1, :1]), (l, r, t, b))
        return total / F.avg_pool2d(ones, self.kernel, stride)


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


def stated(node) -> dict:
    """The fields the spec sets to something other than the parser's default, by their canonical names.

    The oracle passes torch only these and leaves every other option to torch's own default, so a
    default of ours that drifts from PyTorch's (count_include_pad, ceil_mode, eps, momentum, ...)
    shows up as a mismatch instead of being copied into the reference. A field written out at our
    default is left to torch too, which agrees exactly when the two defaults do.
    """
    kind = layers.lookup(node.kind)
    out = {}
    for field in kind.fields:
        value = node.fields[field.name]
        default = None if field.required or field.default is None else \
            normalise(field, field.default, kind.name, None)
        if field.required or value != default:
            out[field.name] = value
    return out


def make(node, row):
    f, kind = stated(node), node.kind
    if kind == "conv":
        n_C_prev = row.in_shapes[0][-1]
        options = {"stride": f["stride"]} if "stride" in f else {}
        if "dilation" in f:
            options["dilation"] = f["dilation"]
        if "groups" in f:
            options["groups"] = n_C_prev if f["groups"] == "depthwise" else f["groups"]
        if "bias" in f:
            options["bias"] = f["bias"]
        # 'same' is resolved by the analysis (PyTorch has no asymmetric padding); numbers are the spec's
        pads = row.resolved["pads"] if "padding" in f else (0, 0, 0, 0)
        n_C = f.get("filters", n_C_prev)  # depthwise without filters keeps n_C_prev
        return PaddedConv2d(pads, n_C_prev, n_C, f["kernel"], **options)
    if kind in ("maxpool", "avgpool"):
        pads = row.resolved["pads"] if "padding" in f else (0, 0, 0, 0)
        options = {k: f[k] for k in ("stride", "ceil_mode", "count_include_pad") if k in f}
        return Pool2d(kind, f["kernel"], pads, options)
    if kind == "dense":
        return nn.Linear(row.in_shapes[0][0], f["units"], **({"bias": f["bias"]} if "bias" in f else {}))
    if kind == "batchnorm":
        cls = nn.BatchNorm2d if len(row.out_shape) == 3 else nn.BatchNorm1d
        return cls(row.out_shape[-1], **{k: f[k] for k in ("eps", "momentum") if k in f})
    simple = {"relu": nn.ReLU, "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "flatten": nn.Flatten,
              "identity": nn.Identity, "global_avgpool": GlobalAvgPool, "add": Add, "concat": Concat}
    if kind in simple:
        return simple[kind]()
    if kind == "leaky_relu":
        return nn.LeakyReLU(**({"negative_slope": f["alpha"]} if "alpha" in f else {}))
    if kind == "softmax":
        return nn.Softmax(dim=1)
    if kind == "dropout":
        return nn.Dropout(**({"p": f["rate"]} if "rate" in f else {}))
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
