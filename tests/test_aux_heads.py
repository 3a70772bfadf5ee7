"""Auxiliary heads (the spec's `aux:`): validation, training-only rows and totals, the trainer's
weighted loss and its gradient, and GoogLeNet's and Inception v3's aux heads against torchvision.

Oracles: hand-worked counts, float64 PyTorch (the same graph through tests/torch_builder.py),
central differences of the engine's own loss, and torchvision's modules hooked in train and eval mode.
"""

import json
import os

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncalc import api
from cnncalc.analysis import analyze, fold
from cnncalc.cli import app
from cnncalc.errors import SpecError
from cnncalc.spec.parser import parse_text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPECS = os.path.join(ROOT, "specs")

# 6×6×2 → conv 3×3 p1, 3 → relu → trunk: conv 3×3, 4 (4×4×4) ─┬→ gap → dense 5 (the output)
#                                                               └→ aux: conv 1×1, 2 → bn → relu → gap → dense 5
# aux params: conv 1×1 4→2: 4·2 + 2 = 10; bn: 2 + 2 trainable, 2 + 2 running; dense 2→5: 2·5 + 5 = 15 → 29 trainable
# aux MACs: 4·4·2·4 = 128 (conv) + 2·5 = 10 (dense) → 138;  main dense 4·5 = 20
SMALL = """name: small-aux
input: [6, 6, 2]
layers:
  - conv: {filters: 3, kernel: 3, padding: 1}
  - relu
  - {conv: {filters: 4, kernel: 3}, name: trunk}
  - aux_head: {name: side}
  - {global_avgpool: null, from: trunk}
  - dense: 5
  - softmax
blocks:
  aux_head:
    layers:
      - conv: {filters: 2, kernel: 1}
      - batchnorm
      - relu
      - global_avgpool
      - dense: 5
aux:
  - {from: side, weight: 0.3}
"""
WITHOUT_AUX = SMALL.replace("  - aux_head: {name: side}\n", "").split("aux:\n")[0]


def report_of(text, file="t.yaml"):
    return analyze(parse_text(text, file))


# ---------------------------------------------------------------- the spec language

def test_aux_resolves_a_block_call_to_its_last_layer_and_keeps_the_output():
    graph = parse_text(SMALL, "t.yaml")
    assert [(h.name, h.weight) for h in graph.aux] == [("side.dense1", 0.3)]
    assert graph.output == "softmax1"
    assert graph.training_only() == {"side.conv1", "side.batchnorm1", "side.relu1", "side.global_avgpool1",
                                     "side.dense1"}


def _with_aux(entries):
    return SMALL.split("aux:\n")[0] + "aux:\n" + entries


@pytest.mark.parametrize("entries, line, field, fragment", [
    ("  - {from: nowhere, weight: 0.3}\n", 20, "from", "no layer of that name"),
    ("  - {from: side, weight: -0.1}\n", 20, "weight", "finite number ≥ 0"),
    ("  - {from: side, weight: .nan}\n", 20, "weight", "finite number ≥ 0"),
    ("  - {from: side, weight: .inf}\n", 20, "weight", "finite number ≥ 0"),
    ("  - {from: side, weight: true}\n", 20, "weight", "finite number ≥ 0"),
    ("  - {from: side, weight: '0.3'}\n", 20, "weight", "finite number ≥ 0"),
    ("  - {from: side}\n", 20, "weight", "needs a loss weight"),
    ("  - {weight: 0.3}\n", 20, "from", "needs the layer it reads"),
    ("  - {from: side, weight: 0.3, scale: 2}\n", 20, "scale", "unknown field"),
    ("  - side\n", 20, "aux", "must be a mapping"),
    ("  - {from: softmax1, weight: 0.3}\n", 20, "from", "output cannot also be an aux output"),
    ("  - {from: side, weight: 0.3}\n  - {from: side, weight: 0.5}\n", 21, "from", "listed twice"),
    ("  - {from: input, weight: 0.3}\n", 20, "from", "cannot be the input"),
])
def test_bad_aux_entries_are_one_located_line(entries, line, field, fragment):
    with pytest.raises(SpecError) as caught:
        parse_text(_with_aux(entries), "t.yaml")
    error = caught.value
    assert error.mark.line == line and error.field == field
    assert fragment in error.line() and "\n" not in error.line()


