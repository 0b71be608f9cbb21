"""Surgical workflow (phase) recognition metrics, metrics-spec §1.

Everything is computed from per-video label arrays (0-based phase ids). The work is split in two:
:func:`compute_phase_stats` reduces every video to a few counts per phase (and, for the relaxed
protocols, the per-video Jaccard / precision / recall / accuracy of the MATLAB script), then
:func:`aggregate_unrelaxed` / :func:`aggregate_relaxed` turn those per-video tables into the
reported numbers. Bootstrapping over videos (:func:`phase_bootstrap_ci`) only re-runs the cheap
second step.

All phase metrics are percentages. Documented choices where the spec leaves room:

* pooled precision / recall / Jaccard follow scikit-learn with ``zero_division=0``: a phase that is
  never predicted has precision 0, a phase absent from the ground truth has recall 0, and both are
  part of the mean over phases;
* the video-wise variant averages the per-phase values over phases ignoring NaN (a phase absent
  from every video is left out rather than making the result NaN);
* standard deviations are sample standard deviations (N - 1) everywhere, as in the MATLAB script.
"""
from dataclasses import dataclass
from typing import Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from .phase_relax import (PROTOCOLS, RELAXATIONS, TRANSITION_RULES, protocol_name,
                          relaxed_video_scores, transition_accepts, window_frames)
from .stats import bootstrap_ci, nan_sample_std, nanmean, safe_divide, sample_std

__all__ = ['PROTOCOLS', 'RELAXATIONS', 'TRANSITION_RULES', 'PhaseVideoStats',
           'compute_phase_stats', 'aggregate_unrelaxed', 'aggregate_relaxed', 'phase_metrics',
           'phase_summary', 'phase_bootstrap_ci', 'protocol_name']


@dataclass
class PhaseVideoStats:
    """Per-video reductions from which every phase metric is aggregated.

    Attributes:
        num_classes: Number of phases K.
        protocol: Name of the relaxed protocol (e.g. ``'cholec80-matlab'``) or ``'unrelaxed'``.
        video_ids: Video ids, in the order of the arrays below.
        num_frames: Frames per video, ``[V]``.
        num_correct: Frames with prediction == ground truth, ``[V]``.
        gt_count: Ground-truth frames per video and phase, ``[V, K]``.
        pred_count: Predicted frames per video and phase, ``[V, K]``.
        true_pos: Frames with prediction == ground truth == k, ``[V, K]``.
        relaxed: For relaxed protocols, the script's per-video tables ``jaccard``, ``precision``,
            ``recall`` (``[V, K]``, percent, NaN for phases absent from the video, not yet clipped)
            and ``accuracy`` (``[V]``); ``None`` for the unrelaxed protocol.
    """

    num_classes: int
    protocol: str
    video_ids: List[Hashable]
    num_frames: np.ndarray
    num_correct: np.ndarray
    gt_count: np.ndarray
    pred_count: np.ndarray
    true_pos: np.ndarray
    relaxed: Optional[Dict[str, np.ndarray]] = None


def _check_video(gt: np.ndarray, pred: np.ndarray, num_classes: int,
                 vid: Hashable) -> Tuple[np.ndarray, np.ndarray]:
    gt = np.asarray(gt)
    pred = np.asarray(pred)
    if gt.ndim != 1 or pred.ndim != 1:
        raise ValueError(f'video {vid}: labels must be 1-D, got shapes {gt.shape} and {pred.shape}')
    if gt.shape != pred.shape:
        raise ValueError(f'video {vid}: ground truth has {gt.size} frames but the prediction '
                         f'has {pred.size}')
    if gt.size == 0:
        raise ValueError(f'video {vid}: no frames')
    for name, arr in (('ground truth', gt), ('prediction', pred)):
        if not np.issubdtype(arr.dtype, np.integer):
            if not np.all(np.mod(arr, 1) == 0):
                raise ValueError(f'video {vid}: {name} labels must be integers')
        if arr.min() < 0 or arr.max() >= num_classes:
            raise ValueError(f'video {vid}: {name} label out of range 0..{num_classes - 1} '
                             f'(min {arr.min()}, max {arr.max()})')
    return gt.astype(np.int64), pred.astype(np.int64)


