"""The engine against PyTorch (gradients, 50-step trajectories) and its own promises (accuracy, resume, stops)."""

import json
import os

import numpy as np
import pytest

from cnncalc.engine import api, checkpoint
from cnncalc.engine import train as tr
from cnncalc.errors import EngineError
from helpers import spec

NET = spec("""- conv: {filters: 4, kernel: 3, padding: 1, name: c1}
- batchnorm
- relu
- parallel:
    - - conv: {filters: 4, kernel: 3, padding: same}
      - relu
    - []
  merge: add
- maxpool: {kernel: 2}
- parallel:
    - [conv: {filters: 3, kernel: 1}]
    - [avgpool: {kernel: 3, stride: 1, padding: 1}]
- conv: {filters: 6, kernel: 3, stride: 2, padding: same, bias: false}
- leaky_relu: 0.1
- flatten
- dense: 12
- tanh
- dense: 5
- softmax""", (8, 8, 2))


def build(text=NET, batch=8, seed=0):
    from cnncalc.engine.init import initialise

    report, net = tr.build(text, "t.yaml", batch)
    initialise(net, seed)
    return report, net


def test_unrunnable_spec_is_refused_before_work():
    with pytest.raises(EngineError, match="training needs one score per class"):
        build(spec("- conv: {filters: 2, kernel: 3}"))
    with pytest.raises(EngineError, match="does not analyse"):
        build(spec("- conv: {filters: 2, kernel: 30}"))


def torch_state(net):
    import torch

    params = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in net.params.items()}
    buffers = {k: torch.tensor(v.copy()) for k, v in net.buffers.items()}
    return params, buffers


@pytest.mark.torch
def test_whole_network_gradients_match_torch_autograd():
    torch = pytest.importorskip("torch")
    from torch_builder import torch_forward
    report, net = build()
    rows = {r.name: r for r in report.rows}
    x = np.random.default_rng(1).standard_normal((8, 2, 8, 8)).astype(np.float32)
    y = np.arange(8) % 5
    params, buffers = torch_state(net)
    logits = net.forward(x, True)
    loss, dlogits, _ = tr.softmax_cross_entropy(logits, y)
    net.backward(dlogits)
    ref_logits = torch_forward(report.graph, rows, params, buffers, torch.tensor(x), True)
    ref = torch.nn.functional.cross_entropy(ref_logits, torch.tensor(y))
    ref.backward()
    assert np.allclose(logits, ref_logits.detach().numpy(), atol=1e-5)
    assert np.isclose(loss, ref.item(), rtol=1e-5)
    for k, g in net.grads.items():
        assert np.allclose(g, params[k].grad.numpy(), atol=1e-5, rtol=1e-4), k
    for k, b in net.buffers.items():
        assert np.allclose(b, buffers[k].numpy(), atol=1e-6), k


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fifty_steps_match_pytorch(optimizer):
    torch = pytest.importorskip("torch")
    from torch_builder import torch_forward
    report, net = build(batch=16)
    rows = {r.name: r for r in report.rows}
    params, buffers = torch_state(net)
    opt = tr.make_optimizer(net, optimizer, 0.05 if optimizer == "sgd" else 2e-3, 0.9, 1e-3)
    ref_opt = (torch.optim.SGD(params.values(), lr=0.05, momentum=0.9, weight_decay=1e-3) if optimizer == "sgd"
               else torch.optim.Adam(params.values(), lr=2e-3, weight_decay=1e-3))
    data = np.random.default_rng(2)
    x_all = data.standard_normal((64, 2, 8, 8)).astype(np.float32)
    y_all = data.integers(0, 5, 64)
    ours, theirs = [], []
    for step in range(50):
        idx = np.arange(step * 16, step * 16 + 16) % 64
        x, y = x_all[idx], y_all[idx]
        loss, _ = tr.train_step(net, opt, x, y, np.random.default_rng(0))
        ours.append(loss)
        ref_opt.zero_grad()
        ref = torch.nn.functional.cross_entropy(
            torch_forward(report.graph, rows, params, buffers, torch.tensor(x), True), torch.tensor(y))
        ref.backward()
        ref_opt.step()
        theirs.append(ref.item())
    assert np.allclose(ours, theirs, rtol=1e-4, atol=0), np.max(np.abs(np.array(ours) / theirs - 1))
    assert ours[-1] < ours[0]


