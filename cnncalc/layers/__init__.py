"""The registry of layer kinds: one line per family.

Adding a kind means one folder with its `rules.py` (and `kernels.py` for the
trainer) and one line here.  Nothing in this package imports Numba.
"""

from __future__ import annotations

from cnncalc.layers.activation import rules as _activation
from cnncalc.layers.base import Kind
from cnncalc.layers.conv import rules as _conv
from cnncalc.layers.dense import rules as _dense
from cnncalc.layers.dropout import rules as _dropout
from cnncalc.layers.merge import rules as _merge
from cnncalc.layers.norm import rules as _norm
from cnncalc.layers.pool import rules as _pool

KINDS: tuple[Kind, ...] = (
    (_conv.KIND,)
    + _pool.KINDS
    + _dense.KINDS
    + _activation.KINDS
    + _norm.KINDS
    + _dropout.KINDS
    + _merge.KINDS
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
