"""Writing a test run's predictions, metrics and plots to disk (``tools/test.py --out-dir``).

:class:`SurgicalPredictionWriter` is a registered metric **wrapper**: it evaluates the wrapped
metric exactly as without it (same keys, same numbers) and, on the main process, writes every
sample's scores, gathered from all ranks and de-duplicated by ``(video_id, frame_index)``, in the
formats the stand-alone evaluators read:

* phase (``SurgicalPhaseMetric``): ``pred/<video>-phase.txt`` and ``gt/<video>-phase.txt``
  (community format: header ``Frame\\tPhase``, one row per 1-fps frame, 0-based phase id), and
  ``scores.npz`` (``scores [N, C]``, ``labels [N]``, ``video_ids [N]``, ``frame_indices [N]``);
* triplet (``SurgicalTripletMetric``): ``predictions.npz`` (``targets [N, C]``, ``scores [N, C]``,
  ``video_ids [N]``, ``frame_indices [N]``), the layout of ``tools/analysis/eval_triplet.py``;
* CVS / action: ``predictions.npz`` in the layout of ``tools/analysis/eval_cvs.py``
  (``targets``/``scores``/``video_ids``; single-label tasks: ``labels``/``scores``/``video_ids``);
* ``metrics.json``: the protocol name, the wrapped metric's scalars and the full result of the
  functional evaluator (per-phase and per-video tables, per-video APs, ...), computed by the same
  code path as the stand-alone tools, so re-scoring the files reproduces it exactly;
* phase plots: ``plots/phase_ribbons.png`` (per-video ribbons, ground truth above prediction,
  and per-phase Jaccard bars) and ``plots/confusion_matrix.png`` (row-normalised).

Outputs are staged in a hidden folder inside ``out_dir`` (``.partial-<pid>``, on the file system
of the results, so the final renames never cross file systems) and moved in when complete;
``metrics.json`` is moved last, so a folder with a ``metrics.json`` is a complete result. When a
move fails, the staged files are kept and the error says where. A run killed while writing
leaves its ``.partial-<pid>`` folder (marked with ``.surgvista-partial.json``: pid and host); the
next run on that ``out_dir`` removes it once that process is gone. Every per-video file name is
checked with ``safe_child``: a video id cannot lead a write outside ``out_dir``.
"""
from __future__ import annotations

import json
import logging
import os
import os.path as osp
import re
import shutil
import socket
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.dist import collect_results, is_main_process
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log

from surgvista_mm.registry import METRICS
from surgvista_mm.utils.paths import check_id, safe_child
from surgvista_mm.utils.text import count
from .metrics._utils import deduplicate, get_field, to_key, to_numpy

__all__ = ['SurgicalPredictionWriter', 'RESULT_NAMES', 'check_out_dir', 'clean_stale_stages',
           'write_phase_file']

#: Entries of an output folder that this writer owns (replaced with ``force``).
RESULT_NAMES = ('metrics.json', 'pred', 'gt', 'scores.npz', 'predictions.npz', 'plots')
#: Staging folders (``out_dir/.partial-<pid>``) and the marker that makes one ours.
_STAGE = re.compile(r'^\.partial-(\d+)$')
STAGE_MARKER = '.surgvista-partial.json'


def check_out_dir(out_dir: str, force: bool = False) -> None:
    """Refuse an ``out_dir`` that already holds results (``metrics.json``, ``pred/``, ...)
    unless ``force``.

    Raises:
        FileExistsError: naming the folder and what it holds.
    """
    held = [n for n in RESULT_NAMES if osp.exists(osp.join(out_dir, n))]
    if held and not force:
        raise FileExistsError(f'{out_dir} already holds results ({", ".join(held)}); use '
                              '--force to replace them, or another --out-dir')


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _stage_status(out_dir: str, name: str, host: str) -> Optional[str]:
    """What ``out_dir/name`` is, for a ``.partial-<pid>`` name: ``'stale'`` (ours, its process on
    this host is gone), ``'live'`` (ours, its process runs), ``'other host'`` (ours, written on
    another node) or ``'unmarked'`` (no readable marker: an older build's or not ours); None for
    other names."""
    m = _STAGE.match(name)
    if not m or not osp.isdir(osp.join(out_dir, name)):
        return None
    try:
        with open(osp.join(out_dir, name, STAGE_MARKER), encoding='utf-8') as f:
            info = json.load(f)
        pid = int(info['pid'])
    except (OSError, ValueError, KeyError, TypeError):
        return 'unmarked'
    if info.get('host') != host:
        return 'other host'
    if pid != int(m.group(1)):
        return 'unmarked'  # a marker of another folder: not written by this writer here
    if _pid_alive(pid):
        return 'live'
    return 'stale'