def compute_phase_stats(gts: Sequence[np.ndarray],
                        preds: Sequence[np.ndarray],
                        num_classes: int,
                        relaxation: str = 'none',
                        rule: str = 'generic',
                        fps: Optional[float] = None,
                        seconds: float = 10.0,
                        video_ids: Optional[Sequence[Hashable]] = None) -> PhaseVideoStats:
    """Reduce per-video ground truth and predictions to per-video tables.

    Args:
        gts: Per-video ground-truth phase ids, each ``[N_v]`` (0-based).
        preds: Per-video predicted phase ids, each ``[N_v]``.
        num_classes: Number of phases K (any K >= 2).
        relaxation: ``'none'``, ``'matlab'`` (the official script, indexing quirk included) or
            ``'corrected'`` (early-transition rule applied to the last frames of a segment).
        rule: Transition rule of the relaxed protocols: ``'cholec80'``, ``'m2cai16'`` or
            ``'generic'``. Ignored when ``relaxation='none'``.
        fps: Frame rate of the evaluated sequences; required when relaxing.
        seconds: Relaxation window in seconds (window = ``seconds * fps`` frames).
        video_ids: Ids of the videos (default ``0..V-1``).

    Returns:
        The per-video tables.
    """
    if num_classes < 2:
        raise ValueError(f'num_classes must be >= 2, got {num_classes}')
    if len(gts) != len(preds):
        raise ValueError(f'{len(gts)} ground-truth videos but {len(preds)} predicted videos')
    if len(gts) == 0:
        raise ValueError('no videos to evaluate')
    video_ids = list(range(len(gts))) if video_ids is None else list(video_ids)
    if len(video_ids) != len(gts):
        raise ValueError(f'{len(video_ids)} video ids for {len(gts)} videos')
    protocol = protocol_name(relaxation, rule)
    accepts = window = None
    if relaxation != 'none':
        accepts = transition_accepts(rule, num_classes)
        window = window_frames(fps, seconds)

    n_vid, k = len(gts), num_classes
    num_frames = np.zeros(n_vid, np.int64)
    num_correct = np.zeros(n_vid, np.int64)
    gt_count = np.zeros((n_vid, k), np.int64)
    pred_count = np.zeros((n_vid, k), np.int64)
    true_pos = np.zeros((n_vid, k), np.int64)
    relaxed = None if accepts is None else {
        'jaccard': np.zeros((n_vid, k)), 'precision': np.zeros((n_vid, k)),
        'recall': np.zeros((n_vid, k)), 'accuracy': np.zeros(n_vid)}
    for v, (gt, pred, vid) in enumerate(zip(gts, preds, video_ids)):
        gt, pred = _check_video(gt, pred, k, vid)
        hit = gt == pred
        num_frames[v] = gt.size
        num_correct[v] = hit.sum()
        gt_count[v] = np.bincount(gt, minlength=k)
        pred_count[v] = np.bincount(pred, minlength=k)
        true_pos[v] = np.bincount(gt[hit], minlength=k)
        if relaxed is not None:
            scores = relaxed_video_scores(gt, pred, k, window, accepts, relaxation)
            for key, value in scores.items():
                relaxed[key][v] = value
    return PhaseVideoStats(k, protocol, video_ids, num_frames, num_correct, gt_count,
                           pred_count, true_pos, relaxed)


def _select(arr: np.ndarray, idx: Optional[np.ndarray]) -> np.ndarray:
    return arr if idx is None else arr[idx]


