"""Runs: nothing lost, honest exit codes, one lock per run directory, and the figures shown.

Each test names the bug it is for; every one was watched failing with that bug planted.
The data is a small .npz (240 training and 60 test images of 8×8×1, 3 classes) so that an
epoch is a fraction of a second.
"""

import json
import math
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from helpers import spec
from typer.testing import CliRunner

from cnncalc.engine import api, checkpoint
from cnncalc.engine import run as run_module
from cnncalc.engine import train as tr
from cnncalc.errors import CnncalcError, EngineError

NET = spec("- conv: {filters: 4, kernel: 3, padding: 1}\n- relu\n- maxpool: 2\n- flatten\n- dense: 3\n- softmax",
           (8, 8, 1))
RUN_FILES = ("spec.yaml", "config.json", "metrics.csv", "metrics.json", "last.npz", "best.npz")


def make_data(folder, m=240, name="d.npz"):
    """Three classes: a bright band of rows 0–2, 3–5 or 5–7 over noise; 60 test images."""
    rng = np.random.default_rng(0)

    def images(n):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 8, 8, 1))
        for c, top in enumerate((0, 3, 5)):
            x[y == c, top:top + 3] += 150
        return x.astype(np.uint8), y

    x, y = images(m)
    x_test, y_test = images(60)
    np.savez(folder / name, x=x, y=y, x_test=x_test, y_test=y_test)
    return str(folder / name)


def train(tmp_path, run="run", **kw):
    (tmp_path / "net.yaml").write_text(NET)
    kw.setdefault("seed", 3)
    kw.setdefault("batch_size", 32)
    kw.setdefault("data", make_data(tmp_path))
    return api.train_run(str(tmp_path / "net.yaml"), out=str(tmp_path / run), **kw)


def files(folder):
    return {name: (folder / name).read_bytes() for name in RUN_FILES if (folder / name).exists()}


def same_runs(a, b):
    """Metrics and last.npz/best.npz of two run directories, bit for bit (seconds aside)."""
    ma = json.loads((a / "metrics.json").read_text())
    mb = json.loads((b / "metrics.json").read_text())
    for key in ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "test_loss", "test_acc", "lr"):
        assert [r.get(key) for r in ma] == [r.get(key) for r in mb], key
    for kind in ("last.npz", "best.npz"):
        wa, oa, meta_a = checkpoint.load(str(a / kind))
        wb, ob, meta_b = checkpoint.load(str(b / kind))
        assert meta_a["epoch"] == meta_b["epoch"] and meta_a["best_val_acc"] == meta_b["best_val_acc"], kind
        assert all(np.array_equal(wa[k], wb[k]) for k in wa) and all(np.array_equal(oa[k], ob[k]) for k in oa)


def interrupt_call(monkeypatch, method, call):
    """tr.Loop.<method> raises KeyboardInterrupt on its call-th call (1-based); returns the real one."""
    real, calls = getattr(tr.Loop, method), []

    def wrapper(self, *args, **kw):
        calls.append(1)
        if len(calls) == call:
            raise KeyboardInterrupt
        return real(self, *args, **kw)

    monkeypatch.setattr(tr.Loop, method, wrapper)
    return real


# ------------------------------------------------------------------ --force loses nothing

