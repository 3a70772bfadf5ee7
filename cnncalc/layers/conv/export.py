"""conv and conv_transpose as exported PyTorch source (layers/source.py): nn.Conv2d and nn.ConvTranspose2d,
or pytorch.py's PaddedConv2d / CroppedConvTranspose2d where the padding is asymmetric ('same' with an
even kernel), which PyTorch's own classes cannot express."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import In, Op, Own, onnx_pads
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


# ---------------------------------------------------------------- ONNX (layers/onnx_ops.py)


def _window_attributes(row) -> dict:
    w = row.window
    return {"kernel_shape": list(w.f), "strides": list(w.s), "dilations": list(w.d), "group": w.groups,
            "pads": onnx_pads(w.p)}


def conv_onnx(node, row) -> tuple[Op, ...]:
    """Conv(x, W (n_C, n_C_prev/groups, f_H, f_W)[, b]); an asymmetric 'same' is Conv's own pads."""
    inputs = (In(0), Own("weight")) + ((Own("bias"),) if node.fields["bias"] else ())
    return (Op("Conv", inputs, _window_attributes(row)),)


def conv_transpose_onnx(node, row) -> tuple[Op, ...]:
    """ConvTranspose(x, W (n_C_prev, n_C/groups, f_H, f_W)[, b]): the full scatter, output_padding rows
    and columns added after, then pads cropped; n_H = s·(n_H_prev − 1) + output_padding + d·(f − 1) + 1
    − p_top − p_bottom, the analysis' formula."""
    inputs = (In(0), Own("weight")) + ((Own("bias"),) if node.fields["bias"] else ())
    extra = node.fields["output_padding"]
    return (Op("ConvTranspose", inputs, {**_window_attributes(row), "output_padding": [extra, extra]}),)


ONNX = {"conv": conv_onnx, "conv_transpose": conv_transpose_onnx}
