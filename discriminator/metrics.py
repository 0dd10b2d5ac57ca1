"""Token-level classification metrics and threshold tuning (numpy only; torch-free).

AUROC is the Mann-Whitney statistic with tied scores counted half; the precision-recall points are those of
every distinct score used as a threshold (as ``sklearn.metrics.precision_recall_curve``).
"""

from __future__ import annotations

import numpy as np


def _check(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).reshape(-1)
    if s.shape != y.shape:
        raise ValueError(f"{s.size} scores but {y.size} labels")
    keep = y != -100
    return s[keep], y[keep].astype(np.int64)


def token_metrics(scores, labels, threshold: float) -> dict[str, float]:
    """Precision, recall, F1, accuracy at ``threshold`` (predict 1 when score >= threshold) and AUROC.

    ``labels == -100`` are ignored (prompt, padding). AUROC is NaN when only one class is present.
    """
    s, y = _check(scores, labels)
    pred = s >= threshold
    tp = int(np.sum(pred & (y == 1)))
    fp = int(np.sum(pred & (y == 0)))
    fn = int(np.sum(~pred & (y == 1)))
    tn = int(np.sum(~pred & (y == 0)))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    auroc = roc_auc(s, y)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "accuracy": (tp + tn) / max(1, len(y)),
        "auroc": auroc,
        "threshold": float(threshold),
        "tokens": int(len(y)),
        "positives": int(y.sum()),
        "base_rate": float(y.mean()) if len(y) else 0.0,
    }


def roc_auc(s: np.ndarray, y: np.ndarray) -> float:
    """Probability that a random positive outscores a random negative (ties count half); NaN if one class."""
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s), dtype=np.float64)
    sorted_s = s[order]
    # average ranks over ties
    _, start, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = start + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def _pr_points(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, threshold) at every distinct score, thresholds descending."""
    order = np.argsort(-s, kind="mergesort")
    s, y = s[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # last index of each distinct score
    tp = np.cumsum(y)[last]
    fp = (last + 1) - tp
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(1, int(y.sum()))
    return precision, recall, s[last]


def best_f1_threshold(scores, labels) -> tuple[float, float]:
    """The threshold maximising F1 (and that F1); 0.5 and 0.0 when there is no positive."""
    s, y = _check(scores, labels)
    if len(y) == 0 or y.sum() == 0:
        return 0.5, 0.0
    precision, recall, thresholds = _pr_points(s, y)
    f1 = np.where(precision + recall > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    i = int(np.argmax(f1))
    return float(thresholds[i]), float(f1[i])


def pr_curve(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    """(recall, precision) points for a PR plot, from recall 0 upwards."""
    s, y = _check(scores, labels)
    if len(y) == 0 or y.sum() == 0:
        return np.array([0.0, 1.0]), np.array([0.0, 0.0])
    precision, recall, _ = _pr_points(s, y)
    return np.r_[0.0, recall], np.r_[precision[0], precision]
