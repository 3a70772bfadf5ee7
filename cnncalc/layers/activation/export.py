"""The activations as exported PyTorch source (layers/source.py): their torch.nn classes, given each
field that differs from PyTorch's default under PyTorch's name for it."""

from __future__ import annotations

from cnncalc.layers.source import SourceRecord, call, unless


def _module(name, renames=None):
    """nn.<name>, with the fields in renames ({ours: (torch's name, torch's default)})."""
    def source(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
        options = {theirs: unless(node.fields[ours], default) for ours, (theirs, default) in (renames or {}).items()}
        return SourceRecord(call(f"nn.{name}", **options))
    return source


def _softmax(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    return SourceRecord("nn.Softmax(dim=1)")


SOURCES = {
    "relu": _module("ReLU"), "leaky_relu": _module("LeakyReLU", {"alpha": ("negative_slope", 0.01)}),
    "sigmoid": _module("Sigmoid"), "tanh": _module("Tanh"), "softmax": _softmax, "relu6": _module("ReLU6"),
    "hardsigmoid": _module("Hardsigmoid"), "hardswish": _module("Hardswish"), "silu": _module("SiLU"),
    "gelu": _module("GELU", {"approximate": ("approximate", "none")}), "elu": _module("ELU", {"alpha": ("alpha", 1.0)}),
    "prelu": _module("PReLU", {"num_parameters": ("num_parameters", 1), "init": ("init", 0.25)}),
    "identity": _module("Identity"),
}
