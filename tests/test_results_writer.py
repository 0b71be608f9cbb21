"""SurgicalPredictionWriter: files in the layouts the stand-alone evaluators read, metrics.json,
plots, de-duplication, refusal of an occupied --out-dir; round trips to 1e-9."""
from __future__ import annotations

import json
import math
import os
import os.path as osp

import numpy as np
import pytest

from surgvista_mm.evaluation.writers import SurgicalPredictionWriter
from tests.helpers.tools import load_tool


def _phase_samples(rng: np.random.Generator, videos=('video2', 'video10'), n=40, k=7):
    samples = []
    for vid in videos:
        gt = np.sort(rng.integers(0, k, size=n))
        for t in range(n):
            score = rng.random(k) * 0.5
            score[gt[t] if rng.random() < 0.8 else rng.integers(k)] += 1.0
            samples.append(dict(video_id=vid, frame_index=t, gt_label=int(gt[t]),
                                pred_score=(score / score.sum()).astype(np.float32)))
    return samples


def _run(writer: SurgicalPredictionWriter, samples, repeat_first: int = 0) -> dict:
    writer.dataset_meta = dict(classes=[f'P{i}' for i in range(7)])
    batch = list(samples) + list(samples[:repeat_first])  # a sampler's padding repeats samples
    for i in range(0, len(batch), 8):
        writer.process({}, batch[i:i + 8])
    return writer.evaluate(len(batch))


def _close(a, b, tol=1e-9):
    if isinstance(a, dict):
        return all(_close(a[k], b[k], tol) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y, tol) for x, y in zip(a, b))
    if isinstance(a, (int, float)) or a is None:
        if a is None or b is None:
            return a is None and b is None
        return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= tol
    return a == b


def test_phase_files_round_trip_plots_and_refusal(tmp_path):
    out = str(tmp_path / 'results')
    metric = dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='matlab',
                  transition_rule='cholec80', fps=1)
    samples = _phase_samples(np.random.default_rng(0))
    metrics = _run(SurgicalPredictionWriter(metric=metric, out_dir=out), samples, 5)
    assert sorted(os.listdir(out)) == ['gt', 'metrics.json', 'plots', 'pred', 'scores.npz']
    with open(osp.join(out, 'pred', 'video2-phase.txt')) as f:
        lines = f.read().splitlines()
    assert lines[0] == 'Frame\tPhase' and len(lines) == 41  # de-duplicated
    assert lines[1].split('\t')[0] == '0'
    with np.load(osp.join(out, 'scores.npz')) as z:
        assert z['scores'].shape == (80, 7) and z['labels'].shape == (80,)
        assert list(z['video_ids'][:1]) == ['video2'] and z['frame_indices'][-1] == 39
        pred_ids = z['scores'].argmax(1)
    assert [int(x.split('\t')[1]) for x in lines[1:]] == pred_ids[:40].tolist()
    with open(osp.join(out, 'metrics.json')) as f:
        report = json.load(f)
    assert report['protocol'] == 'cholec80-matlab' and report['task'] == 'phase'
    assert report['metrics'] == pytest.approx(metrics, abs=1e-12)
    summary = report['eval_phase']
    assert len(summary['per_phase_jaccard']) == 7
    assert summary['videos'] == ['video2-phase', 'video10-phase']
    assert len(summary['per_video_accuracy']) == 2 and 'per_phase_jaccard' in summary['unrelaxed']
    # the evaluator's scalars are the files' numbers
    for key, name in (('phase/cholec80-matlab/jaccard', 'jaccard'),
                      ('phase/cholec80-matlab/accuracy', 'accuracy'),
                      ('phase/unrelaxed/image_accuracy', 'image_accuracy'),
                      ('phase/unrelaxed/video_accuracy', 'video_accuracy')):
        assert abs(metrics[key] - summary[name]) <= 1e-9, key
    # eval_phase.py on the written files reproduces metrics.json
    rescored = str(tmp_path / 'rescored.json')
    tool = load_tool('analysis/eval_phase')
    assert tool.main(['--gt-dir', osp.join(out, 'gt'), '--pred-dir', osp.join(out, 'pred'),
                      '--protocol', 'cholec80-matlab', '--fps', '1', '--classes', 'cholec80',
                      '--out', rescored]) == 0
    with open(rescored) as f:
        again = json.load(f)
    again.pop('classes')
    assert _close({k: v for k, v in again.items() if k != 'classes'},
                  {k: summary[k] for k in again})
    for name in ('phase_ribbons.png', 'confusion_matrix.png'):
        assert osp.getsize(osp.join(out, 'plots', name)) > 5000
    # an occupied --out-dir is refused before anything runs; --force replaces
    with pytest.raises(FileExistsError, match='already holds results'):
        SurgicalPredictionWriter(metric=metric, out_dir=out)
    open(osp.join(out, 'pred', 'stale-phase.txt'), 'w').write('Frame\tPhase\n0\t0\n')
    _run(SurgicalPredictionWriter(metric=metric, out_dir=out, force=True), samples)
    assert not osp.exists(osp.join(out, 'pred', 'stale-phase.txt'))
    assert not [n for n in os.listdir(str(tmp_path)) if '.partial' in n]


