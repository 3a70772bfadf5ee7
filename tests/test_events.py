"""Training reports records (engine.events) that the CLI renders; `train --format json` writes them
as JSON lines. Also: one front door (the engine never imports the spec parser or rich), the
optimiser and schedule names defined once, and atomic writes in one helper.

Each test names the bug it is for.
"""

import ast
import io
import json
import os
import pathlib
import subprocess
import sys

import pytest

from cnncalc.engine import api, atomic, events, optim
from cnncalc.engine import train as tr
from cnncalc.engine.options import _check_options
from cnncalc.render.training import JsonLines
from test_runs import NET, make_data  # 240 training images (24 held out: 216 train), 60 test

ROOT = pathlib.Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------ one front door, no printing

def _imports(path: pathlib.Path) -> set[str]:
    """Every module a file imports, at its top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def test_the_engine_neither_parses_specs_nor_prints():
    # bugs: engine/train.py parsed specs itself (a second front door beside cnncalc.api), and the
    # engine printed through rich consoles handed to it
    engine = sorted((ROOT / "cnncalc" / "engine").glob("*.py"))
    assert len(engine) > 5
    for path in engine:
        bad = {m for m in _imports(path)
               if m.startswith(("cnncalc.spec", "rich")) or m == "cnncalc.render.training"}
        assert not bad, f"{path.name} imports {sorted(bad)}"
    assert "cnncalc.api" in _imports(ROOT / "cnncalc" / "engine" / "train.py")


def test_the_trainer_analyses_through_cnncalc_api(monkeypatch):
    # bug: the trainer's analysis went its own way, so a fix in cnncalc.api missed training
    from cnncalc import api as front

    calls = []
    real = front.report_text
    monkeypatch.setattr(front, "report_text", lambda *a, **kw: calls.append(a[1]) or real(*a, **kw))
    report = tr.analyse(NET, "net.yaml")
    assert calls == ["net.yaml"] and report.totals.trainable == (3 * 3 * 1 + 1) * 4 + (4 * 4 * 4 + 1) * 3


def test_the_optimiser_module_imports_neither_numpy_nor_numba():
    # bug: the CLI reads the names from engine.optim at start-up; the analysis commands must stay light
    code = "import sys, cnncalc.engine.optim; print(sorted({'numpy', 'numba'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------ the names, once

def test_every_optimiser_and_schedule_name_is_accepted_everywhere():
    # bug: the names were written in four places, and one check still refused a name the others knew
    from cnncalc.cli import Optimizer, Schedule

    assert tuple(o.value for o in Optimizer) == optim.OPTIMIZERS == ("sgd", "adam")
    assert tuple(s.value for s in Schedule) == optim.SCHEDULES == ("constant", "step", "cosine")
    assert set(optim.DEFAULT_LR) == set(optim.OPTIMIZERS)
    network = tr.build(NET, "net.yaml", 2)[1]
    for name in optim.OPTIMIZERS:
        _check_options(1, 2, 0.1, name, 0.9, 0.0, "constant", None, 0.1)
        assert type(tr.make_optimizer(network, name, 0.1)).__name__.lower() == name
    for name in optim.SCHEDULES:
        _check_options(1, 2, 0.1, "sgd", 0.9, 0.0, name, None, 0.1)
        assert optim.make_schedule(name, 0.5, 3)(0) == 0.5  # every schedule starts at the base rate
    with pytest.raises(Exception, match="rmsprop"):
        _check_options(1, 2, 0.1, "rmsprop", 0.9, 0.0, "constant", None, 0.1)


# ------------------------------------------------------------------ atomic writes, one helper

def test_an_atomic_write_cut_short_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    # bug: checkpoints and the run's text files were each written atomically their own way
    target = tmp_path / "metrics.json"
    atomic.write_text(str(target), "old\n")
    with pytest.raises(OSError), atomic.replacing(str(target)) as fh:
        fh.write(b"half")
        raise OSError(28, "No space left on device")
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["metrics.json"]
    atomic.write_text(str(target), "new\n")
    assert target.read_text() == "new\n" and os.listdir(tmp_path) == ["metrics.json"]


def test_the_leftovers_of_killed_writes_are_recognised(tmp_path):
    names = (".last.npz.0123456789ab.tmp", ".metrics.csv.a1b2c3d4e5f6.tmp", ".checkpoint-0a1b2c3d4e5f.npz.tmp",
             "metrics.json.tmp", ".notes.txt.0123456789ab.tmp", "mine.tmp", ".last.npz.xyz.tmp")
    for name in names:
        (tmp_path / name).write_text("x")
    removed = atomic.remove_stale(str(tmp_path), api.RUN_FILES)
    # ours: a run file's temporary in either spelling; not ours: another file's, or a name we never write
    assert sorted(removed) == sorted(names[:4])
    assert sorted(os.listdir(tmp_path)) == sorted(names[4:])


# ------------------------------------------------------------------ events through a callback

def test_train_run_reports_its_events_in_order_and_the_metrics_agree_with_the_files(tmp_path):
    # bug: the engine printed; a library caller could neither see nor silence the progress
    (tmp_path / "net.yaml").write_text(NET)
    seen = []
    last = api.train_run(str(tmp_path / "net.yaml"), data=make_data(tmp_path), out=str(tmp_path / "run"),
                         epochs=2, batch_size=32, seed=3, on_event=seen.append)
    kinds = [type(e).__name__ for e in seen]
    compact = [k for i, k in enumerate(kinds) if k != "BatchProgress" or kinds[i - 1] != "BatchProgress"]
    assert compact == ["Estimate", "RunStarted", "Compiled",
                       "EpochStarted", "BatchProgress", "EpochEnded",
                       "EpochStarted", "BatchProgress", "EpochEnded", "MemoryMeasured", "TestMeasured", "RunEnded"]
    rows = json.loads((tmp_path / "run" / "metrics.json").read_text())
    ended = [e.row for e in seen if isinstance(e, events.EpochEnded)]
    assert ended == rows and seen[-1].history == rows and seen[-1].last == last == rows[-1]
    started = next(e for e in seen if isinstance(e, events.RunStarted))
    assert started.run_dir == str(tmp_path / "run") and started.settings["epochs"] == 2
    assert started.trainable == (3 * 3 * 1 + 1) * 4 + (4 * 4 * 4 + 1) * 3  # conv (f·f·n_C_prev + 1)·n_C, dense
    for epoch in (1, 2):
        batches = [e for e in seen if isinstance(e, events.BatchProgress) and e.epoch == epoch]
        # 240 images less the validation tenth (24): 216 = 6 batches of 32 and one of 24
        assert [b.images for b in batches] == [32] * 6 + [24]
        assert batches[-1].loss == rows[epoch - 1]["train_loss"] and batches[-1].acc == rows[epoch - 1]["train_acc"]
    test = next(e for e in seen if isinstance(e, events.TestMeasured))
    assert (test.epoch, test.loss, test.acc) == (2, rows[-1]["test_loss"], rows[-1]["test_acc"])


def test_notes_are_events_not_text(tmp_path):
    (tmp_path / "net.yaml").write_text(NET)
    seen = []
    api.train_run(str(tmp_path / "net.yaml"), data=make_data(tmp_path), out=str(tmp_path / "run"), epochs=1,
                  batch_size=32, threads=10_000, on_event=seen.append)
    notes = [e for e in seen if isinstance(e, events.Note)]
    assert [n.kind for n in notes] == ["threads_capped"] and notes[0].values["requested"] == 10_000


# ------------------------------------------------------------------ JSON lines

def test_json_lines_throttle_progress_and_keep_every_other_event():
    # bug: a line per batch floods a script's pipe (60,000 MNIST images at batch 64: 938 lines an epoch)
    out = io.StringIO()
    write = JsonLines(out, interval=3600.0)
    write(events.EpochStarted(1, 1, 3200))
    for _ in range(100):
        write(events.BatchProgress(1, 32, 0.5, 0.25))
    write(events.EpochEnded({"epoch": 1, "train_loss": 0.5}, 1))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["epoch_started", "batch_progress", "epoch_ended"]
    assert lines[1] == {"event": "batch_progress", "epoch": 1, "images": 32, "loss": 0.5, "acc": 0.25}


def test_json_lines_on_a_closed_pipe_stop_like_rich_does():
    class Closed(io.StringIO):
        def write(self, text):  # noqa: ARG002 — a stream's signature
            raise BrokenPipeError(32, "Broken pipe")

    with pytest.raises(SystemExit) as info:
        JsonLines(Closed())(events.Compiled(0.5))
    assert info.value.code == 1


def test_train_format_json_writes_only_json_lines_on_stdout(tmp_path):
    # bug: scripts had to scrape the human text (and its progress bar) to follow a run
    (tmp_path / "net.yaml").write_text(NET)
    data = make_data(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "cnncalc", "train", "net.yaml", "--data", data, "--epochs", "2",
                           "--batch-size", "32", "--out", "run", "--threads", "10000", "--format", "json"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]  # every line is one JSON object
    names = [line["event"] for line in lines]
    assert names[0] == "note" and lines[0]["kind"] == "threads_capped" and "using" in lines[0]["text"]
    assert [n for n in names if n != "batch_progress"][1:] == [
        "estimate", "run_started", "compiled", "epoch_started", "epoch_ended", "epoch_started", "epoch_ended",
        "memory_measured", "test_measured", "run_ended"]
    rows = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [line["row"] for line in lines if line["event"] == "epoch_ended"] == rows
    assert lines[-1]["history"] == rows and lines[-1]["last"] == rows[-1]
    assert done.stderr == ""
    failed = subprocess.run([sys.executable, "-m", "cnncalc", "train", "missing.yaml", "--format", "json"],
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert failed.returncode == 1 and failed.stdout == "" and len(failed.stderr.strip().splitlines()) == 1
