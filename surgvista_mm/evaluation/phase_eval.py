"""Scoring a folder of phase predictions against a ground-truth folder with a named protocol.

The one code path behind ``tools/analysis/eval_phase.py`` and ``tools/analysis/compare_phase.py``
(metrics-spec §1): read the two folders, resolve the number of phases, reduce every video with
:func:`~.functional.phase.compute_phase_stats` and flatten the protocol's numbers with
:func:`~.functional.phase.phase_summary`. It also defines the **per-video** value of a metric,
which the paired comparison (Wilcoxon over videos, metrics-spec §5) and the plots need:

* ``accuracy``: the video's accuracy under the protocol (relaxed accuracy in a relaxed protocol,
  plain accuracy in ``unrelaxed``); the protocol's ``accuracy`` is the mean of these values;
* ``jaccard`` / ``precision`` / ``recall``: the mean over the phases present in the video's ground
  truth of the per-video, per-phase values (relaxed: the script's table, values above 100 clipped;
  unrelaxed: the video-wise table). The protocol's J / P / R average per phase first, so the mean
  of the per-video values is close to, but not the same number as, the protocol's value.
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .functional.phase import (PROTOCOLS, PhaseVideoStats, aggregate_relaxed,
                               aggregate_unrelaxed, compute_phase_stats, phase_summary)
from .functional.stats import bootstrap_ci, nan_sample_std, nanmean, safe_divide
from .phase_files import load_phase_dirs

__all__ = ['FIXED_NUM_CLASSES', 'PER_VIDEO_METRICS', 'PhaseDirEvaluation', 'resolve_num_classes',
           'evaluate_phase_dirs', 'per_video_phase_table', 'per_video_metric', 'protocol_score',
           'per_phase_std_over_videos', 'paired_bootstrap_ci']

#: Number of phases fixed by a transition rule (the relaxed protocols of these datasets).
FIXED_NUM_CLASSES: Dict[str, int] = {'cholec80': 7, 'm2cai16': 8}
#: Metrics that have a per-video value (see the module docstring).
PER_VIDEO_METRICS: Tuple[str, ...] = ('jaccard', 'accuracy', 'precision', 'recall')


@dataclass
class PhaseDirEvaluation:
    """Everything scored from one ground-truth folder and one prediction folder.

    Attributes:
        videos: File stems in natural order.
        gts: Per-video ground-truth phase ids.
        preds: Per-video predicted phase ids.
        class_names: Phase names given by the caller, or ``None`` (files hold ids).
        stats: Per-video reductions (:class:`PhaseVideoStats`).
        summary: The reported numbers (:func:`phase_summary` plus ``num_classes``, ``fps`` and
            ``classes``: the names, or the ids as strings).
    """

    videos: List[str]
    gts: List[np.ndarray]
    preds: List[np.ndarray]
    class_names: Optional[List[str]]
    stats: PhaseVideoStats
    summary: Dict

    @property
    def num_classes(self) -> int:
        """Number of phases K the videos were scored with."""
        return self.stats.num_classes


def resolve_num_classes(protocol: str, class_names: Optional[Sequence[str]] = None,
                        num_classes: Optional[int] = None) -> Optional[int]:
    """Number of phases before reading the files: the class list, the explicit number, or the
    rule's fixed count in a relaxed protocol; ``None`` to infer it from the largest id."""
    relaxation, rule = _protocol(protocol)
    if class_names is not None:
        return len(class_names)
    if num_classes is not None:
        return num_classes
    return FIXED_NUM_CLASSES.get(rule) if relaxation != 'none' else None


def evaluate_phase_dirs(gt_dir: str, pred_dir: str, protocol: str, fps: Optional[float] = None,
                        class_names: Optional[Sequence[str]] = None,
                        num_classes: Optional[int] = None,
                        gt_fps: Optional[float] = None) -> PhaseDirEvaluation:
    """Score ``pred_dir`` against ``gt_dir`` (community per-video files) with ``protocol``.

    Args:
        gt_dir: Folder of ground-truth files.
        pred_dir: Folder of prediction files with the same names.
        protocol: A key of ``PROTOCOLS`` (``'cholec80-matlab'``, ``'unrelaxed'``, ...).
        fps: Frame rate of the files; required by the relaxed protocols.
        class_names: Phase names if the files hold names instead of 0-based ids.
        num_classes: Number of phases (default: see :func:`resolve_num_classes`, else the largest
            id in the files + 1).
        gt_fps: rows per second of native-rate ground-truth files scored against 1-fps
            predictions (see :func:`~.phase_files.load_phase_dirs`).

    Returns:
        The evaluation (labels, per-video statistics and the reported summary).

    Raises:
        ValueError: unknown protocol, missing fps, malformed or mismatched files
            (:class:`~.phase_files.PhaseFileError`), out-of-range labels.
        OSError: unreadable files.
    """
    relaxation, rule = _protocol(protocol)
    if relaxation != 'none' and fps is None:
        raise ValueError(f'--fps is required for the {protocol} protocol')
    names = list(class_names) if class_names is not None else None
    k = resolve_num_classes(protocol, names, num_classes)
    videos, gts, preds = load_phase_dirs(gt_dir, pred_dir, names, k, gt_fps)
    if k is None:
        k = max(int(max(g.max(), p.max())) for g, p in zip(gts, preds)) + 1
    stats = compute_phase_stats(gts, preds, k, relaxation, rule, fps, video_ids=videos)
    summary = phase_summary({
        'protocol': stats.protocol, 'videos': videos, 'num_classes': k,
        'unrelaxed': aggregate_unrelaxed(stats),
        'relaxed': None if stats.relaxed is None else aggregate_relaxed(stats)})
    summary.update(num_classes=k, fps=fps,
                   classes=names if names is not None else [str(i) for i in range(k)])
    return PhaseDirEvaluation(videos, gts, preds, names, stats, summary)


