"""ONNX models as cnncalc specs: `cnncalc import model.onnx`, and every analysis command on a `.onnx` file.

The graph is walked once in the file's (topological) order. Each tensor is one of
    a constant      an initializer, a Constant node, or shape arithmetic folded to numbers
                    (Shape of a tensor whose shape we know → Gather → Unsqueeze → Concat → Reshape,
                    as exporters write `x.view(x.size(0), -1)`);
    a layer output  the name of the spec layer that makes it and its shape, (n_C, n_H, n_W) or (n,),
                    without the batch axis, in ONNX's channels-first order;
    a view          the 5-d middle of a channel shuffle (reshape → transpose → reshape), which only
                    the second reshape turns into a layer.
`OPS` is the one registry of supported operators: each entry says which layer kind the operator
becomes. An operator it lacks, or one used in a way the spec language cannot say (a Reshape that
neither flattens nor shuffles), is collected, and the import fails with one line listing them all
with their node names and counts.

The spec written is a flat list of named layers, `from:` only where a layer reads something other
than the layer before it. Names come from the exporter's node names (PyTorch writes the module
path, `/layer1/layer1.0/conv1/Conv` → `layer1_0_conv1`). Weights keep PyTorch's layouts, which
are ONNX's (Conv W: (n_C, n_C_prev/groups, f_H, f_W)); a Gemm with transB=0 or a MatMul holds
W transposed, (n_prev, n), and is transposed back.

The `onnx` package (and with it numpy) is imported only here, only when an ONNX file is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from cnncalc.errors import Mark, SpecError
from cnncalc.graph import INPUT
from cnncalc.layers.arith import out_length, transposed_length

INSTALL = 'pip install "cnncalc[onnx]"'
_INT64_MAX = 2**63 - 1


class OnnxError(SpecError):
    """An ONNX model that cannot be read or said in the spec language."""


@dataclass
class Imported:
    """What an ONNX file holds, as a spec and weights.

    spec: {"name", "input": [n_H, n_W, n_C] or [n], "layers": [{kind: {field: value, "name", "from"?}}]},
    the structure the YAML writer (`spec_yaml`) writes and the spec parser reads back.
    weights: {"<layer>.<role>": array} in PyTorch's names and layouts (engine.params), float32
    but num_batches_tracked (int64).
    """

    spec: dict
    weights: dict = field(default_factory=dict)


class _Unsupported(Exception):
    """This node cannot be said as a layer; `why` names the use (e.g. 'Reshape (not a flatten)')."""

    def __init__(self, why: str | None = None):
        super().__init__(why)
        self.why = why


@dataclass
class _Value:
    layer: str
    shape: tuple  # (n_C, n_H, n_W) or (n,), no batch axis


@dataclass
class _View:
    """The 5-d tensor of a channel shuffle: src reshaped to (groups, n_C/groups, n_H, n_W), maybe transposed."""

    src: _Value
    groups: int
    transposed: bool = False


def _onnx():
    try:
        import onnx
    except ImportError:
        raise OnnxError("reading an ONNX model needs the onnx package", fix=INSTALL) from None
    return onnx


def read(path: str, input_shape: tuple | None = None) -> Imported:
    """The spec and weights of the ONNX model at path; input_shape (n_H, n_W, n_C) replaces the
    file's input size (needed where the file leaves the spatial sizes dynamic). OnnxError on any problem."""
    onnx = _onnx()
    try:
        model = onnx.load(path)
    except FileNotFoundError:
        raise OnnxError("no such file", Mark(path), received=path) from None
    except IsADirectoryError:
        raise OnnxError("this is a directory, not an ONNX model", Mark(path), received=path) from None
    except Exception as exc:  # noqa: BLE001 — protobuf's DecodeError and friends: one line, not a traceback
        raise OnnxError(f"not a readable ONNX model ({type(exc).__name__})", Mark(path)) from None
    return _Converter(onnx, model, path, input_shape).run()


def spec_text(path: str, input_shape: tuple | None = None) -> str:
    """The YAML text of the ONNX model's spec (what the analysis commands parse)."""
    return spec_yaml(read(path, input_shape).spec, path)


def spec_yaml(spec: dict, source: str | None = None) -> str:
    """A readable YAML spec: one layer a line, `{kind: {fields}}` in flow style."""
    lines = []
    if source:
        lines.append(f"# imported from {_base(source)} by cnncalc import")
    lines.append(f"name: {_scalar(spec['name'])}")
    lines.append(f"input: {_scalar(spec['input'])}")
    lines.append("layers:")
    for layer in spec["layers"]:
        (kind, fields), = layer.items()
        body = ", ".join(f"{k}: {_scalar(v)}" for k, v in fields.items())
        lines.append(f"  - {kind}: {{{body}}}")
    return "\n".join(lines) + "\n"


def _base(path: str) -> str:
    return re.split(r"[\\/]", path)[-1]


def _scalar(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_scalar(x) for x in v) + "]"
    if isinstance(v, float):
        text = repr(v)  # YAML 1.1 reads 1e-05 as text: the mantissa needs its point (1.0e-05)
        mantissa, e, exponent = text.partition("e")
        return f"{mantissa}.0e{exponent}" if e and "." not in mantissa else text
    if isinstance(v, int):
        return str(v)
    text = str(v)
    return text if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_\-]*", text) else '"' + text.replace('"', '\\"') + '"'


# ---------------------------------------------------------------------------------------------
# the walk


