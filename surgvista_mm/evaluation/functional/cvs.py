"""Critical View of Safety metrics, metrics-spec §3.

* Endoscapes official protocol: three criteria, ground truth = mean of the annotators rounded
  (positive when at least 2 of 3 agree), multi-label sigmoid scores; AP per criterion and mAP over
  the three; balanced accuracy per criterion at a threshold of 0.5 (``score >= 0.5`` is positive),
  averaged; optionally per-video aggregation.
* The paper's single-label variants (Endoscapes: number of criteria met, 4 classes; Cholec80-CVS:
  summed score, 6 classes) use :func:`~.ranking.single_label_metrics` (top-1 accuracy and
  one-vs-rest mAP without classes lacking positives).
"""
import warnings
from typing import Dict, Hashable, List, Optional, Sequence

import numpy as np
from sklearn.metrics import balanced_accuracy_score

from .ranking import average_precision
from .stats import natural_key, nanmean, nan_sample_std

__all__ = ['CVS_CRITERIA', 'cvs_consensus', 'cvs_criteria_met', 'cvs_metrics', 'nan_notes']

CVS_CRITERIA = ('C1', 'C2', 'C3')


def cvs_consensus(annotations: np.ndarray) -> np.ndarray:
    """Consensus labels from annotator votes: the annotator mean, rounded.

    Args:
        annotations: Either ``[N, A, 3]`` binary votes of A annotators, or ``[N, 3]`` annotator
            means in [0, 1] (already-binary labels pass through unchanged).

    Returns:
        ``[N, 3]`` uint8 labels; a mean of exactly 0.5 (possible only with an even number of
        annotators) rounds up.
    """
    x = np.asarray(annotations, dtype=np.float64)
    if x.ndim == 3:
        x = x.mean(axis=1)
    if x.ndim != 2:
        raise ValueError(f'annotations must be [N, A, C] or [N, C], got shape {x.shape}')
    if x.size and (x.min() < 0 or x.max() > 1):
        raise ValueError('annotator votes / means must lie in [0, 1]')
    return np.floor(x + 0.5).astype(np.uint8)


def cvs_criteria_met(labels: np.ndarray) -> np.ndarray:
    """Number of criteria met per sample ``[N]`` (the 4-class single-label Endoscapes target)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f'labels must be [N, C], got shape {labels.shape}')
    return (labels != 0).sum(axis=1).astype(np.int64)


def _balanced_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    if y.size == 0:
        return float('nan')
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # one class in y: sklearn warns
        return float(balanced_accuracy_score(y, pred))


def cvs_metrics(targets: np.ndarray,
                scores: np.ndarray,
                video_ids: Optional[Sequence[Hashable]] = None,
                threshold: float = 0.5,
                per_video: bool = False) -> Dict:
    """Endoscapes official multi-label CVS metrics.

    Args:
        targets: ``[N, 3]`` binary labels, ``[N, 3]`` annotator means or ``[N, A, 3]`` votes
            (all passed through :func:`cvs_consensus`).
        scores: ``[N, 3]`` sigmoid probabilities.
        video_ids: Video of each sample ``[N]``; needed when ``per_video``.
        threshold: Decision threshold for balanced accuracy (``score >= threshold``).
        per_video: Also compute AP per video and aggregate over videos.

    Returns:
        ``{'mAP', 'AP' [3], 'balanced_accuracy', 'per_criterion_balanced_accuracy' [3]}`` (AP as
        fractions, NaN for a criterion without positives) and, with ``per_video``,
        ``'video_mAP'`` (mean over videos ignoring NaN), ``'video_mAP_std'`` (over videos),
        ``'video_AP'`` [3] (per criterion mean over videos), ``'per_video_mAP'`` [V], ``'videos'``.
    """
    labels = cvs_consensus(targets)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.shape != labels.shape:
        raise ValueError(f'scores {scores.shape} and targets {labels.shape} differ in shape')
    ap = average_precision(labels, scores)
    pred = (scores >= threshold).astype(np.uint8)
    bal = np.array([_balanced_accuracy(labels[:, c], pred[:, c])
                    for c in range(labels.shape[1])])
    out: Dict = {'mAP': float(nanmean(ap)), 'AP': ap, 'balanced_accuracy': float(nanmean(bal)),
                 'per_criterion_balanced_accuracy': bal}
    if per_video:
        if video_ids is None:
            raise ValueError('per_video=True needs video_ids')
        video_ids = np.asarray(video_ids)
        if video_ids.shape != (labels.shape[0],):
            raise ValueError(f'video_ids must be [N] = [{labels.shape[0]}], got {video_ids.shape}')
        videos = sorted(np.unique(video_ids).tolist(), key=natural_key)
        table = np.stack([average_precision(labels[video_ids == v], scores[video_ids == v])
                          for v in videos])
        per_video_map = nanmean(table, axis=1)
        out.update(video_mAP=float(nanmean(per_video_map)),
                   video_mAP_std=nan_sample_std(per_video_map),
                   video_AP=nanmean(table, axis=0), per_video_mAP=per_video_map, videos=videos)
    return out


def nan_notes(res: Dict, class_names: Optional[Sequence[str]] = None) -> List[str]:
    """Why values of :func:`cvs_metrics` / ``single_label_metrics`` results are NaN.

    AP is undefined for a criterion (class) without a positive sample: it is NaN and left out of
    mAP; mAP itself is NaN when no criterion has a positive sample.

    Args:
        res: the result dict (``AP``, ``mAP``; ``video_mAP`` and ``videos`` when per video).
        class_names: names of the ``AP`` entries (default: C1..C3 for three, else class ids).

    Returns:
        one sentence per NaN value, e.g. ``AP of C2 is NaN: no sample has C2 positive ...``.
    """
    ap = np.asarray(res.get('AP', []), dtype=np.float64)
    names = list(class_names) if class_names is not None else (
        list(CVS_CRITERIA) if ap.size == len(CVS_CRITERIA) and 'top1' not in res
        else [str(c) for c in range(ap.size)])
    notes = []
    empty = [n for n, v in zip(names, ap) if np.isnan(v)]
    if empty and len(empty) < ap.size:
        notes.append(f'AP of {", ".join(empty)} is NaN: no sample is positive for '
                     f'{"it" if len(empty) == 1 else "them"} (AP is undefined without positives), '
                     f'so mAP averages the other {ap.size - len(empty)}')
    if np.isnan(res.get('mAP', 0.0)):
        notes.append(f'mAP is NaN: none of the {ap.size} criteria / classes has a positive sample '
                     'in these targets (AP is undefined without positives); check that the '
                     'targets are the right array (labels, not all zeros)')
    if 'video_mAP' in res and np.isnan(res['video_mAP']):
        notes.append('video_mAP is NaN: no video has a positive sample of any criterion')
    return notes