def test_aux_must_be_a_list():
    with pytest.raises(SpecError, match="aux must be a list") as caught:
        parse_text(SMALL.split("aux:\n")[0] + "aux: side\n", "t.yaml")
    assert caught.value.mark.line == 19


@pytest.mark.parametrize("entries, fragment", [
    ("  - {from: trunk, weight: 0.3}\n", "4×4×4"),                        # a feature map, not scores
    ("  - {from: global_avgpool1, weight: 0.3}\n", "received '4';"),   # a vector of 4, not 5 classes
])
def test_an_aux_output_must_give_the_outputs_class_scores(entries, fragment):
    report = report_of(_with_aux(entries))
    assert isinstance(report.error, SpecError)
    assert report.error.mark.line == 20 and "5 class scores" in report.error.line() and fragment in report.error.line()


def test_the_cli_prints_one_line_and_exits_1(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(_with_aux("  - {from: side, weight: -1}\n"), encoding="utf-8")
    result = CliRunner().invoke(app, ["summary", str(path)], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and f"{path}:20:" in lines[0] and "weight" in lines[0] and "Traceback" not in result.output


# ---------------------------------------------------------------- analysis

def test_rows_totals_and_no_unused_warnings():
    report = report_of(SMALL)
    assert report.error is None and report.diagnostics == []   # the aux layers are used
    aux_rows = {r.name for r in report.rows if r.aux}
    assert aux_rows == parse_text(SMALL, "t.yaml").training_only()
    t = report.totals
    assert (t.aux_trainable, t.aux_non_trainable, t.aux_macs) == (29, 4, 138)    # worked out above
    plain = report_of(WITHOUT_AUX).totals
    # params include the aux head (PyTorch's parameters() does); MACs, other ops and activations do not
    assert t.trainable == plain.trainable + 29 and t.non_trainable == plain.non_trainable + 4
    assert (t.macs, t.other_ops, t.activations) == (plain.macs, plain.other_ops, plain.activations)
    assert t.aux_macs + t.macs == sum(r.macs for r in report.rows)
    assert t.aux_other_ops + t.other_ops == sum(r.other_ops for r in report.rows)
    assert t.aux_activations + t.activations == sum(r.activations for r in report.rows)
    assert t.aux_activations == 32 + 32 + 32 + 2 + 5            # 4·4·2 thrice, then 2 and 5


def test_without_aux_there_is_no_aux_anything():
    report = report_of(WITHOUT_AUX)
    assert not any(r.aux for r in report.rows) and report.totals.aux_params == report.totals.aux_macs == 0


@pytest.mark.parametrize("depth", [1, 2])
def test_folding_keeps_aux_rows_apart_and_the_sums(depth):
    report = api.report(os.path.join(SPECS, "googlenet.yaml"))
    rows = fold(report, depth)
    t = report.totals
    assert sum(r.macs for r in rows if not r.aux) == t.macs
    assert sum(r.macs for r in rows if r.aux) == t.aux_macs
    assert sum(r.trainable for r in rows) == t.trainable
    if depth == 1:
        assert [r.name for r in rows if r.aux] == ["aux1", "aux2"]


def _cli(*args):
    result = CliRunner().invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.stdout


def test_every_format_marks_the_same_rows(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    data = json.loads(_cli("summary", path, "-f", "json"))
    marked = [r["name"] for r in data["rows"] if r["aux"]]
    assert marked == ["side.conv1", "side.batchnorm1", "side.relu1", "side.global_avgpool1", "side.dense1"]
    assert data["aux"] == [{"layer": "side.dense1", "weight": 0.3}]
    totals = data["totals"]
    for key in ("macs", "flops", "other_ops", "activations", "activation_bytes"):
        assert sum(r[key] for r in data["rows"] if not r["aux"]) == totals[key], key
        assert sum(r[key] for r in data["rows"] if r["aux"]) == totals["aux_" + key], key
    for key in ("trainable", "non_trainable", "params"):
        assert sum(r[key] for r in data["rows"]) == totals[key], key
        assert sum(r[key] for r in data["rows"] if r["aux"]) == totals["aux_" + key], key
    csv_text = _cli("flops", path, "-f", "csv")
    assert [line.split(",")[0] for line in csv_text.splitlines() if "[aux]" in line] == marked
    for fmt in ("table", "markdown"):
        text = _cli("summary", path, "-f", fmt)
        assert [name for name in marked if f"{name.split('.')[-1]}" in text]
        assert text.count("[aux]") == len(marked) + 1        # the rows and the aux line under the table
        assert "Inference" in text and "Aux heads (training)" in text


# ---------------------------------------------------------------- the trainer

def _net(text=SMALL, batch=4, seed=0):
    from cnncalc.engine import train as tr
    from cnncalc.engine.init import initialise

    report, net = tr.build(text, "t.yaml", batch)
    initialise(net, seed)
    return report, net


def _batch(net, m, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((m,) + net.input_shape).astype(np.float32), np.arange(m) % net.n_classes


def _step(net, x, y):
    """Our training forward, weighted loss and backward: (loss, {name: gradient})."""
    from cnncalc.engine.train import Loop

    loop = Loop(net, None, len(y))
    logits = net.forward(x, True, np.random.default_rng(5))
    loss, dz, aux_dz = loop.loss(logits, y)
    net.backward(dz, aux_dz)
    return loss, {k: g.copy() for k, g in net.grads.items()}


@pytest.mark.torch
def test_weighted_loss_and_gradients_equal_pytorchs():
    torch = pytest.importorskip("torch")
    from torch_builder import from_engine

    report, net = _net()
    model = from_engine(report, net.state(), torch.float64).train()
    x, y = _batch(net, 4)
    loss, grads = _step(net, x, y)
    values = {"input": torch.tensor(x, dtype=torch.float64)}
    for name, inputs in model.order:                   # every layer, the aux head's too
        values[name] = model.layer(name)(*[values[i] for i in inputs])
    target = torch.tensor(y)
    ce = torch.nn.functional.cross_entropy
    ref = ce(values["dense1"], target) + 0.3 * ce(values["side.dense1"], target)
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-5)
    named = dict(model.named_parameters())
    assert set(grads) == set(named)
    for k, g in grads.items():
        theirs = named[k].grad.numpy()
        np.testing.assert_allclose(g, theirs, rtol=1e-4, atol=1e-6, err_msg=k)
    assert np.any(grads["side.dense1.weight"]) and np.any(grads["trunk.weight"])
    for k, v in model.state_dict().items():            # the aux batchnorm's running statistics moved too
        if k in net.buffers:
            np.testing.assert_allclose(net.buffers[k], v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_gradient_of_the_weighted_loss_matches_finite_differences():
    from cnncalc.engine.train import Loop

    _, net = _net()
    x, y = _batch(net, 4)
    _, grads = _step(net, x, y)
    loop = Loop(net, None, 4)

    def total_loss():
        return loop.loss(net.forward(x, True, np.random.default_rng(5)), y)[0]

    rng = np.random.default_rng(7)
    step = 1e-3
    for name in ("trunk.weight", "side.conv1.weight", "side.dense1.weight", "dense1.weight"):
        w = net.params[name]
        v = rng.standard_normal(w.shape).astype(np.float32)
        v /= np.linalg.norm(v)
        w0 = w.copy()
        w[...] = w0 + step * v
        up = total_loss()
        w[...] = w0 - step * v
        down = total_loss()
        w[...] = w0
        numeric = (up - down) / (2 * step)
        analytic = float(np.dot(grads[name].ravel().astype(np.float64), v.ravel()))
        assert abs(numeric - analytic) <= 3e-4 + 0.03 * abs(analytic), (name, numeric, analytic)


def test_eval_skips_the_aux_head_and_weight_zero_leaves_the_main_loss():
    from cnncalc.engine.train import Loop

    _, net = _net()
    x, y = _batch(net, 4)
    before = {k: v.copy() for k, v in net.buffers.items()}
    net.forward(x, False)
    assert not any(name.startswith("side.") for name in net.values)            # not computed
    net.forward(x, True, np.random.default_rng(5))
    assert all(f"side.{n}" in net.values for n in ("conv1", "batchnorm1", "dense1"))
    assert not np.array_equal(before["side.batchnorm1.running_mean"], net.buffers["side.batchnorm1.running_mean"])
    # weight 0: the reported loss is the main cross-entropy and the aux head gets no gradient
    _, zero = _net(SMALL.replace("weight: 0.3", "weight: 0"))
    logits = zero.forward(x, True, np.random.default_rng(5))
    from cnncalc.layers.activation.kernels import softmax_cross_entropy

    main = softmax_cross_entropy(logits.copy(), y)[0]
    loss, dz, aux_dz = Loop(zero, None, 4).loss(logits, y)
    assert loss == pytest.approx(main) and not np.any(aux_dz[0])


def test_a_training_step_reports_the_weighted_loss():
    from cnncalc.engine import train as tr
    from cnncalc.engine.train import Loop
    from cnncalc.layers.activation.kernels import softmax_cross_entropy

    _, net = _net()
    x, y = _batch(net, 4)
    net.forward(x, True, np.random.default_rng(2))
    main = softmax_cross_entropy(net.values[net.logits].copy(), y)[0]
    side = softmax_cross_entropy(net.aux_logits()[0].copy(), y)[0]
    _, net = _net()
    loss, _ = Loop(net, tr.make_optimizer(net, "sgd", 0.01), 4).step(x, y, np.random.default_rng(2))
    assert loss == pytest.approx(main + 0.3 * side, rel=1e-6)


# ---------------------------------------------------------------- torchvision

def _hooked_macs(torch, model, input_shape, train):
    """Conv + linear MACs per sample and each one's output shape (n_H, n_W, n_C) or (n,), in call order,
    of the module in train mode (aux heads run; two images, as a training batchnorm needs) or eval."""
    nn = torch.nn
    seen = []

    def hook(module, _inputs, out):
        if isinstance(module, nn.Conv2d):
            f_H, f_W = module.kernel_size
            macs = out.numel() // out.shape[0] * (module.in_channels // module.groups) * f_H * f_W
            shape = (out.shape[2], out.shape[3], out.shape[1])
        else:
            macs, shape = module.in_features * module.out_features, (module.out_features,)
        seen.append((shape, macs))

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    n_H, n_W, n_C = input_shape
    try:
        with torch.no_grad():
            model.train(train)(torch.zeros(2, n_C, n_H, n_W))
    finally:
        for handle in handles:
            handle.remove()
    return seen


@pytest.mark.torch
@pytest.mark.parametrize("spec, name, kwargs", [
    ("googlenet", "googlenet", {"aux_logits": True, "init_weights": False}),
    ("inception_v3", "inception_v3", {"aux_logits": True, "init_weights": False}),
])
def test_aux_specs_equal_torchvisions_modules(spec, name, kwargs):
    torch = pytest.importorskip("torch")
    from torchvision_import import assert_spec_equals, torchvision_or_skip

    tv = torchvision_or_skip()
    model = getattr(tv.models, name)(**kwargs)
    # params, buffers, inference MACs (eval mode: aux heads not run) and the output
    report = assert_spec_equals(os.path.join(SPECS, f"{spec}.yaml"), model)
    shape = report.graph.input_shape
    train, infer = _hooked_macs(torch, model, shape, True), _hooked_macs(torch, model, shape, False)
    t = report.totals
    assert t.aux_macs == sum(m for _, m in train) - sum(m for _, m in infer) > 0
    assert t.aux_trainable > 0 and t.trainable == sum(p.numel() for p in model.parameters())
    # every conv and dense layer, in order: its output shape and MACs, the aux heads' where torch runs them
    ours = [(tuple(r.out_shape), r.macs) for r in report.rows if r.kind in ("conv", "dense")]
    assert ours == train
    ours_inference = [(tuple(r.out_shape), r.macs) for r in report.rows if r.kind in ("conv", "dense") and not r.aux]
    assert ours_inference == infer
