"""`cnncalc export --to pytorch`: a spec as a readable nn.Module file, trained weights as its state_dict,
and a training script for torchrun.

module_source(report) -> the text of net.py: one attribute per layer, named as in the spec (a dotted
name nests: `layer1.0.conv1` is `self.layer1` → child "0" → child "conv1"), so the module's state_dict
keys are cnncalc's checkpoint names (and torchvision's, for the specs named after its modules); the
forward written out, one line per layer, in the graph's order. Each kind's line comes from its family
(`layers.exporter`, layers/source.py); the exporter names no kind. The file imports only torch.

export_pytorch(spec, out, …) writes net.py, with weights net.pt (the state_dict, torch.save; torch is
then needed at export time, and only then), with train_script the torchrun script beside them.
"""

from __future__ import annotations

import ast
import importlib.util
import keyword
import os
import re
from dataclasses import dataclass
from pathlib import Path

from cnncalc.errors import CnncalcError, Mark, printable

# names a layer's attribute must not take: nn.Module's own (add_module would refuse them) and the class's
_MODULE_ATTRIBUTES = frozenset(
    "add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches eval "
    "extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu load_state_dict "
    "modules mtia named_buffers named_children named_modules named_parameters parameters register_backward_hook "
    "register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook "
    "register_module register_parameter requires_grad_ set_extra_state share_memory state_dict to to_empty "
    "train training type xpu zero_grad INPUT_SHAPE AUX_WEIGHTS".split())
_RESERVED_VARIABLES = frozenset({"self", "x", "logits", "torch", "nn", "F", "aux"})


class ExportError(CnncalcError):
    """The spec or the weights cannot be exported as asked."""


@dataclass(frozen=True)
class Exported:
    """What export_pytorch wrote: the module file, and the weights and the script where asked."""

    module: str
    weights: str | None = None
    script: str | None = None


# ---------------------------------------------------------------- names


def class_name(graph_name: str) -> str:
    """The spec's name as a class name: `resnet18_cifar` → `Resnet18Cifar`; `Net` when nothing is left."""
    words = [w for w in re.split(r"[^0-9A-Za-z]+", graph_name or "") if w]
    name = "".join(w[:1].upper() + w[1:] for w in words)
    return name if name and name.isidentifier() and not name[0].isdigit() else "Net" + name


def _plain(part: str) -> bool:
    return part.isidentifier() and not keyword.iskeyword(part) and part not in _MODULE_ATTRIBUTES


def attribute(dotted: str) -> str:
    """The expression that reaches a layer from self: `self.layer1.conv1`; a part that is not a plain
    identifier (`0`, `conv-1`) through getattr, as nn.Sequential's children are."""
    out = "self"
    for part in dotted.split("."):
        out = f"{out}.{part}" if _plain(part) else f"getattr({out}, {part!r})"
    return out


def _variables(names) -> dict[str, str]:
    """{layer name: the forward's local variable}: dots and dashes as underscores, a leading digit or a
    keyword given an underscore, a clash numbered."""
    taken, out = set(_RESERVED_VARIABLES), {}
    for name in names:
        base = re.sub(r"\W", "_", name)
        if base[0].isdigit() or keyword.iskeyword(base) or base in _RESERVED_VARIABLES:
            base = "_" + base if base[0].isdigit() else base + "_"
        var, k = base, 2
        while var in taken:
            var, k = f"{base}_{k}", k + 1
        taken.add(var)
        out[name] = var
    return out


# ---------------------------------------------------------------- the module's source


def _helper_source(module: str, name: str) -> str:
    """The source of class `name` in `module`'s file, read without importing it (it imports torch)."""
    origin = importlib.util.find_spec(module).origin
    text = Path(origin).read_text(encoding="utf-8")
    for node in ast.parse(text).body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return ast.get_source_segment(text, node)
    raise LookupError(f"{module} has no class {name}")  # our bug: a family names a helper it lacks


def _record(node, row):
    from cnncalc import layers

    source = layers.exporter(node.kind)
    if source is None:
        kind = layers.lookup(node.kind)
        why = f" ({kind.analysis_only})" if kind is not None and kind.analysis_only else ""
        raise ExportError(f"{node.name}: {node.kind} layers have no PyTorch export{why}", node.mark)
    return source(node, row)


def _check_names(graph) -> None:
    """A layer's attribute must not be nn.Module's own, nor a name that is also a group of layers."""
    names = {n.name for n in graph.nodes[1:]}
    for node in graph.nodes[1:]:
        parts = node.name.split(".")
        bad = next((p for p in parts if p in _MODULE_ATTRIBUTES), None)
        if bad is not None:
            raise ExportError(f"{node.name}: the name {bad!r} is an attribute of torch.nn.Module", node.mark,
                              field="name", received=bad, fix="rename the layer")
        for i in range(1, len(parts)):
            if ".".join(parts[:i]) in names:
                raise ExportError(f"{node.name}: {'.'.join(parts[:i])} is both a layer and a group of layers",
                                  node.mark, field="name", fix="rename one of them")


