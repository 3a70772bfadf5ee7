"""What `cnncalc train`, `evaluate` and `predict` call: run directories, checkpoints, resume.

A run directory keeps
    spec.yaml       the spec as trained
    config.json     every setting, the initialisation scheme per layer, thread count, versions
    metrics.csv     one row per epoch: epoch, train_loss, train_acc, val_loss, val_acc, test_loss,
    metrics.json    test_acc, lr, seconds, images_per_s (the same rows as JSON); the test split is
                    measured once, after the last epoch (its cells are blank before)
    last.npz        after every epoch, written atomically (engine.checkpoint)
    best.npz        the epoch with the best validation accuracy (train accuracy without a val split)
    .lock           held by the training process (RunLock); its PID

A finished epoch is never lost: Ctrl-C keeps (or writes) the checkpoint of the last finished
epoch and raises Interrupted (the CLI exits 130); a loss that turns NaN or infinite stops the run
with an EngineError, the last good checkpoint untouched. A replaced run (--force) stays on disk
until the new one's first save. `train_run(resume=RUN_DIR)` continues from last.npz with the
optimiser's state and the Generator's state, and gives the losses an uninterrupted run gives,
first finishing an evaluation that a Ctrl-C cut short.
Errors are CnncalcError subclasses with one line each; the CLI prints them and exits 1.

A run reports what happens as records through on_event (engine.events); nothing here prints.
This module is the engine's front: the work is in options (settings and their checks),
resources (threads, BLAS, memory), rundir (run directories, the lock, the run files), stops
(Ctrl-C and SIGTERM), run (the epochs, resume) and inference (evaluate, predict).
"""

from __future__ import annotations

from cnncalc.engine.events import ignore  # noqa: F401 — the façade's names
from cnncalc.engine.inference import evaluate_run, predict_run  # noqa: F401
from cnncalc.engine.options import INIT_TEXT, METRICS  # noqa: F401
from cnncalc.engine.optim import SCHEDULES  # noqa: F401
from cnncalc.engine.resources import Threads, available_memory  # noqa: F401
from cnncalc.engine.rundir import LOCK_FILE, RUN_FILES, RunLock, _folder_name  # noqa: F401
from cnncalc.engine.run import train_run  # noqa: F401
from cnncalc.engine.stops import Interrupted, Stopped  # noqa: F401
