"""ONNX import: torchvision models exported by torch.onnx.export inside the test, imported and
analysed, against the torchvision modules themselves (forward hooks), the ONNX file's own
initializers, onnx's ReferenceEvaluator, and hand-built graphs.

Exports run at 64×64 (every listed model's spatial sizes stay ≥ 1 there; counts_of measures the
module at the same size), once per session (module-scoped fixture). The legacy TorchScript exporter
is used (dynamo=False: the dynamo one needs onnxscript); in eval mode it folds each batchnorm that
follows a conv into that conv (weights rescaled, a bias added), so the file holds 3·n_C fewer
numbers per folded batchnorm than the module; a TrainingMode.TRAINING export keeps them.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
from torchvision_import import counts_of, torchvision_or_skip
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.cli import app

SIZE = 64
MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "efficientnet_b0",
          "shufflenet_v2_x1_0", "googlenet", "densenet121", "squeezenet1_1"]
KWARGS = {"googlenet": {"aux_logits": False, "init_weights": False}}

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def _export(torch, model, path, training=False, size=SIZE, n_C=3):
    import warnings

    kw = {"training": torch.onnx.TrainingMode.TRAINING, "do_constant_folding": False} if training else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(model, torch.zeros(1, n_C, size, size), str(path), dynamo=False, opset_version=17, **kw)
    return str(path)


class _Exports:
    """Each torchvision model built once (seeded, batchnorm statistics made non-trivial) and exported once."""

    def __init__(self, folder):
        self.folder, self.done = folder, {}

    def get(self, name, training=False):
        key = (name, training)
        if key not in self.done:
            torch = pytest.importorskip("torch")
            pytest.importorskip("onnx")
            tv = torchvision_or_skip()
            torch.manual_seed(0)
            model = getattr(tv.models, name)(**KWARGS.get(name, {})).eval()
            for module in model.modules():
                if isinstance(module, torch.nn.BatchNorm2d):  # fresh statistics (0, 1) would hide a misplaced one
                    module.running_mean.uniform_(-0.2, 0.2)
                    module.running_var.uniform_(0.5, 1.5)
            path = _export(torch, model, self.folder / f"{name}{'_train' if training else ''}.onnx", training)
            self.done[key] = (model, path)
        return self.done[key]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    return _Exports(tmp_path_factory.mktemp("onnx"))


def _hooked_shapes(torch, model, size=SIZE):
    """(kind, out shape (n_H, n_W, n_C) or (n,)) of every Conv2d, Linear, MaxPool2d and AvgPool2d call, in call order."""
    nn = torch.nn
    kinds = {nn.Conv2d: "conv", nn.Linear: "dense", nn.MaxPool2d: "maxpool", nn.AvgPool2d: "avgpool"}
    seen = []

    def hook(module, _inputs, out):
        shape = tuple(out.shape[1:])
        seen.append((kinds[type(module)], shape[1:] + shape[:1] if len(shape) == 3 else shape))

    handles = [m.register_forward_hook(hook) for m in model.modules() if type(m) in kinds]
    try:
        with torch.no_grad():
            model.eval()(torch.zeros(1, 3, size, size))
    finally:
        for h in handles:
            h.remove()
    return seen


def _file_batchnorm_channels(path) -> int:
    """Σ n_C of the BatchNormalization nodes the ONNX file still holds (read with onnx alone)."""
    import onnx

    model = onnx.load(path)
    sizes = {i.name: list(i.dims) for i in model.graph.initializer}
    for n in model.graph.node:  # the exporter shares equal initializers through Identity nodes
        if n.op_type == "Identity" and n.input[0] in sizes:
            sizes[n.output[0]] = sizes[n.input[0]]
    return sum(sizes[n.input[1]][0] for n in model.graph.node if n.op_type == "BatchNormalization")


@pytest.mark.parametrize("name", MODELS)
def test_torchvision_model_imports_with_the_modules_counts(exports, name):
    torch = pytest.importorskip("torch")
    model, path = exports.get(name)
    report = api.report(path)
    assert report.error is None, report.error
    theirs = counts_of(model, (SIZE, SIZE, 3))
    t = report.totals
    assert t.macs == theirs["macs"]
    assert tuple(t.output_shape) == theirs["output_shape"]
    # the file holds what the module holds less 3·n_C per folded batchnorm (γ, β, mean, var gone, a conv bias added)
    bn_channels = sum(m.num_features for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    folded = bn_channels - _file_batchnorm_channels(path)
    assert t.trainable + t.non_trainable == theirs["trainable"] + theirs["non_trainable"] - 3 * folded
    kinds = {"conv", "dense", "maxpool", "avgpool"}
    ours = [(r.kind, tuple(r.out_shape)) for r in report.rows if r.kind in kinds]
    assert ours == _hooked_shapes(torch, model)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_a_training_mode_export_keeps_the_batchnorms(exports, name):
    model, path = exports.get(name, training=True)
    report = api.report(path)
    assert report.error is None, report.error
    theirs = counts_of(model, (SIZE, SIZE, 3))
    assert (report.totals.trainable, report.totals.non_trainable, report.totals.macs) == \
        (theirs["trainable"], theirs["non_trainable"], theirs["macs"])
    assert any(r.kind == "batchnorm" for r in report.rows)


def _rows(report):
    return [(r.name, r.kind, tuple(r.out_shape), r.trainable, r.non_trainable, r.macs) for r in report.rows]


@pytest.mark.parametrize("name", ["shufflenet_v2_x1_0", "efficientnet_b0", "densenet121"])
def test_the_written_yaml_parses_back_to_the_same_report(exports, name, tmp_path):
    _, path = exports.get(name)
    out = tmp_path / "net.yaml"
    result = invoke("import", path, "-o", out)
    assert result.exit_code == 0, result.output
    assert _rows(api.report(str(out))) == _rows(api.report(path))
    text = out.read_text()
    assert "from:" in text  # branches are named …
    assert text.count("from:") < text.count("\n  - ") / 2  # … but a chain reads the layer before it unsaid


def _engine_logits(spec_text, file, weights, x):
    from cnncalc.engine import train as tr

    _, network = tr.build(spec_text, file, x.shape[0])
    network.load_state(weights, file)
    return network.forward(np.ascontiguousarray(x), train=False)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small", "shufflenet_v2_x1_0"])
def test_imported_weights_give_the_modules_outputs(exports, name):
    torch = pytest.importorskip("torch")
    from cnncalc.importers import onnx as importer

    model, path = exports.get(name)
    imported = importer.read(path)
    x = torch.randn(2, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = model(x).numpy()
    ours = _engine_logits(importer.spec_yaml(imported.spec), path, imported.weights, x.numpy())
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * scale)


def test_a_small_net_with_ceil_mode_pools_imports_and_runs_the_same(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU6(), nn.MaxPool2d(3, 2, ceil_mode=True),
                        nn.Upsample(scale_factor=2), nn.AvgPool2d(3, 2, ceil_mode=True), nn.Flatten(),
                        nn.Linear(4 * 5 * 5, 3)).eval()
    path = _export(torch, net, tmp_path / "small.onnx", size=10, n_C=1)
    report = api.report(path)
    assert report.error is None, report.error
    shapes = [tuple(r.out_shape) for r in report.rows if r.kind in ("maxpool", "upsample", "avgpool")]
    # maxpool 3 s2 ceil: ⌈(10 − 3)/2⌉ + 1 = 5 (floor: 4); upsample ×2: 10; avgpool 3 s2 ceil: 5 again
    assert shapes == [(5, 5, 4), (10, 10, 4), (5, 5, 4)]
    from cnncalc.importers import onnx as importer

    imported = importer.read(path)
    x = torch.randn(2, 1, 10, 10, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = net(x).numpy()
    ours = _engine_logits(importer.spec_yaml(imported.spec), path, imported.weights, x.numpy())
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-5)


def test_ceil_mode_and_asymmetric_pads_give_onnx_references_shapes(tmp_path):
    """Hand-built graph: Conv with pads [top 0, left 1, bottom 2, right 3] (ONNX's order), MaxPool
    ceil mode, Gemm with transB=0; shapes and values against onnx.reference.ReferenceEvaluator."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    from cnncalc.importers import onnx as importer

    rng = np.random.default_rng(0)
    W = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    b = rng.standard_normal(3).astype(np.float32)
    # conv: n_H = 8 + 0 + 2 − 3 + 1 = 8, n_W = 7 + 1 + 3 − 3 + 1 = 9; maxpool 2 s2 ceil: 4, ⌈7/2⌉ + 1 = 5
    B = rng.standard_normal((3 * 4 * 5, 4)).astype(np.float32)  # transB=0: (n_prev, n)
    C = rng.standard_normal(4).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["c"], name="conv", pads=[0, 1, 2, 3], kernel_shape=[3, 3]),
             helper.make_node("Relu", ["c"], ["r"], name="act"),
             helper.make_node("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
             helper.make_node("Flatten", ["p"], ["f"], name="flat", axis=1),
             helper.make_node("Gemm", ["f", "B", "C"], ["y"], name="fc", transB=0)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 8, 7])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
                              [numpy_helper.from_array(a, n) for a, n in ((W, "W"), (b, "b"), (B, "B"), (C, "C"))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = str(tmp_path / "hand.onnx")
    onnx.save(model, path)
    report = api.report(path)
    assert report.error is None, report.error
    assert [tuple(r.out_shape) for r in report.rows[1:3]] == [(8, 9, 3), (8, 9, 3)]
    assert tuple(report.rows[3].out_shape) == (4, 5, 3)
    x = rng.standard_normal((1, 2, 8, 7)).astype(np.float32)
    expected = ReferenceEvaluator(model).run(None, {"x": x})[0]
    imported = importer.read(path)
    ours = _engine_logits(importer.spec_yaml(imported.spec), path, imported.weights, x)
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4)


