"""cnncalc export --to pytorch: the written module against cnncalc's analysis and the engine.

The oracle is PyTorch itself: the exported file is run, its module's parameters are counted by torch
(`numel`) and its layers' output shapes are recorded by forward hooks as torch computes them; both must
equal the analyzer's rows. With weights (initialised by the engine, or trained by a real `cnncalc train`
run), the module's outputs must equal the engine's forward on the same input within float32 tolerance.
"""

import glob
import os
import runpy
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.cli import app
from cnncalc.export.pytorch import ExportError, export_pytorch, module_source
from tests.export_specs import KINDS_SPEC, trained_run

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = sorted(glob.glob(os.path.join(ROOT, "specs", "*.yaml")) + glob.glob(os.path.join(ROOT, "specs", "*", "*.yaml")))


def _spec_id(path):
    return os.path.relpath(path, os.path.join(ROOT, "specs"))


def load_module(tmp_path, report, spec, name="net"):
    """The exported file written to tmp_path and run: (its globals, a fresh instance of its class)."""
    path = tmp_path / f"{name}.py"
    path.write_text(module_source(report, spec), encoding="utf-8")
    namespace = runpy.run_path(str(path), run_name="exported")
    return namespace, namespace["Net"]()


def torch_shape(shape):
    """The analyzer's (n_H, n_W, n_C) → torch's (n_C, n_H, n_W); flat (n,) unchanged."""
    return (shape[2], shape[0], shape[1]) if len(shape) == 3 else tuple(shape)


def run_layers(report):
    """The layers a forward (with the aux heads) runs: those the output or an aux head reads."""
    graph = report.graph
    out = set(graph.reaching(graph.output))
    for head in graph.aux:
        out |= graph.reaching(head.name)
    return out - {"input"}


@pytest.mark.parametrize("spec", SPECS, ids=_spec_id)
def test_every_spec_params_and_shapes(spec, tmp_path):
    torch = pytest.importorskip("torch")
    report = api.report(spec)
    _, model = load_module(tmp_path, report, spec)
    totals = report.totals
    trainable = sum(p.numel() for p in model.parameters())
    assert trainable == totals.trainable  # the aux heads included, as torchvision counts them
    running = sum(b.numel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked"))
    assert running == totals.non_trainable
    rows = {r.name: r for r in report.rows}
    seen = {}
    for name in rows:
        if name == "input":
            continue
        model.get_submodule(name).register_forward_hook(
            lambda _module, _inputs, output, name=name: seen.__setitem__(name, tuple(output.shape)))
    model.eval()
    x = torch.zeros((1,) + torch_shape(report.graph.input_shape))
    with torch.no_grad():
        model(x, aux=True) if model.AUX_WEIGHTS else model(x)
    assert set(seen) == run_layers(report)
    for name, shape in seen.items():
        assert shape == (1,) + torch_shape(rows[name].out_shape), name


def test_state_dict_names_are_the_engines(tmp_path):
    pytest.importorskip("torch")
    from cnncalc.engine.params import layout

    for spec in ("shufflenet_v2_x1_0.yaml", "googlenet.yaml", "efficientnet_b0.yaml"):
        report = api.report(os.path.join(ROOT, "specs", spec))
        _, model = load_module(tmp_path, report, spec)
        state = model.state_dict()
        expected = {t.name: t.shape for t in layout(report)}
        assert {k: tuple(v.shape) for k, v in state.items()} == expected


def engine_state(report, seed):
    """An engine network over report with PyTorch's initialisation, running statistics made non-trivial
    (so that a batchnorm's eval path is tested), and its state."""
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
        elif name.endswith(".bias"):  # torch's init leaves biases small; make a dropped bias show
            value[...] = rng.normal(0, 0.5, value.shape)
    return network


def compare_outputs(torch, model, network, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 1, (2,) + network.input_shape).astype(np.float32)
    expected = network.forward(x, train=False).copy()
    state = {k: torch.tensor(v.copy()) for k, v in network.state().items()}
    model.load_state_dict(state, strict=True)
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(x), logits=True).numpy()
    scale = max(float(np.abs(expected).max()), 1.0)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=2e-5 * scale)
    return expected


# small enough for the engine at these inputs; between them: residual adds, concat branches, SE gates
# (mul), channel slices and shuffles, depthwise convs, hardswish, batchnorm, transposed conv and upsample
# (unet_small ends in a map: not a classifier, so not runnable by the engine)
ENGINE_SPECS = [("se_block.yaml", None), ("resnet18_cifar.yaml", None), ("shufflenet_v2_x1_0.yaml", (64, 64, 3)),
                ("mobilenet_v3_small.yaml", (64, 64, 3)), ("googlenet.yaml", (64, 64, 3)),
                ("lenet5_classic.yaml", None)]


@pytest.mark.slow
@pytest.mark.parametrize("spec,input_shape", ENGINE_SPECS, ids=[s for s, _ in ENGINE_SPECS])
def test_outputs_equal_the_engines(spec, input_shape, tmp_path):
    torch = pytest.importorskip("torch")
    path = os.path.join(ROOT, "specs", spec)
    report = api.report(path, input_shape)
    _, model = load_module(tmp_path, report, path)
    network = engine_state(report, seed=3)
    logits = compare_outputs(torch, model, network)
    assert np.abs(logits).max() > 1e-3  # not a trivially zero network


