"""The data sets `cnncalc data fetch` knows: where each file is served, its SHA-256 and size, and
where it lives in the cache — and `resolve`, which turns `--data mnist` into that folder.

The addresses are the ones torchvision and Keras download from; the checksums are SHA-256 of
the files as published (MNIST's computed here from the real files; the others as torchvision's
Ruby port, TensorFlow Datasets and Keras' `get_file` list them — each file's MD5 also matches
torchvision's). A `Catalogue` is plain data, so tests pass their own (files on a local server).

The cache root is, first found: `--data-dir`, the environment variable CNNCALC_DATA, or the
user cache directory (platformdirs: `$XDG_CACHE_HOME/cnncalc`, usually ~/.cache/cnncalc).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cnncalc.errors import DataError, Mark

ENV_VAR = "CNNCALC_DATA"


@dataclass(frozen=True)
class Remote:
    """One file to download: its name in the data set's folder, the addresses to try in order
    (mirrors), its SHA-256 (lower-case hex) and its size in bytes (0: unknown)."""

    name: str
    urls: tuple[str, ...]
    sha256: str
    size: int = 0


@dataclass(frozen=True)
class Entry:
    """A data set: its files, the folder under the cache root they go into, and what `--data NAME`
    reads: `data_path`, relative to that folder (the IDX folder itself, or the folder a tar.gz
    extracts to). `extract` names the files that are tar.gz archives to unpack."""

    name: str
    title: str
    folder: str
    files: tuple[Remote, ...]
    data_path: str = "."
    extract: tuple[str, ...] = ()


Catalogue = dict  # name → Entry


def _idx_files(mirrors: tuple[str, ...], sums: dict[str, tuple[str, int]]) -> tuple[Remote, ...]:
    return tuple(Remote(name, tuple(base + name for base in mirrors), sha, size) for name, (sha, size) in sums.items())


CATALOGUE: Catalogue = {
    "mnist": Entry(
        "mnist", "MNIST", "mnist",
        _idx_files(("https://ossci-datasets.s3.amazonaws.com/mnist/",
                    "https://storage.googleapis.com/cvdf-datasets/mnist/"), {
            "train-images-idx3-ubyte.gz": ("440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
            "train-labels-idx1-ubyte.gz": ("3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
            "t10k-images-idx3-ubyte.gz": ("8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
            "t10k-labels-idx1-ubyte.gz": ("f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542),
        })),
    "fashion-mnist": Entry(
        "fashion-mnist", "Fashion-MNIST", "fashion-mnist",
        _idx_files(("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
                    "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"), {
            "train-images-idx3-ubyte.gz": ("3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
            "train-labels-idx1-ubyte.gz": ("a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
            "t10k-images-idx3-ubyte.gz": ("346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
            "t10k-labels-idx1-ubyte.gz": ("67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148),
        })),
    "kmnist": Entry(
        "kmnist", "Kuzushiji-MNIST", "kmnist",
        _idx_files(("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",), {
            "train-images-idx3-ubyte.gz": ("51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4", 18165135),
            "train-labels-idx1-ubyte.gz": ("e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17", 29497),
            "t10k-images-idx3-ubyte.gz": ("edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5", 3041136),
            "t10k-labels-idx1-ubyte.gz": ("20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c", 5120),
        })),
    "cifar10": Entry(
        "cifar10", "CIFAR-10", "cifar10",
        (Remote("cifar-10-python.tar.gz", ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",),
                "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", 170498071),),
        data_path="cifar-10-batches-py", extract=("cifar-10-python.tar.gz",)),
}


def data_root(data_dir: str | None = None) -> str:
    """Where fetched data sets live: data_dir, else $CNNCALC_DATA, else the user cache directory."""
    if data_dir:
        return data_dir
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR]
    from platformdirs import user_cache_dir

    return user_cache_dir("cnncalc", appauthor=False)


def folder_of(entry: Entry, data_dir: str | None = None) -> str:
    return os.path.join(data_root(data_dir), entry.folder)


def is_complete(entry: Entry, data_dir: str | None = None) -> bool:
    """Whether what `--data NAME` reads is in place; checksums are checked by fetch, not here."""
    folder = folder_of(entry, data_dir)
    if entry.extract:  # the archive may be gone; what is read is the folder it unpacked to
        return os.path.isdir(os.path.join(folder, entry.data_path))
    return all(os.path.isfile(os.path.join(folder, f.name)) for f in entry.files)


def resolve(source: str | None, data_dir: str | None = None, catalogue: Catalogue | None = None) -> str | None:
    """source as a path to load: an existing path or 'synthetic' as given; a catalogue name (mnist,
    cifar10, …) as its folder in the cache. A name not yet fetched is a DataError that says how."""
    catalogue = CATALOGUE if catalogue is None else catalogue
    if source is None or source == "synthetic" or source not in catalogue or os.path.exists(source):
        return source
    entry = catalogue[source]
    folder = folder_of(entry, data_dir)
    if not is_complete(entry, data_dir):
        raise DataError(f"{entry.title} is not in {folder} yet", Mark(source), field="data",
                        fix=f"run: cnncalc data fetch {entry.name}"
                            + (f" --dir {data_dir}" if data_dir else ""))
    return os.path.normpath(os.path.join(folder, entry.data_path))