class _Converter:
    def __init__(self, onnx, model, path: str, input_shape):
        import numpy as np

        self.np, self.onnx, self.model, self.path = np, onnx, model, path
        self.input_override = input_shape
        self.tensors: dict = {}  # ONNX tensor name → numpy array | _Value | _View
        self.layers: list[dict] = []
        self.fields: dict[str, dict] = {}  # layer name → its fields (the dict inside self.layers)
        self.kinds: dict[str, str] = {}
        self.sources: dict[str, list[str]] = {}  # layer name → the layers it reads
        self.weights: dict = {}
        self.last: str | None = None
        self.names: set[str] = {INPUT}
        self.unsupported: dict[str, list[str]] = {}
        self.uses: dict[str, int] = {}

    # -- results

    def run(self) -> Imported:
        graph = self.model.graph
        numpy_helper = self.onnx.numpy_helper
        for init in graph.initializer:
            self.tensors[init.name] = numpy_helper.to_array(init)
        for node in graph.node:
            for name in node.input:
                self.uses[name] = self.uses.get(name, 0) + 1
        for out in graph.output:
            self.uses[out.name] = self.uses.get(out.name, 0) + 1
        inputs = [i for i in graph.input if i.name not in self.tensors]
        if len(inputs) != 1:
            raise OnnxError("the model must have exactly one input", Mark(self.path),
                            received=[i.name for i in inputs], allowed="one image or vector input")
        shape = self._input_shape(inputs[0])
        self.tensors[inputs[0].name] = _Value(INPUT, shape)
        self.last = INPUT
        for node in graph.node:
            values = [self.tensors.get(name) if name else None for name in node.input]
            if any(name and v is None for name, v in zip(node.input, values)):
                continue  # it reads something an unsupported node made: that node is reported
            handler = OPS.get(node.op_type)
            try:
                if handler is None:
                    raise _Unsupported()
                outs = handler(self, node, values)
            except _Unsupported as exc:
                self.unsupported.setdefault(exc.why or node.op_type, []).append(node.name or "(unnamed)")
                continue
            except (KeyError, IndexError, ValueError, TypeError, AttributeError):
                # a node missing a required attribute or input, or with ones of the wrong size
                self.unsupported.setdefault(f"{node.op_type} (malformed)", []).append(node.name or "(unnamed)")
                continue
            for name, value in zip(node.output, outs if isinstance(outs, list) else [outs]):
                if name:
                    self.tensors[name] = value
        if self.unsupported:
            listed = "; ".join(f"{op} ×{len(nodes)} ({', '.join(nodes[:3])}{', …' if len(nodes) > 3 else ''})"
                               for op, nodes in sorted(self.unsupported.items()))
            raise OnnxError(f"unsupported operators: {listed}", Mark(self.path),
                            allowed="the operators of the spec language's kinds (README: Analysing ONNX models)")
        if len(graph.output) != 1:
            raise OnnxError("the model must have exactly one output", Mark(self.path),
                            received=[o.name for o in graph.output])
        out = self.tensors.get(graph.output[0].name)
        if not isinstance(out, _Value) or out.layer == INPUT:
            raise OnnxError("the model's output is not made by a layer", Mark(self.path),
                            received=graph.output[0].name)
        if out.layer != self.last:
            self.emit("identity", {}, [out], out.shape, "output")
        if len(shape) == 3:
            n_C, n_H, n_W = shape
            spec_input = [n_H, n_W, n_C]
        else:
            spec_input = list(shape)
        name = _name(_base(self.path).rsplit(".", 1)[0]) or _name(graph.name) or "imported"
        return Imported({"name": name, "input": spec_input, "layers": self.layers}, self.weights)

    def _input_shape(self, value_info) -> tuple:
        dims = value_info.type.tensor_type.shape.dim
        known = [d.dim_value if d.HasField("dim_value") else None for d in dims]
        if len(known) not in (2, 4):
            raise OnnxError("the model's input must be images (m, n_C, n_H, n_W) or vectors (m, n)",
                            Mark(self.path), received=known)
        if self.input_override is not None:
            given = tuple(self.input_override)
            if len(known) == 4 and len(given) == 3:
                n_H, n_W, n_C = given
                if known[1] is not None and known[1] != n_C:
                    raise OnnxError("--input gives another number of channels than the model takes",
                                    Mark(self.path), "input", received=n_C, allowed=str(known[1]))
                return (n_C, n_H, n_W)
            if len(known) == 2 and len(given) == 1:
                return given
            raise OnnxError("--input does not fit the model's input", Mark(self.path), "input",
                            received=list(given), allowed="n_H,n_W,n_C" if len(known) == 4 else "n")
        if any(d is None or d < 1 for d in known[1:]):
            raise OnnxError("the model's input has dynamic sizes", Mark(self.path), "input",
                            received=["?" if d is None else d for d in known],
                            fix="give them with --input n_H,n_W,n_C")
        return tuple(known[1:])

    # -- layers

    def emit(self, kind: str, fields: dict, inputs: list, shape: tuple, node_name: str) -> _Value:
        name = self._fresh(node_name, kind)
        body = dict(fields)
        body["name"] = name
        sources = [v.layer for v in inputs]
        if len(sources) > 1 or sources != [self.last]:
            body["from"] = sources[0] if len(sources) == 1 else sources
        self.layers.append({kind: body})
        self.fields[name], self.kinds[name], self.sources[name] = body, kind, sources
        self.last = name
        return _Value(name, shape)

    def _fresh(self, node_name: str, kind: str) -> str:
        segments = [s for s in (node_name or "").split("/") if s]
        op = segments.pop() if len(segments) > 1 or (segments and "/" in node_name) else None
        path: list[str] = []
        for s in segments:
            if path and s.startswith(path[-1] + "."):
                path[-1] = s  # torch writes `/layer1/layer1.0/…`: the child's segment repeats its parent's
            else:
                path.append(s)
        base = _name("_".join(path)) or _name(node_name) or kind
        if base in self.names and op:
            base = f"{base}_{_name(op).lower()}"
        name, i = base, 1
        while name in self.names:
            name, i = f"{base}_{i}", i + 1
        self.names.add(name)
        return name

    def weight(self, layer: str, role: str, array) -> None:
        self.weights[f"{layer}.{role}"] = self.np.ascontiguousarray(array, dtype=self.np.float32)

    # -- small helpers for the handlers

    def const(self, value):
        if value is None or isinstance(value, (_Value, _View)):
            raise _Unsupported()
        return value

    def attrs(self, node) -> dict:
        get = self.onnx.helper.get_attribute_value
        out = {}
        for a in node.attribute:
            v = get(a)
            out[a.name] = v.decode() if isinstance(v, bytes) else v
        return out


