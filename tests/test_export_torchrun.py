"""cnncalc export --train-script: train.py run for real under torchrun, two CPU processes (gloo).

Bounded: a small spec, 600 synthetic images, 3 epochs of at most 6 steps, a timeout. The checks are
independent of the script's own word: cnncalc's engine evaluates the checkpoint the script wrote and
must find the test accuracy and loss the script measured with PyTorch; `cnncalc train --resume` takes
the run on.
"""

import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from typer.testing import CliRunner

from cnncalc.cli import app

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def torchrun(tmp_path, *args):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                           "train.py", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_torchrun_two_processes_then_cnncalc_evaluate_and_resume(tmp_path):
    pytest.importorskip("torch")
    spec = os.path.join(ROOT, "specs", "mnist_small.yaml")
    runner = CliRunner()
    result = runner.invoke(app, ["export", spec, "--to", "pytorch", "-o", str(tmp_path / "net.py"), "--train-script"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "train.py").exists()
    done = torchrun(tmp_path, "--epochs", "3", "--limit", "600", "--batch-size", "32", "--max-steps", "6",
                    "--out", "run")
    assert done.returncode == 0, done.stdout + done.stderr
    ranks = re.findall(r"rank (\d) of 2: cpu, gloo, (\d+) of (\d+) training images", done.stdout)
    assert sorted(r for r, _, _ in ranks) == ["0", "1"]  # both processes ran
    for _, mine, total in ranks:  # DistributedSampler: each rank its half
        assert 2 * int(mine) in (int(total), int(total) + 1)
    losses = [float(v) for v in re.findall(r"^epoch \d/3 .*?train_loss (\S+)", done.stdout, re.M)]
    assert len(losses) == 3
    assert losses[-1] < losses[0]

    # the checkpoint in cnncalc's format: the engine evaluates it and agrees with PyTorch's measurement
    result = runner.invoke(app, ["evaluate", str(tmp_path / "run"), "--format", "json"])
    assert result.exit_code == 0, result.output
    evaluation = json.loads(result.output)
    meta_line = re.search(r"test_loss (\S+)  test_acc (\S+)", done.stdout)
    assert evaluation["split"] == "test"
    assert evaluation["accuracy"] == pytest.approx(float(meta_line.group(2)), abs=1e-3)
    assert evaluation["loss"] == pytest.approx(float(meta_line.group(1)), rel=1e-3)

    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "run"), "--epochs", "4", "--threads", "1",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    epochs = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    ended = [e for e in epochs if e.get("event") == "epoch_ended"]
    assert [e["row"]["epoch"] for e in ended] == [4]  # the run went on from epoch 3


def test_train_script_needs_a_classifier(tmp_path):
    spec = os.path.join(ROOT, "specs", "unet_small.yaml")
    result = CliRunner().invoke(app, ["export", spec, "--to", "pytorch", "-o", str(tmp_path / "net.py"),
                                      "--train-script"])
    assert result.exit_code == 1
    assert "one score per class" in result.output
    assert not (tmp_path / "train.py").exists()


@pytest.mark.slow
def test_torchrun_sgd_with_an_aux_head_then_resume(tmp_path):
    """SGD with momentum, the step schedule and an aux head (its weighted loss in train_loss, as cnncalc
    train reports it); cnncalc train --resume reads the momentum buffers back."""
    pytest.importorskip("torch")
    from test_export_pytorch import AUX_SPEC

    spec = tmp_path / "aux.yaml"
    spec.write_text(AUX_SPEC, encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["export", str(spec), "--to", "pytorch", "-o", str(tmp_path / "net.py"),
                                 "--train-script"])
    assert result.exit_code == 0, result.output
    done = torchrun(tmp_path, "--epochs", "3", "--limit", "400", "--batch-size", "16", "--max-steps", "8",
                    "--optimizer", "sgd", "--lr", "0.05", "--schedule", "step", "--out", "run")
    assert done.returncode == 0, done.stdout + done.stderr
    rates = [float(v) for v in re.findall(r"^epoch \d/3 .*?  lr (\S+)", done.stdout, re.M)]
    assert rates == pytest.approx([0.05, 0.005, 0.0005])  # step: ×0.1 every max(3 // 3, 1) epochs
    from cnncalc.engine import checkpoint

    _, optim_state, meta = checkpoint.load(str(tmp_path / "run"))
    assert optim_state["t"] == 3 * 8  # steps taken, as cnncalc counts them
    assert np.abs(optim_state["velocity.side.dense1.weight"]).max() > 0  # the aux head trained
    assert meta["config"]["optimizer"] == "sgd"
    result = runner.invoke(app, ["train", "--resume", str(tmp_path / "run"), "--epochs", "4", "--threads", "1",
                                 "--format", "json"])
    assert result.exit_code == 0, result.output
    ended = [json.loads(line) for line in result.output.splitlines() if '"epoch_ended"' in line]
    assert [e["row"]["epoch"] for e in ended] == [4]