def aggregate_unrelaxed(stats: PhaseVideoStats, idx: Optional[np.ndarray] = None) -> Dict:
    """Unrelaxed metrics of metrics-spec §1a (percent).

    Args:
        stats: Output of :func:`compute_phase_stats`.
        idx: Optional video indices (a bootstrap resample); default all videos.

    Returns:
        Scalars ``image_accuracy``, ``video_accuracy`` (+ ``_std`` over videos), pooled
        ``precision`` / ``recall`` / ``jaccard`` (+ ``_std`` over phases), ``f1``, video-wise
        ``videowise_precision`` / ``videowise_recall`` / ``videowise_jaccard`` / ``videowise_f1``,
        and tables ``per_video_accuracy`` ``[V]``, ``per_phase_{precision,recall,jaccard,f1}``
        (pooled) and ``videowise_per_phase_{precision,recall,jaccard}`` ``[K]``.
    """
    n = _select(stats.num_frames, idx)
    correct = _select(stats.num_correct, idx)
    gt_c = _select(stats.gt_count, idx)
    pred_c = _select(stats.pred_count, idx)
    tp = _select(stats.true_pos, idx)

    per_video_acc = 100.0 * correct / n
    out: Dict = {'image_accuracy': 100.0 * correct.sum() / n.sum(),
                 'video_accuracy': float(per_video_acc.mean()),
                 'video_accuracy_std': sample_std(per_video_acc)}

    tp_all, gt_all, pred_all = tp.sum(0), gt_c.sum(0), pred_c.sum(0)
    prec = 100.0 * safe_divide(tp_all, pred_all)
    rec = 100.0 * safe_divide(tp_all, gt_all)
    jac = 100.0 * safe_divide(tp_all, gt_all + pred_all - tp_all)
    f1 = safe_divide(2.0 * prec * rec, prec + rec)
    # scikit-learn's macro average (labels=None) runs over the phases present in the ground
    # truth or the predictions; a phase absent from both is not scored (neither 0 nor NaN).
    seen = (gt_all + pred_all) > 0
    for name, values in (('precision', prec), ('recall', rec), ('jaccard', jac)):
        out[name] = float(values[seen].mean()) if seen.any() else float('nan')
        out[f'{name}_std'] = sample_std(values[seen])
    out['f1'] = float(f1[seen].mean()) if seen.any() else float('nan')

    present = gt_c > 0
    v_prec = np.where(present, 100.0 * safe_divide(tp, pred_c), np.nan)
    v_rec = np.where(present, 100.0 * safe_divide(tp, gt_c), np.nan)
    v_jac = np.where(present, 100.0 * safe_divide(tp, gt_c + pred_c - tp), np.nan)
    vw = {name: nanmean(values, axis=0)
          for name, values in (('precision', v_prec), ('recall', v_rec), ('jaccard', v_jac))}
    vw_f1 = safe_divide(2.0 * vw['precision'] * vw['recall'], vw['precision'] + vw['recall'])
    vw_f1[np.isnan(vw['precision'])] = np.nan
    for name, values in vw.items():
        out[f'videowise_{name}'] = float(nanmean(values))
    out['videowise_f1'] = float(nanmean(vw_f1))

    out['per_video_accuracy'] = per_video_acc
    out.update(per_phase_precision=prec, per_phase_recall=rec, per_phase_jaccard=jac,
               per_phase_f1=f1)
    out.update({f'videowise_per_phase_{name}': values for name, values in vw.items()})
    return out


def aggregate_relaxed(stats: PhaseVideoStats, idx: Optional[np.ndarray] = None) -> Dict:
    """Relaxed-boundary metrics exactly as the MATLAB script aggregates them (metrics-spec §1b).

    Values above 100 are clipped to 100 (this turns +Inf precision into 100); per phase the mean
    over videos ignores NaN; Jaccard and recall then take the plain mean and std over phases (a
    phase NaN in every video makes them NaN), precision the NaN-ignoring ones; accuracy is the
    mean and std over videos of the relaxed per-video accuracy.

    Args:
        stats: Output of :func:`compute_phase_stats` with a relaxation.
        idx: Optional video indices (a bootstrap resample); default all videos.

    Returns:
        Scalars ``jaccard``, ``precision``, ``recall``, ``accuracy`` and their ``_std``; tables
        ``per_phase_{jaccard,precision,recall}`` ``[K]`` and ``per_video_accuracy`` ``[V]``.
    """
    if stats.relaxed is None:
        raise ValueError('these statistics were computed without relaxation')
    out: Dict = {}
    for name in ('jaccard', 'precision', 'recall'):
        table = _select(stats.relaxed[name], idx)
        table = np.where(table > 100.0, 100.0, table)  # NaN stays NaN
        per_phase = nanmean(table, axis=0)
        out[f'per_phase_{name}'] = per_phase
        if name == 'precision':
            out[name] = float(nanmean(per_phase))
            out[f'{name}_std'] = nan_sample_std(per_phase)
        else:
            out[name] = float(per_phase.mean())
            out[f'{name}_std'] = sample_std(per_phase)
    acc = _select(stats.relaxed['accuracy'], idx)
    out['accuracy'] = float(acc.mean())
    out['accuracy_std'] = sample_std(acc)
    out['per_video_accuracy'] = acc
    return out


