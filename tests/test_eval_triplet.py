"""Triplet AP: golden parity (ivtmetrics 0.1.5 on scikit-learn 1.5.2), sklearn, absent classes."""
import json
import os
import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score

from surgvista_mm.evaluation.functional import (COMPONENTS, average_precision,
                                                component_classes, load_triplet_map,
                                                single_label_metrics, triplet_metrics)
from tests.helpers.tools import load_tool

DATA = os.path.join(os.path.dirname(__file__), 'data', 'golden_triplet')


def test_cli_reproduces_golden(tmp_path, capsys):
    out = tmp_path / 'res.json'
    assert load_tool('analysis/eval_triplet').main([os.path.join(DATA, 'triplet_dev.npz'),
                                                    '--out', str(out)]) == 0
    assert 'AP_IVT' in capsys.readouterr().out
    res = json.loads(out.read_text())
    expected = json.load(open(os.path.join(DATA, 'triplet_dev.json')))
    assert set(res) == set(expected) == set(COMPONENTS)
    for comp, exp in expected.items():
        assert abs(res[comp]['video_mAP'] - exp['video_mAP']) < 1e-6
        assert abs(res[comp]['global_mAP'] - exp['global_mAP']) < 1e-6
        got = np.array([np.nan if x is None else x for x in res[comp]['video_AP']])
        ref = np.array([np.nan if x is None else x for x in exp['video_AP']])
        np.testing.assert_allclose(got, ref, atol=1e-6, equal_nan=True)


def test_cholect50_map_component_classes():
    mapping = load_triplet_map()
    assert mapping.shape == (100, 6)
    counts = [len(component_classes(mapping, c)) for c in ('ivt', 'i', 'v', 't', 'iv', 'it')]
    assert counts == [100, 6, 10, 15, 26, 59]


def test_vectorised_ap_equals_sklearn_with_ties():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (300, 8))
    s = np.round(rng.random((300, 8)), 1)  # many ties
    ref = [average_precision_score(y[:, c], s[:, c]) for c in range(8)]
    np.testing.assert_allclose(average_precision(y, s), ref, atol=1e-12)
    y[:, 3] = 0
    assert np.isnan(average_precision(y, s)[3])  # no positives: NaN, not sklearn's 0.0


def test_class_absent_from_one_video_is_excluded():
    """Under the installed scikit-learn (>= 1.6 returns 0.0), absent classes must not count."""
    rng = np.random.default_rng(3)
    n, c = 40, 100
    targets = (rng.random((2 * n, c)) < 0.2).astype(int)
    targets[:n, 7] = 0  # triplet 7 absent from video 0
    targets[n:n + 3, 7] = 1
    scores = rng.random((2 * n, c))
    vids = np.repeat(['vid2', 'vid10'], n)  # natural order: vid2 first
    res = triplet_metrics(targets, scores, vids)
    ivt = res['ivt']
    assert res['ivt']['videos'] == ['vid2', 'vid10']
    assert np.isnan(ivt['per_video_AP'][0, 7])
    second = average_precision_score(targets[n:, 7], scores[n:, 7])
    assert ivt['video_AP'][7] == pytest.approx(second)  # mean over the one video that has it
    assert len(ivt['video_AP']) == 94  # null classes 94-99 dropped
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        sk_first = average_precision_score(targets[:n, 7], scores[:n, 7])
    if sk_first == 0.0:  # the installed scikit-learn deflates; ours does not
        assert ivt['video_AP'][7] != pytest.approx((sk_first + second) / 2)


