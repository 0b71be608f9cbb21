"""Registered CVS and action recognition metrics (metrics-spec §3-4)."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from surgvista_mm.registry import METRICS
from ..functional.cvs import CVS_CRITERIA, cvs_metrics
from ..functional.ranking import single_label_metrics
from ._utils import deduplicate, format_table, get_field, scalar_label, to_key, to_numpy


class _SurgicalClassificationMetric(BaseMetric):
    """Shared collection logic: optional de-duplication by sample ids."""

    def __init__(self, dedup_keys: Optional[Sequence[str]], collect_device: str,
                 prefix: Optional[str], collect_dir: Optional[str]) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        self.dedup_keys = tuple(dedup_keys) if dedup_keys else ()

    def _ids(self, sample: Any, video_required: bool = False) -> Dict[str, Any]:
        ids = {key: to_key(get_field(sample, key)) for key in self.dedup_keys}
        if 'video_id' not in ids:
            vid = get_field(sample, 'video_id', None)
            if vid is None and video_required:
                raise KeyError('per-video aggregation needs a video_id in every data sample')
            ids['video_id'] = None if vid is None else to_key(vid)
        return ids

    def _unique(self, results: List[Dict]) -> List[Dict]:
        if not self.dedup_keys:
            return results  # mmengine's collect_results already drops the sampler's padding
        return deduplicate(results, self.dedup_keys, compare=('target',))

    def _single_label(self, results: List[Dict], num_classes: Optional[int],
                      title: str) -> Dict[str, float]:
        scores = np.stack([r['scores'] for r in results])
        labels = np.asarray([r['target'] for r in results])
        res = single_label_metrics(labels, scores, num_classes)
        metrics = {'top1': res['top1'], 'mAP': res['mAP']}
        rows = [[f'class {k}', ap] for k, ap in enumerate(res['AP'])]
        print_log('\n' + format_table(['', 'AP'], [['top1', res['top1']], ['mAP', res['mAP']]]
                                      + rows, f'{title} ({len(results)} samples; fractions, '
                                      'classes without positives excluded from mAP)'),
                  logger='current')
        return metrics


@METRICS.register_module()
class SurgicalCVSMetric(_SurgicalClassificationMetric):
    """Critical View of Safety metrics.

    ``task='multilabel'`` is the Endoscapes official protocol: ``pred_score`` ``[3]`` sigmoid
    scores; the ground truth is ``gt_score`` (``[3]`` annotator means or ``[A, 3]`` votes) when the
    sample has it, else ``gt_label`` (``[3]`` consensus labels); it is rounded to the consensus.
    Keys: ``mAP``, ``AP_C1..AP_C3``, ``balanced_accuracy`` (threshold ``score >= threshold``),
    ``balanced_accuracy_C1..C3`` and, with ``per_video``, ``video_mAP`` / ``video_mAP_std``.

    ``task='single_label'`` is the paper's variant (Endoscapes 4 classes = criteria met,
    Cholec80-CVS 6 classes): ``pred_score`` ``[K]`` softmax scores, ``gt_label`` a class id.
    Keys: ``top1`` and ``mAP`` (one-vs-rest, classes without positives excluded). Fractions.

    Args:
        task: ``'multilabel'`` or ``'single_label'``.
        num_classes: Number of classes of the single-label task (default: from the scores).
        threshold: Decision threshold of the balanced accuracy.
        per_video: Also aggregate AP per video (needs ``video_id``).
        dedup_keys: Sample id fields used to drop repeated samples, e.g.
            ``('video_id', 'frame_index')``; default none (mmengine drops the padding).
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Key prefix (default ``'cvs'``).
        collect_dir: Folder for CPU collection.
    """

    default_prefix = 'cvs'

    def __init__(self,
                 task: str = 'multilabel',
                 num_classes: Optional[int] = None,
                 threshold: float = 0.5,
                 per_video: bool = False,
                 dedup_keys: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(dedup_keys, collect_device, prefix, collect_dir)
        if task not in ('multilabel', 'single_label'):
            raise ValueError(f"task must be 'multilabel' or 'single_label', got {task!r}")
        if task == 'single_label' and per_video:
            raise ValueError('per_video aggregation is defined for the multilabel task only')
        self.task = task
        self.num_classes = num_classes
        self.threshold = threshold
        self.per_video = per_video

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep scores, ground truth and ids of every sample."""
        for sample in data_samples:
            res = self._ids(sample, video_required=self.per_video)
            res['scores'] = to_numpy(get_field(sample, 'pred_score')).astype(np.float64).ravel()
            if self.task == 'single_label':
                res['target'] = scalar_label(get_field(sample, 'gt_label'))
            else:
                gt = get_field(sample, 'gt_score', None)
                gt = get_field(sample, 'gt_label') if gt is None else gt
                gt = to_numpy(gt).astype(np.float64)
                res['target'] = gt.mean(axis=0) if gt.ndim == 2 else gt.ravel()
            self.results.append(res)

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        """Compute and log the CVS metrics."""
        results = self._unique(results)
        if self.task == 'single_label':
            return self._single_label(results, self.num_classes, 'CVS (single-label)')
        res = cvs_metrics(np.stack([r['target'] for r in results]),
                          np.stack([r['scores'] for r in results]),
                          [r['video_id'] for r in results] if self.per_video else None,
                          self.threshold, self.per_video)
        names = CVS_CRITERIA if len(res['AP']) == 3 else [f'C{i + 1}' for i in
                                                           range(len(res['AP']))]
        metrics = {'mAP': res['mAP'], 'balanced_accuracy': res['balanced_accuracy']}
        metrics.update({f'AP_{n}': float(v) for n, v in zip(names, res['AP'])})
        metrics.update({f'balanced_accuracy_{n}': float(v)
                        for n, v in zip(names, res['per_criterion_balanced_accuracy'])})
        if self.per_video:
            metrics.update(video_mAP=res['video_mAP'], video_mAP_std=res['video_mAP_std'])
        print_log('\n' + format_table(['metric', 'value'], list(metrics.items()),
                                      f'CVS, Endoscapes protocol ({len(results)} samples; '
                                      'fractions)'), logger='current')
        return metrics


@METRICS.register_module()
class SurgicalActionMetric(_SurgicalClassificationMetric):
    """Clip-level action recognition: top-1 accuracy and one-vs-rest mAP (metrics-spec §4).

    Every sample carries ``pred_score`` ``[K]`` and ``gt_label`` (a class id). Keys ``top1`` and
    ``mAP`` (fractions; classes without a positive clip are excluded from the mAP).

    Args:
        num_classes: Number of classes (default: from the scores).
        dedup_keys: Sample id fields used to drop repeated samples; default none.
        collect_device: ``'cpu'`` or ``'gpu'``.
        prefix: Key prefix (default ``'action'``).
        collect_dir: Folder for CPU collection.
    """

    default_prefix = 'action'

    def __init__(self,
                 num_classes: Optional[int] = None,
                 dedup_keys: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(dedup_keys, collect_device, prefix, collect_dir)
        self.num_classes = num_classes

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep scores, label and ids of every clip."""
        for sample in data_samples:
            res = self._ids(sample)
            res['scores'] = to_numpy(get_field(sample, 'pred_score')).astype(np.float64).ravel()
            res['target'] = scalar_label(get_field(sample, 'gt_label'))
            self.results.append(res)

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        """Compute and log top-1 accuracy and mAP."""
        return self._single_label(self._unique(results), self.num_classes, 'Action recognition')
