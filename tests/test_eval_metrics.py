"""Registered metrics: rank independence, a Runner validation run, CVS and action metrics."""
import json
import logging

import numpy as np
import pytest
import torch
from mmaction.structures import ActionDataSample
from mmengine.model import BaseModel
from mmengine.runner import Runner
from sklearn.metrics import average_precision_score, balanced_accuracy_score
from torch.utils.data import DataLoader

from surgvista_mm.evaluation.functional import cvs_consensus, phase_metrics
from surgvista_mm.registry import METRICS
from tests.helpers.tools import load_tool


def _phase_samples(seed=0, videos=('video2', 'video10', 'video1'), n=37, k=4):
    rng = np.random.default_rng(seed)
    samples = []
    for vid in videos:
        gt = np.sort(rng.integers(0, k, n))
        pred = np.where(rng.random(n) < 0.7, gt, rng.integers(0, k, n))
        for i in range(n):
            s = ActionDataSample(metainfo=dict(video_id=vid, frame_index=i))
            s.set_gt_label(int(gt[i]))
            score = np.full(k, 0.1)
            score[pred[i]] = 0.9
            s.set_pred_score(score)
            samples.append(s)
    return samples


def _run(metric_cfg, samples, world_size):
    """Simulate a DistributedSampler: interleaved shards padded with repeats, results merged."""
    padded = samples + samples[:(-len(samples)) % world_size]
    merged = []
    for rank in range(world_size):
        metric = METRICS.build(metric_cfg)
        shard = padded[rank::world_size]
        for start in range(0, len(shard), 5):
            metric.process({}, [s.to_dict() for s in shard[start:start + 5]])
        merged.extend(metric.results)
    merged.extend(merged[:7])  # extra duplicates
    metric = METRICS.build(metric_cfg)
    return metric.compute_metrics(merged[::-1])


@pytest.mark.parametrize('cfg', [
    dict(type='SurgicalPhaseMetric', num_classes=4),
    dict(type='SurgicalPhaseMetric', num_classes=4, relaxation='matlab', fps=1, seconds=3,
         bootstrap=50)])
def test_phase_metric_rank_independent(cfg):
    samples = _phase_samples()
    one = _run(cfg, samples, 1)
    three = _run(cfg, samples, 3)
    assert one.keys() == three.keys()
    for key in one:
        np.testing.assert_allclose(one[key], three[key], err_msg=key)
    assert 'unrelaxed/image_accuracy' in one
    if cfg.get('relaxation') == 'matlab':
        assert 'generic-matlab/jaccard' in one and 'generic-matlab/accuracy_ci_low' in one
    # the same as the functional API on per-video arrays in natural order
    gts, preds = {}, {}
    for s in samples:
        gts.setdefault(s.video_id, []).append(int(s.gt_label))
        preds.setdefault(s.video_id, []).append(int(s.pred_score.argmax()))
    ref = phase_metrics([np.array(gts[v]) for v in ('video1', 'video2', 'video10')],
                        [np.array(preds[v]) for v in ('video1', 'video2', 'video10')], 4)
    assert one['unrelaxed/jaccard'] == pytest.approx(ref['unrelaxed']['jaccard'])


def test_phase_metric_rejects_bad_config():
    with pytest.raises(ValueError):
        METRICS.build(dict(type='SurgicalPhaseMetric', num_classes=7, relaxation='matlab'))
    with pytest.raises(ValueError):
        METRICS.build(dict(type='SurgicalPhaseMetric', num_classes=5, relaxation='matlab',
                           transition_rule='cholec80', fps=1))
    with pytest.raises(TypeError):
        METRICS.build(dict(type='SurgicalPhaseMetric', num_classes=5, relaxaton='matlab'))


def test_conflicting_duplicates_raise():
    metric = METRICS.build(dict(type='SurgicalPhaseMetric', num_classes=4))
    samples = _phase_samples(n=5)
    metric.process({}, [s.to_dict() for s in samples])
    bad = dict(metric.results[0], gt=(metric.results[0]['gt'] + 1) % 4)
    with pytest.raises(ValueError, match='different gt'):
        metric.compute_metrics(metric.results + [bad])


def test_triplet_metric_rank_independent():
    rng = np.random.default_rng(0)
    samples = []
    for vid in ('a', 'b'):
        for i in range(30):
            s = ActionDataSample(metainfo=dict(video_id=vid, frame_index=i))
            s.set_gt_label((rng.random(100) < 0.3).astype(np.int64))
            s.set_pred_score(rng.random(100))
            samples.append(s)
    cfg = dict(type='SurgicalTripletMetric')
    one, three = _run(cfg, samples, 1), _run(cfg, samples, 3)
    assert set(one) == {f'{w}/AP_{c}' for w in ('video', 'global')
                        for c in ('I', 'V', 'T', 'IV', 'IT', 'IVT')}
    for key in one:
        assert one[key] == pytest.approx(three[key])


