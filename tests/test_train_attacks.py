"""Second-round attacks on the trainer: signals at awkward moments, full disks, hostile folders
and checkpoints, numeric edge options. Each test names the break it is for; every one was watched
failing with its fix taken out. The data and net are test_runs' (8×8×1, 3 classes, 240 + 60 images).
"""

import errno
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from helpers import spec
from test_runs import NET, interrupt_call, make_data
from typer.testing import CliRunner

from cnncalc.engine import api, atomic, checkpoint, optim, rundir
from cnncalc.engine import run as run_module
from cnncalc.engine import train as tr
from cnncalc.errors import DataError, EngineError

BN_FLAT = spec("- flatten\n- dense: 8\n- batchnorm\n- relu\n- dense: 3\n- softmax", (8, 8, 1))
BN_1X1 = spec("- conv: {filters: 4, kernel: 8}\n- batchnorm\n- relu\n- flatten\n- dense: 3\n- softmax", (8, 8, 1))


def train(tmp_path, run="run", text=NET, **kw):
    (tmp_path / "net.yaml").write_text(text)
    kw.setdefault("seed", 3)
    kw.setdefault("batch_size", 32)
    if "data" not in kw:
        kw["data"] = str(tmp_path / "d.npz") if (tmp_path / "d.npz").exists() else make_data(tmp_path)
    return api.train_run(str(tmp_path / "net.yaml"), out=str(tmp_path / run), **kw)


def cli(*args):
    from cnncalc.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})


def epochs_on_disk(run):
    """(epoch last.npz holds, rows of metrics.json, rows of metrics.csv)."""
    meta = checkpoint.load(str(run))[2]
    rows_json = len(json.loads((run / "metrics.json").read_text()))
    rows_csv = len((run / "metrics.csv").read_text().splitlines()) - 1
    return meta["epoch"], rows_json, rows_csv


def kill_self(sig=signal.SIGINT):
    """Send sig to this process and give the interpreter bytecodes to run its handler on."""
    os.kill(os.getpid(), sig)
    for _ in range(1000):
        pass


def interrupted(call) -> api.Interrupted:
    """call()'s Interrupted; a bare KeyboardInterrupt fails the test rather than stopping pytest."""
    try:
        call()
    except KeyboardInterrupt as exc:
        assert isinstance(exc, api.Interrupted), "a bare KeyboardInterrupt: the run never said what it kept"
        return exc
    pytest.fail("the run was not interrupted")


# ------------------------------------------------------------------ signals