def phase_metrics(gts: Sequence[np.ndarray],
                  preds: Sequence[np.ndarray],
                  num_classes: int,
                  relaxation: str = 'none',
                  rule: str = 'generic',
                  fps: Optional[float] = None,
                  seconds: float = 10.0,
                  video_ids: Optional[Sequence[Hashable]] = None) -> Dict:
    """All phase metrics of one protocol (arguments as in :func:`compute_phase_stats`).

    Returns:
        ``{'protocol', 'videos', 'num_classes', 'unrelaxed': {...}, 'relaxed': {...} | None}``
        with the dictionaries of :func:`aggregate_unrelaxed` and :func:`aggregate_relaxed`.
    """
    stats = compute_phase_stats(gts, preds, num_classes, relaxation, rule, fps, seconds,
                                video_ids)
    return {'protocol': stats.protocol, 'videos': list(stats.video_ids),
            'num_classes': num_classes,
            'unrelaxed': aggregate_unrelaxed(stats),
            'relaxed': None if stats.relaxed is None else aggregate_relaxed(stats)}


def phase_summary(result: Dict) -> Dict:
    """Flatten :func:`phase_metrics` into the reported keys (the CLI's JSON).

    In a relaxed protocol ``jaccard`` ... ``accuracy`` (and their ``_std``), ``per_video_accuracy``
    and ``per_phase_*`` are the script's relaxed values; in the unrelaxed protocol ``accuracy`` is
    the video-level accuracy and J/P/R are pooled. ``image_accuracy`` and ``video_accuracy`` are
    always unrelaxed. Arrays become lists; NaN is kept (write it as null).
    """
    unrel, rel = result['unrelaxed'], result['relaxed']
    main_keys = ('jaccard', 'precision', 'recall')
    out: Dict = {'protocol': result['protocol']}
    if rel is not None:
        src = rel
        out.update({k: rel[k] for k in ('accuracy', 'accuracy_std')})
    else:
        src = unrel
        out.update(accuracy=unrel['video_accuracy'], accuracy_std=unrel['video_accuracy_std'])
    for name in main_keys:
        out[name] = src[name]
        out[f'{name}_std'] = src[f'{name}_std']
    out.update(image_accuracy=unrel['image_accuracy'], video_accuracy=unrel['video_accuracy'],
               video_accuracy_std=unrel['video_accuracy_std'], f1=unrel['f1'],
               videos=[str(v) for v in result['videos']],
               per_video_accuracy=src['per_video_accuracy'].tolist())
    for name in main_keys:
        out[f'per_phase_{name}'] = src[f'per_phase_{name}'].tolist()
    out['unrelaxed'] = {k: (v.tolist() if isinstance(v, np.ndarray) else v)
                        for k, v in unrel.items()}
    return out


def phase_bootstrap_ci(stats: PhaseVideoStats, n_resamples: int = 1000, seed: int = 0,
                       level: float = 0.95) -> Dict[str, Dict[str, Tuple[float, float]]]:
    """95 % percentile bootstrap intervals over videos of every scalar phase metric.

    Returns:
        ``{'unrelaxed': {name: (low, high)}, 'relaxed': {...}}`` (``relaxed`` only when the
        statistics carry a relaxation). Tables and ``_std`` entries are not bootstrapped.
    """
    def scalars(values: Dict) -> Dict[str, float]:
        return {k: v for k, v in values.items()
                if not isinstance(v, np.ndarray) and not k.endswith('_std')}

    def statistic(idx: np.ndarray) -> Dict[str, float]:
        out = {f'unrelaxed/{k}': v for k, v in scalars(aggregate_unrelaxed(stats, idx)).items()}
        if stats.relaxed is not None:
            out.update({f'relaxed/{k}': v
                        for k, v in scalars(aggregate_relaxed(stats, idx)).items()})
        return out

    flat = bootstrap_ci(statistic, len(stats.video_ids), n_resamples, seed, level)
    nested: Dict[str, Dict[str, Tuple[float, float]]] = {}
    for key, interval in flat.items():
        group, name = key.split('/', 1)
        nested.setdefault(group, {})[name] = interval
    return nested
