"""Re-scoring a test run's ``--out-dir`` files, on all videos or on a resample of them.

Each task's scorer reads the files ``tools/test.py --out-dir`` wrote (phase: ``gt/`` and
``pred/`` with ``metrics.json``'s protocol; triplet, CVS and action: ``predictions.npz``) with the
stand-alone evaluators' functions, and offers two views of every metric (percent):

* :meth:`RunScores.values` on a resample ``idx`` of the videos: the protocol's number computed on
  those videos (what the bootstrap resamples);
* :meth:`RunScores.per_video`: one value per video (what the paired test compares):

  - phase (metrics-spec §1): ``accuracy``, ``jaccard``, ``precision``, ``recall`` as
    :func:`~surgvista_mm.evaluation.phase_eval.per_video_metric` defines them;
    ``image_accuracy`` (frames pooled over videos) has the video's unrelaxed accuracy;
  - triplet (§2): a component's video-wise mAP on resampled videos is the mean over classes of
    the per-class mean over those videos of the per-video AP; per video, the mean over classes of
    that video's AP (classes without positives excluded);
  - CVS multi-label (§3): ``mAP`` pools the frames of the resampled videos, ``video_mAP``
    averages per-video mAP; per video, the video's mAP for both;
  - single-label (action, CVS as classes): ``top1`` and one-vs-rest ``mAP`` pool the samples of
    the resampled videos; per video, the video's top-1 accuracy and mAP over the classes present.

A per-video value can be NaN (no positive of any class in a video); the paired test then leaves
that video out.
"""
from __future__ import annotations

import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from surgvista_mm.evaluation.functional.cvs import cvs_consensus
from surgvista_mm.evaluation.functional.ranking import (average_precision, one_hot,
                                                        single_label_metrics)
from surgvista_mm.evaluation.functional.stats import nanmean, natural_sorted
from surgvista_mm.evaluation.functional.triplet import triplet_metrics
from surgvista_mm.evaluation.phase_eval import (evaluate_phase_dirs, per_video_metric,
                                                protocol_score)
from surgvista_mm.utils.io import read_json

__all__ = ['RunScores', 'score_results', 'METRICS_OF_TASK']

#: Metrics each scorer knows.
METRICS_OF_TASK = {
    'phase': ('image_accuracy', 'accuracy', 'precision', 'recall', 'jaccard'),
    'triplet': ('AP_I', 'AP_V', 'AP_T', 'AP_IV', 'AP_IT', 'AP_IVT'),
    'cvs': ('mAP', 'video_mAP'),
    'cvs_single_label': ('top1', 'mAP'),
    'action': ('top1', 'mAP'),
}


class RunScores:
    """The metrics of one test run, on all videos or on resamples (see the module docstring).

    Args:
        task: ``phase``, ``triplet``, ``cvs``, ``cvs_single_label`` or ``action``.
        protocol: the protocol name written by the test run.
        videos: video ids in natural order ``[V]``.
        values: function of an index array (a resample of ``range(V)``) giving each metric.
        per_video: each metric's per-video values ``[V]``.
    """

    def __init__(self, task: str, protocol: str, videos: Sequence[str],
                 values: Callable[[np.ndarray], Dict[str, float]],
                 per_video: Dict[str, np.ndarray]) -> None:
        self.task, self.protocol, self.videos = task, protocol, list(videos)
        self._values, self._per_video = values, per_video

    def values(self, idx: Optional[np.ndarray] = None) -> Dict[str, float]:
        """Each metric (percent) on the videos ``idx`` (default: all, in order)."""
        return self._values(np.arange(len(self.videos)) if idx is None else np.asarray(idx))

    def per_video(self, metric: str) -> np.ndarray:
        """Per-video values of ``metric`` (percent), ``[V]``."""
        if metric not in self._per_video:
            raise KeyError(f'{self.task}: no metric {metric!r} (known: {sorted(self._per_video)})')
        return self._per_video[metric]


def score_results(results_dir: str, evaluator: Optional[Dict] = None) -> RunScores:
    """Scores of a ``tools/test.py --out-dir`` folder (its ``metrics.json`` names the task).

    Args:
        results_dir: the folder.
        evaluator: the test config's ``test_evaluator`` (triplet: its map and null classes).
    """
    report = read_json(osp.join(results_dir, 'metrics.json'), 'test results (metrics.json)')
    task = report.get('task')
    if task == 'phase':
        return _phase(results_dir, report)
    arrays = _load_npz(osp.join(results_dir, 'predictions.npz'))
    if task == 'triplet':
        return _triplet(arrays, report, evaluator or {})
    if task == 'cvs':
        return _cvs(arrays, report)
    if task in ('cvs_single_label', 'action'):
        return _single_label(arrays, report, task)
    raise ValueError(f'{results_dir}/metrics.json: unknown task {task!r}')