def test_force_keeps_the_old_run_until_the_new_one_has_saved(tmp_path, monkeypatch):
    # bug: --force deleted the old run's files before the new run had saved anything
    train(tmp_path, epochs=2)
    run = tmp_path / "run"
    old = files(run)
    assert set(old) == set(RUN_FILES)
    interrupt_call(monkeypatch, "epoch", 1)  # Ctrl-C in the new run's first epoch
    with pytest.raises(api.Interrupted) as info:
        train(tmp_path, epochs=2, seed=4, force=True)
    assert info.value.saved_epoch == 0 and files(run) == old
    monkeypatch.undo()
    from cnncalc.engine import optim

    # a loss that turns NaN in the first epoch: the old run is untouched and the message says so
    monkeypatch.setattr(optim, "make_schedule", lambda *a, **kw: (lambda *e: 1e30))
    with pytest.raises(EngineError, match="the loss became (nan|inf) in epoch 1; stopped .*previous run .* untouched"):
        train(tmp_path, epochs=2, seed=4, force=True, optimizer="sgd")
    assert files(run) == old
    monkeypatch.undo()
    # Ctrl-C during the new run's first evaluation: its epoch 1 replaces the old run, and the old
    # best.npz does not stay to pass for the new run's
    interrupt_call(monkeypatch, "evaluate", 1)
    with pytest.raises(api.Interrupted):
        train(tmp_path, epochs=2, seed=4, force=True)
    assert json.loads((run / "config.json").read_text())["seed"] == 4
    assert checkpoint.load(str(run))[2]["config"]["seed"] == 4 and not (run / "best.npz").exists()
    monkeypatch.undo()
    api.train_run(None, resume=str(run))
    assert checkpoint.load(str(run / "best.npz"))[2]["config"]["seed"] == 4


def test_stale_temporaries_of_killed_saves_are_removed_when_a_run_resumes(tmp_path):
    # bug: .checkpoint-*.npz.tmp left by killed saves piled up forever
    train(tmp_path, epochs=1)
    run = tmp_path / "run"
    for name in (".checkpoint-0a1b2c3d4e5f.npz.tmp", ".checkpoint-killed.npz.tmp", "metrics.csv.tmp"):
        (run / name).write_bytes(b"x" * 1000)
    (run / "notes.txt").write_text("mine")  # not ours: stays
    api.train_run(None, resume=str(run), epochs=2)
    assert sorted(os.listdir(run)) == sorted(RUN_FILES + (".lock", "notes.txt"))


# ------------------------------------------------------------------ the lock

def test_a_second_run_in_a_locked_directory_says_who_holds_it(tmp_path):
    # bug: two runs in one --out both ran, one silently overwriting the other
    train(tmp_path, epochs=1)
    run = tmp_path / "run"
    lock = api.RunLock(str(run)).acquire()
    try:
        assert (run / ".lock").read_text().strip() == str(os.getpid())
        for call in (lambda: train(tmp_path, epochs=1, force=True),
                     lambda: api.train_run(None, resume=str(run), epochs=2)):
            with pytest.raises(EngineError) as info:
                call()
            line = info.value.line()
            assert line.startswith(str(run)) and f"in use by process {os.getpid()}" in line
        assert checkpoint.load(str(run))[2]["epoch"] == 1
        assert api.evaluate_run(str(run))["n"] == 60  # evaluate only reads: no lock needed
    finally:
        lock.release()
    api.train_run(None, resume=str(run), epochs=2)
    assert checkpoint.load(str(run))[2]["epoch"] == 2