def _name(text: str) -> str:
    text = re.sub(r"[^A-Za-z0-9_\-]+", "_", text).strip("_")
    if text and not re.match(r"[A-Za-z_]", text):
        text = "l" + text
    return "input_layer" if text == INPUT else text


def _value(v) -> _Value:
    if not isinstance(v, _Value):
        raise _Unsupported()
    return v


def _map(v) -> _Value:
    """A layer output of shape (n_C, n_H, n_W)."""
    v = _value(v)
    if len(v.shape) != 3:
        raise _Unsupported()
    return v


# ---------------------------------------------------------------------------------------------
# the window of Conv, ConvTranspose, MaxPool, AveragePool


def _window(node, a: dict, n_H: int, n_W: int, f_H: int, f_W: int, transposed=False):
    """(stride, dilation, (top, bottom, left, right), padding field) from ONNX's attributes.

    ONNX writes pads as [x1_begin, x2_begin, x1_end, x2_end] = [top, left, bottom, right];
    cnncalc's padding is [top, bottom, left, right]."""
    s_H, s_W = a.get("strides", [1, 1])
    d_H, d_W = a.get("dilations", [1, 1])
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("NOTSET", "VALID"):
        p = a.get("pads", [0, 0, 0, 0]) if auto == "NOTSET" else [0, 0, 0, 0]
        top, left, bottom, right = p
    elif auto in ("SAME_UPPER", "SAME_LOWER") and not transposed:
        from cnncalc.layers.arith import same_padding

        (top, bottom), (left, right) = same_padding(n_H, f_H, s_H, d_H), same_padding(n_W, f_W, s_W, d_W)
        if auto == "SAME_LOWER":
            top, bottom, left, right = bottom, top, right, left
    else:
        raise _Unsupported(f"{node.op_type} (auto_pad {auto})")
    pads = (top, bottom, left, right)
    if top == bottom == left == right:
        padding = top
    elif top == bottom and left == right:
        padding = [top, left]
    else:
        padding = list(pads)
    return (s_H, s_W), (d_H, d_W), pads, padding


def _pair(h: int, w: int):
    return h if h == w else [h, w]


def _conv(c: _Converter, node, values):
    """Conv → conv (groups, dilation, bias when a third input is given)."""
    x, W = _map(values[0]), c.const(values[1])
    a = c.attrs(node)
    n_C_prev, n_H, n_W = x.shape
    n_C, _, f_H, f_W = W.shape
    groups = a.get("group", 1)
    (s_H, s_W), (d_H, d_W), (t, b, l, r), padding = _window(node, a, n_H, n_W, f_H, f_W)
    fields = {"filters": int(n_C), "kernel": _pair(int(f_H), int(f_W)), "stride": _pair(s_H, s_W),
              "padding": padding}
    bias = _conv_options(fields, d_H, d_W, groups, values)
    shape = (int(n_C), out_length(n_H, int(f_H), s_H, t, b, d_H).n_out,
             out_length(n_W, int(f_W), s_W, l, r, d_W).n_out)
    out = c.emit("conv", fields, [x], shape, node.name)
    c.weight(out.layer, "weight", W)
    if bias:
        c.weight(out.layer, "bias", c.const(values[2]))
    return out


def _conv_options(fields: dict, d_H: int, d_W: int, groups: int, values) -> bool:
    """The options Conv and ConvTranspose share, added to fields where not the default: dilation, groups,
    and bias (whether the node has a third input); returns bias."""
    if (d_H, d_W) != (1, 1):
        fields["dilation"] = _pair(d_H, d_W)
    if groups != 1:
        fields["groups"] = groups
    bias = len(values) > 2 and values[2] is not None
    fields["bias"] = bias
    return bias


