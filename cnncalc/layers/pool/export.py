"""The pooling kinds as exported PyTorch source (layers/source.py): nn.MaxPool2d / nn.AvgPool2d, or
pytorch.py's Pool2d where the padding is asymmetric; GlobalPool (flat unless keep_dims) and the adaptive
pools."""

from __future__ import annotations

from cnncalc.layers.source import SourceRecord, call, unless

HELPERS = "cnncalc.layers.pool.pytorch"


def _window(kind):
    def source(node, row) -> SourceRecord:
        w, fields = row.window, node.fields
        t, b, l, r = w.p
        options = {"stride": unless(w.s, w.f), "ceil_mode": unless(fields["ceil_mode"], False)}
        if kind == "avgpool":
            options["count_include_pad"] = unless(fields["count_include_pad"], True)
        if t == b and l == r:
            name = "nn.MaxPool2d" if kind == "maxpool" else "nn.AvgPool2d"
            return SourceRecord(call(name, w.f, stride=options.pop("stride"), padding=unless((t, l), 0), **options))
        kept = {k: v for k, v in options.items() if v is not None}
        return SourceRecord(call("Pool2d", kind, w.f, (t, b, l, r), kept), ((HELPERS, "Pool2d"),))
    return source


def _global(kind):
    def source(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
        return SourceRecord(call("GlobalPool", kind, node.fields["keep_dims"]), ((HELPERS, "GlobalPool"),))
    return source


def _adaptive(name):
    def source(node, row) -> SourceRecord:  # noqa: ARG001 — SOURCES' signature
        return SourceRecord(call(name, tuple(node.fields["output"])))
    return source


SOURCES = {"maxpool": _window("maxpool"), "avgpool": _window("avgpool"),
           "global_avgpool": _global("global_avgpool"), "global_maxpool": _global("global_maxpool"),
           "adaptive_avgpool": _adaptive("nn.AdaptiveAvgPool2d"), "adaptive_maxpool": _adaptive("nn.AdaptiveMaxPool2d")}