def test_triplet_npz_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    samples = []
    for vid in ('VID01', 'VID02'):
        for t in range(30):
            target = (rng.random(100) < 0.05).astype(np.int64)
            score = np.clip(target * 0.6 + rng.random(100) * 0.5, 0, 1).astype(np.float32)
            samples.append(dict(video_id=vid, frame_index=t, gt_label=target, pred_score=score))
    out = str(tmp_path / 'trip')
    metrics = _run(SurgicalPredictionWriter(metric=dict(type='SurgicalTripletMetric'),
                                            out_dir=out), samples, 3)
    with np.load(osp.join(out, 'predictions.npz')) as z:
        assert z['targets'].shape == z['scores'].shape == (60, 100)
    with open(osp.join(out, 'metrics.json')) as f:
        report = json.load(f)
    rescored = str(tmp_path / 'r.json')
    assert load_tool('analysis/eval_triplet').main([osp.join(out, 'predictions.npz'), '--out',
                                                   rescored]) == 0
    with open(rescored) as f:
        assert _close(json.load(f), report['eval_triplet'])
    assert abs(report['eval_triplet']['ivt']['video_mAP'] - metrics['triplet/video/AP_IVT']) \
        <= 1e-9


@pytest.mark.parametrize('task', ['multilabel', 'action'])
def test_cvs_and_action_npz_round_trip(tmp_path, task):
    rng = np.random.default_rng(2)
    samples = []
    for vid in ('a', 'b', 'c'):
        for t in range(20):
            if task == 'multilabel':
                gt = (rng.random(3) < 0.4).astype(np.float64)
                score = np.clip(gt * 0.5 + rng.random(3) * 0.6, 0, 1)
            else:
                gt = int(rng.integers(4))
                score = rng.random(4)
                score[gt] += 0.7
                score /= score.sum()
            samples.append(dict(video_id=vid, frame_index=t, gt_label=gt,
                                pred_score=np.asarray(score, np.float32)))
    metric = (dict(type='SurgicalCVSMetric', per_video=True) if task == 'multilabel'
              else dict(type='SurgicalActionMetric'))
    out = str(tmp_path / task)
    metrics = _run(SurgicalPredictionWriter(metric=metric, out_dir=out), samples)
    with open(osp.join(out, 'metrics.json')) as f:
        report = json.load(f)
    rescored = str(tmp_path / 'r.json')
    args = [osp.join(out, 'predictions.npz'), '--out', rescored]
    args += ['--per-video'] if task == 'multilabel' else ['--single-label']
    assert load_tool('analysis/eval_cvs').main(args) == 0
    with open(rescored) as f:
        assert _close(json.load(f), report['eval_cvs'])
    key = 'cvs/mAP' if task == 'multilabel' else 'action/mAP'
    assert abs(report['eval_cvs']['mAP'] - metrics[key]) <= 1e-9


def test_eval_phase_gt_fps_and_shipped_classes(tmp_path):
    gt_dir, pred_dir = tmp_path / 'gt', tmp_path / 'pred'
    gt_dir.mkdir()
    pred_dir.mkdir()
    names = load_tool('analysis/eval_phase').resolve_class_names('cholec80')
    assert names[0] == 'Preparation' and len(names) == 7
    native = [min(n // 50, 6) for n in range(25 * 12)]  # 25 fps rows, a phase every 2 s
    (gt_dir / 'v1.txt').write_text('Frame\tPhase\n' + ''.join(
        f'{n}\t{names[p]}\n' for n, p in enumerate(native)))
    one_fps = [native[25 * k] for k in range(12)]
    (pred_dir / 'v1.txt').write_text('Frame\tPhase\n' + ''.join(
        f'{k}\t{p}\n' for k, p in enumerate(one_fps)))
    out = str(tmp_path / 'r.json')
    tool = load_tool('analysis/eval_phase')
    assert tool.main(['--gt-dir', str(gt_dir), '--pred-dir', str(pred_dir), '--protocol',
                      'unrelaxed', '--classes', 'cholec80', '--gt-fps', '25', '--out', out]) == 0
    with open(out) as f:
        res = json.load(f)
    assert res['image_accuracy'] == 100.0 and res['classes'] == names
    assert tool.main(['--gt-dir', str(gt_dir), '--pred-dir', str(pred_dir), '--protocol',
                      'unrelaxed', '--classes', 'nonexistent-benchmark']) == 2
