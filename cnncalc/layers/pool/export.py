"""The pooling kinds as exported PyTorch source (layers/source.py): nn.MaxPool2d / nn.AvgPool2d, or
pytorch.py's Pool2d where the padding is asymmetric; GlobalPool (flat unless keep_dims) and the adaptive
pools."""

from __future__ import annotations

from cnncalc.layers.onnx_ops import Const, In, Op, Step, onnx_pads
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


# ---------------------------------------------------------------- ONNX (layers/onnx_ops.py)


def _window_onnx(kind):
    def rule(node, row) -> tuple[Op, ...]:
        w, fields = row.window, node.fields
        attributes = {"kernel_shape": list(w.f), "strides": list(w.s), "pads": onnx_pads(w.p),
                      "ceil_mode": int(bool(fields["ceil_mode"]))}
        if kind == "maxpool":
            return (Op("MaxPool", (In(0),), attributes),)
        return (Op("AveragePool", (In(0),), {**attributes, "count_include_pad": int(bool(fields["count_include_pad"]))}),)
    return rule


def _global_onnx(op_type):
    def rule(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
        pooled = Op(op_type, (In(0),))
        return (pooled,) if node.fields["keep_dims"] else (pooled, Op("Flatten", (Step(0),), {"axis": 1}))
    return rule


def _adaptive_bounds(n_prev, n):
    """PyTorch's adaptive window of output i: rows ⌊i·n_prev/n⌋ … ⌈(i + 1)·n_prev/n⌉ − 1 (pool/rules.py)."""
    return [(i * n_prev // n, -(-(i + 1) * n_prev // n)) for i in range(n)]


def _adaptive_onnx(kind):
    """Where n_prev is a multiple of n on both axes every window is f = n_prev/n wide, stride f: one pool.
    Otherwise each output cell is its own window: Slice, a global pool, then Concat along W and along H."""
    pool, global_pool = ("AveragePool", "GlobalAveragePool") if kind == "adaptive_avgpool" else ("MaxPool", "GlobalMaxPool")

    def rule(node, row) -> tuple[Op, ...]:  # noqa: ARG001 — ONNX's signature
        (n_H_prev, n_W_prev, _), (n_H, n_W, _) = row.in_shapes[0], row.out_shape
        if n_H_prev % n_H == 0 and n_W_prev % n_W == 0:
            f = [n_H_prev // n_H, n_W_prev // n_W]
            return (Op(pool, (In(0),), {"kernel_shape": f, "strides": f}),)
        ops, rows = [], []
        for r0, r1 in _adaptive_bounds(n_H_prev, n_H):
            cells = []
            for c0, c1 in _adaptive_bounds(n_W_prev, n_W):
                ops.append(Op("Slice", (In(0), Const([r0, c0]), Const([r1, c1]), Const([2, 3]))))
                ops.append(Op(global_pool, (Step(len(ops) - 1),)))
                cells.append(Step(len(ops) - 1))
            ops.append(Op("Concat", tuple(cells), {"axis": 3}))
            rows.append(Step(len(ops) - 1))
        ops.append(Op("Concat", tuple(rows), {"axis": 2}))
        return tuple(ops)
    return rule


ONNX = {"maxpool": _window_onnx("maxpool"), "avgpool": _window_onnx("avgpool"),
        "global_avgpool": _global_onnx("GlobalAveragePool"), "global_maxpool": _global_onnx("GlobalMaxPool"),
        "adaptive_avgpool": _adaptive_onnx("adaptive_avgpool"), "adaptive_maxpool": _adaptive_onnx("adaptive_maxpool")}
