"""Ranking and classification metrics shared by the triplet, CVS and action metrics.

:func:`average_precision` is scikit-learn's ``average_precision_score`` (non-interpolated area under
the precision-recall curve, tied scores forming one threshold) computed for all classes at once,
with one difference that is deliberate and independent of the scikit-learn version: **a class
without a positive sample gives NaN** (scikit-learn >= 1.6 returns 0.0), so that it is excluded
from every mean instead of deflating it.
"""
from typing import Dict, Optional

import numpy as np

from .stats import nanmean

__all__ = ['average_precision', 'one_hot', 'top1_accuracy', 'single_label_metrics']


def _as_2d(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise ValueError(f'{name} must be [N] or [N, C], got shape {x.shape}')
    return x


def average_precision(targets: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Per-class average precision, vectorised over classes; NaN for classes without positives.

    For each class the samples are sorted by decreasing score; every positive contributes the
    precision at the end of its group of tied scores, and the sum is divided by the number of
    positives (identical to scikit-learn's step-wise ``sum((R_n - R_{n-1}) P_n)``).

    Args:
        targets: Binary labels ``[N, C]`` (or ``[N]`` for one class); nonzero = positive.
        scores: Scores ``[N, C]`` (or ``[N]``), higher = more likely positive; must be finite.

    Returns:
        AP per class ``[C]`` (float64), NaN where a class has no positive sample.
    """
    targets = _as_2d(targets, 'targets')
    scores = _as_2d(scores, 'scores').astype(np.float64)
    if targets.shape != scores.shape:
        raise ValueError(f'targets {targets.shape} and scores {scores.shape} differ in shape')
    n, c = scores.shape
    if n == 0:
        return np.full(c, np.nan)
    if not np.all(np.isfinite(scores)):
        raise ValueError('scores contain NaN or infinite values')
    order = np.argsort(-scores, axis=0)  # order within ties is irrelevant (see below)
    s = np.take_along_axis(scores, order, axis=0)
    y = np.take_along_axis(targets != 0, order, axis=0)
    tp = np.cumsum(y, axis=0, dtype=np.float64)
    # Index of the last row of each group of tied scores, propagated back to the group's rows.
    is_last = np.ones((n, c), dtype=bool)
    is_last[:-1] = s[:-1] != s[1:]
    last = np.where(is_last, np.arange(n)[:, None], n - 1)
    last = np.minimum.accumulate(last[::-1], axis=0)[::-1]
    precision_at_last = np.take_along_axis(tp, last, axis=0) / (last + 1)
    positives = tp[-1]
    summed = np.where(y, precision_at_last, 0.0).sum(axis=0)
    ap = np.full(c, np.nan)
    np.divide(summed, positives, out=ap, where=positives > 0)
    return ap


def one_hot(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """One-hot encode integer labels ``[N]`` into ``[N, num_classes]`` (uint8)."""
    labels = np.asarray(labels).astype(np.int64).ravel()
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise ValueError(f'labels out of range 0..{num_classes - 1} '
                         f'(min {labels.min()}, max {labels.max()})')
    out = np.zeros((labels.size, num_classes), dtype=np.uint8)
    out[np.arange(labels.size), labels] = 1
    return out


def top1_accuracy(labels: np.ndarray, scores: np.ndarray) -> float:
    """Fraction of samples whose highest score is the label (first index wins ties)."""
    labels = np.asarray(labels).ravel()
    scores = _as_2d(scores, 'scores')
    if labels.size != scores.shape[0]:
        raise ValueError(f'{labels.size} labels but {scores.shape[0]} score rows')
    if labels.size == 0:
        return float('nan')
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def single_label_metrics(labels: np.ndarray, scores: np.ndarray,
                         num_classes: Optional[int] = None) -> Dict:
    """Top-1 accuracy and one-vs-rest mAP of a single-label task (metrics-spec §3-4).

    Args:
        labels: Class ids ``[N]``.
        scores: Class scores ``[N, K]`` (e.g. softmax probabilities).
        num_classes: K (default: ``scores.shape[1]``).

    Returns:
        ``{'top1': fraction, 'mAP': mean AP over classes with a positive sample,
        'AP': per-class AP [K] (NaN for classes without positives)}``.
    """
    scores = _as_2d(scores, 'scores')
    k = scores.shape[1] if num_classes is None else num_classes
    if scores.shape[1] != k:
        raise ValueError(f'scores have {scores.shape[1]} classes, expected {k}')
    ap = average_precision(one_hot(labels, k), scores)
    return {'top1': top1_accuracy(labels, scores), 'mAP': float(nanmean(ap)), 'AP': ap}
