"""The same graph as a PyTorch module: the oracle for the engine's numbers and for its weight names.

`SpecModule(report)` holds one submodule per layer, nested along the dotted layer names
(`parallel1.b0.conv1` is `module.parallel1.b0.conv1`), so its state_dict() names are PyTorch's
own and the engine's must equal them. forward(x) walks the graph and returns the logits: the
input of a final softmax, which the loss (F.cross_entropy) applies itself, as the engine does.
Only what the spec states reaches torch (`stated`); every other option is torch's own default.
A stated padding comes from the analysis rows ('same' resolved, asymmetric ones through F.pad).
Each kind's module comes from its family (`Trainer.torch`, e.g. cnncalc/layers/conv/pytorch.py).
"""

import torch
from torch import nn

from cnncalc import layers
from cnncalc.layers.base import normalise


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
    """The kind's PyTorch equivalent (`Trainer.torch` in its family's train.py), given the stated fields."""
    return layers.trainer(node.kind).torch(node, row, stated(node))


class SpecModule(nn.Module):
    def __init__(self, report):
        super().__init__()
        graph = report.graph
        rows = {r.name: r for r in report.rows}
        self.order = [(n.name, list(n.inputs)) for n in graph.nodes[1:]]
        last = graph.node(graph.output)
        self.logits = last.inputs[0] if layers.trainer(last.kind).loss_input else last.name
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
