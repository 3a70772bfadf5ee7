"""What a kind gives the ONNX exporter: a short list of `Op` records per layer, from its family's
`export.py` (ONNX[kind], beside SOURCES[kind] for PyTorch).

    ONNX[kind](node, row) -> tuple[Op, ...]
        the operators that compute the layer in inference, in order; the last one's output is the
        layer's output (its tensor and node are named as the layer), the others are named
        "<layer>/<k>_<op_type>". An Op's inputs are references, not tensors:
            In(i)        the layer's i-th input (the output of the layer it reads, or the input)
            Own(role)    the layer's own array "<layer>.<role>" (weight, bias, running_mean, …), an
                         initializer holding the checkpoint's (or a fresh initialisation's) values
            Const(v, t)  a constant (a Constant node): v a number or a list, t "int64" or "float32"
            Step(k)      the output of the k-th op of this same layer
            None         an optional input left out (Resize's roi)

Shapes are NCHW, as the engine's (executor.py): a map (n_H, n_W, n_C) of the analysis is the tensor
(m, n_C, n_H, n_W); a flat (n,) is (m, n). Pads are written as ONNX orders them, begin values first:
[top, left, bottom, right] (the analysis keeps (top, bottom, left, right)). Nothing here imports onnx,
numpy or Numba: the records are plain data, and export/onnx.py makes the protobuf.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class In:
    index: int = 0


@dataclass(frozen=True)
class Own:
    role: str


@dataclass(frozen=True)
class Const:
    value: object
    dtype: str = "int64"


@dataclass(frozen=True)
class Step:
    index: int


@dataclass(frozen=True)
class Op:
    op_type: str
    inputs: tuple
    attributes: dict = field(default_factory=dict)


def onnx_pads(p) -> list[int]:
    """The analysis' (top, bottom, left, right) as ONNX's pads [top, left, bottom, right]."""
    t, b, l, r = p
    return [t, l, b, r]


def unary(op_type: str, **attributes):
    """The rule of a kind that is one ONNX operator on its one input."""
    def rule(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
        return (Op(op_type, (In(0),), dict(attributes)),)
    return rule
