"""What a kind gives the PyTorch exporter: one `SourceRecord` per layer, from its family's `export.py`.

    SOURCES[kind](node, row) -> SourceRecord
        build    the constructor expression of the layer's torch.nn module, as it is written into the
                 exported file: "nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)"
        helpers  the classes that expression names beyond torch.nn, each as (module, class): the class's
                 source is read from that module's file (the family's pytorch.py, the same class the
                 tests' oracle builds) and written once into the exported file

Options left at PyTorch's own default are not written, so the file reads as a person would write it;
every value that differs (a stride, an eps, an asymmetric padding) is. Nothing here imports torch,
numpy or Numba: an export without weights needs none of them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SourceRecord:
    build: str
    helpers: tuple[tuple[str, str], ...] = ()


def value(v) -> str:
    """A field's value as Python source: a square pair as one number ((3, 3) → 3), floats by repr."""
    if isinstance(v, (tuple, list)):
        if len(v) == 2 and v[0] == v[1]:
            return value(v[0])
        return "(" + ", ".join(value(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    return repr(v)


def call(name: str, *args, **options) -> str:
    """`name(arg, …, key=value, …)` with the options whose value is not None."""
    parts = [value(a) for a in args] + [f"{k}={value(v)}" for k, v in options.items() if v is not None]
    return f"{name}({', '.join(parts)})"


def unless(v, default):
    """v, or None (not written) when it equals PyTorch's default; (k, k) pairs count as k."""
    same = v == default or (isinstance(v, (tuple, list)) and len(v) == 2 and v[0] == v[1] == default)
    return None if same else v