def module_source(report, spec_file: str = "") -> str:
    """The text of net.py for an analysed spec: helper classes, then the network's class. Deterministic:
    the same spec gives the same bytes."""
    from cnncalc import layers
    from cnncalc.engine.executor import logits_of

    if report.error is not None:
        raise ExportError(f"the spec does not analyse: {report.error.line()}")
    graph = report.graph
    if len(graph.input_shape) not in (1, 3):
        raise ExportError("PyTorch's layers take images n_H×n_W×n_C or vectors (n,)", Mark(graph.file),
                          field="input", received=tuple(graph.input_shape))
    _check_names(graph)
    rows = {r.name: r for r in report.rows}
    records = {n.name: _record(n, rows[n.name]) for n in graph.nodes[1:]}
    trainers = {n.kind: layers.trainer(n.kind) for n in graph.nodes[1:]}
    logits = logits_of(graph, trainers)
    aux = [(logits_of(graph, trainers, head.name), head.weight) for head in graph.aux]
    main = graph.reaching(logits) | {graph.output}
    heads = set().union(*(graph.reaching(name) for name, _ in aux)) - main if aux else set()
    nodes = graph.nodes[1:]
    variables = {"input": "x", **_variables([n.name for n in nodes])}
    helpers = []
    for n in nodes:
        for h in records[n.name].helpers:
            if h not in helpers:
                helpers.append(h)
    helper_text = [_helper_source(*h) for h in helpers]

    init = ["        super().__init__()"]
    groups: set[str] = set()
    for n in nodes:
        parts = n.name.split(".")
        for i in range(1, len(parts)):
            group = ".".join(parts[:i])
            if group not in groups:
                groups.add(group)
                init.append(_assign(group, "nn.Module()"))
        init.append(_assign(n.name, records[n.name].build))

    forward, pending_aux = [], []
    for n in nodes:
        line = f"{variables[n.name]} = {attribute(n.name)}({', '.join(variables[i] for i in n.inputs)})"
        if n.name in heads:  # an aux head's layer: run only when asked (training), as the engine does
            pending_aux.append(line)
            continue
        if n.name not in main:  # a dead branch (the analyzer warns of it): the engine does not run it either
            continue
        if pending_aux:
            forward += ["        if aux:"] + [f"            {a}" for a in pending_aux]
            pending_aux = []
        if n.name == graph.output and logits != n.name:
            forward.append(f"        if logits{' or aux' if aux else ''}:  # cross-entropy applies the {n.kind} itself")
            forward.append(f"            return {_returned(variables[logits], aux, variables)}")
        forward.append(f"        {line}")
    if pending_aux:
        forward += ["        if aux:"] + [f"            {a}" for a in pending_aux]
    out_var = variables[graph.output]
    forward.append(f"        return {_returned(out_var, aux, variables) if logits == graph.output else out_var}")

    input_shape = tuple(graph.input_shape)
    torch_shape = (input_shape[2], input_shape[0], input_shape[1]) if len(input_shape) == 3 else input_shape
    needs_f = any(re.search(r"\bF\.", text) for text in helper_text)
    lines = [f'"""{_in_docstring(graph.name or "net")}: a PyTorch module exported by cnncalc'
             + (f" from {_in_docstring(os.path.basename(spec_file))}." if spec_file else "."),
             "",
             f"Input: (m, {', '.join(map(str, torch_shape))}), "
             + ("(m, n_C, n_H, n_W)." if len(torch_shape) == 3 else "(m, n)."),
             "forward(x) returns the last layer's output; forward(x, logits=True) the logits cross-entropy takes"
             + (";\nforward(x, aux=True) (training) (logits, [each aux head's logits]), their losses weighted by "
                "AUX_WEIGHTS." if aux else "."),
             "The state_dict names are the spec's layer names, as in cnncalc's checkpoints; a name that is not",
             "a Python identifier is reached with getattr.",
             '"""',
             "",
             "import torch"]
    if needs_f:
        lines.append("import torch.nn.functional as F")
    lines += ["from torch import nn", ""]
    for text in helper_text:
        lines += ["", text, ""]
    cls = class_name(graph.name)
    signature = "self, x, logits=False, aux=False" if aux else "self, x, logits=False"
    lines += ["", f"class {cls}(nn.Module):",
              f"    INPUT_SHAPE = {torch_shape!r}  # one sample: " + ("(n_C, n_H, n_W)" if len(torch_shape) == 3 else "(n,)"),
              f"    AUX_WEIGHTS = {tuple(w for _, w in aux)!r}",
              "",
              "    def __init__(self):"] + init + ["", f"    def forward({signature}):"] + forward
    lines += ["", "", "Net = " + cls if cls != "Net" else "", "", "",
              'if __name__ == "__main__":',
              f"    model = {cls}().eval()",
              "    print(model(torch.zeros(1, *model.INPUT_SHAPE)).shape)", ""]
    text = "\n".join(lines)
    return re.sub(r"\n{4,}", "\n\n\n", text)