def test_the_cli_refuses_a_directory_another_process_trains_in(tmp_path):
    pytest.importorskip("fcntl")
    (tmp_path / "net.yaml").write_text(NET)
    run = tmp_path / "run"
    run.mkdir()
    # another process holds the lock until its stdin closes
    code = (f"import fcntl, os, sys\nfd = os.open({str(run / '.lock')!r}, os.O_RDWR | os.O_CREAT)\n"
            "fcntl.flock(fd, fcntl.LOCK_EX)\nos.write(fd, str(os.getpid()).encode())\n"
            "print('ready', flush=True)\nsys.stdin.read()\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ready"
        result = CliRunner().invoke(app(), ["train", str(tmp_path / "net.yaml"), "--out", str(run), "--data",
                                            make_data(tmp_path), "--epochs", "1"], env={"COLUMNS": "200"})
        assert result.exit_code == 1, result.output
        assert f"in use by process {holder.pid}" in result.output and "Traceback" not in result.output
        assert os.listdir(run) == [".lock"]
    finally:
        holder.stdin.close()
        holder.wait()


def app():
    from cnncalc.cli import app

    return app


# ------------------------------------------------------------------ Ctrl-C: exit 130, saying what was kept

@pytest.mark.parametrize("where, call, said", [
    ("epoch", 2, "interrupted: epoch 1 of 3 is kept in"),
    ("epoch", 1, "interrupted: no epoch finished; nothing was saved"),
    ("evaluate", 1, "interrupted: epoch 1 of 3 is kept in"),
])
def test_ctrl_c_during_training_exits_130_after_saying_what_was_kept(tmp_path, monkeypatch, where, call, said):
    # bug: Ctrl-C during training exited 0, even with nothing saved
    (tmp_path / "net.yaml").write_text(NET)
    interrupt_call(monkeypatch, where, call)
    result = CliRunner().invoke(app(), ["train", str(tmp_path / "net.yaml"), "--out", str(tmp_path / "run"),
                                        "--data", make_data(tmp_path), "--epochs", "3", "--batch-size", "32"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 130, result.output
    assert said in result.output and "Traceback" not in result.output
    if call == 1 and where == "epoch":
        assert not (tmp_path / "run").exists()  # a run that saved nothing leaves no directory behind


def test_ctrl_c_before_training_exits_130(tmp_path, monkeypatch):
    (tmp_path / "net.yaml").write_text(NET)

    def load(*args, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(run_module, "_load_data", load)
    result = CliRunner().invoke(app(), ["train", str(tmp_path / "net.yaml"), "--out", str(tmp_path / "run")],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 130 and "nothing was written" in result.output
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ resume completes an interrupted evaluation

@pytest.mark.parametrize("call", [2, 4])  # evaluate: epoch 1 val, epoch 2 val, epoch 3 val, epoch 3 test
def test_ctrl_c_during_evaluation_is_completed_on_resume_as_an_uninterrupted_run(tmp_path, monkeypatch, call):
    # bug: the interrupted epoch's figures stayed blank and its best.npz was never decided
    settings = dict(epochs=3, optimizer="adam", lr=3e-3)
    full = train(tmp_path, "full", **settings)
    real = interrupt_call(monkeypatch, "evaluate", call)
    with pytest.raises(api.Interrupted):
        train(tmp_path, "part", **settings)
    monkeypatch.setattr(tr.Loop, "evaluate", real)
    meta = checkpoint.load(str(tmp_path / "part"))[2]
    assert meta["evaluated"] == meta["epoch"] - 1
    resumed = api.train_run(None, resume=str(tmp_path / "part"))
    timing = ("seconds", "images_per_s")
    assert {k: v for k, v in resumed.items() if k not in timing} == {k: v for k, v in full.items() if k not in timing}
    same_runs(tmp_path / "full", tmp_path / "part")


# ------------------------------------------------------------------ unwritable run directory

def test_an_unwritable_run_directory_is_found_before_the_data_is_read(tmp_path, monkeypatch):
    # bug: a read-only run directory was found only after a whole epoch. Root ignores permissions,
    # so the directory is made "read-only" by refusing to create files in it, as chmod a-w does
    import builtins

    train(tmp_path, epochs=1)
    run = str(tmp_path / "run")
    real_open, real_os_open = builtins.open, os.open

    def refused(path):
        path = os.path.abspath(os.fspath(path))
        return os.path.dirname(path) == run and not os.path.exists(path)

    def fake_open(path, mode="r", *a, **kw):
        if any(c in mode for c in "wax+") and refused(path):
            raise PermissionError(13, "Permission denied", path)
        return real_open(path, mode, *a, **kw)

    def fake_os_open(path, flags, *a, **kw):
        if flags & os.O_CREAT and refused(path):
            raise PermissionError(13, "Permission denied", path)
        return real_os_open(path, flags, *a, **kw)

    monkeypatch.setattr(builtins, "open", fake_open)
    monkeypatch.setattr(os, "open", fake_os_open)
    monkeypatch.setattr(run_module, "_load_data", lambda *a, **kw: pytest.fail("data read before the write check"))
    monkeypatch.setattr(tr.Loop, "epoch", lambda *a, **kw: pytest.fail("trained before the write check"))
    with pytest.raises(EngineError) as info:
        api.train_run(None, resume=run, epochs=2)
    assert info.value.line().startswith(run) and "cannot write to the run directory (Permission denied)" in \
        info.value.line()


# ------------------------------------------------------------------ checkpoints: meta types, NaN, mode

def rewrite(path, meta_change=None, weights_change=None):
    with np.load(path) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    if meta_change:
        meta_change(meta)
    if weights_change:
        weights_change(arrays)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, field, received", [
    (lambda m: m.update(epoch="1"), "meta.epoch", "'1'"),
    (lambda m: m.update(epoch=True), "meta.epoch", "True"),
    (lambda m: m.update(evaluated=0.5), "meta.evaluated", "0.5"),
    (lambda m: m["config"].update(epochs="3"), "meta.config.epochs", "'3'"),
    (lambda m: m["config"].update(batch_size=32.5), "meta.config.batch_size", "32.5"),
    (lambda m: m["config"].update(lr="fast"), "meta.config.lr", "'fast'"),
    (lambda m: m["config"].update(data=7), "meta.config.data", "7"),
    (lambda m: m.update(history="epoch 1"), "meta.history", "'epoch 1'"),
    (lambda m: m["history"][0].update(train_loss="0.5"), "meta.history[0].train_loss", "'0.5'"),
    (lambda m: m.update(rng=[1, 2]), "meta.rng", "[1, 2]"),
    (lambda m: m.update(class_names=[0, 1, 2]), "meta.class_names", "[0, 1, 2]"),
    (lambda m: m.update(spec=["- relu"]), "meta.spec", "['- relu']"),
    (lambda m: m.update(config=[]), "meta.config", "[]"),
])
def test_a_checkpoint_with_wrongly_typed_meta_is_one_error_line(tmp_path, change, field, received):
    # bug: --resume of a checkpoint whose epoch is text gave a traceback
    train(tmp_path, epochs=1)
    path = str(tmp_path / "run" / "last.npz")
    rewrite(path, change)
    for call in (lambda: api.train_run(None, resume=str(tmp_path / "run"), epochs=2),
                 lambda: api.evaluate_run(path)):
        with pytest.raises(EngineError) as info:
            call()
        line = info.value.line()
        assert line.startswith(path) and f"field '{field}'" in line and f"received {received}" in line, line


def test_a_generator_state_that_does_not_fit_is_one_error_line(tmp_path):
    train(tmp_path, epochs=1)
    rewrite(str(tmp_path / "run" / "last.npz"), lambda m: m.update(rng={"bit_generator": "MT19937"}))
    with pytest.raises(EngineError, match="generator state does not fit"):
        api.train_run(None, resume=str(tmp_path / "run"), epochs=2)


def test_nan_or_infinite_weights_are_refused_naming_the_parameter(tmp_path):
    # bug: evaluate of NaN weights exited 0 with a meaningless accuracy
    train(tmp_path, epochs=1)
    path = str(tmp_path / "run" / "last.npz")

    def poison(arrays):
        arrays["weights/dense1.bias"][1] = np.nan
        arrays["weights/conv1.weight"].flat[0] = np.inf

    rewrite(path, weights_change=poison)
    np.savez(tmp_path / "x.npz", x=np.zeros((2, 8, 8, 1), np.uint8))
    for call in (lambda: api.evaluate_run(path), lambda: api.predict_run(path, str(tmp_path / "x.npz")),
                 lambda: api.train_run(None, resume=path, epochs=2)):
        with pytest.raises(EngineError) as info:
            call()
        line = info.value.line()
        assert line.startswith(path) and "NaN or infinite" in line and (
            "weights/conv1.weight" in line or "weights/dense1.bias" in line), line
    result = CliRunner().invoke(app(), ["evaluate", path], env={"COLUMNS": "200"})
    assert result.exit_code == 1 and "NaN or infinite" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_checkpoints_have_the_mode_of_the_other_run_files(tmp_path, umask):
    # bug: checkpoints were written 0600 (mkstemp) beside 0644 metrics and config
    old = os.umask(umask)
    try:
        train(tmp_path, epochs=1)
    finally:
        os.umask(old)
    modes = {name: os.stat(tmp_path / "run" / name).st_mode & 0o777 for name in RUN_FILES}
    assert modes == dict.fromkeys(RUN_FILES, 0o666 & ~umask)


# ------------------------------------------------------------------ paths

def test_a_run_resumes_from_another_folder(tmp_path, monkeypatch):
    # bug: config.json kept the spec and data paths as typed, relative to where the run began
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    (a / "net.yaml").write_text(NET)
    make_data(a)
    monkeypatch.chdir(a)
    api.train_run("net.yaml", data="d.npz", out="run", epochs=1, batch_size=32)
    config = json.loads((a / "run" / "config.json").read_text())
    assert config["spec"] == str(a / "net.yaml") and config["data"] == str(a / "d.npz")
    monkeypatch.chdir(b)
    last = api.train_run(None, resume=os.path.join("..", "a", "run"), epochs=2)
    assert last["epoch"] == 2 and last["test_acc"] >= 0


def test_synthetic_stays_synthetic_in_the_config(tmp_path):
    (tmp_path / "net.yaml").write_text(NET)
    last = api.train_run(str(tmp_path / "net.yaml"), out=str(tmp_path / "run"), epochs=1)
    assert last["epoch"] == 1
    assert json.loads((tmp_path / "run" / "config.json").read_text())["data"] == "synthetic"


# ------------------------------------------------------------------ what train prints

def test_every_line_train_prints_fits_80_columns_and_counts_agree(tmp_path, monkeypatch):
    # bugs: lines wrapping at 80 columns, "1 epochs", and the test set shown every epoch
    from rich.console import Console

    from cnncalc.render.training import Printer

    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.yaml").write_text(NET)
    out, err = Console(record=True, width=1000), Console(record=True, width=1000)
    data = make_data(tmp_path)
    api.train_run("net.yaml", data=data, out="run", epochs=1, batch_size=32, threads=64,
                  on_event=Printer(out, err), optimizer="sgd", weight_decay=1e-4)
    api.train_run("net.yaml", resume="run", epochs=3, data=data, lr=0.5, input_override=(8, 8, 1),
                  on_event=Printer(out, err))
    text = out.export_text() + err.export_text()
    long = [line for line in text.splitlines() if len(line) > 80]
    assert not long, long
    assert not re.search(r"\b1 (epochs|threads|parameters|images|kernel threads)\b", text), text
    assert "1 epoch of batch 32" in text and "3 epochs of batch 32" in text
    assert re.findall(r"epoch (\d)/\d:", text) == ["1", "2", "3"]
    # validation every epoch; the test set once, after the last epoch
    assert len(re.findall(r"val loss \d\.\d{4} acc \d\.\d{4}", text)) == 3
    assert re.findall(r"test \(once, after epoch (\d)\)", text) == ["1", "3"]  # each run's own last epoch
    rows = (tmp_path / "run" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    test_cells = [row.split(",")[header.index("test_acc")] for row in rows[1:]]
    assert test_cells[:2] == ["", ""] and float(test_cells[2]) >= 0


def test_the_progress_bar_shows_no_figures_before_the_first_batch():
    # bug: "loss 0.0000 acc 0.000" before any batch had run
    import io

    from rich.console import Console

    from cnncalc.render import training as view

    assert view.progress_figures(None, None) == "loss –  acc –"
    assert view.progress_figures(0.25, 0.5) == "loss 0.2500  acc 0.500"
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=True, width=80)
    with view.epoch_progress(console, 0, 3, 100) as advance:
        first = stream.getvalue()
        advance(10, 0.75, 0.5)
    assert "loss –" in first and "0.0000" not in first and "0.000" not in first


# ------------------------------------------------------------------ memory and threads

def fake_root(tmp_path, meminfo_kib=None, v2=None, v1=None, own="", cgroup_lines=None):
    root = tmp_path / "root"
    (root / "proc" / "self").mkdir(parents=True)
    if meminfo_kib is not None:
        (root / "proc" / "meminfo").write_text(f"MemTotal: 99999999 kB\nMemAvailable: {meminfo_kib} kB\n")
    (root / "proc" / "self" / "cgroup").write_text(cgroup_lines or f"0::/{own}\n")
    if v2 is not None:
        folder = root / "sys" / "fs" / "cgroup" / own
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "memory.max").write_text(f"{v2[0]}\n")
        (folder / "memory.current").write_text(f"{v2[1]}\n")
    if v1 is not None:
        folder = root / "sys" / "fs" / "cgroup" / "memory"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "memory.limit_in_bytes").write_text(f"{v1[0]}\n")
        (folder / "memory.usage_in_bytes").write_text(f"{v1[1]}\n")
    return str(root)


GIB = 2**30


@pytest.mark.parametrize("kw, expected", [
    # meminfo alone: MemAvailable in KiB × 1024
    (dict(meminfo_kib=8 * 2**20), 8 * GIB),
    # cgroup v2 limit 2 GiB, 0.5 GiB used → 1.5 GiB, below MemAvailable's 8 GiB
    (dict(meminfo_kib=8 * 2**20, v2=(2 * GIB, GIB // 2)), 3 * GIB // 2),
    # the same in the process's own cgroup folder
    (dict(meminfo_kib=8 * 2**20, v2=(2 * GIB, GIB // 2), own="box/job"), 3 * GIB // 2),
    # v2 "max": no limit, MemAvailable decides
    (dict(meminfo_kib=8 * 2**20, v2=("max", GIB)), 8 * GIB),
    # a limit above MemAvailable: the smaller wins (1 GiB free of the host)
    (dict(meminfo_kib=2**20, v2=(16 * GIB, 0)), GIB),
    # cgroup v1: 1 GiB limit, 0.25 GiB used → 0.75 GiB
    (dict(meminfo_kib=8 * 2**20, v1=(GIB, GIB // 4)), 3 * GIB // 4),
    # v1's "no limit" is 2^63 rounded down to a page
    (dict(meminfo_kib=8 * 2**20, v1=(9223372036854771712, GIB)), 8 * GIB),
    # no /proc/meminfo (not Linux): the cgroup alone, or nothing
    (dict(v2=(GIB, 0)), GIB),
    (dict(), None),
])
def test_free_memory_is_the_smaller_of_meminfo_and_the_container_limit(tmp_path, kw, expected):
    assert api.available_memory(fake_root(tmp_path, **kw)) == expected


def test_threads_use_threadpoolctl_for_blas():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    import numba

    def blas():
        return [p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]

    if not blas():
        pytest.skip("numpy has no BLAS that threadpoolctl knows")
    # the tests run BLAS on one thread (conftest): give it two, as a user's numpy would have
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        before = (numba.get_num_threads(), blas())
        assert set(before[1]) == {2}
        with api.Threads(1) as pool:
            assert pool.n == 1 and numba.get_num_threads() == 1 and set(blas()) == {1}
        assert (numba.get_num_threads(), blas()) == before


# ------------------------------------------------------------------ planted bugs of the training loop

def test_an_interrupted_save_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    # bug: a checkpoint written in place rather than to a temporary file and renamed
    path = str(tmp_path / "last.npz")
    checkpoint.save(path, {"w": np.arange(6, dtype=np.float32)}, {"t": np.array(1)},
                    {"spec": "s", "spec_file": "f", "config": {}, "epoch": 1, "rng": {}, "history": []})
    before = (tmp_path / "last.npz").read_bytes()
    real = np.savez

    def half_then_interrupt(file, **arrays):
        real(file, **{k: v for k, v in list(arrays.items())[:1]})  # some bytes reach the file
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", half_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        checkpoint.save(path, {"w": np.full(6, 7, np.float32)}, {"t": np.array(2)},
                        {"spec": "s", "spec_file": "f", "config": {}, "epoch": 2, "rng": {}, "history": []})
    monkeypatch.undo()
    assert (tmp_path / "last.npz").read_bytes() == before
    weights, _, meta = checkpoint.load(path)
    assert meta["epoch"] == 1 and np.array_equal(weights["w"], np.arange(6))
    assert os.listdir(tmp_path) == ["last.npz"]  # the temporary went too


def test_every_epoch_draws_a_fresh_permutation_from_the_runs_generator(tmp_path, monkeypatch):
    # bugs: no shuffle; the same order every epoch
    seen = []
    real_epoch, real_step = tr.Loop.epoch, tr.Loop.step

    def epoch(self, X, Y, rng, on_batch=None):
        index = {X[i].tobytes(): i for i in range(len(X))}
        assert len(index) == len(X)  # every image distinct: a batch row names its index
        order = []
        seen.append(order)

        def step(loop, x, y, rng_):
            order.extend(index[row.tobytes()] for row in x)
            return real_step(loop, x, y, rng_)

        monkeypatch.setattr(tr.Loop, "step", step)
        try:
            return real_epoch(self, X, Y, rng, on_batch)
        finally:
            monkeypatch.setattr(tr.Loop, "step", real_step)

    monkeypatch.setattr(tr.Loop, "epoch", epoch)
    train(tmp_path, epochs=3, seed=5, val_fraction=0.25)
    m = 180  # 240 images less a quarter held out
    generator = tr.training_rng(5)  # the network has no dropout: the permutations are all it draws
    for order in seen:
        assert sorted(order) == list(range(m))
        assert order == generator.permutation(m).tolist()
    assert seen[0] != seen[1] != seen[2] != seen[0]


def test_the_epoch_loss_is_weighted_by_batch_size():
    # bug: the epoch's loss as the plain mean of batch means, the short last batch counting as much as a full one
    from cnncalc.engine.init import initialise

    _, network = tr.build(NET, "t.yaml", 32)
    initialise(network, 0)
    opt = tr.make_optimizer(network, "sgd", 1e-12, 0.0)  # negligible steps: the weights stay put
    rng = np.random.default_rng(2)
    X = rng.standard_normal((70, 1, 8, 8)).astype(np.float32)  # 70 = 32 + 32 + 6
    Y = rng.integers(0, 3, 70)
    loss, acc = tr.Loop(network, opt, 32).epoch(X, Y, np.random.default_rng(0))
    expected_loss, expected_acc, _ = tr.evaluate(network, X, Y, 32)
    assert loss == pytest.approx(expected_loss, rel=1e-5) and acc == pytest.approx(expected_acc, abs=1e-12)


@pytest.mark.parametrize("schedule, expected", [
    # step: ×0.1 every max(6 // 3, 1) = 2 epochs (PyTorch's StepLR with step_size 2, gamma 0.1)
    ("step", [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]),
    # cosine: η_e = η_min + (η_0 − η_min)·(1 + cos(π·e/T))/2, T = 6 epochs, η_min = 0 (CosineAnnealingLR)
    ("cosine", [0.1 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(6)]),
    ("constant", [0.1] * 6),
])
def test_each_epoch_trains_with_its_own_learning_rate(tmp_path, monkeypatch, schedule, expected):
    # bug: a schedule off by one epoch
    used = []

    def epoch(self, *_):  # stands in for Loop.epoch(X, Y, rng, on_batch)
        used.append(self.optimizer.lr)
        return 1.0, 0.5

    monkeypatch.setattr(tr.Loop, "epoch", epoch)
    train(tmp_path, epochs=6, optimizer="sgd", lr=0.1, schedule=schedule)
    assert used == pytest.approx(expected, rel=1e-12)
    rows = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [r["lr"] for r in rows] == pytest.approx(expected, rel=1e-12)


def test_errors_are_cnncalc_errors():
    assert issubclass(EngineError, CnncalcError) and issubclass(api.Interrupted, KeyboardInterrupt)
