"""The registry of layer kinds: one line per family.

Adding a kind means one folder with its `rules.py` (and `kernels.py` and `train.py`
for the trainer, which its Kind names) and one line here. Nothing this package
imports at start loads numpy or Numba: the engine reaches a kind's trainer roles
through `trainer(name)`, which imports the family's `train.py` then.
"""

from __future__ import annotations

import importlib

from cnncalc.layers.activation import rules as _activation
from cnncalc.layers.base import Kind
from cnncalc.layers.channel import rules as _channel
from cnncalc.layers.conv import rules as _conv
from cnncalc.layers.dense import rules as _dense
from cnncalc.layers.dropout import rules as _dropout
from cnncalc.layers.merge import rules as _merge
from cnncalc.layers.norm import rules as _norm
from cnncalc.layers.pool import rules as _pool
from cnncalc.layers.upsample import rules as _upsample

KINDS: tuple[Kind, ...] = (
    (_conv.KIND,)
    + _pool.KINDS
    + _dense.KINDS
    + _activation.KINDS
    + _norm.KINDS
    + _dropout.KINDS
    + _merge.KINDS
    + _channel.KINDS
    + (_conv.CONV_TRANSPOSE,)  # the decoders together, after the encoders' kinds
    + _upsample.KINDS
)

_BY_NAME = {}
for _kind in KINDS:
    for _name in (_kind.name,) + _kind.aliases:
        _BY_NAME[_name] = _kind


def lookup(name: str) -> Kind | None:
    """The kind called `name` (any accepted spelling, case-insensitive), or None."""
    return _BY_NAME.get(name.lower().replace("-", "_")) if isinstance(name, str) else None


def names() -> list[str]:
    return [k.name for k in KINDS]


def trainer(name: str):
    """The `layers.adapter.Trainer` of the kind called `name`, or None for an unknown or
    analysis-only kind. Imports the family's train module (numpy, Numba kernels)."""
    kind = lookup(name)
    if kind is None or kind.trainer is None:
        return None
    return importlib.import_module(kind.trainer).TRAINERS[kind.name]


def exporter(name: str):
    """The kind's rule for exported PyTorch source (layers/source.py): SOURCES[name] of its family's
    `export.py`, the module beside the family's train.py; None for an unknown kind or one without a
    trainer. Imports neither torch, numpy nor Numba."""
    kind = lookup(name)
    if kind is None or kind.trainer is None:
        return None
    family = kind.trainer.rpartition(".")[0]
    return importlib.import_module(family + ".export").SOURCES.get(kind.name)


def onnx_exporter(name: str):
    """The kind's rule for the ONNX exporter (layers/onnx_ops.py): ONNX[name] of its family's `export.py`,
    beside its PyTorch rule; None for an unknown kind, one without a trainer, or one without a rule.
    Imports neither onnx, numpy nor Numba."""
    kind = lookup(name)
    if kind is None or kind.trainer is None:
        return None
    family = kind.trainer.rpartition(".")[0]
    return getattr(importlib.import_module(family + ".export"), "ONNX", {}).get(kind.name)


def trainable_names() -> list[str]:
    """The kinds the trainer runs, without importing any of them."""
    return [k.name for k in KINDS if k.trainer is not None]
