"""conv and conv_transpose as exported PyTorch source (layers/source.py): nn.Conv2d and nn.ConvTranspose2d,
or pytorch.py's PaddedConv2d / CroppedConvTranspose2d where the padding is asymmetric ('same' with an
even kernel), which PyTorch's own classes cannot express."""

from __future__ import annotations

from cnncalc.layers.source import SourceRecord, call, unless

HELPERS = "cnncalc.layers.conv.pytorch"


def conv(node, row) -> SourceRecord:
    """nn.Conv2d(n_C_prev, n_C, f, …); weight (n_C, n_C_prev/groups, f_H, f_W), the engine's layout."""
    w, fields = row.window, node.fields
    t, b, l, r = w.p
    options = {"stride": unless(w.s, 1), "dilation": unless(w.d, 1), "groups": unless(w.groups, 1),
               "bias": unless(fields["bias"], True)}
    sizes = (row.in_shapes[0][-1], row.out_shape[-1], w.f)
    if t == b and l == r:
        return SourceRecord(call("nn.Conv2d", *sizes, stride=options.pop("stride"), padding=unless((t, l), 0),
                                 **options))
    return SourceRecord(call("PaddedConv2d", (t, b, l, r), *sizes, **options), ((HELPERS, "PaddedConv2d"),))


def conv_transpose(node, row) -> SourceRecord:
    """nn.ConvTranspose2d(n_C_prev, n_C, f, …); weight (n_C_prev, n_C/groups, f_H, f_W)."""
    w, fields = row.window, node.fields
    t, b, l, r = w.p
    extra = fields["output_padding"]
    options = {"stride": unless(w.s, 1), "dilation": unless(w.d, 1), "groups": unless(w.groups, 1),
               "bias": unless(fields["bias"], True)}
    sizes = (row.in_shapes[0][-1], row.out_shape[-1], w.f)
    if t == b and l == r:
        return SourceRecord(call("nn.ConvTranspose2d", *sizes, stride=options.pop("stride"),
                                 padding=unless((t, l), 0), output_padding=unless(extra, 0), **options))
    return SourceRecord(call("CroppedConvTranspose2d", (t, b, l, r), extra, *sizes, **options),
                        ((HELPERS, "CroppedConvTranspose2d"),))


SOURCES = {"conv": conv, "conv_transpose": conv_transpose}
