"""Training runs through engine.api: accuracy, the run directory, resume, stops, errors."""

import csv
import json
import os

import numpy as np
import pytest

from cnncalc.engine import api, checkpoint
from cnncalc.render.training import Printer
from cnncalc.engine import train as tr
from cnncalc.errors import CnncalcError, EngineError
from helpers import spec

SMALL = spec("""- conv: {filters: 8, kernel: 3, padding: 1}
- relu
- maxpool: 2
- conv: {filters: 16, kernel: 3, padding: 1}
- relu
- maxpool: 2
- flatten
- dense: 4
- softmax""", (16, 16, 1))
# dropout draws from the run's Generator: resume must restore its state, not only the weights
DROPOUT = spec("""- conv: {filters: 6, kernel: 3, padding: 1}
- batchnorm
- relu
- maxpool: 2
- flatten
- dropout: 0.3
- dense: 4
- softmax""", (12, 12, 1))


def write(tmp_path, text=SMALL, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def train(tmp_path, run, text=SMALL, **kw):
    kw.setdefault("seed", 3)
    return api.train_run(write(tmp_path, text), out=str(tmp_path / run), **kw)


def test_synthetic_training_reaches_high_accuracy_and_keeps_a_complete_run_directory(tmp_path):
    last = train(tmp_path, "run", epochs=3, optimizer="adam", lr=3e-3)
    assert last["val_acc"] >= 0.95 and last["test_acc"] >= 0.95, last
    run = tmp_path / "run"
    assert {"spec.yaml", "config.json", "metrics.csv", "metrics.json", "last.npz", "best.npz"} <= set(os.listdir(run))
    assert not [f for f in os.listdir(run) if f.endswith(".tmp")]
    metrics = json.loads((run / "metrics.json").read_text())
    assert [m["epoch"] for m in metrics] == [1, 2, 3]
    # the test split is measured once, after the last epoch
    assert list(metrics[2]) == list(api.METRICS)
    assert list(metrics[0]) == [k for k in api.METRICS if not k.startswith("test_")]
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert list(rows[0]) == list(api.METRICS) and float(rows[2]["val_acc"]) == metrics[2]["val_acc"]
    assert [r["test_acc"] for r in rows[:2]] == ["", ""] and float(rows[2]["test_acc"]) == metrics[2]["test_acc"]
    config = json.loads((run / "config.json").read_text())
    assert config["optimizer"] == "adam" and config["lr"] == 3e-3 and config["seed"] == 3
    assert config["init"]["scheme"] == "torch"  # PyTorch's defaults unless --init says otherwise
    assert config["init"]["layers"] == {"conv1": "torch_default", "conv2": "torch_default", "dense1": "torch_default"}
    assert (run / "spec.yaml").read_text() == SMALL
    weights, optim_state, meta = checkpoint.load(str(run))
    assert meta["epoch"] == 3 and weights["conv1.weight"].shape == (8, 1, 3, 3)
    assert optim_state["t"] == meta["epoch"] * -(-5400 // 64)
    from cnncalc.data import load

    data = load(None, input_shape=(16, 16, 1), n_classes=4, seed=3)
    assert np.array_equal(meta["mean"], data.mean) and np.array_equal(meta["std"], data.std)
    assert meta["class_names"] == list(data.class_names) and len(meta["class_names"]) == 4


def test_evaluate_and_predict_a_trained_run(tmp_path):
    last = train(tmp_path, "run", epochs=2, optimizer="adam", lr=3e-3)
    result = api.evaluate_run(str(tmp_path / "run"))
    assert result["split"] == "test" and result["accuracy"] == pytest.approx(last["test_acc"])
    confusion = np.array(result["confusion"])
    assert confusion.sum() == result["n"] == 1000
    assert np.trace(confusion) / confusion.sum() == pytest.approx(result["accuracy"])
    assert result["per_class"][0] == pytest.approx(confusion[0, 0] / confusion[0].sum())
    # predict: the test images themselves, unnormalised, as a user would pass them
    from cnncalc.data import load

    data = load(None, input_shape=(16, 16, 1), n_classes=4, seed=3)
    raw = data.test.x[:5] * data.std + data.mean
    np.savez(tmp_path / "in.npz", x=raw)
    top = [p["top"] for p in api.predict_run(str(tmp_path / "run" / "best.npz"), str(tmp_path / "in.npz"))]
    assert len(top) == 5 and all(len(t) == 3 for t in top)
    assert all(t[0]["probability"] >= t[1]["probability"] >= t[2]["probability"] for t in top)
    assert sum(t[0]["class"] == y for t, y in zip(top, data.test.y[:5])) >= 4
    # another data file: normalised with the run's statistics, not its own, so the same images
    # give the same accuracy
    raw = np.rint(data.test.x * data.std + data.mean).clip(0, 255).astype(np.uint8)
    np.savez(tmp_path / "held_out.npz", x=raw, y=data.test.y)
    other = api.evaluate_run(str(tmp_path / "run"), data=str(tmp_path / "held_out.npz"))
    assert other["split"] == "all" and other["n"] == 1000
    assert other["accuracy"] == pytest.approx(result["accuracy"], abs=0.003)


def _interrupt_at(monkeypatch, call):
    real, calls = tr.Loop.epoch, []

    def epoch(self, *args, **kw):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(self, *args, **kw)

    monkeypatch.setattr(tr.Loop, "epoch", epoch)
    return real


def _same_runs(tmp_path, a, b):
    ma = json.loads((tmp_path / a / "metrics.json").read_text())
    mb = json.loads((tmp_path / b / "metrics.json").read_text())
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr"):
        assert [r.get(key) for r in ma] == [r.get(key) for r in mb], key  # bit for bit
    wa, oa, _ = checkpoint.load(str(tmp_path / a))
    wb, ob, _ = checkpoint.load(str(tmp_path / b))
    assert all(np.array_equal(wa[k], wb[k]) for k in wa) and all(np.array_equal(oa[k], ob[k]) for k in oa)


def test_an_interrupted_run_resumed_gives_the_losses_of_an_uninterrupted_one(tmp_path, monkeypatch):
    settings = dict(text=DROPOUT, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-4, schedule="cosine",
                    batch_size=50, epochs=3)
    full = train(tmp_path, "full", **settings)
    real = _interrupt_at(monkeypatch, 2)
    with pytest.raises(api.Interrupted):
        train(tmp_path, "part", **settings)
    monkeypatch.setattr(tr.Loop, "epoch", real)
    assert checkpoint.load(str(tmp_path / "part"))[2]["epoch"] == 1
    resumed = api.train_run(None, resume=str(tmp_path / "part"))
    assert resumed["train_loss"] == full["train_loss"]
    _same_runs(tmp_path, "full", "part")
    with pytest.raises(EngineError, match="finished its 3 epochs"):
        api.train_run(None, resume=str(tmp_path / "part"))


def test_resume_with_more_epochs_extends_a_finished_run(tmp_path):
    settings = dict(text=DROPOUT, optimizer="adam", lr=2e-3, batch_size=64)
    train(tmp_path, "full", epochs=2, **settings)
    train(tmp_path, "part", epochs=1, **settings)
    api.train_run(None, resume=str(tmp_path / "part"), epochs=2)
    _same_runs(tmp_path, "full", "part")


def test_a_diverging_loss_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    from cnncalc.engine import optim

    real = optim.make_schedule
    monkeypatch.setattr(optim, "make_schedule",
                        lambda schedule, base, epochs, **kw: (lambda e: base if e == 0 else 1e12))  # noqa: ARG005 — make_schedule's
    with pytest.raises(EngineError, match=r"the loss became (nan|inf) in epoch 2; stopped .*last.npz keeps epoch 1"):
        train(tmp_path, "nan", epochs=3, optimizer="sgd", lr=0.01)
    monkeypatch.setattr(optim, "make_schedule", real)
    weights, _, meta = checkpoint.load(str(tmp_path / "nan"))
    assert meta["epoch"] == 1 and all(np.isfinite(w).all() for w in weights.values())
    assert len(json.loads((tmp_path / "nan" / "metrics.json").read_text())) == 1


def test_ctrl_c_keeps_every_finished_epoch(tmp_path, monkeypatch):
    real = _interrupt_at(monkeypatch, 2)
    with pytest.raises(api.Interrupted) as info:
        train(tmp_path, "stop", epochs=3)
    assert info.value.saved_epoch == 1 and info.value.last["epoch"] == 1
    _, _, meta = checkpoint.load(str(tmp_path / "stop"))
    assert meta["epoch"] == 1
    # a Ctrl-C after an epoch's training but before its checkpoint still saves that epoch
    monkeypatch.setattr(tr.Loop, "epoch", real)
    monkeypatch.setattr(tr.Loop, "evaluate", lambda self, X, Y: (_ for _ in ()).throw(KeyboardInterrupt))  # noqa: ARG005
    with pytest.raises(api.Interrupted):
        api.train_run(None, resume=str(tmp_path / "stop"))
    _, _, meta = checkpoint.load(str(tmp_path / "stop"))
    assert meta["epoch"] == 2 and len(meta["history"]) == 2 and "val_acc" not in meta["history"][1]
    assert meta["evaluated"] == 1  # epoch 2's evaluation and best.npz are left for the resume to do


def test_a_corrupt_checkpoint_is_one_clear_error(tmp_path):
    cases = {"garbage.npz": b"not a zip at all", "empty.npz": b""}
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
    np.savez(tmp_path / "foreign.npz", weights=np.zeros(3))
    train(tmp_path, "run", epochs=1)
    good = (tmp_path / "run" / "last.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(good[:len(good) // 2])
    for name, fragment in (("garbage.npz", "not a readable cnncalc checkpoint"),
                           ("empty.npz", "not a readable cnncalc checkpoint"),
                           ("truncated.npz", "not a readable cnncalc checkpoint"),
                           ("foreign.npz", "not a cnncalc checkpoint (no meta record)")):
        for call in (checkpoint.load, api.evaluate_run):
            with pytest.raises(EngineError) as info:
                call(str(tmp_path / name))
            line = info.value.line()
            assert line.startswith(str(tmp_path / name)) and fragment in line and "\n" not in line
    with pytest.raises(EngineError, match="no such checkpoint"):
        api.predict_run(str(tmp_path / "missing.npz"), str(tmp_path / "x.npz"))
    with pytest.raises(EngineError, match="has no last.npz"):
        api.train_run(None, resume=str(tmp_path))


def test_a_spec_the_engine_cannot_run_is_refused_before_data_is_read(tmp_path, monkeypatch):
    import cnncalc.data as data_mod

    monkeypatch.setattr(data_mod, "load", lambda *a, **kw: pytest.fail("data read before the spec was checked"))
    with pytest.raises(EngineError, match="training needs one score per class"):
        train(tmp_path, "r", text=spec("- conv: {filters: 2, kernel: 3}", (8, 8, 1)))
    with pytest.raises(CnncalcError, match="kernel"):
        train(tmp_path, "r", text=spec("- conv: {filters: 2, kernel: 30}", (8, 8, 1)))
    with pytest.raises(EngineError, match=r"the run needs about .* GiB is free.*--force"):
        train(tmp_path, "r", batch_size=10**8)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("option, value, fragment", [
    ("optimizer", "rmsprop", "allowed: sgd, adam"), ("schedule", "linear", "allowed: constant, step, cosine"),
    ("batch_size", 0, "field 'batch_size'"), ("lr", -1.0, "a positive number"), ("epochs", 0, "field 'epochs'"),
    ("threads", 0, "field 'threads'"), ("val_fraction", 1.0, "0 ≤ val_fraction < 1"),
])
def test_bad_options_are_one_line_errors(tmp_path, option, value, fragment):
    with pytest.raises(EngineError) as info:
        train(tmp_path, "r", **{option: value})
    assert fragment in info.value.line() and f"received {value!r}" in info.value.line()


def test_a_run_directory_is_never_overwritten(tmp_path):
    train(tmp_path, "run", epochs=1)
    with pytest.raises(EngineError, match="already holds a run.*--resume.*--force to replace it"):
        train(tmp_path, "run", epochs=1)
    (tmp_path / "run" / "best.npz").unlink()
    (tmp_path / "run" / "best.npz").write_bytes(b"stale")
    train(tmp_path, "run", epochs=1, seed=4, force=True)
    assert checkpoint.load(str(tmp_path / "run" / "best.npz"))[2]["config"]["seed"] == 4


def test_threads_are_recorded_and_capped(tmp_path):
    from rich.console import Console

    err = Console(record=True, width=200)
    train(tmp_path, "run", epochs=1, threads=64, on_event=Printer(None, err))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    import numba

    assert config["threads"] == numba.config.NUMBA_NUM_THREADS and config["threads_requested"] == 64
    assert "using" in err.export_text()


def test_threads_are_set_for_the_run_and_restored():
    import numba

    from threadpoolctl import threadpool_info

    def blas():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before, blas_before = numba.get_num_threads(), blas()
    with api.Threads(1):
        assert numba.get_num_threads() == 1
        assert blas() == [1] * len(blas_before)  # numpy's BLAS runs single-threaded beside the kernels
    assert numba.get_num_threads() == before and blas() == blas_before


def test_the_console_shows_estimate_epochs_table_and_curves(tmp_path):
    from rich.console import Console

    out = Console(record=True, width=160)
    train(tmp_path, "run", epochs=2, on_event=Printer(out))
    text = out.export_text()
    assert "memory: about" in text and "per epoch" in text and "GFLOP/s" in text
    assert "epoch 1/2:" in text and "epoch 2/2:" in text and "val acc" in text
    assert text.count("test (once, after epoch 2)") == 1 and "test loss" not in text
    assert "loss (train ●  validation ○)" in text and "accuracy (train ●" in text
