"""`cnncalc export --to onnx`: a spec, with its trained weights or a fresh seeded initialisation, as an
ONNX model written with the onnx package's helper API.

model_proto(report, state, opset) -> onnx.ModelProto: the inference graph of the layers the network's
output reads (aux heads and dead branches left out, as the engine's eval forward leaves them). Each
kind's operators come from its family (`layers.onnx_exporter`, layers/onnx_ops.py); the exporter names
no kind. The input "input" is NCHW float32 (N, n_C, n_H, n_W), or (N, n) for a vector, the batch N
symbolic; each layer's output tensor, and the node that makes it, are named as the layer. The
initializers are the layer arrays of engine.params.layout under their checkpoint names (trainable
arrays and the batchnorms' running statistics; num_batches_tracked is training bookkeeping and is left
out), so they hold totals.trainable − totals.aux_trainable + totals.non_trainable − aux values.

The opset is pinned, with the IR version that onnx.helper.VERSION_TABLE gives it (onnx 1.12 introduced
opset 17 with IR 8, onnx 1.13 opset 18 with IR 8): the package's own default is newer than many
runtimes accept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cnncalc.errors import Mark
from cnncalc.export.pytorch import ExportError, _checked_weights

OPSETS = {17: 8, 18: 8}  # opset → its IR version
DEFAULT_OPSET = 17
SEED = 0  # the fresh initialisation of an export without --weights: the same spec gives the same file


@dataclass(frozen=True)
class ExportedOnnx:
    """What export_onnx wrote."""

    model: str
    opset: int
    ir_version: int


def _onnx(where: str):
    """The onnx package, an optional extra; one line saying what to install without it."""
    try:
        import onnx
    except ImportError:
        raise ExportError("--to onnx needs the onnx package", Mark(where), field="--to",
                          fix='pip install "cnncalc[onnx]"') from None
    return onnx


def _rules(report) -> dict:
    """{layer: its ONNX ops} of the layers the output reads; ExportError naming the first kind without a rule."""
    from cnncalc import layers

    graph = report.graph
    rows = {r.name: r for r in report.rows}
    reached = graph.reaching(graph.output)
    out = {}
    for node in graph.nodes[1:]:
        if node.name not in reached:
            continue
        rule = layers.onnx_exporter(node.kind)
        if rule is None:
            kind = layers.lookup(node.kind)
            why = f" ({kind.analysis_only})" if kind is not None and kind.analysis_only else ""
            raise ExportError(f"{node.name}: {node.kind} layers have no ONNX export{why}", node.mark)
        out[node.name] = rule(node, rows[node.name])
    return out


def onnx_shape(shape) -> list:
    """The analysis' (n_H, n_W, n_C) as ONNX's ["N", n_C, n_H, n_W]; a vector (n,) as ["N", n]."""
    return ["N"] + ([shape[2], shape[0], shape[1]] if len(shape) == 3 else list(shape))


def fresh_state(report, seed: int = SEED) -> dict:
    """The arrays of a freshly initialised network: PyTorch's scheme (engine.init), seeded; batchnorms at
    γ 1, β 0, running mean 0, variance 1. Works for a spec the trainer could not run as a classifier
    (a decoder that ends in a map) too: only the parameter store is built."""
    from types import SimpleNamespace

    from cnncalc.engine.init import initialise
    from cnncalc.engine.params import Params

    store = Params(report)
    initialise(SimpleNamespace(graph=report.graph, store=store), seed, "torch")
    return store.state()


def model_proto(report, state: dict, opset: int = DEFAULT_OPSET):
    """The ONNX model of an analysed spec with the arrays `state` ({checkpoint name: array})."""
    import numpy as np

    onnx = _onnx(report.graph.file or "-")
    from onnx import TensorProto, helper, numpy_helper

    if report.error is not None:
        raise ExportError(f"the spec does not analyse: {report.error.line()}")
    graph = report.graph
    if len(graph.input_shape) not in (1, 3):
        raise ExportError("ONNX's image layers take maps n_H×n_W×n_C or vectors (n,)", Mark(graph.file),
                          field="input", received=tuple(graph.input_shape))
    if opset not in OPSETS:
        raise ExportError("unsupported opset", field="--opset", received=opset,
                          allowed=", ".join(map(str, OPSETS)))
    rules = _rules(report)
    rows = {r.name: r for r in report.rows}
    nodes, initializers = [], []
    for node in graph.nodes[1:]:
        ops = rules.get(node.name)
        if ops is None:
            continue
        outputs = [f"{node.name}/{k}_{op.op_type}" for k, op in enumerate(ops)]
        outputs[-1] = node.name
        for k, op in enumerate(ops):
            inputs = []
            for j, ref in enumerate(op.inputs):
                kind = type(ref).__name__
                if ref is None:
                    inputs.append("")
                elif kind == "In":
                    inputs.append(node.inputs[ref.index])
                elif kind == "Own":
                    inputs.append(f"{node.name}.{ref.role}")
                elif kind == "Step":
                    inputs.append(outputs[ref.index])
                else:  # Const: a Constant node, so the initializers hold only the layer's arrays
                    name = f"{outputs[k]}/c{j}"
                    values = np.asarray(ref.value, dtype=np.int64 if ref.dtype == "int64" else np.float32)
                    nodes.append(helper.make_node("Constant", [], [name], name=name,
                                                  value=numpy_helper.from_array(values, name)))
                    inputs.append(name)
            nodes.append(helper.make_node(op.op_type, inputs, [outputs[k]], name=outputs[k], **op.attributes))
    from cnncalc.engine.params import layout

    for t in layout(report):
        if t.node in rules and t.role != "num_batches_tracked":
            initializers.append(numpy_helper.from_array(np.ascontiguousarray(state[t.name], np.float32), t.name))
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, onnx_shape(graph.input_shape))
    y = helper.make_tensor_value_info(graph.output, TensorProto.FLOAT, onnx_shape(rows[graph.output].out_shape))
    onnx_graph = helper.make_graph(nodes, graph.name or "net", [x], [y], initializer=initializers)
    model = helper.make_model(onnx_graph, producer_name="cnncalc", opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = OPSETS[opset]
    model.doc_string = "exported by cnncalc: NCHW float32 input, the batch N symbolic; the layers' names kept"
    onnx.checker.check_model(model)
    return model


def export_onnx(spec: str, out: str, *, weights: str | None = None, input_shape: tuple | None = None,
                opset: int = DEFAULT_OPSET) -> ExportedOnnx:
    """Write out (.onnx): the model with the weights of a run or checkpoint, else a fresh seeded
    initialisation (SEED) so that the file is complete. Nothing is written when anything fails."""
    from cnncalc import api

    onnx = _onnx(out)
    if not out.endswith(".onnx"):
        raise ExportError("the output must be an ONNX file", Mark(out), field="-o", received=out,
                          allowed="a path ending in .onnx")
    if opset not in OPSETS:
        raise ExportError("unsupported opset", Mark(out), field="--opset", received=opset,
                          allowed=", ".join(map(str, OPSETS)))
    report = api.report(spec, input_shape)
    if report.error is not None:
        raise ExportError(f"the spec does not analyse: {report.error.line()}")
    _rules(report)  # a kind without a rule is refused before any weight is drawn
    state = _checked_weights(weights, report) if weights is not None else fresh_state(report)
    model = model_proto(report, state, opset)
    folder = os.path.dirname(out)
    try:
        os.makedirs(folder or ".", exist_ok=True)
        onnx.save(model, out)
    except OSError as exc:
        raise ExportError(f"cannot write the export ({exc.strerror or exc})", Mark(folder or ".")) from None
    return ExportedOnnx(out, opset, OPSETS[opset])
