"""The activations as exported PyTorch source (layers/source.py): their torch.nn classes, given each
field that differs from PyTorch's default under PyTorch's name for it."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import Const, In, Op, Own, Step, unary
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


# ---------------------------------------------------------------- ONNX (layers/onnx_ops.py)


def _leaky_relu(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    return (Op("LeakyRelu", (In(0),), {"alpha": float(node.fields["alpha"])}),)


def _elu(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    return (Op("Elu", (In(0),), {"alpha": float(node.fields["alpha"])}),)


def _relu6(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """Clip(x, 0, 6): min and max are inputs since opset 11."""
    return (Op("Clip", (In(0), Const(0.0, "float32"), Const(6.0, "float32"))),)


def _silu(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """x·σ(x): no SiLU operator before opset 22 (Swish)."""
    return (Op("Sigmoid", (In(0),)), Op("Mul", (In(0), Step(0))))


def _gelu(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    """No Gelu operator before opset 20: 'none' is x·½(1 + erf(x/√2)); 'tanh' is
    x·½(1 + tanh(√(2/π)·(x + 0.044715·x³))), torch's two forms."""
    half = (Op("Add", (Step(None), Const(1.0, "float32"))), Op("Mul", (In(0), Step(None))),
            Op("Mul", (Step(None), Const(0.5, "float32"))))
    if node.fields["approximate"] == "tanh":
        inner = (Op("Mul", (In(0), In(0))), Op("Mul", (Step(0), In(0))),
                 Op("Mul", (Step(1), Const(0.044715, "float32"))), Op("Add", (In(0), Step(2))),
                 Op("Mul", (Step(3), Const(0.7978845608028654, "float32"))), Op("Tanh", (Step(4),)))
    else:
        inner = (Op("Div", (In(0), Const(1.4142135623730951, "float32"))), Op("Erf", (Step(0),)))
    ops = inner + half
    # Step(None): the op just before
    return tuple(Op(o.op_type, tuple(Step(k - 1) if x == Step(None) else x for x in o.inputs), o.attributes)
                 for k, o in enumerate(ops))


def _prelu(node, row) -> tuple[Op, ...]:
    """PRelu(x, slope): ONNX broadcasts the slope against the trailing axes, so one slope per channel of a
    map, (n_C,), is reshaped to (n_C, 1, 1) first; a single slope or a vector's broadcast as they are."""
    n = node.fields["num_parameters"]
    if n == 1 or len(row.out_shape) == 1:
        return (Op("PRelu", (In(0), Own("weight"))),)
    return (Op("Reshape", (Own("weight"), Const([n, 1, 1]))), Op("PRelu", (In(0), Step(0))))


def _softmax_onnx(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
    return (Op("Softmax", (In(0),), {"axis": 1}),)


ONNX = {
    "relu": unary("Relu"), "leaky_relu": _leaky_relu, "sigmoid": unary("Sigmoid"), "tanh": unary("Tanh"),
    "softmax": _softmax_onnx, "relu6": _relu6,
    # torch's hardsigmoid is relu6(x + 3)/6: HardSigmoid with α = 1/6, β = ½ (ONNX's defaults are 0.2, 0.5)
    "hardsigmoid": unary("HardSigmoid", alpha=1.0 / 6.0, beta=0.5), "hardswish": unary("HardSwish"),
    "silu": _silu, "gelu": _gelu, "elu": _elu, "prelu": _prelu, "identity": unary("Identity"),
}
