"""`--limit N`: the first N training images, stratified by class.

Each class present gets an equal share, N // k, and the first N mod k classes (by class number)
one more; a class with fewer images than its share gives all it has and the shortfall is shared
out again among the others the same way. Within a class the images are the first ones in file
order, and the chosen rows keep the file's order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnncalc.errors import DataError, Mark


@dataclass(frozen=True)
class Limit:
    """What --limit chose: requested N, rows taken (N, or all when N ≥ the set), the set's size,
    and per class (class number, images taken)."""

    requested: int
    taken: int
    available: int
    per_class: tuple[tuple[int, int], ...]


def quotas(counts: dict[int, int], n: int) -> dict[int, int]:
    """Images to take per class: equal shares of n, remainder to the lowest class numbers,
    classes that run short filled to their count and the rest shared again. n ≤ sum(counts)."""
    take = {c: 0 for c in counts}
    left = n
    while left:
        open_ = sorted(c for c in counts if take[c] < counts[c])
        share, extra = divmod(left, len(open_))
        for i, c in enumerate(open_):
            give = min(counts[c] - take[c], share + (1 if i < extra else 0))
            take[c] += give
            left -= give
    return take


def stratified_first(y: np.ndarray, n: int, source: str = "") -> tuple[np.ndarray, Limit]:
    """Row indices (ascending) of the first n images stratified by class, and the Limit record.

    y: int (m,) labels. n ≥ the number of classes present, else DataError; n ≥ m takes every row."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise DataError("invalid --limit", Mark(source), field="limit", received=n, allowed="a whole number ≥ 1")
    classes, counts = np.unique(y, return_counts=True)
    m = len(y)
    if n < len(classes):
        raise DataError(f"--limit {n} leaves some of the {len(classes)} classes without an image", Mark(source),
                        field="limit", received=n, allowed=f"at least {len(classes)} (one image per class)")
    if n >= m:
        rows = np.arange(m)
        return rows, Limit(int(n), m, m, tuple((int(c), int(k)) for c, k in zip(classes, counts)))
    take = quotas({int(c): int(k) for c, k in zip(classes, counts)}, int(n))
    chosen = [np.flatnonzero(y == c)[:take[c]] for c in take]
    rows = np.sort(np.concatenate(chosen))
    return rows, Limit(int(n), int(n), m, tuple(sorted(take.items())))
