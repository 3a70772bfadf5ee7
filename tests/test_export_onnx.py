"""cnncalc export --to onnx: the written model against cnncalc's analysis and the engine.

The oracles are the onnx package and the runtimes, none of them ours: onnx.checker (full check) and
onnx's strict shape inference give every node's output shape, which must equal the analyzer's row (the
analysis' n_H×n_W×n_C is ONNX's (N, n_C, n_H, n_W)); the initializers' sizes must add up to the
analyzer's totals; onnx.reference.ReferenceEvaluator (pure Python) and onnxruntime run the model, whose
outputs must equal the engine's eval forward on the same input within float32 tolerance, with
randomised weights and running statistics, and with the weights of a real `cnncalc train` run.
"""

import glob
import os
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.cli import app
from tests.export_specs import KINDS_SPEC, trained_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")) + glob.glob(os.path.join(ROOT, "specs", "*", "*.yaml")))


def _spec_id(path):
    return os.path.relpath(path, os.path.join(ROOT, "specs"))


def zero_state(report):
    from cnncalc.engine.params import layout

    return {t.name: np.zeros(t.shape, np.float32) for t in layout(report)}


def exported_layers(report):
    """The layers the network's output reads: what the model holds (aux heads and dead branches not)."""
    return set(report.graph.reaching(report.graph.output)) - {"input"}


def dims(value_info):
    """A value_info's shape as a tuple: a symbolic dimension by its name, a fixed one by its value."""
    return tuple(d.dim_param if d.HasField("dim_param") else d.dim_value
                 for d in value_info.type.tensor_type.shape.dim)


def expected_dims(shape):
    """The analysis' (n_H, n_W, n_C) → ("N", n_C, n_H, n_W); a vector (n,) → ("N", n). Written here again,
    not imported from the exporter, so that a wrong mapping there cannot bless itself."""
    return ("N",) + ((shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape))


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
def test_every_spec_checks_infers_and_counts(spec):
    onnx = pytest.importorskip("onnx")
    from cnncalc.export.onnx import model_proto

    report = api.report(spec)
    model = model_proto(report, zero_state(report))
    onnx.checker.check_model(model, full_check=True)
    inferred = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    shapes = {v.name: dims(v) for v in list(inferred.graph.value_info) + list(inferred.graph.output)}
    rows = {r.name: r for r in report.rows}
    layers = exported_layers(report)
    assert {n.name for n in model.graph.node} >= layers  # every layer's node is named as the layer
    for name in layers:
        got, expected = shapes[name], expected_dims(rows[name].out_shape)
        # onnx's inference carries no symbolic dimension through a Resize (N·1.0): past an upsample the
        # batch is unnamed (unk__k), but never a number
        assert got[1:] == expected[1:] and (got[0] == "N" or isinstance(got[0], str)), name
        if not any(n.op_type == "Resize" for n in model.graph.node):
            assert got[0] == "N", name
    assert dims(model.graph.input[0]) == expected_dims(report.graph.input_shape)
    assert model.opset_import[0].version == 17 and model.ir_version == 8
    # the initializers: trainable arrays and running statistics, the aux heads' left out with their heads
    totals = report.totals
    held = sum(int(np.prod(t.dims)) for t in model.graph.initializer)
    assert held == totals.trainable - totals.aux_trainable + totals.non_trainable - totals.aux_non_trainable
    assert all(t.data_type == onnx.TensorProto.FLOAT for t in model.graph.initializer)


def engine_state(report, seed):
    """An engine network with PyTorch's initialisation, biases and running statistics made non-trivial
    (so that a dropped bias or a batchnorm in training form shows)."""
    from cnncalc.engine.executor import Network
    from cnncalc.engine.init import initialise

    network = Network(report, 2)
    initialise(network, seed, "torch")
    rng = np.random.default_rng(seed)
    for name, value in network.state().items():
        if name.endswith("running_mean"):
            value[...] = rng.normal(0, 0.2, value.shape)
        elif name.endswith("running_var"):
            value[...] = rng.uniform(0.5, 1.5, value.shape)
        elif name.endswith((".bias", "prelu.weight")) or (name.endswith(".weight") and value.ndim == 1):
            value[...] = rng.normal(0, 0.5, value.shape)
    return network


def with_logits(model, logits):
    """The model with the logits tensor as a second output, where the last layer is a softmax the engine
    fuses with the loss (its forward returns the logits)."""
    from onnx import TensorProto, helper

    if model.graph.output[0].name != logits:
        model.graph.output.append(helper.make_tensor_value_info(logits, TensorProto.FLOAT, None))
    return model