def _graph_file(tmp_path, nodes, inputs, outputs, initializers=(), name="m.onnx"):
    import onnx
    from onnx import helper

    graph = helper.make_graph(nodes, "g", inputs, outputs, list(initializers))
    path = str(tmp_path / name)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_matmul_then_add_is_one_dense_layer_with_its_bias(tmp_path):
    """Keras- and TF-style exports write Flatten → MatMul(x, B: (n_prev, n)) → Add(bias)."""
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper
    from onnx.reference import ReferenceEvaluator

    from cnncalc.importers import onnx as importer

    rng = np.random.default_rng(3)
    B = rng.standard_normal((2 * 3 * 3, 5)).astype(np.float32)
    C = rng.standard_normal(5).astype(np.float32)
    nodes = [helper.make_node("Flatten", ["x"], ["f"], name="flat"),
             helper.make_node("MatMul", ["f", "B"], ["m"], name="fc"),
             helper.make_node("Add", ["m", "C"], ["a"], name="fc_bias"),
             helper.make_node("Softmax", ["a"], ["y"], name="probs", axis=1)]
    path = _graph_file(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 3, 3])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])],
                       [numpy_helper.from_array(B, "B"), numpy_helper.from_array(C, "C")])
    report = api.report(path)
    assert [(r.kind, r.trainable) for r in report.rows[1:]] == [("flatten", 0), ("dense", 18 * 5 + 5), ("softmax", 0)]
    import onnx

    x = rng.standard_normal((1, 2, 3, 3)).astype(np.float32)
    expected = ReferenceEvaluator(onnx.load(path)).run(None, {"x": x})[0]
    imported = importer.read(path)
    logits = _engine_logits(importer.spec_yaml(imported.spec), path, imported.weights, x)
    ours = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()  # the engine stops at the logits
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-6)