def _protocol(protocol: str) -> Tuple[str, str]:
    if protocol not in PROTOCOLS:
        raise ValueError(f'unknown protocol {protocol!r} (choose from {sorted(PROTOCOLS)})')
    return PROTOCOLS[protocol]


def _check_metric(metric: str) -> None:
    if metric not in PER_VIDEO_METRICS:
        raise ValueError(f'unknown metric {metric!r} (choose from {list(PER_VIDEO_METRICS)})')


def per_video_phase_table(stats: PhaseVideoStats, metric: str) -> np.ndarray:
    """Per-video, per-phase ``jaccard`` / ``precision`` / ``recall`` (percent), ``[V, K]``.

    NaN where the phase is absent from the video's ground truth. Relaxed protocols: the script's
    table with values above 100 clipped to 100 (what the protocol averages); unrelaxed: the
    video-wise table of metrics-spec §1a.
    """
    if metric not in ('jaccard', 'precision', 'recall'):
        raise ValueError(f'no per-phase table for {metric!r} (jaccard, precision or recall)')
    if stats.relaxed is not None:
        table = stats.relaxed[metric]
        return np.where(table > 100.0, 100.0, table)
    tp, gt_c, pred_c = stats.true_pos, stats.gt_count, stats.pred_count
    den = {'jaccard': gt_c + pred_c - tp, 'precision': pred_c, 'recall': gt_c}[metric]
    return np.where(gt_c > 0, 100.0 * safe_divide(tp, den), np.nan)


def per_video_metric(stats: PhaseVideoStats, metric: str) -> np.ndarray:
    """Per-video value of ``metric`` (percent), ``[V]``; definitions in the module docstring."""
    _check_metric(metric)
    if metric == 'accuracy':
        if stats.relaxed is not None:
            return np.asarray(stats.relaxed['accuracy'], dtype=np.float64)
        return 100.0 * stats.num_correct / stats.num_frames
    return np.asarray(nanmean(per_video_phase_table(stats, metric), axis=1), dtype=np.float64)


def protocol_score(stats: PhaseVideoStats, metric: str,
                   idx: Optional[np.ndarray] = None) -> float:
    """The protocol's reported value of ``metric`` (the ``metric`` key of the summary), computed
    on all videos or on the resample ``idx``."""
    _check_metric(metric)
    if stats.relaxed is not None:
        return float(aggregate_relaxed(stats, idx)[metric])
    unrelaxed = aggregate_unrelaxed(stats, idx)
    return float(unrelaxed['video_accuracy' if metric == 'accuracy' else metric])


def per_phase_std_over_videos(stats: PhaseVideoStats, metric: str = 'jaccard') -> np.ndarray:
    """Sample std (N - 1) over videos of the per-video, per-phase values, ``[K]`` (NaN ignored)."""
    table = per_video_phase_table(stats, metric)
    return np.array([nan_sample_std(table[:, k]) for k in range(table.shape[1])])


def paired_bootstrap_ci(stats_a: PhaseVideoStats, stats_b: PhaseVideoStats, metric: str,
                        n_resamples: int = 1000, seed: int = 0,
                        level: float = 0.95) -> Dict[str, Tuple[float, float]]:
    """Percentile bootstrap intervals over videos of A's and B's protocol scores and of A - B.

    Both methods are scored on the same video resamples, so the interval of A (or B) equals
    :func:`~.functional.phase.phase_bootstrap_ci`'s for the same seed and count.

    Returns:
        ``{'a': (low, high), 'b': (low, high), 'diff': (low, high)}``.
    """
    if list(stats_a.video_ids) != list(stats_b.video_ids):
        raise ValueError('paired bootstrap needs the same videos in the same order')

    def statistic(idx: np.ndarray) -> Dict[str, float]:
        a, b = protocol_score(stats_a, metric, idx), protocol_score(stats_b, metric, idx)
        return {'a': a, 'b': b, 'diff': a - b}

    return bootstrap_ci(statistic, len(stats_a.video_ids), n_resamples, seed, level)