def run_model(model, x, runtime):
    if runtime == "reference":
        from onnx.reference import ReferenceEvaluator

        for node in model.graph.node:
            pads = next((list(a.ints) for a in node.attribute if a.name == "pads"), [0, 0, 0, 0])
            if node.op_type in ("MaxPool", "AveragePool") and pads[:2] != pads[2:]:
                # onnx 1.23's evaluator reads a pool's pads as [top, bottom, left, right]: pads [0, 0, 1, 1]
                # make a 9×9 map 8×10, where the operator's definition, shape inference and onnxruntime
                # make it 9×9 (begin values first); onnxruntime checks these models
                pytest.skip("onnx's ReferenceEvaluator misreads a pool's asymmetric pads")

        return ReferenceEvaluator(model).run(None, {"input": x})
    ort = pytest.importorskip("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})


def compare(model, network, runtime, seed=1):
    """The model's outputs against the engine's eval forward on one random batch of 2."""
    x = np.random.default_rng(seed).normal(0, 1, (2,) + network.input_shape).astype(np.float32)
    expected = network.forward(x, train=False).copy()
    outputs = run_model(with_logits(model, network.logits), x, runtime)
    got = outputs[-1]
    scale = max(float(np.abs(expected).max()), 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5 * scale)
    if len(outputs) == 2:  # the softmax output too
        e = np.exp(expected - expected.max(axis=1, keepdims=True))
        np.testing.assert_allclose(outputs[0], e / e.sum(axis=1, keepdims=True), rtol=1e-4, atol=1e-6)
    assert np.abs(expected).max() > 1e-3  # not a trivially zero network
    return got



KINDS_SPEC_B = """name: kinds-b
input: [11, 10, 4]
layers:
  - {conv: {filters: 8, kernel: 4, stride: 2, padding: same}, name: stem}
  - {conv: {filters: 8, kernel: 3, padding: 2, dilation: 2, groups: 2}}
  - {batchnorm: {}}
  - {silu: {}, name: trunk}
  - {channel_slice: {start: 0, stop: 4}, name: left}
  - {channel_slice: {start: 4, stop: 8}, from: trunk}
  - {hardswish: {}, name: right}
  - {concat: {}, from: [left, right]}
  - {channel_shuffle: {groups: 2}, name: shuffled}
  - {global_avgpool: {}}
  - {dense: 8}
  - {hardsigmoid: {}, name: gate}
  - {mul: {}, from: [shuffled, gate]}
  - {gelu: {}}
  - {avgpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true, count_include_pad: true}}
  - {elu: {alpha: 0.7}}
  - {upsample: {size: [5, 7]}}
  - {adaptive_avgpool: {output: [3, 2]}}
  - {relu6: {}}
  - {adaptive_maxpool: {output: [2, 2]}}
  - {maxpool: {kernel: 2, stride: 1, ceil_mode: true}}
  - {tanh: {}}
  - {dropout: {rate: 0.3}}
  - {drop_path: {rate: 0.2}}
  - {identity: {}}
  - {sigmoid: {}}
  - flatten
  - {dense: 6}
  - {relu: {}}
  - {dense: 4}
  - softmax
"""


@pytest.fixture(params=["kinds_a", "kinds_b"])
def kinds_report(request, tmp_path):
    spec = tmp_path / f"{request.param}.yaml"
    spec.write_text(KINDS_SPEC if request.param == "kinds_a" else KINDS_SPEC_B, encoding="utf-8")
    return api.report(str(spec))


@pytest.mark.parametrize("runtime", ["reference", "onnxruntime"])
def test_every_kind_against_the_engine(kinds_report, runtime):
    """Asymmetric 'same' (conv and pools), ceil mode, count_include_pad both ways, dilation with groups,
    PReLU per channel, bilinear and sized nearest upsampling, output_padding, flatten of a map into a dense
    layer (the engine reads (n_C, n_H, n_W)), flat batchnorm, both GELUs, slices, shuffle, concat, an SE
    gate, adaptive pools with uneven windows, the inference identities, a final softmax."""
    pytest.importorskip("onnx")
    from cnncalc.export.onnx import model_proto

    report = kinds_report
    assert report.error is None, report.error
    network = engine_state(report, seed=4)
    compare(model_proto(report, network.state()), network, runtime)


# small enough for the engine and the pure-Python evaluator at these inputs: residual adds, SE gates,
# shuffles, depthwise convs, batchnorms, concat branches, ceil-mode pools, flatten into dense layers
ENGINE_SPECS = [("se_block.yaml", None), ("resnet18_cifar.yaml", None), ("lenet5_classic.yaml", None),
                ("mnist_small.yaml", None), ("shufflenet_v2_x1_0.yaml", (64, 64, 3)),
                ("mobilenet_v3_small.yaml", (64, 64, 3)), ("googlenet.yaml", (64, 64, 3)),
                ("efficientnet_b0.yaml", (64, 64, 3)), ("squeezenet1_1.yaml", (64, 64, 3)),
                ("densenet121.yaml", (64, 64, 3))]
REFERENCE_SPECS = {"se_block.yaml", "resnet18_cifar.yaml", "lenet5_classic.yaml", "mnist_small.yaml",
                   "shufflenet_v2_x1_0.yaml"}


@pytest.mark.slow
@pytest.mark.parametrize("spec,input_shape", ENGINE_SPECS, ids=[s for s, _ in ENGINE_SPECS])
def test_shipped_specs_against_the_engine(spec, input_shape):
    """onnxruntime for each; the pure-Python reference evaluator for the small ones (the others take it
    minutes on a shared CPU)."""
    pytest.importorskip("onnx")
    from cnncalc.export.onnx import model_proto

    report = api.report(os.path.join(ROOT, "specs", spec), input_shape)
    network = engine_state(report, seed=3)
    model = model_proto(report, network.state())
    got = compare(model, network, "onnxruntime")
    if spec in REFERENCE_SPECS:
        np.testing.assert_allclose(compare(model, network, "reference"), got, rtol=1e-4, atol=1e-4)


@pytest.mark.slow
def test_weights_from_a_trained_run_and_opset_18(tmp_path):
    """A real `cnncalc train` run; `export --to onnx --weights RUN` holds the trained arrays and gives the
    trained network's outputs; opset 18 as well as 17."""
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    runner = CliRunner()
    spec, run = trained_run(tmp_path, runner, app)
    from cnncalc.engine import checkpoint
    from cnncalc.engine.train import build

    weights, _, meta = checkpoint.load(str(run))
    report, network = build(meta["spec"], meta["spec_file"], 2)
    network.load_state(weights)
    for opset in (17, 18):
        out = tmp_path / f"net{opset}.onnx"
        result = runner.invoke(app, ["export", spec, "--to", "onnx", "--weights", str(run), "-o", str(out),
                                     "--opset", str(opset)])
        assert result.exit_code == 0, result.output
        assert f"opset {opset}" in result.output
        model = onnx.load(str(out))
        assert model.opset_import[0].version == opset and model.ir_version == 8
        onnx.checker.check_model(model, full_check=True)
        held = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
        assert set(held) == {k for k in weights if not k.endswith("num_batches_tracked")}
        for name, value in held.items():  # the trained values, not fresh ones
            np.testing.assert_array_equal(value, weights[name])
        for runtime in ("reference", "onnxruntime"):
            compare(model, network, runtime)


def test_cli_writes_a_complete_model_without_weights(tmp_path):
    """Without --weights the initializers come from the engine's seeded initialisation: the file is
    complete, and the same spec gives the same bytes."""
    onnx = pytest.importorskip("onnx")
    spec = os.path.join(ROOT, "specs", "unet_small.yaml")  # a decoder: ends in a map, not a classifier
    paths = [tmp_path / "a.onnx", tmp_path / "b" / "b.onnx"]
    for path in paths:
        result = CliRunner().invoke(app, ["export", spec, "--to", "onnx", "-o", str(path)])
        assert result.exit_code == 0, result.output
    assert paths[0].read_bytes() == paths[1].read_bytes()
    model = onnx.load(str(paths[0]))
    onnx.checker.check_model(model, full_check=True)
    weights = [onnx.numpy_helper.to_array(t) for t in model.graph.initializer if t.name.endswith(".weight")]
    assert weights and all(np.abs(w).max() > 0 for w in weights if w.ndim == 4)  # drawn, not left at 0


def test_without_the_onnx_package_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    spec = os.path.join(ROOT, "specs", "lenet5.yaml")
    out = tmp_path / "net.onnx"
    result = CliRunner().invoke(app, ["export", spec, "--to", "onnx", "-o", str(out)])
    assert result.exit_code == 1
    assert 'pip install "cnncalc[onnx]"' in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not out.exists()


def test_bad_options_are_one_line(tmp_path):
    pytest.importorskip("onnx")
    spec = os.path.join(ROOT, "specs", "lenet5.yaml")
    runner = CliRunner()
    cases = [(["--opset", "19"], "allowed: 17, 18"), (["--train-script"], "--to pytorch"),
             (["--weights", str(tmp_path / "none.npz")], "no such checkpoint")]
    for extra, words in cases:
        result = runner.invoke(app, ["export", spec, "--to", "onnx", "-o", str(tmp_path / "net.onnx"), *extra])
        assert result.exit_code == 1, extra
        assert words in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["export", spec, "--to", "onnx", "-o", str(tmp_path / "net.py")])
    assert result.exit_code == 1 and "a path ending in .onnx" in result.output
    result = runner.invoke(app, ["export", spec, "--to", "pytorch", "-o", str(tmp_path / "net.py"), "--opset", "17"])
    assert result.exit_code == 1 and "--opset is an ONNX option" in result.output
    assert not list(tmp_path.iterdir())


