"""batchnorm as exported PyTorch source (layers/source.py): nn.BatchNorm2d on a map, nn.BatchNorm1d on a
vector; weight, bias, running_mean, running_var and num_batches_tracked are the engine's names."""

from __future__ import annotations

from cnncalc.layers.source import SourceRecord, call, unless


def batchnorm(node, row) -> SourceRecord:
    name = "nn.BatchNorm2d" if len(row.out_shape) == 3 else "nn.BatchNorm1d"
    return SourceRecord(call(name, row.out_shape[-1], eps=unless(node.fields["eps"], 1e-5),
                             momentum=unless(node.fields["momentum"], 0.1)))


SOURCES = {"batchnorm": batchnorm}