def _conv_transpose(c: _Converter, node, values):
    """ConvTranspose → conv_transpose (W: (n_C_prev, n_C/groups, f_H, f_W))."""
    x, W = _map(values[0]), c.const(values[1])
    a = c.attrs(node)
    if "output_shape" in a:
        raise _Unsupported("ConvTranspose (output_shape)")
    n_C_prev, n_H, n_W = x.shape
    groups = a.get("group", 1)
    n_C = int(W.shape[1]) * groups
    f_H, f_W = int(W.shape[2]), int(W.shape[3])
    (s_H, s_W), (d_H, d_W), (t, b, l, r), padding = _window(node, a, n_H, n_W, f_H, f_W, transposed=True)
    o_H, o_W = a.get("output_padding", [0, 0])
    if o_H != o_W:
        raise _Unsupported("ConvTranspose (output_padding differs by axis)")
    fields = {"filters": n_C, "kernel": _pair(f_H, f_W), "stride": _pair(s_H, s_W), "padding": padding}
    if o_H:
        fields["output_padding"] = o_H
    bias = _conv_options(fields, d_H, d_W, groups, values)
    shape = (n_C, transposed_length(n_H, f_H, s_H, t, b, d_H, o_H).n_out,
             transposed_length(n_W, f_W, s_W, l, r, d_W, o_H).n_out)
    out = c.emit("conv_transpose", fields, [x], shape, node.name)
    c.weight(out.layer, "weight", W)
    if bias:
        c.weight(out.layer, "bias", c.const(values[2]))
    return out


def _pool(kind: str):
    def handler(c: _Converter, node, values):
        """MaxPool → maxpool, AveragePool → avgpool (ceil_mode; count_include_pad, ONNX's default 0)."""
        x = _map(values[0])
        a = c.attrs(node)
        if len(node.output) > 1 and node.output[1]:
            raise _Unsupported(f"{node.op_type} (indices output)")
        if a.get("dilations", [1, 1]) != [1, 1]:
            raise _Unsupported(f"{node.op_type} (dilations)")
        f_H, f_W = a["kernel_shape"]
        n_C, n_H, n_W = x.shape
        (s_H, s_W), _, (t, b, l, r), padding = _window(node, a, n_H, n_W, f_H, f_W)
        ceil = bool(a.get("ceil_mode", 0))
        fields = {"kernel": _pair(f_H, f_W), "stride": _pair(s_H, s_W), "padding": padding}
        if ceil:
            fields["ceil_mode"] = True
        if kind == "avgpool":
            fields["count_include_pad"] = bool(a.get("count_include_pad", 0))
        shape = (n_C, out_length(n_H, f_H, s_H, t, b, 1, ceil).n_out, out_length(n_W, f_W, s_W, l, r, 1, ceil).n_out)
        return c.emit(kind, fields, [x], shape, node.name)
    return handler


def _global_pool(kind: str):
    def handler(c: _Converter, node, values):
        """GlobalAveragePool → global_avgpool, GlobalMaxPool → global_maxpool, keeping (n_C, 1, 1)."""
        x = _map(values[0])
        return c.emit(kind, {"keep_dims": True}, [x], (x.shape[0], 1, 1), node.name)
    return handler


def _reduce_mean(c: _Converter, node, values):
    """ReduceMean over the spatial axes (x.mean([2, 3])) → global_avgpool."""
    x = _map(values[0])
    a = c.attrs(node)
    axes = a.get("axes")
    if axes is None and len(values) > 1 and values[1] is not None:
        axes = [int(v) for v in c.const(values[1])]
    if sorted(ax % 4 for ax in (axes or [])) != [2, 3]:
        raise _Unsupported("ReduceMean (not over the spatial axes)")
    keep = bool(a.get("keepdims", 1))
    shape = (x.shape[0], 1, 1) if keep else (x.shape[0],)
    return c.emit("global_avgpool", {"keep_dims": keep}, [x], shape, node.name)


def _dense_input(v) -> _Value:
    v = _value(v)
    if len(v.shape) != 1:
        raise _Unsupported()
    return v


def _gemm(c: _Converter, node, values):
    """Gemm (alpha = beta = 1, A not transposed) → dense; W = B with transB=1 (PyTorch's Linear), else Bᵀ."""
    x, B = _dense_input(values[0]), c.const(values[1])
    a = c.attrs(node)
    if a.get("transA", 0) or a.get("alpha", 1.0) != 1.0 or a.get("beta", 1.0) != 1.0:
        raise _Unsupported("Gemm (transA, alpha or beta)")
    W = B if a.get("transB", 0) else B.T
    bias = len(values) > 2 and values[2] is not None
    out = c.emit("dense", {"units": int(W.shape[0]), "bias": bias}, [x], (int(W.shape[0]),), node.name)
    c.weight(out.layer, "weight", W)
    if bias:
        C = c.np.broadcast_to(c.const(values[2]), (int(W.shape[0]),))
        c.weight(out.layer, "bias", C)
    return out


def _matmul(c: _Converter, node, values):
    """MatMul of a vector by a constant (n_prev, n) → dense without bias (an Add after it becomes its bias)."""
    x, B = _dense_input(values[0]), c.const(values[1])
    if B.ndim != 2:
        raise _Unsupported("MatMul (not a dense layer)")
    out = c.emit("dense", {"units": int(B.shape[1]), "bias": False}, [x], (int(B.shape[1]),), node.name)
    c.weight(out.layer, "weight", B.T)
    return out