def test_cvs_metric_endoscapes_protocol():
    rng = np.random.default_rng(0)
    votes = rng.integers(0, 2, (60, 3, 3))
    scores = rng.random((60, 3))
    metric = METRICS.build(dict(type='SurgicalCVSMetric', per_video=True))
    data = []
    for i in range(60):
        s = ActionDataSample(metainfo=dict(video_id=f'v{i // 20}', frame_index=i))
        s.set_field(torch.tensor(votes[i], dtype=torch.float32), 'gt_score')
        s.set_pred_score(scores[i])
        data.append(s.to_dict())
    metric.process({}, data)
    res = metric.compute_metrics(metric.results)
    labels = cvs_consensus(votes)
    np.testing.assert_array_equal(labels, (votes.sum(1) >= 2).astype(np.uint8))
    ap = [average_precision_score(labels[:, c], scores[:, c]) for c in range(3)]
    assert res['mAP'] == pytest.approx(np.mean(ap))
    assert res['AP_C2'] == pytest.approx(ap[1])
    bal = [balanced_accuracy_score(labels[:, c], scores[:, c] >= 0.5) for c in range(3)]
    assert res['balanced_accuracy'] == pytest.approx(np.mean(bal))
    assert 'video_mAP' in res and 'video_mAP_std' in res


def test_single_label_cvs_and_action_metrics():
    labels = np.array([0, 1, 1, 2, 3, 3])  # class 4 (of 5) never occurs
    scores = np.eye(5)[[0, 1, 2, 2, 3, 0]] * 0.8 + 0.04
    for cfg in (dict(type='SurgicalCVSMetric', task='single_label', num_classes=5),
                dict(type='SurgicalActionMetric', dedup_keys=('video_id',))):
        metric = METRICS.build(cfg)
        data = []
        for i, (y, s) in enumerate(zip(labels, scores)):
            d = ActionDataSample(metainfo=dict(video_id=f'clip{i}'))
            d.set_gt_label(int(y))
            d.set_pred_score(s)
            data.append(d.to_dict())
        metric.process({}, data + data[:2])
        res = metric.compute_metrics(metric.results)
        assert res['top1'] == pytest.approx(4 / 6 if 'dedup_keys' in cfg else 6 / 8)
        if 'dedup_keys' in cfg:
            ap = [average_precision_score(labels == k, scores[:, k]) for k in range(4)]
            assert res['mAP'] == pytest.approx(np.mean(ap))


class _ToyPhaseModel(BaseModel):
    """Predicts phase = frame_index // 4 (wrong on the last frame of each video)."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs=None, data_samples=None, mode='tensor'):
        raise NotImplementedError

    def val_step(self, data):
        out = []
        for info in data:
            pred = min(info['frame_index'] // 4, 2)
            if info['frame_index'] == 11:
                pred = 0
            s = ActionDataSample(metainfo=dict(video_id=info['video_id'],
                                               frame_index=info['frame_index']))
            s.set_gt_label(info['label'])
            s.set_pred_score(torch.eye(3)[pred])
            out.append(s)
        return out

    test_step = val_step


def test_metric_as_val_evaluator_in_runner(tmp_path):
    dataset = [dict(video_id=f'video{v}', frame_index=i, label=min(i // 4, 2))
               for v in (1, 2) for i in range(12)]
    loader = DataLoader(dataset, batch_size=5, collate_fn=list)
    runner = Runner(model=_ToyPhaseModel(), work_dir=str(tmp_path), val_dataloader=loader,
                    val_cfg=dict(), default_scope='surgvista_mm',
                    val_evaluator=dict(type='SurgicalPhaseMetric', num_classes=3,
                                       relaxation='corrected', fps=1, seconds=2),
                    log_level=logging.WARNING, default_hooks=dict(checkpoint=None))
    metrics = runner.val()
    assert metrics['phase/unrelaxed/image_accuracy'] == pytest.approx(100 * 22 / 24)
    assert metrics['phase/generic-corrected/accuracy'] == pytest.approx(100 * 22 / 24)


def test_eval_cvs_cli(tmp_path, capsys):
    tool = load_tool('analysis/eval_cvs')
    rng = np.random.default_rng(0)
    np.savez(tmp_path / 'p.npz', targets=rng.integers(0, 2, (30, 3, 3)),
             scores=rng.random((30, 3)), video_ids=np.repeat(np.arange(3), 10))
    out = tmp_path / 'r.json'
    assert tool.main([str(tmp_path / 'p.npz'), '--per-video', '--out', str(out)]) == 0
    res = json.loads(out.read_text())
    assert len(res['AP']) == 3 and len(res['per_video_mAP']) == 3
    assert tool.main([str(tmp_path / 'p.npz'), '--single-label']) == 2
    assert 'labels' in capsys.readouterr().err