def test_custom_map_and_null_classes(tmp_path, capsys):
    # 4 triplets, 2 instruments; triplet 3 is a null triplet.
    (tmp_path / 'map.txt').write_text('# IVT,I,V,T,IV,IT\n0,0,0,0,0,0\n1,0,1,1,1,1\n'
                                      '2,1,0,1,2,3\n3,1,2,2,5,5\n')
    mapping = load_triplet_map(str(tmp_path / 'map.txt'))
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 2, (30, 4))
    scores = rng.random((30, 4))
    res = triplet_metrics(targets, scores, np.zeros(30), mapping, null_classes=[3])
    assert len(res['ivt']['video_AP']) == 3 and res['iv']['classes'].tolist() == [0, 1, 2, 5]
    inst = np.stack([targets[:, :2].max(1), targets[:, 2:].max(1)], 1)
    inst_s = np.stack([scores[:, :2].max(1), scores[:, 2:].max(1)], 1)
    np.testing.assert_allclose(res['i']['global_AP'],
                               [average_precision_score(inst[:, k], inst_s[:, k])
                                for k in range(2)])
    with pytest.raises(ValueError, match='explicitly'):
        triplet_metrics(targets, scores, np.zeros(30), mapping)
    np.savez(tmp_path / 'p.npz', targets=targets, scores=scores, video_ids=np.zeros(30))
    tool = load_tool('analysis/eval_triplet')
    assert tool.main([str(tmp_path / 'p.npz'), '--maps', str(tmp_path / 'map.txt')]) == 2
    assert '--null-classes' in capsys.readouterr().err
    assert tool.main([str(tmp_path / 'p.npz'), '--maps', str(tmp_path / 'map.txt'),
                      '--null-classes', 'none', '--out', str(tmp_path / 'r.json')]) == 0
    assert len(json.loads((tmp_path / 'r.json').read_text())['ivt']['video_AP']) == 4


def test_single_label_excludes_classes_without_positives():
    labels = np.array([0, 0, 1, 1, 1])
    scores = np.array([[.8, .1, .1], [.3, .6, .1], [.2, .7, .1], [.1, .8, .1], [.5, .4, .1]])
    res = single_label_metrics(labels, scores)
    assert res['top1'] == pytest.approx(3 / 5)
    assert np.isnan(res['AP'][2])
    ref = [average_precision_score(labels == k, scores[:, k]) for k in range(2)]
    assert res['mAP'] == pytest.approx(np.mean(ref))


def test_crosscheck_ivtmetrics_where_valid():
    """ivtmetrics agrees where every class has positives in every video (no sklearn pitfall)."""
    ivtmetrics = pytest.importorskip('ivtmetrics')
    rng = np.random.default_rng(5)
    n_vid, n = 3, 120
    targets = (rng.random((n_vid * n, 100)) < 0.1).astype(int)
    for v in range(n_vid):
        targets[v * n + np.arange(100) % n, np.arange(100)] = 1  # every class in every video
    scores = np.clip(0.5 * targets + rng.random(targets.shape), 0, 1)
    vids = np.repeat(np.arange(n_vid), n)
    ours = triplet_metrics(targets, scores, vids)
    ref = ivtmetrics.Recognition(num_class=100)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        for v in range(n_vid):
            ref.update(targets[vids == v], scores[vids == v])
            ref.video_end()
        for comp in COMPONENTS:
            video = ref.compute_video_AP(comp, ignore_null=True)
            glob = ref.compute_global_AP(comp, ignore_null=True)
            assert ours[comp]['video_mAP'] == pytest.approx(video['mAP'], abs=1e-9)
            assert ours[comp]['global_mAP'] == pytest.approx(glob['mAP'], abs=1e-9)


def test_read_null_classes_shared_by_metric_and_data_prep(tmp_path):
    """One reader of null_classes.txt: the metric gets ids, data prep a ReleaseError."""
    from surgvista_mm.evaluation.functional.triplet import read_null_classes
    path = tmp_path / 'null_classes.txt'
    path.write_text('\ufeff# nulls\n3\n\n 5  # last\n', encoding='utf-8')
    assert read_null_classes(str(path), 6) == [3, 5]
    for bad in ('6', '-1', 'x', '\u00b2'):
        path.write_text(f'3\n{bad}\n', encoding='utf-8')
        with pytest.raises(ValueError, match=r'null_classes.txt:2: .* is not a triplet id'):
            read_null_classes(str(path), 6)
    with pytest.raises(FileNotFoundError):
        read_null_classes(str(tmp_path / 'missing.txt'), 6)


def test_join_data_root():
    from surgvista_mm.datasets.manifest import join_data_root
    assert join_data_root('/d', 'a/b.json') == '/d/a/b.json'
    assert join_data_root('/d', '/abs.json') == '/abs.json'
    assert join_data_root(None, 'a.json') == 'a.json'
    assert join_data_root('/d', None) is None
    assert join_data_root('/d', ['v1', 'v2']) == ['v1', 'v2']
