"""Registered surgical workflow (phase) recognition metric."""
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from surgvista_mm.registry import METRICS
from surgvista_mm.utils.text import count
from ..functional.phase import (aggregate_relaxed, aggregate_unrelaxed, compute_phase_stats,
                                phase_bootstrap_ci, protocol_name)
from ..functional.phase_relax import transition_accepts, window_frames
from ._utils import deduplicate, format_table, get_field, predicted_label, scalar_label, to_key

_HEADLINE = ('jaccard', 'precision', 'recall', 'accuracy', 'image_accuracy', 'video_accuracy',
             'f1')


@METRICS.register_module()
class SurgicalPhaseMetric(BaseMetric):
    """Phase recognition metrics computed per video from per-frame predictions (metrics-spec §1).

    Every data sample must carry ``video_id`` and ``frame_index`` (metainfo), ``gt_label`` and
    ``pred_score`` (arg-max taken) or ``pred_label``. Results from all ranks are gathered and
    de-duplicated by ``(video_id, frame_index)`` (a distributed sampler pads with repeats), then
    grouped by video in natural order and sorted by frame index, so the numbers do not depend on
    the number of processes.

    The returned keys name their protocol: ``unrelaxed/...`` (image- and video-level accuracy,
    pooled and video-wise P/R/J/F1, in percent) always, and ``{rule}-{relaxation}/...`` (e.g.
    ``cholec80-matlab/jaccard``, ``.../accuracy`` = the script's relaxed accuracy) when relaxing.
    With ``bootstrap > 0`` each scalar also gets ``..._ci_low`` / ``..._ci_high``.

    Args:
        num_classes: Number of phases K (any K, e.g. 19 for CATARACTS).
        relaxation: ``'none'`` (default), ``'matlab'`` (the official script, indexing quirk
            included) or ``'corrected'``.
        transition_rule: ``'cholec80'`` (K = 7), ``'m2cai16'`` (K = 8) or ``'generic'``.
        fps: Frame rate of the evaluated frames (needed when relaxing): the window is
            ``seconds * fps`` frames.
        seconds: Relaxation window in seconds (10 in the official script).
        bootstrap: Number of bootstrap resamples over videos for 95 % CIs; 0 disables.
        seed: Seed of the bootstrap.
        class_names: Phase names for the logged table (default ``dataset_meta['classes']``).
        collect_device: ``'cpu'`` or ``'gpu'`` for gathering results across ranks.
        prefix: Prefix of the returned keys (default ``'phase'``).
        collect_dir: Folder for CPU collection (mmengine's default when None).
    """

    default_prefix = 'phase'

    def __init__(self,
                 num_classes: int,
                 relaxation: str = 'none',
                 transition_rule: str = 'generic',
                 fps: Optional[float] = None,
                 seconds: float = 10.0,
                 bootstrap: int = 0,
                 seed: int = 0,
                 class_names: Optional[Sequence[str]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix, collect_dir=collect_dir)
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ValueError(f'num_classes must be an integer >= 2, got {num_classes!r}')
        self.protocol = protocol_name(relaxation, transition_rule)  # validates both
        if relaxation != 'none':
            transition_accepts(transition_rule, num_classes)
            window_frames(fps, seconds)
        if bootstrap < 0:
            raise ValueError(f'bootstrap must be >= 0, got {bootstrap}')
        if class_names is not None and len(class_names) != num_classes:
            raise ValueError(f'{len(class_names)} class names for {num_classes} classes')
        self.num_classes = num_classes
        self.relaxation = relaxation
        self.transition_rule = transition_rule
        self.fps = fps
        self.seconds = seconds
        self.bootstrap = bootstrap
        self.seed = seed
        self.class_names = list(class_names) if class_names is not None else None

    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Keep ``(video_id, frame_index, gt, pred)`` of every sample."""
        for sample in data_samples:
            self.results.append({
                'video_id': to_key(get_field(sample, 'video_id')),
                'frame_index': int(to_key(get_field(sample, 'frame_index'))),
                'gt': scalar_label(get_field(sample, 'gt_label')),
                'pred': predicted_label(sample),
            })

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:
        """Group by video, compute the metrics, log the tables and return the scalars."""
        results = deduplicate(results, ('video_id', 'frame_index'), compare=('gt',))
        videos: List[Any] = []
        gts: List[np.ndarray] = []
        preds: List[np.ndarray] = []
        for res in results:  # sorted by (video, frame)
            if not videos or videos[-1] != res['video_id']:
                videos.append(res['video_id'])
                gts.append([])
                preds.append([])
            gts[-1].append(res['gt'])
            preds[-1].append(res['pred'])
        stats = compute_phase_stats([np.asarray(g) for g in gts], [np.asarray(p) for p in preds],
                                    self.num_classes, self.relaxation, self.transition_rule,
                                    self.fps, self.seconds, videos)
        groups = {'unrelaxed': aggregate_unrelaxed(stats)}
        if stats.relaxed is not None:
            groups[self.protocol] = aggregate_relaxed(stats)
        metrics = {f'{group}/{name}': float(value)
                   for group, values in groups.items() for name, value in values.items()
                   if not isinstance(value, np.ndarray)}
        if self.bootstrap:
            ci = phase_bootstrap_ci(stats, self.bootstrap, self.seed)
            for group, intervals in ci.items():
                target = 'unrelaxed' if group == 'unrelaxed' else self.protocol
                for name, (low, high) in intervals.items():
                    metrics[f'{target}/{name}_ci_low'] = low
                    metrics[f'{target}/{name}_ci_high'] = high
        self._log(groups, videos, metrics)
        return metrics

    def _log(self, groups: Dict[str, Dict], videos: List[Any], metrics: Dict[str, float]) -> None:
        names = self.class_names or list((self.dataset_meta or {}).get('classes', [])) or []
        if len(names) != self.num_classes:
            names = [str(k) for k in range(self.num_classes)]
        header = ['metric'] + list(groups)
        rows = []
        for name in _HEADLINE:
            cells = []
            for group, values in groups.items():
                if name not in values:
                    cells.append('-')
                    continue
                cell = f'{values[name]:.2f}'
                if f'{name}_std' in values:
                    cell += f' ± {values[f"{name}_std"]:.2f}'
                low = metrics.get(f'{group}/{name}_ci_low')
                if low is not None:
                    cell += f' [{low:.2f}, {metrics[f"{group}/{name}_ci_high"]:.2f}]'
                cells.append(cell)
            rows.append([name] + cells)
        tables = [format_table(header, rows, f'Phase metrics (percent) of {count(len(videos), "video")}; '
                               f'protocols: {", ".join(groups)}')]
        phase_rows = []
        for group, values in groups.items():
            for k, cname in enumerate(names):
                phase_rows.append([group, cname] + [values[f'per_phase_{m}'][k]
                                                    for m in ('jaccard', 'precision', 'recall')])
        tables.append(format_table(['protocol', 'phase', 'jaccard', 'precision', 'recall'],
                                   phase_rows, 'Per-phase'))
        video_rows = [[str(v)] + [values['per_video_accuracy'][i] for values in groups.values()]
                      for i, v in enumerate(videos)]
        tables.append(format_table(['video'] + [f'{g} accuracy' for g in groups], video_rows,
                                   'Per-video'))
        print_log('\n' + '\n'.join(tables), logger='current')