@pytest.mark.slow
def test_weights_from_a_trained_run(tmp_path):
    """A real `cnncalc train` run; export --weights writes net.pt, which loads strictly into the exported
    module and gives the trained network's outputs."""
    torch = pytest.importorskip("torch")
    runner = CliRunner()
    spec, run = trained_run(tmp_path, runner, app)
    out = tmp_path / "export" / "net.py"
    result = runner.invoke(app, ["export", spec, "--to", "pytorch", "--weights", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    namespace = runpy.run_path(str(out), run_name="exported")
    model = namespace["Net"]()
    state = torch.load(tmp_path / "export" / "net.pt")
    model.load_state_dict(state, strict=True)
    from cnncalc.engine import checkpoint
    from cnncalc.engine.train import build

    weights, _, meta = checkpoint.load(str(run))
    report, network = build(meta["spec"], meta["spec_file"], 4)
    network.load_state(weights)
    for name, value in weights.items():  # the file holds the trained values, not fresh ones
        np.testing.assert_array_equal(state[name].numpy(), value)
    x = np.random.default_rng(0).normal(0, 1, (4,) + network.input_shape).astype(np.float32)
    expected = network.forward(x, train=False).copy()
    model.eval()
    with torch.no_grad():
        got = model(torch.from_numpy(x), logits=True).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)


def test_the_file_imports_nothing_from_cnncalc(tmp_path):
    """Run the exported file in a fresh interpreter where importing cnncalc fails."""
    pytest.importorskip("torch")
    spec = os.path.join(ROOT, "specs", "shufflenet_v2_x1_0.yaml")
    out = tmp_path / "net.py"
    export_pytorch(spec, str(out))
    text = out.read_text(encoding="utf-8")
    imports = [line for line in text.splitlines() if line.startswith(("import ", "from "))]
    assert imports == ["import torch", "from torch import nn"] or imports == [
        "import torch", "import torch.nn.functional as F", "from torch import nn"]
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "cnncalc.py").write_text("raise ImportError('cnncalc must not be imported')\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PYTHONPATH"] = str(blocker)
    done = subprocess.run([sys.executable, str(out)], capture_output=True, text=True, env=env, timeout=300,
                          cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "torch.Size([1, 1000])"


def test_deterministic_and_named_as_the_spec():
    spec = os.path.join(ROOT, "specs", "googlenet.yaml")
    report = api.report(spec)
    first, second = module_source(report, spec), module_source(api.report(spec), spec)
    assert first == second
    assert "        self.conv1.conv = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)" in first
    assert "getattr(self.inception3a.branch2, '0').conv" in first  # a numbered child, as nn.Sequential's
    assert "if aux:" in first  # the aux heads run only when asked


def test_bad_output_and_mismatched_weights(tmp_path):
    spec = os.path.join(ROOT, "specs", "lenet5.yaml")
    with pytest.raises(ExportError, match="a path ending in .py"):
        export_pytorch(spec, str(tmp_path / "net.txt"))
    with pytest.raises(ExportError, match="Python identifier"):
        export_pytorch(spec, str(tmp_path / "my-net.py"))
    runner = CliRunner()
    result = runner.invoke(app, ["export", spec, "--to", "pytorch", "--weights", str(tmp_path / "none.npz"),
                                 "-o", str(tmp_path / "net.py")])
    assert result.exit_code == 1
    assert "no such checkpoint" in result.output
    assert "Traceback" not in result.output


def test_every_trainable_kind_has_an_export_rule():
    from cnncalc import layers
    from cnncalc.layers.source import SourceRecord

    for kind in layers.KINDS:
        if kind.trainer is not None:
            assert callable(layers.exporter(kind.name)), kind.name
    assert layers.exporter("no_such_kind") is None
    assert isinstance(layers.exporter("relu")(None, None), SourceRecord)


AUX_SPEC = """name: aux-names
input: [12, 12, 1]
blocks:
  head: [global_avgpool, {dense: 4}]
layers:
  - {conv: {filters: 4, kernel: 3, padding: 1}, name: conv-1}
  - {batchnorm: {}, name: class}
  - {relu: {}, name: x}
  - {conv: {filters: 8, kernel: 3, padding: same}, name: conv_1}
  - {conv: {filters: 8, kernel: 3, stride: 2, padding: same}, name: trunk}
  - head: {name: side}
  - {conv: {filters: 8, kernel: 3, padding: 1}, from: trunk}
  - global_avgpool
  - dense: 4
  - softmax
aux:
  - {from: side, weight: 0.3}
"""


@pytest.mark.slow
def test_awkward_names_aux_head_and_asymmetric_padding(tmp_path):
    """Names that are no identifiers (conv-1), keywords (class), the input's own variable (x) and a clash
    of both spellings (conv-1, conv_1); an aux head; 'same' with stride 2 (padding 0 above, 1 below):
    the outputs, in eval and in a training forward with the aux head, equal the engine's."""
    torch = pytest.importorskip("torch")
    spec = tmp_path / "aux.yaml"
    spec.write_text(AUX_SPEC, encoding="utf-8")
    report = api.report(str(spec))
    assert {r.name: r.window.p for r in report.rows if r.name == "trunk"} == {"trunk": (0, 1, 0, 1)}
    namespace, model = load_module(tmp_path, report, str(spec))
    assert "PaddedConv2d" in namespace
    assert set(model.state_dict()) >= {"conv-1.weight", "class.running_var", "conv_1.weight", "side.dense1.bias"}
    network = engine_state(report, seed=5)
    compare_outputs(torch, model, network)
    x = np.random.default_rng(2).normal(0, 1, (2,) + network.input_shape).astype(np.float32)
    logits = network.forward(x, train=True, rng=np.random.default_rng(0)).copy()
    (aux,) = [a.copy() for a in network.aux_logits()]
    model.train()
    with torch.no_grad():
        got, (got_aux,) = model(torch.from_numpy(x), aux=True)
    np.testing.assert_allclose(got.numpy(), logits, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(got_aux.numpy(), aux, rtol=1e-4, atol=1e-5)
    assert model.AUX_WEIGHTS == (0.3,)


def test_a_name_torch_keeps_for_itself_is_refused(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("name: t\ninput: [8, 8, 3]\nlayers:\n  - {conv: {filters: 4, kernel: 3}, name: forward}\n"
                    "  - flatten\n  - dense: 2\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["export", str(spec), "--to", "pytorch", "-o", str(tmp_path / "net.py")])
    assert result.exit_code == 1
    assert "'forward' is an attribute of torch.nn.Module" in result.output
    assert "bad.yaml:4" in result.output
    assert not (tmp_path / "net.py").exists()




@pytest.mark.slow
def test_options_that_differ_from_torchs_defaults(tmp_path):
    """Asymmetric pooling pads (Pool2d), ceil mode, count_include_pad, PReLU per channel, bilinear upsampling,
    a transposed conv with output_padding, a dense without bias, a flat batchnorm with its own eps and
    momentum, GELU's tanh form: each written out, and the outputs equal the engine's."""
    torch = pytest.importorskip("torch")
    spec = tmp_path / "kinds.yaml"
    spec.write_text(KINDS_SPEC, encoding="utf-8")
    report = api.report(str(spec))
    text = module_source(report, str(spec))
    for line in ("Pool2d('avgpool', 2, (0, 1, 0, 1), {'stride': (1, 1), 'count_include_pad': False})",
                 "nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True)",
                 "nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1)",
                 "nn.BatchNorm1d(5, eps=0.001, momentum=0.3)", "nn.GELU(approximate='tanh')",
                 "nn.Linear(1200, 5, bias=False)"):
        assert line in text
    _, model = load_module(tmp_path, report, str(spec))
    compare_outputs(torch, model, engine_state(report, seed=4))


def test_weights_without_torch_is_one_line(tmp_path, monkeypatch):
    """--weights writes a torch state_dict: without torch, one line naming what to install, and no
    module file half-written beside a missing one."""
    from cnncalc.engine import checkpoint
    from cnncalc.engine.params import layout

    spec = os.path.join(ROOT, "specs", "lenet5.yaml")
    report = api.report(spec)
    weights = {t.name: np.zeros(t.shape, t.dtype) for t in layout(report)}
    meta = {"spec": open(spec, encoding="utf-8").read(), "spec_file": spec, "config": {}, "epoch": 0, "rng": {},
            "history": []}
    checkpoint.save(str(tmp_path / "w.npz"), weights, {}, meta)
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now raises ImportError
    result = CliRunner().invoke(app, ["export", spec, "--to", "pytorch", "--weights", str(tmp_path / "w.npz"),
                                      "-o", str(tmp_path / "net.py")])
    assert result.exit_code == 1
    assert "pip install torch" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "net.py").exists()


def test_input_option_sizes_the_module(tmp_path):
    spec = os.path.join(ROOT, "specs", "resnet18.yaml")
    result = CliRunner().invoke(app, ["export", spec, "--to", "pytorch", "--input", "64,64,3",
                                      "-o", str(tmp_path / "net.py")])
    assert result.exit_code == 0, result.output
    assert "    INPUT_SHAPE = (3, 64, 64)" in (tmp_path / "net.py").read_text(encoding="utf-8")


def test_a_name_with_quotes_and_backslashes_still_makes_a_file(tmp_path):
    pytest.importorskip("torch")
    spec = tmp_path / "odd.yaml"
    spec.write_text('name: "a \\"\\"\\" b \\\\ c\\nd"\ninput: [4, 4, 1]\nlayers:\n  - flatten\n  - dense: 2\n',
                    encoding="utf-8")
    report = api.report(str(spec))
    assert '"""' in report.graph.name and "\\" in report.graph.name
    _, model = load_module(tmp_path, report, str(spec))
    assert sum(p.numel() for p in model.parameters()) == 16 * 2 + 2
