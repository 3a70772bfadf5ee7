"""upsample as exported PyTorch source (layers/source.py): nn.Upsample with the scale or the size, and
for bilinear align_corners=False, the rule the engine's tables follow."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import Const, In, Op, Step
from cnncalc.layers.source import SourceRecord, call


def upsample(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    fields = node.fields
    where = {"scale_factor": fields["scale"]} if fields["scale"] is not None else {"size": tuple(fields["size"])}
    mode = fields["mode"]
    return SourceRecord(call("nn.Upsample", **where, mode=None if mode == "nearest" else mode,
                             align_corners=False if mode == "bilinear" else None))


SOURCES = {"upsample": upsample}


# ---------------------------------------------------------------- ONNX (layers/onnx_ops.py)


def upsample_onnx(node, row) -> tuple[Op, ...]:
    """Resize with PyTorch's coordinates: nearest reads source ⌊dst/s⌋ (asymmetric, floor); bilinear
    with align_corners=False is pytorch_half_pixel. A scale is Resize's scales [1, 1, s, s]; a size is its
    sizes (m, n_C, n_H, n_W), the batch taken from the input's Shape. (onnx's shape inference keeps no
    symbolic batch through a Resize either way: the model's later tensors have an unnamed batch.)"""
    fields = node.fields
    if fields["mode"] == "nearest":
        attributes = {"mode": "nearest", "coordinate_transformation_mode": "asymmetric", "nearest_mode": "floor"}
    else:
        attributes = {"mode": "linear", "coordinate_transformation_mode": "pytorch_half_pixel"}
    if fields["scale"] is not None:
        s = float(fields["scale"])
        return (Op("Resize", (In(0), None, Const([1.0, 1.0, s, s], "float32")), attributes),)
    n_H, n_W, n_C = row.out_shape
    return (Op("Shape", (In(0),), {"start": 0, "end": 1}),
            Op("Concat", (Step(0), Const([n_C, n_H, n_W])), {"axis": 0}),
            Op("Resize", (In(0), None, None, Step(1)), attributes))


ONNX = {"upsample": upsample_onnx}
