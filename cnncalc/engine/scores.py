"""Per-class precision, recall and F1 from a confusion matrix, in plain Python.

confusion[t][p] counts images of true class t predicted as p. For class c:
    precision_c = confusion[c][c] / Σ_t confusion[t][c]   (of the images predicted c, the share that are c)
    recall_c    = confusion[c][c] / Σ_p confusion[c][p]   (of the images of class c, the share found)
    F1_c        = 2 · precision_c · recall_c / (precision_c + recall_c), 0 when both are 0
A ratio over zero images is None (undefined). The macro averages are the plain means over the
classes that occur (among the true labels or the predictions), an undefined value counting as 0
— scikit-learn's `average="macro", zero_division=0` — so a class never predicted pulls them down.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassScores:
    """Per class (lists indexed by class number) and the macro averages; `support` counts the
    images of each true class, `occurring` how many classes the averages run over."""

    precision: list
    recall: list
    f1: list
    support: list
    macro_precision: float
    macro_recall: float
    macro_f1: float
    occurring: int


def class_scores(confusion) -> ClassScores:
    k = len(confusion)
    rows = [sum(confusion[c]) for c in range(k)]
    cols = [sum(confusion[t][c] for t in range(k)) for c in range(k)]
    precision = [confusion[c][c] / cols[c] if cols[c] else None for c in range(k)]
    recall = [confusion[c][c] / rows[c] if rows[c] else None for c in range(k)]
    f1 = []
    for p, r in zip(precision, recall):
        f1.append(None if p is None or r is None else 0.0 if p + r == 0 else 2 * p * r / (p + r))
    occurring = [c for c in range(k) if rows[c] or cols[c]]

    def macro(values):
        return sum(values[c] or 0.0 for c in occurring) / len(occurring) if occurring else 0.0

    return ClassScores(precision, recall, f1, rows, macro(precision), macro(recall), macro(f1), len(occurring))