def _load_npz(path: str) -> Dict[str, np.ndarray]:
    if not osp.isfile(path):
        raise FileNotFoundError(f'test predictions not found: {path}')
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def _phase(results_dir: str, report: Dict) -> RunScores:
    summary = report['eval_phase']
    evaluation = evaluate_phase_dirs(osp.join(results_dir, 'gt'), osp.join(results_dir, 'pred'),
                                     report['protocol'], report.get('fps'), None,
                                     summary['num_classes'])
    stats = evaluation.stats
    names = [m for m in METRICS_OF_TASK['phase'] if m != 'image_accuracy']

    def values(idx: np.ndarray) -> Dict[str, float]:
        out = {'image_accuracy': float(100.0 * stats.num_correct[idx].sum()
                                       / stats.num_frames[idx].sum())}
        out.update({m: protocol_score(stats, m, idx) for m in names})
        return out

    per_video = {m: per_video_metric(stats, m) for m in names}
    per_video['image_accuracy'] = 100.0 * stats.num_correct / stats.num_frames
    return RunScores('phase', report['protocol'], evaluation.videos, values, per_video)


def _video_rows(video_ids: np.ndarray) -> tuple:
    video_ids = np.asarray(video_ids).astype(str)
    videos = natural_sorted(np.unique(video_ids).tolist())
    return videos, [np.flatnonzero(video_ids == v) for v in videos]


def _pooled(rows: List[np.ndarray], idx: np.ndarray) -> np.ndarray:
    return np.concatenate([rows[i] for i in idx])


def _triplet(arrays: Dict[str, np.ndarray], report: Dict, evaluator: Dict) -> RunScores:
    from surgvista_mm.registry import METRICS
    metric = METRICS.build(dict(evaluator, type='SurgicalTripletMetric')) if evaluator else None
    kwargs = {} if metric is None else dict(mapping=metric.mapping,
                                            null_classes=metric.null_classes,
                                            ignore_null=metric.ignore_null)
    res = triplet_metrics(arrays['targets'], arrays['scores'], arrays['video_ids'], **kwargs)
    comps = {f'AP_{c.upper()}': c for c in res}

    def values(idx: np.ndarray) -> Dict[str, float]:
        return {name: float(100.0 * nanmean(nanmean(res[c]['per_video_AP'][idx], axis=0)))
                for name, c in comps.items()}

    per_video = {name: 100.0 * nanmean(res[c]['per_video_AP'], axis=1)
                 for name, c in comps.items()}
    videos = [str(v) for v in res['ivt']['videos']] if 'ivt' in res else \
        [str(v) for v in next(iter(res.values()))['videos']]
    return RunScores('triplet', report.get('protocol', 'cholect50-ivtmetrics'), videos, values,
                     per_video)


def _cvs(arrays: Dict[str, np.ndarray], report: Dict) -> RunScores:
    labels = cvs_consensus(arrays['targets'])
    scores = np.asarray(arrays['scores'], np.float64)
    videos, rows = _video_rows(arrays['video_ids'])
    per_video_map = np.array([nanmean(average_precision(labels[r], scores[r])) for r in rows],
                             np.float64) * 100.0

    def values(idx: np.ndarray) -> Dict[str, float]:
        pooled = _pooled(rows, idx)
        return {'mAP': float(100.0 * nanmean(average_precision(labels[pooled], scores[pooled]))),
                'video_mAP': float(nanmean(per_video_map[idx]))}

    return RunScores('cvs', report.get('protocol', 'endoscapes-cvs'), videos, values,
                     {'mAP': per_video_map, 'video_mAP': per_video_map})


def _single_label(arrays: Dict[str, np.ndarray], report: Dict, task: str) -> RunScores:
    labels = np.asarray(arrays['labels'], np.int64)
    scores = np.asarray(arrays['scores'], np.float64)
    videos, rows = _video_rows(arrays['video_ids'])
    targets = one_hot(labels, scores.shape[1])

    def values(idx: np.ndarray) -> Dict[str, float]:
        pooled = _pooled(rows, idx)
        res = single_label_metrics(labels[pooled], scores[pooled])
        return {'top1': 100.0 * res['top1'], 'mAP': 100.0 * res['mAP']}

    per_video = {
        'top1': np.array([100.0 * np.mean(np.argmax(scores[r], 1) == labels[r]) for r in rows]),
        'mAP': np.array([100.0 * nanmean(average_precision(targets[r], scores[r]))
                         for r in rows])}
    return RunScores(task, report.get('protocol', task), videos, values, per_video)