def test_sigterm_stops_a_real_run_as_ctrl_c_does(tmp_path):
    # bug: SIGTERM (kill, a batch system's time limit) killed the process at once: exit -15,
    # no word of what was kept, and a finished epoch between its end and its save was lost
    (tmp_path / "net.yaml").write_text(NET)
    run = tmp_path / "run"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # this checkout's cnncalc first
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root, *sys.path]), COLUMNS="200")
    p = subprocess.Popen([sys.executable, "-m", "cnncalc", "train", str(tmp_path / "net.yaml"), "--data",
                          make_data(tmp_path), "--epochs", "500", "--batch-size", "32", "--out", str(run)],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    for line in p.stdout:  # bounded: the run prints one line per epoch, 500 at most
        lines.append(line)
        if line.startswith("epoch 1/500"):
            p.send_signal(signal.SIGTERM)
            break
    rest = p.stdout.read()
    p.wait()
    out = " ".join(("".join(lines) + rest).split())  # the lines are folded at 80 columns
    assert p.returncode == 143, out
    assert "Traceback" not in out and "interrupted: epoch " in out and f"kept in {run}/last.npz" in out
    epoch, rows_json, rows_csv = epochs_on_disk(run)
    assert 1 <= epoch < 500 and rows_json == rows_csv == epoch


def test_ctrl_c_between_last_npz_and_the_metrics_waits_for_the_metrics(tmp_path, monkeypatch):
    # bug: a Ctrl-C after last.npz was written but before metrics.csv left the metrics an epoch
    # behind for good (the interrupt handler saw the epoch as saved)
    real, calls = rundir._write_metrics, []

    def interrupted_write(*args):
        calls.append(1)
        if len(calls) == 2:  # epoch 2's metrics
            kill_self()
        return real(*args)

    monkeypatch.setattr(run_module, "_write_metrics", interrupted_write)
    stop = interrupted(lambda: train(tmp_path, epochs=4))
    assert stop.saved_epoch == 2 and stop.signum == signal.SIGINT
    assert epochs_on_disk(tmp_path / "run") == (2, 2, 2)


def test_a_second_ctrl_c_during_the_first_ones_save_does_not_cut_it_short(tmp_path, monkeypatch):
    # bug: the second Ctrl-C escaped the handler's save as a bare KeyboardInterrupt: the finished
    # epoch was never written and the CLI said "nothing was written"
    interrupt_call(monkeypatch, "evaluate", 2)  # Ctrl-C in epoch 2's evaluation: epoch 2 not yet saved
    real = checkpoint.save

    def save_interrupted(path, *args, **kw):
        kill_self()  # a second Ctrl-C while the handler saves
        return real(path, *args, **kw)

    original = run_module._Run.stop

    def stop(self, exc):
        monkeypatch.setattr(checkpoint, "save", save_interrupted)
        return original(self, exc)

    monkeypatch.setattr(run_module._Run, "stop", stop)
    assert interrupted(lambda: train(tmp_path, epochs=3)).saved_epoch == 2
    assert epochs_on_disk(tmp_path / "run") == (2, 2, 2)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back after the run


def test_a_ctrl_c_that_the_compiler_would_swallow_still_stops_the_run(tmp_path, monkeypatch):
    # bug: Ctrl-C while Numba compiled or loaded a kernel reached llvmlite's ctypes callback, which
    # printed a traceback and swallowed it; the run went on as if never interrupted
    real = tr.Loop.warm_up

    def warm_up_in_a_callback(self):
        try:  # what a ctypes callback does with an exception
            kill_self()
        except KeyboardInterrupt:
            pass
        return real(self)

    monkeypatch.setattr(tr.Loop, "warm_up", warm_up_in_a_callback)
    assert interrupted(lambda: train(tmp_path, epochs=2)).saved_epoch == 0 and not (tmp_path / "run").exists()


def test_the_cli_leaves_a_library_callers_signal_handlers_as_they_were(tmp_path, monkeypatch):
    # bug: after an interrupted command, CliRunner's process (a test, a notebook) ignored Ctrl-C for good
    interrupt_call(monkeypatch, "epoch", 1)
    (tmp_path / "net.yaml").write_text(NET)
    result = cli("train", str(tmp_path / "net.yaml"), "--data", make_data(tmp_path), "--out", str(tmp_path / "run"))
    assert result.exit_code == 130
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_ctrl_c_during_the_final_summary_says_the_run_finished(tmp_path, monkeypatch):
    # bug: a Ctrl-C while the summary printed escaped as a bare KeyboardInterrupt: the CLI said
    # "interrupted before any work began; nothing was written" about a finished run
    from cnncalc.render import training as view

    def summary(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(view, "summary", summary)
    (tmp_path / "net.yaml").write_text(NET)
    result = cli("train", str(tmp_path / "net.yaml"), "--data", make_data(tmp_path), "--epochs", "2",
                 "--out", str(tmp_path / "run"))
    assert result.exit_code == 130, result.output
    assert "the run had finished; its 2 epochs are kept" in result.output
    assert "nothing was written" not in result.output
    assert epochs_on_disk(tmp_path / "run") == (2, 2, 2)


# ------------------------------------------------------------------ a full disk at each save point

def _full_disk_open(target):
    """open() that fails with ENOSPC part-way through writing the temporary of the file named target."""
    import builtins

    real = builtins.open

    class Full:
        def __init__(self, fh):
            self.fh = fh

        def write(self, text):
            self.fh.write(text[: len(text) // 2])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

    def fake(path, mode="r", *args, **kw):
        fh = real(path, mode, *args, **kw)
        temporary = os.path.basename(str(path)).startswith(f".{target}.")  # engine.atomic's temporary of target
        return Full(fh) if ("w" in mode or "x" in mode) and temporary else fh

    return fake


def _full_disk_savez(calls):
    real = np.savez
    seen = []

    def fake(file, **arrays):
        seen.append(1)
        if len(seen) in calls:
            real(file, **dict(list(arrays.items())[:1]))  # some bytes reach the disk
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(file, **arrays)

    return fake


@pytest.mark.parametrize("where", ["best.npz", "last.npz", "metrics.csv", "metrics.json"])
def test_a_full_disk_at_each_save_point_keeps_the_previous_epoch_and_says_so(tmp_path, monkeypatch, where):
    # bug: the error did not say what was kept, and a metrics temporary half-written stayed behind
    make_data(tmp_path)
    if where.endswith(".npz"):
        # savez calls per epoch: best.npz (when the score improves, as in epoch 1 always), last.npz;
        # epoch 2's best then last: lr high enough that the score of epoch 2 improves on epoch 1's
        order = {"best.npz": {3}, "last.npz": {4}}[where]
        monkeypatch.setattr(np, "savez", _full_disk_savez(order))
        monkeypatch.setattr(optim, "make_schedule", lambda *a, **kw: (lambda e: 0.0 if e == 0 else 0.05))
    else:
        real_write, calls = rundir._write_metrics, []

        def second(*args):
            calls.append(1)
            if len(calls) == 2:
                monkeypatch.setattr(atomic, "open", _full_disk_open(where), raising=False)
            return real_write(*args)

        monkeypatch.setattr(run_module, "_write_metrics", second)
    with pytest.raises(EngineError) as info:
        train(tmp_path, epochs=3, optimizer="sgd")
    line = info.value.line()
    assert "No space left on device" in line and "\n" not in line
    run = tmp_path / "run"
    if where == "best.npz" and checkpoint.load(str(run / "best.npz"))[2]["epoch"] != 1:
        pytest.fail("best.npz changed although its save failed")
    assert "last.npz keeps epoch" in line, line
    kept = checkpoint.load(str(run))[2]["epoch"]
    assert f"last.npz keeps epoch {kept}" in line and kept in (1, 2)
    assert not [n for n in os.listdir(run) if n.endswith(".tmp")]
    monkeypatch.undo()
    # the resume puts the metrics back in step with last.npz and goes on
    api.train_run(None, resume=str(run))
    assert epochs_on_disk(run) == (3, 3, 3)


def test_a_disk_too_full_for_the_lock_files_pid_is_one_line(tmp_path, monkeypatch):
    # bug: ENOSPC writing the PID into .lock was an OSError traceback
    real = os.write

    def full(*args):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "write", full)
    try:
        with pytest.raises(EngineError, match="cannot write to the run directory .No space left on device."):
            train(tmp_path, epochs=1)
    finally:
        monkeypatch.setattr(os, "write", real)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ NaN after a finite loss

def test_weights_that_overflow_in_an_epochs_last_batch_are_never_saved(tmp_path, monkeypatch):
    # bug: one batch per epoch and an lr of 1e308: the batch's loss was finite, its update made the
    # weights NaN, and last.npz and best.npz were saved with them (then refused by every command)
    monkeypatch.setattr(optim, "make_schedule", lambda *a, **kw: (lambda e: 0.01 if e == 0 else 1e308))
    with pytest.raises(EngineError, match="the weights became NaN or infinite in epoch 2; stopped "
                                          r"\(.*last.npz keeps epoch 1\)"):
        train(tmp_path, epochs=3, optimizer="sgd", batch_size=1000)
    for kind in ("last.npz", "best.npz"):
        assert checkpoint.load(str(tmp_path / "run" / kind))[2]["epoch"] == 1  # loads: finite


def test_the_cli_lr_1e308_is_one_line(tmp_path):
    (tmp_path / "net.yaml").write_text(NET)
    result = cli("train", str(tmp_path / "net.yaml"), "--data", make_data(tmp_path), "--epochs", "2", "--lr",
                 "1e308", "--optimizer", "sgd", "--batch-size", "1000", "--out", str(tmp_path / "run"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.output.strip().splitlines()[-1].startswith("error: the weights became NaN or infinite in epoch 1")
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ numeric edge options

@pytest.mark.parametrize("text", [BN_FLAT, BN_1X1])
def test_batch_of_one_with_batchnorm_is_refused_by_name(tmp_path, text):
    # bug: --batch-size 1 with batchnorm over one value per channel was a ValueError traceback
    with pytest.raises(EngineError) as info:
        train(tmp_path, text=text, batch_size=1, epochs=1)
    assert info.value.field == "batch_size" and "≥ 2" in info.value.line()
    assert not (tmp_path / "run").exists()
    train(tmp_path, text=text, batch_size=2, epochs=1)  # two is enough, as in torch


def test_a_training_split_of_one_image_under_batchnorm_is_refused(tmp_path):
    # bug: --val-fraction 0.9 on 10 images left 1 to train on; batchnorm skipped it as a last batch
    # of one, and the run "trained" epochs of nothing, showing a loss of 0
    with pytest.raises(DataError, match="the training split has 1 image; training needs at least 2"):
        train(tmp_path, text=BN_FLAT, data=make_data(tmp_path, m=10), val_fraction=0.9, epochs=1)
    assert not (tmp_path / "run").exists()


def test_a_huge_batch_for_evaluate_is_one_line(tmp_path):
    # bug: evaluate --batch-size 10^18 was numpy's "array is too big" ValueError as a traceback
    train(tmp_path, epochs=1)
    with pytest.raises(EngineError, match="not enough memory for the buffers of batch"):
        api.evaluate_run(str(tmp_path / "run"), batch_size=10**18)


# ------------------------------------------------------------------ folders

def test_a_folder_with_the_users_own_config_json_is_never_written_over(tmp_path):
    # bug: --out . (or the spec's folder) overwrote the user's config.json and metrics.csv
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "net.yaml").write_text(NET)
    mine = {"config.json": '{"mine": 1}\n', "metrics.csv": "a,b\n1,2\n", "notes.txt": "keep me\n"}
    for name, text in mine.items():
        (folder / name).write_text(text)
    data = make_data(tmp_path)
    for force in (False, True):
        with pytest.raises(EngineError) as info:
            api.train_run(str(folder / "net.yaml"), data=data, epochs=1, out=str(folder), force=force)
        assert "config.json, metrics.csv" in info.value.line()
    assert {n: (folder / n).read_text() for n in mine} == mine
    assert sorted(os.listdir(folder)) == ["config.json", "metrics.csv", "net.yaml", "notes.txt"]


def test_a_run_in_the_specs_own_folder_keeps_every_other_file(tmp_path):
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "spec.yaml").write_text(NET)  # the spec itself, named as the run's copy
    (folder / "other.yaml").write_text("other\n")
    api.train_run(str(folder / "spec.yaml"), data=make_data(tmp_path), epochs=1, out=str(folder))
    assert (folder / "other.yaml").read_text() == "other\n" and (folder / "spec.yaml").read_text() == NET
    # --force into that run with a user's file beside it: the run replaced, the file kept
    (folder / "notes.txt").write_text("keep me\n")
    api.train_run(str(folder / "spec.yaml"), data=str(tmp_path / "d.npz"), epochs=1, out=str(folder), force=True,
                  seed=9)
    assert (folder / "notes.txt").read_text() == "keep me\n" and (folder / "other.yaml").read_text() == "other\n"
    assert checkpoint.load(str(folder))[2]["config"]["seed"] == 9


def test_an_out_with_missing_parents_leaves_none_behind_when_nothing_was_saved(tmp_path, monkeypatch):
    # bug: --out a/b/run made a/ and a/b/; a Ctrl-C before the first save removed run/ only
    interrupt_call(monkeypatch, "epoch", 1)
    with pytest.raises(api.Interrupted):
        train(tmp_path, run="a/b/run", epochs=1)
    assert not (tmp_path / "a").exists()


# ------------------------------------------------------------------ resume

def test_resume_from_best_npz_would_overwrite_later_epochs_and_is_refused(tmp_path, monkeypatch):
    # bug: --resume RUN/best.npz trained on from the best epoch and wrote over last.npz's later ones
    monkeypatch.setattr(optim, "make_schedule", lambda *a, **kw: (lambda e: 0.01 if e == 0 else 0.0))
    train(tmp_path, epochs=3, optimizer="sgd")
    monkeypatch.undo()
    run = tmp_path / "run"
    assert checkpoint.load(str(run / "best.npz"))[2]["epoch"] < 3
    before = (run / "last.npz").read_bytes()
    with pytest.raises(EngineError, match="--resume continues a run from its last.npz"):
        api.train_run(None, resume=str(run / "best.npz"), epochs=4)
    assert (run / "last.npz").read_bytes() == before
    api.train_run(None, resume=str(run / "last.npz"), epochs=4)  # its own last.npz: fine
    assert checkpoint.load(str(run))[2]["epoch"] == 4


def test_epochs_below_those_done_are_refused_even_mid_evaluation(tmp_path, monkeypatch):
    # bug: a run cut during epoch 2's evaluation, resumed with --epochs 1, finished epoch 2 and
    # recorded a total of 1 epoch beside 2 trained
    interrupt_call(monkeypatch, "evaluate", 2)
    with pytest.raises(api.Interrupted):
        train(tmp_path, epochs=3)
    monkeypatch.undo()
    with pytest.raises(EngineError) as info:
        api.train_run(None, resume=str(tmp_path / "run"), epochs=1)
    assert info.value.field == "epochs" and "already trained 2 epochs" in info.value.line()


def test_resume_puts_lagging_metrics_and_a_lost_config_back(tmp_path):
    # bug: metrics an epoch behind last.npz (a save cut between the two) stayed so for good once
    # the run had finished: resume only said "finished"
    train(tmp_path, epochs=2)
    run = tmp_path / "run"
    rows = json.loads((run / "metrics.json").read_text())
    (run / "metrics.json").write_text(json.dumps(rows[:1]))
    (run / "metrics.csv").write_text((run / "metrics.csv").read_text().splitlines()[0] + "\n")
    (run / "config.json").unlink()
    with pytest.raises(EngineError, match="finished its 2 epochs"):
        api.train_run(None, resume=str(run), epochs=None)
    assert epochs_on_disk(run) == (2, 2, 2)
    assert json.loads((run / "metrics.json").read_text()) == rows
    assert json.loads((run / "config.json").read_text())["seed"] == 3


def _rewrite_meta(path, change):
    with np.load(path, allow_pickle=False) as f:
        arrays = {k: f[k] for k in f.files}
    meta = json.loads(str(arrays["meta"]))
    change(meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(path, **arrays)


@pytest.mark.parametrize("change, said", [
    (lambda m: m["config"].pop("lr"), "has no config.lr"),
    (lambda m: m["config"].pop("data"), "has no config.data"),
    (lambda m: m["history"].pop(), "inconsistent: epoch 2, 1 history rows"),
    (lambda m: m.update(evaluated=7), "evaluated 7"),
    (lambda m: m["history"][0].pop("epoch"), "meta.history[0].epoch"),
    (lambda m: m["history"][1].pop("train_acc"), "has no history[1].train_acc"),
    (lambda m: m.update(epoch=10**30, history=[]), "inconsistent: epoch 10"),
])
def test_a_meta_record_missing_what_resume_and_evaluate_read_is_one_line(tmp_path, change, said):
    # bug: a KeyError traceback for a missing setting; a history out of step with the epoch
    # trained on from a wrong row
    train(tmp_path, epochs=2)
    path = str(tmp_path / "run" / "last.npz")
    _rewrite_meta(path, change)
    for call in (lambda: api.train_run(None, resume=str(tmp_path / "run"), epochs=3),
                 lambda: api.evaluate_run(str(tmp_path / "run"))):
        with pytest.raises(EngineError) as info:
            call()
        assert said in info.value.line() and info.value.line().startswith(path), info.value.line()


@pytest.mark.parametrize("damage", ["zero", "truncated"])
def test_a_damaged_last_npz_is_one_line_from_the_cli(tmp_path, damage):
    train(tmp_path, epochs=1)
    path = tmp_path / "run" / "last.npz"
    data = path.read_bytes()
    path.write_bytes(b"" if damage == "zero" else data[: len(data) // 2])
    for args in (("train", "--resume", str(tmp_path / "run"), "--epochs", "2"), ("evaluate", str(tmp_path / "run"))):
        result = cli(*args)
        assert result.exit_code == 1 and "Traceback" not in result.output, result.output
        assert result.output.startswith(f"error: {path}: not a readable cnncalc checkpoint")


def test_a_closed_output_stops_the_run_with_a_line_on_stderr(tmp_path, monkeypatch):
    # bug: `cnncalc train … | head` — rich answers a broken pipe with SystemExit(1): the run ended
    # with exit 1 and not a word of what it kept
    from cnncalc.render import training as view

    real, calls = view.epoch_line, []

    def closed(*args):
        calls.append(1)
        if len(calls) == 2:
            raise SystemExit(1)  # what rich's Console.on_broken_pipe raises
        return real(*args)

    monkeypatch.setattr(view, "epoch_line", closed)
    (tmp_path / "net.yaml").write_text(NET)
    result = cli("train", str(tmp_path / "net.yaml"), "--data", make_data(tmp_path), "--epochs", "4",
                 "--out", str(tmp_path / "run"))
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1] == (f"error: {tmp_path / 'run'}: the output was closed (broken "
                                                       f"pipe); stopped ({tmp_path / 'run'}/last.npz keeps epoch 2) "
                                                       f"— continue with --resume")
    assert epochs_on_disk(tmp_path / "run") == (2, 2, 2)