def _batchnorm(c: _Converter, node, values):
    """BatchNormalization → batchnorm; ONNX's momentum m is PyTorch's 1 − m."""
    x = _value(values[0])
    scale, bias, mean, var = (c.const(v) for v in values[1:5])
    a = c.attrs(node)
    # float32 attributes read back as 0.0010000000474974513: six significant digits say what was meant
    fields = {"eps": float(f"{a.get('epsilon', 1e-5):.6g}"), "momentum": float(f"{1.0 - a.get('momentum', 0.9):.6g}")}
    out = c.emit("batchnorm", fields, [x], x.shape, node.name)
    for role, array in (("weight", scale), ("bias", bias), ("running_mean", mean), ("running_var", var)):
        c.weight(out.layer, role, array)
    c.weights[f"{out.layer}.num_batches_tracked"] = c.np.zeros((), c.np.int64)
    return [out]  # a training-mode export's running-statistics outputs stay unknown (unused)


def _activation(kind: str, check=None):
    def handler(c: _Converter, node, values):
        x = _value(values[0])
        fields = check(c, node, values) if check else {}
        return c.emit(kind, fields, [x], x.shape, node.name)
    handler.__doc__ = f"→ {kind}"
    return handler


def _leaky(c, node, _values):
    return {"alpha": float(c.attrs(node).get("alpha", 0.01))}


def _elu(c, node, _values):
    return {"alpha": float(c.attrs(node).get("alpha", 1.0))}


def _hardsigmoid(c, node, _values):
    a = c.attrs(node)  # PyTorch's hardsigmoid: relu6(x + 3)/6
    if abs(a.get("alpha", 0.2) - 1 / 6) > 1e-6 or abs(a.get("beta", 0.5) - 0.5) > 1e-6:
        raise _Unsupported("HardSigmoid (alpha ≠ 1/6 or beta ≠ 0.5)")
    return {}


def _softmax(c, node, values):
    x = _value(values[0])
    axis = c.attrs(node).get("axis", -1)
    if len(x.shape) != 1 or axis not in (1, -1):
        raise _Unsupported("Softmax (not over the classes of a vector)")
    return {}


def _clip(c: _Converter, node, values):
    """Clip(0, 6) → relu6, Clip(0, ∞) → relu."""
    x = _value(values[0])
    a = c.attrs(node)
    low = a.get("min", None) if len(values) < 2 or values[1] is None else float(c.const(values[1]))
    high = a.get("max", None) if len(values) < 3 or values[2] is None else float(c.const(values[2]))
    if low == 0 and high == 6:
        return c.emit("relu6", {}, [x], x.shape, node.name)
    if low == 0 and high is None:
        return c.emit("relu", {}, [x], x.shape, node.name)
    raise _Unsupported("Clip (not 0…6 or 0…∞)")


def _prelu(c: _Converter, node, values):
    x, slope = _value(values[0]), c.const(values[1])
    out = c.emit("prelu", {"num_parameters": int(slope.size)}, [x], x.shape, node.name)
    c.weight(out.layer, "weight", slope.reshape(-1))
    return out


def _dropout(c: _Converter, node, values):
    """Dropout → dropout (ratio attribute or input)."""
    x = _value(values[0])
    rate = c.attrs(node).get("ratio", 0.5)
    if len(values) > 1 and values[1] is not None:
        rate = float(c.const(values[1]))
    return [c.emit("dropout", {"rate": round(float(rate), 6)}, [x], x.shape, node.name)]


def _identity(_c: _Converter, _node, values):
    """Identity → nothing: the output is the input (constant or layer)."""
    return values[0]


def _broadcast(a: tuple, b: tuple) -> tuple | None:
    if a == b:
        return a
    if len(a) == len(b) == 3:
        if a[0] == b[0] and b[1:] == (1, 1):
            return a
        if a[0] == b[0] and a[1:] == (1, 1):
            return b
    return None


def _binary(kind: str):
    def handler(c: _Converter, node, values):
        """Add → add (a residual), Mul → mul (a gate (n_C, 1, 1) broadcast over a map); x · sigmoid(x) → silu;
        an Add of a constant vector after a bias-free dense layer → that layer's bias; constants fold."""
        a, b = values[0], values[1]
        if not isinstance(a, (_Value, _View)) and not isinstance(b, (_Value, _View)):
            return _fold(c, node.op_type, a, b)
        if kind == "mul" and isinstance(a, _Value) and isinstance(b, _Value):
            silu = _silu(c, a, b) or _silu(c, b, a)
            if silu:
                return silu
        if kind == "add" and (isinstance(a, _Value) != isinstance(b, _Value)):
            return _dense_bias(c, node, a, b)
        a, b = _value(a), _value(b)
        shape = _broadcast(a.shape, b.shape)
        if shape is None:
            raise _Unsupported(f"{node.op_type} (shapes that do not broadcast as a residual or a gate)")
        return c.emit(kind, {}, [a, b], shape, node.name)
    return handler


def _silu(c: _Converter, x: _Value, s: _Value):
    """x · sigmoid(x), as PyTorch exports SiLU: the sigmoid layer becomes silu and the Mul adds nothing."""
    if c.kinds.get(s.layer) != "sigmoid" or c.last != s.layer or s.shape != x.shape:
        return None
    if c.sources[s.layer] != [x.layer]:
        return None
    body = c.fields[s.layer]
    sig = [n for n, v in c.tensors.items() if isinstance(v, _Value) and v.layer == s.layer]
    if any(c.uses.get(n, 0) > 1 for n in sig):
        return None
    c.layers[-1] = {"silu": body}
    c.kinds[s.layer] = "silu"
    return s


