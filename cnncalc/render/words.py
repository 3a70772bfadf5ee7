"""Plain words for numbers (no rich): the training view and the engine's error messages share them."""

from __future__ import annotations


def gib(n_bytes: float) -> str:
    """Bytes as the unit a person reads: 812 MiB, 3.4 GiB."""
    return f"{n_bytes / 2**30:.1f} GiB" if n_bytes >= 2**30 else f"{n_bytes / 2**20:,.0f} MiB"


def seconds(s: float) -> str:
    if s < 60:
        return f"{s:.0f} s" if s >= 1 else f"{s:.1f} s"
    if s < 3600:
        return f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"


def count(n: int, word: str) -> str:
    """'1 epoch', '3 epochs', '1,024 images'."""
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def kept_text(run_dir, saved_epoch, replacing) -> str:
    """What a stopped run kept, for its message."""
    if saved_epoch:
        return f"{run_dir}/last.npz keeps epoch {saved_epoch}"
    if replacing:
        return f"no epoch finished; the previous run in {run_dir} is untouched"
    return "no epoch finished; nothing was saved"
