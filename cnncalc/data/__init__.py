"""Training data: MNIST-format IDX, CIFAR-10 python batches, .npz, and a built-in synthetic set.

    dataset = load("../shared/data/mnist", input_shape=(28, 28, 1), n_classes=10, seed=0)
    dataset.train.x   # float32 (m, n_H, n_W, n_C), normalised per channel with the train split's mean/std
    dataset.train.y   # int64 (m,)

Every loader returns images in the course's layout (m, n_H, n_W, n_C); `load` checks them against
the spec, carves the validation split by a seeded shuffle and normalises. Errors are DataError
with the file, what was found and what was expected.

Modules: `sources` (format detection, `load`, `load_inputs`), `dataset` (Split, Dataset,
normalisation, split), one per format: `idx`, `cifar10`, `npz`, `synthetic`, `netpbm`.
"""

from cnncalc.data.dataset import Dataset, Raw, Split, channel_stats, normalise
from cnncalc.data.sources import detect, load, load_inputs

__all__ = ["Dataset", "Raw", "Split", "channel_stats", "detect", "load", "load_inputs", "normalise"]