def _dense_bias(c: _Converter, node, a, b):
    x, bias = (a, b) if isinstance(a, _Value) else (b, a)
    if c.kinds.get(x.layer) != "dense" or c.fields[x.layer]["bias"] or c.last != x.layer:
        raise _Unsupported(f"{node.op_type} (a constant added to a layer's output)")
    c.fields[x.layer]["bias"] = True
    c.weight(x.layer, "bias", c.np.broadcast_to(bias, x.shape))
    return x


def _concat(c: _Converter, node, values):
    """Concat of layer outputs on the channels → concat; of constants (shape arithmetic) → folded."""
    axis = c.attrs(node)["axis"]
    if all(not isinstance(v, (_Value, _View)) for v in values):
        return c.np.concatenate([c.np.atleast_1d(v) for v in values], axis=axis)
    xs = [_value(v) for v in values]
    if len(xs) == 1:
        return xs[0]  # torch.cat of one tensor
    rank = len(xs[0].shape) + 1
    if axis % rank != 1 or any(len(x.shape) != len(xs[0].shape) or x.shape[1:] != xs[0].shape[1:] for x in xs):
        raise _Unsupported("Concat (not on the channels)")
    shape = (sum(x.shape[0] for x in xs),) + xs[0].shape[1:]
    return c.emit("concat", {}, xs, shape, node.name)


def _channel_range(c: _Converter, x: _Value, start: int, stop: int, node_name: str) -> _Value:
    return c.emit("channel_slice", {"start": start, "stop": stop}, [x], (stop - start,) + x.shape[1:], node_name)