def test_unsupported_operators_are_one_line_with_names_and_counts(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Erf", ["x"], ["a"], name="erf1"),
             helper.make_node("Erf", ["a"], ["b"], name="erf2"),
             helper.make_node("Relu", ["x"], ["c"], name="ok"),
             helper.make_node("Celu", ["c"], ["y"], name="odd")]
    path = _graph_file(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 4, 4])])
    result = invoke("summary", path)
    assert result.exit_code == 1
    assert "Traceback" not in result.output
    line = result.output.strip()
    assert "\n" not in line
    assert path in line and "Celu ×1 (odd)" in line and "Erf ×1 (erf1)" in line
    # erf2 reads erf1's output: not reported again, nothing is guessed for it


def test_a_damaged_file_or_node_is_one_line(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08\x07 certainly not protobuf \xff\xfe")
    result = invoke("params", garbage)
    assert result.exit_code == 1 and "Traceback" not in result.output and str(garbage) in result.output
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="no_kernel")]  # kernel_shape is required
    path = _graph_file(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 4, 4])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2, 2, 2])])
    result = invoke("shapes", path)
    assert result.exit_code == 1 and "MaxPool (malformed) ×1 (no_kernel)" in result.output
    assert "Traceback" not in result.output


def test_dynamic_spatial_sizes_need_input(tmp_path):
    pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["g"], name="gap"),
             helper.make_node("Flatten", ["g"], ["y"], name="flat")]
    path = _graph_file(tmp_path, nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, "H", "W"])],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])])
    refused = invoke("shapes", path)
    assert refused.exit_code == 1 and "--input" in refused.output and "Traceback" not in refused.output
    given = api.report(path, (10, 12, 3))
    # the Flatten after the global pool is that pool's flat output, as a spec writes global_avgpool
    assert [(r.kind, tuple(r.out_shape)) for r in given.rows] == [("input", (10, 12, 3)), ("global_avgpool", (3,))]


def test_without_the_onnx_package_one_line_says_what_to_install(tmp_path, monkeypatch):
    path = tmp_path / "m.onnx"
    path.write_bytes(b"not read")
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx raises ImportError
    result = invoke("summary", path)
    assert result.exit_code == 1
    assert 'pip install "cnncalc[onnx]"' in result.output and "Traceback" not in result.output


def test_import_weights_writes_a_run_that_predict_and_evaluate_take(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    nn = torch.nn
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Flatten(), nn.Linear(4 * 4 * 4, 3)).eval()
    path = _export(torch, net, tmp_path / "tiny.onnx", size=8, n_C=1)
    run = tmp_path / "run"
    result = invoke("import", path, "--weights", "-o", run)
    assert result.exit_code == 0, result.output
    assert (run / "spec.yaml").exists() and (run / "last.npz").exists()
    x = np.random.default_rng(0).standard_normal((5, 8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    result = invoke("predict", run, tmp_path / "x.npy", "--format", "json", "--top-k", "3")
    assert result.exit_code == 0, result.output
    import json

    predicted = json.loads(result.output)
    with torch.no_grad():
        p = torch.softmax(net(torch.from_numpy(x).permute(0, 3, 1, 2)), 1).numpy()
    for row, expected in zip(predicted, p):
        got = {t["class"]: t["probability"] for t in row["top"]}
        assert got == pytest.approx({c: float(expected[c]) for c in range(3)}, abs=1e-5)
    y = p.argmax(1)
    np.savez(tmp_path / "d.npz", x=x, y=y)
    result = invoke("evaluate", run, "--data", tmp_path / "d.npz", "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["accuracy"] == 1.0  # labels are the module's own predictions