SMALL = spec("""- conv: {filters: 8, kernel: 3, padding: 1}
- relu
- maxpool: 2
- conv: {filters: 16, kernel: 3, padding: 1}
- relu
- maxpool: 2
- flatten
- dense: 4
- softmax""", (16, 16, 1))


def train(tmp_path, name, **kw):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL)
    return api.train_run(str(path), out=str(tmp_path / name), seed=3, **kw)


def test_synthetic_training_reaches_high_accuracy(tmp_path):
    last = train(tmp_path, "run", epochs=3)
    assert last["val_acc"] >= 0.9 and last["test_acc"] >= 0.9
    run = tmp_path / "run"
    assert {"spec.yaml", "config.json", "metrics.csv", "metrics.json", "last.npz", "best.npz"} <= set(os.listdir(run))
    metrics = json.loads((run / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    assert (run / "metrics.csv").read_text().splitlines()[0].startswith("epoch,train_loss,train_acc,val_loss,val_acc")
    weights, _, meta = checkpoint.load(str(run))
    assert meta["epoch"] == 3 and "conv1.weight" in weights and weights["conv1.weight"].shape == (8, 1, 3, 3)
    result = api.evaluate_run(str(run))
    assert result["accuracy"] == pytest.approx(last["test_acc"])
    assert sum(map(sum, result["confusion"])) == 1000
    x = np.random.default_rng(0).integers(0, 255, (2, 16, 16, 1)).astype(np.uint8)
    np.savez(tmp_path / "in.npz", x=x)
    top = api.predict_run(str(run / "last.npz"), str(tmp_path / "in.npz"))
    assert len(top) == 2 and abs(sum(p for _, p in top[0]) - 1) < 0.5


def test_resume_gives_the_same_losses(tmp_path):
    full = train(tmp_path, "full", epochs=2, optimizer="sgd", lr=0.02)
    train(tmp_path, "part", epochs=1, optimizer="sgd", lr=0.02)
    resumed = api.train_run(None, resume=str(tmp_path / "part"), epochs=2)
    assert resumed["train_loss"] == full["train_loss"] and resumed["val_loss"] == full["val_loss"]
    a = json.loads((tmp_path / "full" / "metrics.json").read_text())
    b = json.loads((tmp_path / "part" / "metrics.json").read_text())
    assert [r["train_loss"] for r in a] == [r["train_loss"] for r in b]


def test_nan_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from cnncalc.engine import optim

    monkeypatch.setattr(optim, "lr_at", lambda schedule, base, epoch, epochs, **kw: base if epoch == 0 else 1e30)
    with pytest.raises(EngineError, match="the loss became"):
        train(tmp_path, "nan", epochs=3, optimizer="sgd", lr=0.01)
    _, _, meta = checkpoint.load(str(tmp_path / "nan"))
    assert meta["epoch"] == 1


def test_ctrl_c_keeps_finished_epochs(tmp_path, monkeypatch):
    real = tr.run_epoch

    def interrupt(*args, **kw):
        if args[5] == 1:  # the epoch argument
            raise KeyboardInterrupt
        return real(*args, **kw)

    monkeypatch.setattr(tr, "run_epoch", interrupt)
    train(tmp_path, "stop", epochs=3)
    _, _, meta = checkpoint.load(str(tmp_path / "stop"))
    assert meta["epoch"] == 1


def test_corrupt_checkpoint_is_one_clear_error(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(EngineError) as info:
        checkpoint.load(str(bad))
    assert str(info.value).startswith(f"{bad}: not a readable cnncalc checkpoint")