def _in_docstring(text: str) -> str:
    """A spec's name or file name as it may stand in the file's docstring: one line, no quote that ends it,
    no backslash that escapes."""
    return printable(text).replace("\\", "/").replace('"', "'")


def _assign(dotted: str, build: str) -> str:
    parent, _, leaf = dotted.rpartition(".")
    owner = attribute(parent) if parent else "self"
    if _plain(leaf):
        return f"        {owner}.{leaf} = {build}"
    return f"        {owner}.add_module({leaf!r}, {build})"


def _returned(logits_var: str, aux, variables) -> str:
    if not aux:
        return logits_var
    heads = ", ".join(variables[name] for name, _ in aux)
    return f"({logits_var}, [{heads}]) if aux else {logits_var}"


# ---------------------------------------------------------------- the command


def export_pytorch(spec: str, out: str, *, weights: str | None = None, input_shape: tuple | None = None,
                   train_script: bool = False) -> Exported:
    """Write out (net.py), with weights (a run directory or a checkpoint .npz) the state_dict beside it
    as <stem>.pt, and with train_script train.py (see export/torchrun.py). Returns the paths written."""
    from cnncalc import api

    report = api.report(spec, input_shape)
    if not out.endswith(".py"):
        raise ExportError("the output must be a Python file", Mark(out), field="-o", received=out,
                          allowed="a path ending in .py")
    stem = os.path.splitext(os.path.basename(out))[0]
    if not stem.isidentifier() or keyword.iskeyword(stem):
        raise ExportError("the output's name must be importable (train.py imports it)", Mark(out), field="-o",
                          received=os.path.basename(out), allowed="a Python identifier, then .py: net.py")
    text = module_source(report, spec)
    if train_script:
        from cnncalc.engine.executor import check_runnable

        check_runnable(report)  # a classifier: the script trains with cross-entropy
        if spec == "-":
            raise ExportError("--train-script records the spec's file in its checkpoints", Mark(spec),
                              fix="give the spec as a file")
    state = _checked_weights(weights, report) if weights is not None else None
    torch = _torch(out) if state is not None else None  # before anything is written
    folder = os.path.dirname(out)
    try:
        os.makedirs(folder or ".", exist_ok=True)
        _write(out, text)
        weights_path = script_path = None
        if state is not None:
            weights_path = os.path.join(folder, stem + ".pt")
            torch.save({k: torch.from_numpy(v.copy()) for k, v in state.items()}, weights_path)
        if train_script:
            script_path = os.path.join(folder, "train.py")
            _write(script_path, _script(report, spec, stem, input_shape))
    except OSError as exc:
        raise ExportError(f"cannot write the export ({exc.strerror or exc})", Mark(folder or ".")) from None
    return Exported(out, weights_path, script_path)


def _script(report, spec: str, stem: str, input_shape) -> str:
    from cnncalc import layers
    from cnncalc.engine.executor import logits_of
    from cnncalc.export.torchrun import script_source

    graph = report.graph
    trainers = {n.kind: layers.trainer(n.kind) for n in graph.nodes[1:]}
    n_classes = {r.name: r for r in report.rows}[logits_of(graph, trainers)].out_shape[0]
    with open(spec, encoding="utf-8") as fh:
        spec_text = fh.read()
    return script_source(stem, class_name(graph.name), spec_text, os.path.abspath(spec), input_shape,
                         graph.input_shape, n_classes, re.sub(r"[^0-9A-Za-z_.-]+", "-", graph.name or "net"))


def _write(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def _checked_weights(weights: str, report) -> dict:
    """The checkpoint's arrays, checked against the spec's tensors by name, shape and dtype."""
    from cnncalc.engine import checkpoint
    from cnncalc.engine.params import layout

    state, _, meta = checkpoint.load(weights)
    where = Mark(meta["path"])
    expected = {t.name: t for t in layout(report)}
    missing = [k for k in expected if k not in state]
    extra = [k for k in state if k not in expected]
    if missing or extra:
        raise ExportError("the checkpoint's weights are not this spec's", where,
                          received=f"missing {missing[:3]}, unexpected {extra[:3]}",
                          fix="export the spec the run trained (its spec.yaml)")
    for name, t in expected.items():
        if tuple(state[name].shape) != t.shape:
            raise ExportError("the checkpoint's weights are not this spec's", where, field=name,
                              received=tuple(state[name].shape), allowed=str(t.shape))
    return {name: state[name] for name in expected}


def _torch(out: str):
    """torch, which --weights needs to write the state_dict (torch.save); only then."""
    try:
        import torch
    except ImportError:
        raise ExportError("--weights writes a PyTorch state_dict and needs torch", Mark(out), field="--weights",
                          fix="pip install torch") from None
    return torch
