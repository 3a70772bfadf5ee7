"""`cnncalc train`, `evaluate` and `predict` through typer's runner: outputs, files and exit codes."""

import numpy as np
from typer.testing import CliRunner

from cnncalc.cli import app
from helpers import spec

runner = CliRunner()
NET = spec("- conv: {filters: 4, kernel: 3, padding: 1}\n- relu\n- maxpool: 2\n- flatten\n- dense: 3\n- softmax",
           (8, 8, 1))


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "200"})


def test_train_evaluate_predict(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(NET)
    run = tmp_path / "run"
    result = invoke("train", path, "--epochs", 2, "--out", run, "--seed", 1, "--optimizer", "sgd",
                    "--schedule", "cosine", "--threads", 1)
    assert result.exit_code == 0, result.output
    assert "memory: about" in result.output and "epoch 2/2:" in result.output and "val acc" in result.output
    assert (run / "last.npz").exists() and (run / "metrics.csv").read_text().count("\n") == 3
    result = invoke("evaluate", run)
    assert result.exit_code == 0 and "confusion matrix" in result.output
    np.savez(tmp_path / "x.npz", x=np.zeros((3, 8, 8, 1), np.uint8))
    result = invoke("predict", run / "best.npz", tmp_path / "x.npz")
    assert result.exit_code == 0 and result.output.count("class") == 9
    result = invoke("train", "--resume", run, "--epochs", 3)
    assert result.exit_code == 0 and "epoch 3/3:" in result.output and "epoch 2/" not in result.output


def test_train_errors_are_one_line(tmp_path):
    path = tmp_path / "net.yaml"
    path.write_text(NET)
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 5, 5, 1), np.uint8), y=np.zeros(4, np.int64))
    for args, fragment in (((path, "--data", tmp_path / "d.npz"), "the data is 5×5×1 but the spec's input is 8×8×1"),
                           ((path, "--data", tmp_path / "missing"), "no such data file"),
                           ((tmp_path / "nope.yaml",), "cannot read the spec"),
                           (("--resume", tmp_path), "no such checkpoint")):
        result = invoke("train", *args, "--out", tmp_path / "r")
        assert result.exit_code == 1, result.output
        assert fragment in result.output and "Traceback" not in result.output
    huge = invoke("train", path, "--batch-size", 10**9, "--out", tmp_path / "h")
    assert huge.exit_code == 1 and "GiB is free" in huge.output and "--force" in huge.output
    assert invoke("train", path, "--optimizer", "rmsprop").exit_code == 2
    assert invoke("train").exit_code == 2