def _split(c: _Converter, node, values):
    """Split on the channels → one channel_slice per part."""
    x = _map(values[0])
    a = c.attrs(node)
    if a.get("axis", 0) % 4 != 1:
        raise _Unsupported("Split (not on the channels)")
    parts = a.get("split")
    if parts is None and len(values) > 1 and values[1] is not None:
        parts = [int(v) for v in c.const(values[1])]
    if parts is None:
        n = a.get("num_outputs", len(node.output))
        size = -(-x.shape[0] // n)
        parts = [min(size, x.shape[0] - i * size) for i in range(n)]
    outs, start = [], 0
    for part in parts:
        outs.append(_channel_range(c, x, start, start + part, node.name))
        start += part
    return outs


def _slice(c: _Converter, node, values):
    """Slice of a map on the channels (step 1) → channel_slice; of constants → folded."""
    data = values[0]
    starts, ends = (list(c.const(v)) for v in values[1:3])
    axes = list(c.const(values[3])) if len(values) > 3 and values[3] is not None else list(range(len(starts)))
    steps = list(c.const(values[4])) if len(values) > 4 and values[4] is not None else [1] * len(starts)
    if not isinstance(data, (_Value, _View)):
        index = [slice(None)] * data.ndim
        for s, e, ax, st in zip(starts, ends, axes, steps):
            index[int(ax)] = slice(int(s), int(e), int(st))
        return data[tuple(index)]
    x = _map(data)
    if len(axes) != 1 or int(axes[0]) % 4 != 1 or int(steps[0]) != 1:
        raise _Unsupported("Slice (not a range of channels)")
    n_C = x.shape[0]
    start, stop = (min(max(int(v) + (n_C if int(v) < 0 else 0), 0), n_C) for v in (starts[0], ends[0]))
    if stop <= start:
        raise _Unsupported("Slice (an empty range of channels)")
    return _channel_range(c, x, start, stop, node.name)


def _target(size: int, shape: tuple, spec) -> list[int]:
    """Reshape's target with 0 (copy) and −1 (infer) resolved; the batch axis is size 1."""
    full = (1,) + tuple(shape)
    dims = [full[i] if int(d) == 0 and i < len(full) else int(d) for i, d in enumerate(spec)]
    if dims.count(-1) == 1:
        known = 1
        for d in dims:
            known *= d if d != -1 else 1
        dims[dims.index(-1)] = size // known
    return dims


def _reshape(c: _Converter, node, values):
    """Reshape that flattens → flatten; the two reshapes of a channel shuffle → channel_shuffle."""
    data, spec = values[0], c.const(values[1])
    if not isinstance(data, (_Value, _View)):
        return data.reshape([int(d) for d in spec])
    if isinstance(data, _View):
        if not data.transposed:
            raise _Unsupported("Reshape (not a flatten or a channel shuffle)")
        x = data.src
        if _target(_size(x.shape), x.shape, spec)[1:] != list(x.shape):
            raise _Unsupported("Reshape (not a flatten or a channel shuffle)")
        return c.emit("channel_shuffle", {"groups": data.groups}, [x], x.shape, node.name)
    x = _value(data)
    dims = _target(_size(x.shape), x.shape, spec)
    if dims[0] != 1:
        raise _Unsupported("Reshape (of the batch axis)")
    if dims[1:] == list(x.shape):
        return x
    if len(dims) == 2 and dims[1] == _size(x.shape):
        return _flat(c, node, x)
    if len(x.shape) == 3 and len(dims) == 5 and dims[1] * dims[2] == x.shape[0] and tuple(dims[3:]) == x.shape[1:]:
        return _View(x, dims[1])
    raise _Unsupported("Reshape (not a flatten or a channel shuffle)")


def _transpose(c: _Converter, node, values):
    """The transpose in the middle of a channel shuffle (swap the group axes); constants fold."""
    v = values[0]
    perm = c.attrs(node).get("perm")
    if not isinstance(v, (_Value, _View)):
        return c.np.transpose(v, perm)
    if isinstance(v, _View) and not v.transposed and list(perm) == [0, 2, 1, 3, 4]:
        return _View(v.src, v.groups, True)
    raise _Unsupported("Transpose (not a channel shuffle)")


def _flatten(c: _Converter, node, values):
    """Flatten(axis 1) → flatten ((n_C, n_H, n_W) order, torch.flatten's)."""
    x = _value(values[0])
    if c.attrs(node).get("axis", 1) != 1:
        raise _Unsupported("Flatten (not from axis 1)")
    if len(x.shape) == 1:
        return x
    return _flat(c, node, x)


def _flat(c: _Converter, node, x):
    """x flattened: a flatten layer, or, right after a global pool that nothing else reads, that pool's own
    flat output (cnncalc's global pools give the flat n_C by default, as a spec writes them: the row a
    spec exported to ONNX, GlobalAveragePool + Flatten, comes back as one)."""
    pooled = x.layer == c.last and c.kinds.get(x.layer) in ("global_avgpool", "global_maxpool")
    if pooled and c.uses.get(node.input[0]) == 1 and c.fields[x.layer].get("keep_dims"):
        del c.fields[x.layer]["keep_dims"]
        return _Value(x.layer, (_size(x.shape),))
    return c.emit("flatten", {}, [x], (_size(x.shape),), node.name)


def _resize(c: _Converter, node, values):
    """Resize/Upsample by a whole factor or to a size → upsample (nearest, or linear as bilinear)."""
    x = _map(values[0])
    a = c.attrs(node)
    mode = a.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise _Unsupported(f"{node.op_type} (mode {mode})")
    fields = {"mode": "nearest" if mode == "nearest" else "bilinear"}
    if mode != "nearest" and a.get("coordinate_transformation_mode", "half_pixel") not in ("half_pixel", "pytorch_half_pixel"):
        raise _Unsupported(f"{node.op_type} (align_corners)")
    scales = sizes = None
    if node.op_type == "Upsample":
        scales = a.get("scales") or c.const(values[1])
    else:
        if len(values) > 2 and values[2] is not None and c.const(values[2]).size:
            scales = c.const(values[2])
        if len(values) > 3 and values[3] is not None and c.const(values[3]).size:
            sizes = c.const(values[3])
    n_C, n_H, n_W = x.shape
    if sizes is not None:
        n_H2, n_W2 = int(sizes[-2]), int(sizes[-1])
        fields["size"] = _pair(n_H2, n_W2)
    elif scales is not None:
        s_H, s_W = float(scales[-2]), float(scales[-1])
        if s_H != s_W or s_H != int(s_H) or s_H < 1:
            raise _Unsupported(f"{node.op_type} (a scale that is not one whole number)")
        fields["scale"] = int(s_H)
        n_H2, n_W2 = n_H * int(s_H), n_W * int(s_H)
    else:
        raise _Unsupported(f"{node.op_type} (no scales or sizes)")
    return c.emit("upsample", fields, [x], (n_C, n_H2, n_W2), node.name)


def _size(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


# ---------------------------------------------------------------------------------------------
# shape arithmetic: constants in, constants out


def _constant(c: _Converter, node, _values):
    a = c.attrs(node)
    if "value" in a:
        return c.onnx.numpy_helper.to_array(a["value"])
    for key in ("value_float", "value_int"):
        if key in a:
            return c.np.array(a[key])
    for key in ("value_floats", "value_ints"):
        if key in a:
            return c.np.array(list(a[key]))
    raise _Unsupported("Constant (sparse or string)")


def _shape(c: _Converter, node, values):
    v = values[0]
    if isinstance(v, _View):
        raise _Unsupported("Shape (of a channel shuffle's middle)")
    full = [1] + list(v.shape) if isinstance(v, _Value) else list(v.shape)
    a = c.attrs(node)
    return c.np.array(full[a.get("start", 0):a.get("end", len(full))], c.np.int64)


def _fold(c: _Converter, op: str, a, b):
    np = c.np
    a, b = c.const(a), c.const(b)
    if op == "Add":
        return a + b
    if op == "Sub":
        return a - b
    if op == "Mul":
        return a * b
    if np.issubdtype(np.result_type(a, b), np.integer):
        return np.floor_divide(a, b)  # shape arithmetic: exporters divide sizes that are whole
    return a / b


def _folding(op: str):
    def handler(c: _Converter, _node, values):
        return _fold(c, op, values[0], values[1])
    return handler


def _gather(c: _Converter, node, values):
    data, index = c.const(values[0]), c.const(values[1])
    return c.np.take(data, index, axis=c.attrs(node).get("axis", 0))


def _axes(c: _Converter, node, values):
    axes = c.attrs(node).get("axes")
    if axes is None and len(values) > 1 and values[1] is not None:
        axes = [int(v) for v in c.const(values[1])]
    return axes


def _unsqueeze(c: _Converter, node, values):
    data = c.const(values[0])
    for ax in sorted(_axes(c, node, values)):
        data = c.np.expand_dims(data, ax)
    return data


def _squeeze(c: _Converter, node, values):
    data = c.const(values[0])
    axes = _axes(c, node, values)
    return c.np.squeeze(data, axis=tuple(axes) if axes is not None else None)


def _cast(c: _Converter, node, values):
    to = c.onnx.helper.tensor_dtype_to_np_dtype(c.attrs(node)["to"])
    return c.const(values[0]).astype(to)


def _constant_of_shape(c: _Converter, node, values):
    shape = c.const(values[0])
    a = c.attrs(node)
    fill = c.onnx.numpy_helper.to_array(a["value"]) if "value" in a else c.np.zeros(1, c.np.float32)
    return c.np.full([int(d) for d in shape], fill.reshape(-1)[0], fill.dtype)


# Every supported operator, with the layer kind it becomes (or "fold" for shape arithmetic on constants).
OPS = {
    "Conv": _conv,                                  # conv
    "ConvTranspose": _conv_transpose,               # conv_transpose
    "Gemm": _gemm,                                  # dense
    "MatMul": _matmul,                              # dense (bias from the Add after it)
    "BatchNormalization": _batchnorm,               # batchnorm
    "Relu": _activation("relu"),
    "LeakyRelu": _activation("leaky_relu", _leaky),
    "Elu": _activation("elu", _elu),
    "Sigmoid": _activation("sigmoid"),              # x · sigmoid(x) becomes silu (see _binary)
    "Tanh": _activation("tanh"),
    "HardSigmoid": _activation("hardsigmoid", _hardsigmoid),
    "HardSwish": _activation("hardswish"),
    "Softmax": _activation("softmax", _softmax),
    "Clip": _clip,                                  # relu6 or relu
    "PRelu": _prelu,                                # prelu
    "Add": _binary("add"),                          # add; a dense layer's bias; fold
    "Mul": _binary("mul"),                          # mul (the SE gate); silu; fold
    "Sub": _folding("Sub"),
    "Div": _folding("Div"),
    "Concat": _concat,                              # concat; fold
    "Split": _split,                                # channel_slice per part
    "Slice": _slice,                                # channel_slice; fold
    "Reshape": _reshape,                            # flatten; channel_shuffle (with Transpose); fold
    "Transpose": _transpose,
    "Flatten": _flatten,                            # flatten
    "MaxPool": _pool("maxpool"),
    "AveragePool": _pool("avgpool"),
    "GlobalAveragePool": _global_pool("global_avgpool"),
    "GlobalMaxPool": _global_pool("global_maxpool"),
    "ReduceMean": _reduce_mean,                     # global_avgpool over the spatial axes
    "Resize": _resize,                              # upsample
    "Upsample": _resize,
    "Dropout": _dropout,                            # dropout
    "Identity": _identity,                          # nothing
    "Constant": _constant,                          # fold
    "Shape": _shape,
    "Gather": _gather,
    "Unsqueeze": _unsqueeze,
    "Squeeze": _squeeze,
    "Cast": _cast,
    "ConstantOfShape": _constant_of_shape,
}


# ---------------------------------------------------------------------------------------------
# a run directory that evaluate and predict take


def write_run(imported: Imported, out_dir: str, source: str) -> tuple[str, str]:
    """out_dir/spec.yaml and out_dir/last.npz (engine.checkpoint's format: the weights, no
    optimiser state, no finished epoch), so that `cnncalc evaluate out_dir --data …` and
    `cnncalc predict out_dir …` run the imported network. Returns the two paths."""
    import os

    import numpy as np

    from cnncalc.engine import checkpoint

    try:
        os.makedirs(out_dir, exist_ok=True)
    except OSError as exc:
        raise OnnxError(f"cannot make the run directory: {exc.strerror or exc}", Mark(out_dir)) from None
    spec_path = os.path.join(out_dir, "spec.yaml")
    text = write_spec(imported, spec_path, source)
    graph_input = imported.spec["input"]
    n_classes = _classes(imported)
    # the settings resume would read; the run has trained no epoch, and has no data set of its own
    config = {"spec": spec_path, "data": "", "epochs": 1, "batch_size": 64, "lr": 0.01, "optimizer": "sgd",
              "momentum": 0.9, "weight_decay": 0.0, "schedule": "constant", "seed": 0, "val_fraction": 0.0,
              "input": None, "imported_from": _base(source)}
    rng = np.random.default_rng([0, 1]).bit_generator.state
    meta = {"spec": text, "spec_file": spec_path, "config": config, "epoch": 0, "evaluated": 0, "rng": rng,
            "n_classes": n_classes, "class_names": None, "history": [], "best_val_acc": -1.0,
            "input_shape": list(graph_input)}
    ckpt = os.path.join(out_dir, "last.npz")
    try:
        checkpoint.save(ckpt, imported.weights, {}, meta)
    except OSError as exc:
        raise OnnxError(f"cannot write the checkpoint: {exc.strerror or exc}", Mark(ckpt)) from None
    return spec_path, ckpt


def write_spec(imported: Imported, path: str, source: str) -> str:
    """path replaced atomically by the spec's YAML; returns the text."""
    from cnncalc.engine.atomic import write_text

    text = spec_yaml(imported.spec, source)
    try:
        write_text(path, text)
    except OSError as exc:
        raise OnnxError(f"cannot write the spec: {exc.strerror or exc}", Mark(path)) from None
    return text


def _classes(imported: Imported) -> int | None:
    from cnncalc.spec.parser import parse_text
    from cnncalc.analysis import analyze

    report = analyze(parse_text(spec_yaml(imported.spec), imported.spec["name"]))
    shape = report.totals.output_shape
    return int(shape[0]) if report.error is None and len(shape) == 1 else None
