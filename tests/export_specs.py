"""What the export tests (tests/test_export_pytorch.py, tests/test_export_onnx.py) share: a spec of pools
with every padding and rounding option, transposed conv, upsample, prelu, gelu and a batchnorm over
features; and a short real training run whose weights they export."""

import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KINDS_SPEC = """name: kinds-a
input: [9, 9, 2]
layers:
  - {conv: {filters: 4, kernel: 3, padding: 1}}
  - {maxpool: {kernel: 2, stride: 1, padding: same}}
  - {avgpool: {kernel: 2, stride: 1, padding: same, count_include_pad: false}}
  - {avgpool: {kernel: 3, stride: 2, padding: 1, ceil_mode: true}}
  - {prelu: {num_parameters: 4}}
  - {upsample: {scale: 2, mode: bilinear}}
  - {conv_transpose: {filters: 3, kernel: 3, stride: 2, padding: 1, output_padding: 1}}
  - {leaky_relu: {alpha: 0.2}}
  - flatten
  - {dense: 5, bias: false}
  - {batchnorm: {eps: 0.001, momentum: 0.3}}
  - {gelu: {approximate: tanh}}
  - dense: 3
"""


def trained_run(tmp_path, runner, app):
    """(spec path, run directory) of a real `cnncalc train` of specs/mnist_small.yaml (one epoch, 200 images)."""
    spec = os.path.join(ROOT, "specs", "mnist_small.yaml")
    run = tmp_path / "run"
    result = runner.invoke(app, ["train", spec, "--epochs", "1", "--limit", "200", "--batch-size", "32",
                                 "--out", str(run), "--threads", "1"])
    assert result.exit_code == 0, result.output
    return spec, run