def clean_stale_stages(out_dir: str) -> List[str]:
    """Remove the staging folders that killed runs left in ``out_dir``.

    Only a folder named ``.partial-<pid>`` holding this writer's marker, written on this host by
    a process that no longer exists, is removed (a live run's stage and anything else are
    kept). A kept ``.partial-<pid>`` folder without the marker (an older build's, or not ours) or
    from another host is named in a warning, so the user can remove it by hand.

    Returns:
        the removed folders.
    """
    removed: List[str] = []
    if not osp.isdir(out_dir):
        return removed
    host = socket.gethostname()
    for name in sorted(os.listdir(out_dir)):
        status = _stage_status(out_dir, name, host)
        path = osp.join(out_dir, name)
        if status == 'stale':
            shutil.rmtree(path, ignore_errors=True)
            removed.append(path)
            print_log(f'removed {path}, the staging folder of an interrupted run '
                      f'(process {name.split("-", 1)[1]})', logger='current')
        elif status in ('unmarked', 'other host'):
            why = ('has no marker (.surgvista-partial.json): left by an older build, or not ours'
                   if status == 'unmarked' else 'was written on another host (a run there may '
                   'still be writing it)')
            print_log(f'kept {path}: it {why}; remove it by hand if no run is writing there',
                      logger='current', level=logging.WARNING)
    return removed


def write_phase_file(path: str, frames: Sequence[int], labels: Sequence[int]) -> None:
    """Write one community phase file: ``Frame\\tPhase`` then ``<frame>\\t<id>`` per row."""
    rows = ['Frame\tPhase'] + [f'{int(f)}\t{int(p)}' for f, p in zip(frames, labels)]
    with open(path, 'w', encoding='utf-8') as f:
        f.write('\n'.join(rows) + '\n')


def _task_of(metric: BaseMetric) -> str:
    from .metrics import (SurgicalActionMetric, SurgicalCVSMetric, SurgicalPhaseMetric,
                          SurgicalTripletMetric)
    if isinstance(metric, SurgicalPhaseMetric):
        return 'phase'
    if isinstance(metric, SurgicalTripletMetric):
        return 'triplet'
    if isinstance(metric, SurgicalCVSMetric):
        return 'cvs' if metric.task == 'multilabel' else 'cvs_single_label'
    if isinstance(metric, SurgicalActionMetric):
        return 'action'
    raise TypeError(f'SurgicalPredictionWriter: cannot write predictions of '
                    f'{type(metric).__name__} (phase, triplet, CVS and action metrics only)')


