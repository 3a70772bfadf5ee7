"""A spec for the export tests (tests/test_export_pytorch.py, tests/test_export_onnx.py): pools with
every padding and rounding option, transposed conv, upsample, prelu, gelu, a batchnorm over features."""

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
