"""evaluate_run and predict_run: a trained network restored from its checkpoint, on new data."""

from __future__ import annotations

import numpy as np

from cnncalc.engine import checkpoint
from cnncalc.engine.resources import Threads
from cnncalc.engine.run import _load_data
from cnncalc.errors import CnncalcError, DataError, EngineError, Mark
from cnncalc.shapes import elements

def _restore(target: str, batch_size: int):
    from cnncalc.engine import train as tr

    weights, _, meta = checkpoint.load(target)
    checkpoint.check_run(meta)
    config = meta["config"]
    try:
        report, network = tr.build(meta["spec"], meta["spec_file"], batch_size, config.get("input"))
    except CnncalcError as exc:
        raise EngineError(f"the checkpoint's spec no longer builds: {exc.line()}", Mark(meta["path"])) from None
    except (MemoryError, ValueError):  # ValueError: numpy's "array is too big" for a huge batch
        raise EngineError(f"not enough memory for the buffers of batch {batch_size}",
                          fix="use a smaller --batch-size") from None
    network.load_state(weights, meta["path"])
    return report, network, meta


def evaluate_run(target: str, *, data: str | None = None, batch_size: int = 256,
                 data_dir: str | None = None) -> dict:
    """Accuracy, per-class accuracy and the confusion matrix of a run (its last.npz) or checkpoint.

    Without data: the run's own data set, its test split (else the validation split the run held
    out). With data: its test split if it has one, else every image in it ("all").

    Returns {"split", "n", "loss", "accuracy", "per_class": [acc or None], "confusion": [[count]],
    "class_names", "source", "precision", "recall", "f1", "support": [per class],
    "macro_precision", "macro_recall", "macro_f1"}; confusion[true][predicted]; precision, recall
    and F1 as engine.scores defines them (None where undefined). A run trained with --limit is
    evaluated on the same held-out split it was trained beside."""
    from cnncalc.engine import train as tr
    from cnncalc.engine.scores import class_scores

    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise EngineError("invalid option", field="batch_size", received=batch_size, allowed="a whole number ≥ 1")
    report, network, meta = _restore(target, batch_size)
    config = meta["config"]
    source = data or config["data"]
    with Threads(None):
        own = data is None
        dataset, splits = _load_data(source, report, config["seed"], config["val_fraction"] if own else 0.0,
                                     network.n_classes, (meta["mean"], meta["std"]),
                                     config.get("limit") if own else None,
                                     data_dir if data_dir is not None or not own else config.get("data_dir"))
        which = next(name for name in ("test", "val", "train") if name in splits)
        X, Y = splits[which]
        if which == "train" and data is not None:
            which = "all"
        loss, acc, pred = tr.evaluate(network, X, Y, batch_size)
    k = network.n_classes
    confusion = np.zeros((k, k), np.int64)
    np.add.at(confusion, (Y, pred), 1)
    counts = confusion.sum(axis=1)
    per_class = [float(confusion[c, c] / counts[c]) if counts[c] else None for c in range(k)]
    names = list(meta.get("class_names") or []) or list(dataset.class_names or [])
    names += [str(c) for c in range(len(names), k)]
    result = {"split": which, "n": int(len(Y)), "loss": loss, "accuracy": acc, "per_class": per_class,
              "confusion": confusion.tolist(), "class_names": names[:k], "source": str(source)}
    scores = class_scores(result["confusion"])
    result.update(precision=scores.precision, recall=scores.recall, f1=scores.f1, support=scores.support,
                  macro_precision=scores.macro_precision, macro_recall=scores.macro_recall,
                  macro_f1=scores.macro_f1)
    return result


def predict_run(checkpoint_path: str, inputs, *, top: int = 3, resize: bool = False) -> list:
    """The `top` most likely classes of every image in inputs: a path or a list of paths and glob
    patterns (PNG, JPEG, PGM/PPM, .npz with x, .npy, IDX; data.images). resize: scale pictures of
    another size to the network's n_H×n_W (else they are refused with the size expected).

    Returns [{"input": name, "top": [{"class": c, "name": name, "probability": p}, …]} per image],
    most likely first; name is the file, or file[i] for the i-th image of a batch file."""
    from cnncalc.data import normalise
    from cnncalc.data.images import expand, read_inputs
    from cnncalc.engine import train as tr

    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise EngineError("invalid option", field="top_k", received=top, allowed="a whole number ≥ 1")
    report, network, meta = _restore(checkpoint_path, 64)
    input_shape = report.graph.input_shape
    engine_shape = tr.input_shape_of(report)
    paths = expand([inputs] if isinstance(inputs, str) else list(inputs))
    batches, labels = [], []
    for path in paths:
        try:
            x, names_here = read_inputs(path, input_shape, resize)
        except MemoryError:
            raise DataError("not enough memory to read the inputs", Mark(path)) from None
        if len(engine_shape) == 1 and elements(x.shape[1:]) != engine_shape[0]:
            raise DataError(f"the inputs have {elements(x.shape[1:])} values each but the network takes "
                            f"{engine_shape[0]}", Mark(path))
        batches.append(x)
        labels += names_here
    x = batches[0] if len(batches) == 1 else np.concatenate(batches)
    if meta["mean"] is not None:
        x = normalise(x, meta["mean"], meta["std"])
    with Threads(None):
        p = tr.probabilities(network, tr.to_engine(x, engine_shape), 64)
    names = list(meta.get("class_names") or [])
    names += [str(c) for c in range(len(names), network.n_classes)]
    k = min(top, network.n_classes)
    result = []
    for label, row in zip(labels, p):
        best = np.argsort(-row, kind="stable")[:k]
        result.append({"input": label,
                       "top": [{"class": int(c), "name": names[c], "probability": float(row[c])} for c in best]})
    return result
