"""upsample as exported PyTorch source (layers/source.py): nn.Upsample with the scale or the size, and
for bilinear align_corners=False, the rule the engine's tables follow."""

from __future__ import annotations

from cnncalc.layers.source import SourceRecord, call


def upsample(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
    fields = node.fields
    where = {"scale_factor": fields["scale"]} if fields["scale"] is not None else {"size": tuple(fields["size"])}
    mode = fields["mode"]
    return SourceRecord(call("nn.Upsample", **where, mode=None if mode == "nearest" else mode,
                             align_corners=False if mode == "bilinear" else None))


SOURCES = {"upsample": upsample}