def test_a_kind_without_a_rule_is_named(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    from cnncalc import layers

    real = layers.onnx_exporter
    monkeypatch.setattr(layers, "onnx_exporter", lambda name: None if name == "relu" else real(name))
    spec = tmp_path / "net.yaml"
    spec.write_text("name: t\ninput: [8, 8, 3]\nlayers:\n  - {conv: {filters: 4, kernel: 3}}\n  - relu\n"
                    "  - flatten\n  - dense: 2\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["export", str(spec), "--to", "onnx", "-o", str(tmp_path / "net.onnx")])
    assert result.exit_code == 1
    assert "relu1: relu layers have no ONNX export" in result.output
    assert "net.yaml:5" in result.output
    assert not (tmp_path / "net.onnx").exists()


def test_every_trainable_kind_has_an_onnx_rule():
    from cnncalc import layers
    from cnncalc.layers.onnx_ops import Op

    for kind in layers.KINDS:
        if kind.trainer is not None:
            assert callable(layers.onnx_exporter(kind.name)), kind.name
    assert layers.onnx_exporter("no_such_kind") is None
    assert all(isinstance(op, Op) for op in layers.onnx_exporter("relu")(None, None))


def test_the_rules_import_no_onnx_numpy_or_numba():
    import subprocess

    code = ("import sys; from cnncalc import layers\n"
            "for k in layers.KINDS:\n    layers.onnx_exporter(k.name)\n"
            "print(sorted(m for m in ('onnx', 'numpy', 'numba') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": ROOT})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


def _summary(path):
    import json

    result = CliRunner().invoke(app, ["summary", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize("spec", ["resnet18_cifar.yaml", "shufflenet_v2_x1_0.yaml", "mobilenet_v3_small.yaml"])
def test_round_trip_through_import(spec, tmp_path):
    """Export, then analyse the .onnx file (the ONNX import, built separately): the same report, row for
    row by order (the importer may name layers its own way): params, output shapes and MACs."""
    pytest.importorskip("onnx")
    from typer.main import get_command

    if "import" not in get_command(app).commands:
        pytest.skip("the `cnncalc import` command (ONNX import) is not in this build")
    path = os.path.join(ROOT, "specs", spec)
    out = tmp_path / "net.onnx"
    result = CliRunner().invoke(app, ["export", path, "--to", "onnx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    original, imported = _summary(path), _summary(out)
    keys = ("params", "macs", "output_shape")
    rows = [tuple(r[k] for k in keys) for r in original["rows"] if not r.get("aux")]
    again = [tuple(r[k] for k in keys) for r in imported["rows"]]
    assert again == rows


def test_input_option_sizes_the_model(tmp_path):
    onnx = pytest.importorskip("onnx")
    spec = os.path.join(ROOT, "specs", "resnet18.yaml")
    out = tmp_path / "net.onnx"
    result = CliRunner().invoke(app, ["export", spec, "--to", "onnx", "--input", "64,64,3", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"wrote {out} (the ONNX model, opset 17, IR version 8)"
    model = onnx.load(str(out))
    assert dims(model.graph.input[0]) == ("N", 3, 64, 64)  # NCHW, the batch symbolic
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True, data_prop=True)
    shapes = {v.name: dims(v) for v in inferred.graph.value_info}
    assert shapes["layer4.1.relu2"] == ("N", 512, 2, 2)  # 64 / 32 = 2