@METRICS.register_module()
class SurgicalPredictionWriter(BaseMetric):
    """Evaluate ``metric`` and write the predictions, metrics and plots to ``out_dir``.

    Use it as ``test_evaluator = dict(type='SurgicalPredictionWriter', out_dir='results',
    metric=dict(type='SurgicalPhaseMetric', ...))`` or through ``tools/test.py --out-dir DIR``.

    Args:
        metric: config of the wrapped metric (phase, triplet, CVS or action).
        out_dir: output folder (see the module docstring for its contents).
        force: replace results already in ``out_dir`` (otherwise they are refused at
            construction, before any inference).
        plots: draw the phase plots.
        class_names: phase names for the plots (default: the dataset's ``classes``).
        collect_device: ``'cpu'`` or ``'gpu'`` for gathering the predictions across ranks.
        collect_dir: folder for CPU collection (mmengine's default when None).
    """

    default_prefix = 'results'  # unused: the wrapped metric's keys are returned unchanged

    def __init__(self, metric: Dict, out_dir: str, force: bool = False, plots: bool = True,
                 class_names: Optional[Sequence[str]] = None, collect_device: str = 'cpu',
                 collect_dir: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, collect_dir=collect_dir)
        self.metric = METRICS.build(metric) if isinstance(metric, dict) else metric
        self.task = _task_of(self.metric)
        self.out_dir = str(out_dir)
        self.force = bool(force)
        self.plots = bool(plots)
        self.class_names = list(class_names) if class_names is not None else None
        check_out_dir(self.out_dir, self.force)
        clean_stale_stages(self.out_dir)

    @property
    def dataset_meta(self) -> Optional[dict]:
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, dataset_meta: dict) -> None:
        self._dataset_meta = dataset_meta
        self.metric.dataset_meta = dataset_meta

    # ------------------------------------------------------------------ collection
    def process(self, data_batch: Any, data_samples: Sequence[Any]) -> None:
        """Pass the batch to the wrapped metric and keep ids, scores and ground truth."""
        self.metric.process(data_batch, data_samples)
        for sample in data_samples:
            gt: Any = None
            if self.task == 'cvs':
                gt = get_field(sample, 'gt_score', None)
                gt = get_field(sample, 'gt_label') if gt is None else gt
                gt = to_numpy(gt).astype(np.float64)
                gt = gt.mean(axis=0) if gt.ndim == 2 else gt.ravel()  # as SurgicalCVSMetric
            else:
                gt = to_numpy(get_field(sample, 'gt_label')).ravel()
                if self.task in ('phase', 'action', 'cvs_single_label'):
                    if gt.size != 1:
                        raise ValueError(f'{self.task}: gt_label must be one class id')
                    gt = int(gt[0])
                else:
                    gt = (gt != 0).astype(np.uint8)
            vid = str(to_key(get_field(sample, 'video_id')))
            if self.task == 'phase':  # names files: refused at the first batch, not the end
                check_id(vid, where=f'SurgicalPredictionWriter ({self.out_dir})')
            self.results.append({
                'video_id': vid,
                'frame_index': int(to_key(get_field(sample, 'frame_index', -1))),
                'scores': to_numpy(get_field(sample, 'pred_score')).astype(np.float64).ravel(),
                'gt': gt})

    def compute_metrics(self, results: List[Dict]) -> Dict[str, float]:  # pragma: no cover
        raise NotImplementedError('SurgicalPredictionWriter.evaluate evaluates the wrapped '
                                  'metric')

    def evaluate(self, size: int) -> Dict[str, float]:
        """The wrapped metric's results (all ranks); the main process also writes the files."""
        own = collect_results(self.results, size, self.collect_device, tmpdir=self.collect_dir)
        self.results.clear()
        metrics = self.metric.evaluate(size)
        if is_main_process():
            records = deduplicate(own, ('video_id', 'frame_index'))
            self.write(records, metrics)
        return metrics

    # ------------------------------------------------------------------ writing
    def write(self, records: List[Dict], metrics: Dict[str, float]) -> Dict:
        """Write everything for ``records`` (de-duplicated, sorted by video and frame).

        Returns:
            The ``metrics.json`` content.
        """
        stage = self._make_stage()
        try:
            report = dict(task=self.task, num_samples=len(records),
                          videos=sorted({r['video_id'] for r in records}),
                          metrics={k: float(v) for k, v in metrics.items()})
            writer = getattr(self, f'_write_{self.task}')
            report.update(writer(stage, records))
            from .report import write_json_atomic
            write_json_atomic(report, osp.join(stage, 'metrics.json'))
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        self._move_into_place(stage)  # keeps the stage when a move fails
        shutil.rmtree(stage, ignore_errors=True)
        print_log(f'predictions, metrics and plots of {len(records)} samples written to '
                  f'{self.out_dir}', logger='current')
        return report

    def _make_stage(self) -> str:
        """A fresh ``out_dir/.partial-<pid>`` with its marker (on the results' file system)."""
        os.makedirs(self.out_dir, exist_ok=True)
        stage = osp.join(self.out_dir, f'.partial-{os.getpid()}')
        shutil.rmtree(stage, ignore_errors=True)
        os.makedirs(stage)
        with open(osp.join(stage, STAGE_MARKER), 'w', encoding='utf-8') as f:
            json.dump(dict(pid=os.getpid(), host=socket.gethostname()), f)
        return stage

    def _move_into_place(self, stage: str) -> None:
        check_out_dir(self.out_dir, self.force)
        for name in RESULT_NAMES:  # an old metrics.json goes first: never a stale "complete"
            path = osp.join(self.out_dir, name)
            if osp.isdir(path):
                shutil.rmtree(path)
            elif osp.exists(path):
                os.remove(path)
        names = [n for n in os.listdir(stage) if n not in ('metrics.json', STAGE_MARKER)]
        moved: List[str] = []
        try:
            for name in names + ['metrics.json']:
                os.replace(osp.join(stage, name), osp.join(self.out_dir, name))
                moved.append(name)
        except OSError as exc:
            os.remove(osp.join(stage, STAGE_MARKER))  # kept: not a stale stage to clean
            rest = [n for n in names + ['metrics.json'] if n not in moved]
            raise OSError(exc.errno, f'could not move the results into {self.out_dir} '
                                     f'({exc.strerror or exc}); moved: {moved or "nothing"}; '
                                     f'kept in {stage}: {rest} (move them into {self.out_dir} '
                                     'by hand, metrics.json last)') from exc

    def _by_video(self, records: List[Dict]) -> Dict[str, List[Dict]]:
        videos: Dict[str, List[Dict]] = {}
        for r in records:
            videos.setdefault(r['video_id'], []).append(r)
        return videos

    def _write_phase(self, stage: str, records: List[Dict]) -> Dict:
        from .phase_eval import evaluate_phase_dirs
        metric = self.metric
        scores = np.stack([r['scores'] for r in records])
        if scores.shape[1] != metric.num_classes:
            raise ValueError(f'pred_score has {scores.shape[1]} classes, the metric '
                             f'{metric.num_classes}')
        for sub in ('pred', 'gt'):
            os.makedirs(osp.join(stage, sub))
        for vid, rows in self._by_video(records).items():
            frames = [r['frame_index'] for r in rows]
            for sub, labels in (('pred', [int(np.argmax(r['scores'])) for r in rows]),
                                ('gt', [r['gt'] for r in rows])):
                folder = osp.join(stage, sub)
                write_phase_file(safe_child(folder, f'{vid}-phase.txt', f'{sub} file of video '
                                                                        f'{vid!r}'),
                                 frames, labels)
        np.savez(osp.join(stage, 'scores.npz'), scores=scores,
                 labels=np.asarray([r['gt'] for r in records], np.int64),
                 video_ids=np.asarray([r['video_id'] for r in records]),
                 frame_indices=np.asarray([r['frame_index'] for r in records], np.int64))
        protocol = metric.protocol
        fps = metric.fps if metric.relaxation != 'none' else None
        evaluation = evaluate_phase_dirs(osp.join(stage, 'gt'), osp.join(stage, 'pred'),
                                         protocol, fps, None, metric.num_classes)
        names = (self.class_names or metric.class_names
                 or list((self.dataset_meta or {}).get('classes', [])))
        if len(names) != metric.num_classes:
            names = [str(k) for k in range(metric.num_classes)]
        if self.plots:
            self._phase_plots(stage, evaluation, names)
        return dict(protocol=protocol, fps=metric.fps, class_names=list(names),
                    eval_phase=evaluation.summary,
                    eval_phase_command=f'tools/analysis/eval_phase.py --gt-dir DIR/gt --pred-dir '
                                       f'DIR/pred --protocol {protocol}'
                                       + (f' --fps {fps:g}' if fps else '')
                                       + f' --num-classes {metric.num_classes}')

    def _phase_plots(self, stage: str, evaluation: Any, names: List[str]) -> None:
        from surgvista_mm.visualization import plot_phase_ribbons, save_figure
        from surgvista_mm.visualization.results_plots import plot_confusion_matrix
        from .phase_eval import per_phase_std_over_videos
        res = evaluation.summary
        os.makedirs(osp.join(stage, 'plots'))
        title = (f'{res["protocol"]}: Jaccard {res["jaccard"]:.2f}, accuracy '
                 f'{res["accuracy"]:.2f}, image-level accuracy {res["image_accuracy"]:.2f} '
                 f'({count(len(evaluation.videos), "video")}, percent)')
        videos = [v[:-len('-phase')] if v.endswith('-phase') else v for v in evaluation.videos]
        fig = plot_phase_ribbons(dict(zip(videos, evaluation.gts)),
                                 dict(zip(videos, evaluation.preds)), names,
                                 res['per_phase_jaccard'], title,
                                 per_phase_jaccard_std=per_phase_std_over_videos(
                                     evaluation.stats), fps=1.0)
        save_figure(fig, osp.join(stage, 'plots', 'phase_ribbons.png'), dpi=100)
        fig = plot_confusion_matrix(np.concatenate(evaluation.gts),
                                    np.concatenate(evaluation.preds), names,
                                    title=f'{count(len(evaluation.videos), "video")}, unrelaxed, '
                                          'rows normalised (ground truth)')
        save_figure(fig, osp.join(stage, 'plots', 'confusion_matrix.png'), dpi=100)

    def _arrays(self, records: List[Dict]) -> Dict[str, np.ndarray]:
        return dict(scores=np.stack([r['scores'] for r in records]),
                    video_ids=np.asarray([r['video_id'] for r in records]),
                    frame_indices=np.asarray([r['frame_index'] for r in records], np.int64))

    def _write_triplet(self, stage: str, records: List[Dict]) -> Dict:
        from .functional.triplet import triplet_metrics
        arrays = self._arrays(records)
        arrays['targets'] = np.stack([r['gt'] for r in records])
        np.savez(osp.join(stage, 'predictions.npz'), **arrays)
        m = self.metric
        res = triplet_metrics(arrays['targets'], arrays['scores'], arrays['video_ids'],
                              m.mapping, m.null_classes, m.ignore_null, m.components)
        return dict(protocol=f'cholect50-ivtmetrics (ignore_null={m.ignore_null})',
                    eval_triplet={c: {'video_mAP': res[c]['video_mAP'],
                                      'global_mAP': res[c]['global_mAP'],
                                      'video_AP': res[c]['video_AP']} for c in m.components})

    def _write_cvs(self, stage: str, records: List[Dict]) -> Dict:
        from .functional.cvs import cvs_metrics
        arrays = self._arrays(records)
        targets = [r['gt'] for r in records]
        arrays['targets'] = np.stack(targets)
        np.savez(osp.join(stage, 'predictions.npz'), **arrays)
        m = self.metric
        res = cvs_metrics(arrays['targets'], arrays['scores'], arrays['video_ids'], m.threshold,
                          per_video=True)
        return dict(protocol='endoscapes-cvs (multi-label, consensus of the annotators)',
                    eval_cvs=res)

    def _write_single_label(self, stage: str, records: List[Dict], protocol: str) -> Dict:
        from .functional.ranking import single_label_metrics
        arrays = self._arrays(records)
        arrays['labels'] = np.asarray([r['gt'] for r in records], np.int64)
        np.savez(osp.join(stage, 'predictions.npz'), **arrays)
        res = single_label_metrics(arrays['labels'], arrays['scores'])  # as eval_cvs.py
        return dict(protocol=protocol, eval_cvs=res)

    def _write_cvs_single_label(self, stage: str, records: List[Dict]) -> Dict:
        return self._write_single_label(stage, records, 'cvs single-label (top-1, one-vs-rest '
                                                        'mAP)')

    def _write_action(self, stage: str, records: List[Dict]) -> Dict:
        return self._write_single_label(stage, records, 'action (top-1, one-vs-rest mAP)')
