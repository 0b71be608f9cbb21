"""Phase metrics: golden parity with the MATLAB script, hand-computed cases, sklearn, the CLI."""
import json
import os
import shutil

import numpy as np
import pytest
from sklearn.metrics import jaccard_score, precision_recall_fscore_support

from surgvista_mm.evaluation.functional import (compute_phase_stats, paired_wilcoxon,
                                                phase_bootstrap_ci, phase_metrics,
                                                phase_summary, relax_diff, transition_accepts)
from surgvista_mm.evaluation.phase_files import PhaseFileError, load_phase_dirs
from tests.helpers.tools import load_tool

DATA = os.path.join(os.path.dirname(__file__), 'data', 'golden_phase')


@pytest.mark.parametrize('folder,protocol', [('cholec80', 'cholec80-matlab'),
                                             ('m2cai16', 'm2cai16-matlab')])
def test_cli_reproduces_matlab_golden(tmp_path, capsys, folder, protocol):
    base = os.path.join(DATA, folder)
    out = tmp_path / 'res.json'
    rc = load_tool('analysis/eval_phase').main(['--gt-dir', f'{base}/gt', '--pred-dir',
                                                f'{base}/pred', '--protocol', protocol, '--fps',
                                                '1', '--out', str(out)])
    assert rc == 0
    assert protocol in capsys.readouterr().out
    res = json.loads(out.read_text())
    expected = json.load(open(os.path.join(base, 'expected.json')))
    for key, value in expected.items():
        np.testing.assert_allclose(res[key], value, rtol=0, atol=1e-6, err_msg=key)
    assert res['protocol'] == protocol
    assert res['videos'][:2] == ['video41-phase', 'video42-phase']
    for key in ('image_accuracy', 'video_accuracy', 'per_video_accuracy', 'per_phase_jaccard'):
        assert key in res
    assert not list(tmp_path.glob('.*.tmp'))  # atomic write leaves no temporary file


def test_corrected_differs_from_matlab_on_golden():
    base = os.path.join(DATA, 'cholec80')
    videos, gts, preds = load_phase_dirs(f'{base}/gt', f'{base}/pred', num_classes=7)
    matlab = phase_metrics(gts, preds, 7, 'matlab', 'cholec80', fps=1, video_ids=videos)
    fixed = phase_metrics(gts, preds, 7, 'corrected', 'cholec80', fps=1, video_ids=videos)
    assert fixed['protocol'] == 'cholec80-corrected'
    assert 2.0 < fixed['relaxed']['jaccard'] - matlab['relaxed']['jaccard'] < 3.0


def test_matlab_quirk_zeroes_segment_start():
    # Phase-0 segment of 6 frames, window 2: its last 2 frames hold +1 (early transition).
    gt = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    pred = np.array([2, 2, 0, 0, 1, 1, 1, 1, 1, 1])
    acc = transition_accepts('generic', 3)
    np.testing.assert_array_equal(relax_diff(gt, pred, 2, acc, 'matlab'),
                                  [0, 0, 0, 0, 1, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(relax_diff(gt, pred, 2, acc, 'corrected'),
                                  [2, 2, 0, 0, 0, 0, 0, 0, 0, 0])
    m = phase_metrics([gt], [pred], 3, 'matlab', 'generic', fps=1, seconds=2)['relaxed']
    # phase 0: TP 4 (frames 0-3), predicted twice -> P = 200 clipped to 100; union 6.
    np.testing.assert_allclose(m['per_phase_jaccard'][:2], [400 / 6, 400 / 6])
    np.testing.assert_allclose(m['per_phase_precision'][:2], [100, 4 / 6 * 100])
    np.testing.assert_allclose(m['per_phase_recall'][:2], [400 / 6, 100])
    assert np.isnan(m['per_phase_jaccard'][2])  # phase 2 absent from the ground truth
    assert np.isnan(m['jaccard']) and np.isnan(m['recall'])  # plain mean over phases (script)
    np.testing.assert_allclose(m['precision'], (100 + 400 / 6) / 2)  # nan-mean over phases
    assert m['accuracy'] == 80.0


def test_late_and_early_rules_as_intended():
    gt = np.array([0, 0, 0, 0, 0, 0, 1, 1, 1, 1])
    pred = np.array([0, 0, 0, 0, 1, 1, 0, 0, 1, 1])  # early +1 at the end of 0, late -1 in 1
    res = {mode: phase_metrics([gt], [pred], 2, mode, 'generic', fps=1, seconds=2)['relaxed']
           for mode in ('matlab', 'corrected')}
    assert res['matlab']['accuracy'] == 80.0  # the early rule zeroed frames 0-1, not 4-5
    assert res['corrected']['accuracy'] == 100.0
    # corrected: every frame counts; phase 0 TP = 6 + frames 6-7 = 8 over 4 predictions.
    np.testing.assert_allclose(res['corrected']['per_phase_precision'], [100, 100])
    np.testing.assert_allclose(res['corrected']['per_phase_jaccard'], [100, 100])


def test_cholec80_special_groups():
    gt = np.array([4, 4, 4, 4, 6, 6, 6, 6])
    pred = np.array([4, 4, 4, 4, 4, 6, 6, 6])  # diff -2 at the start of phase 6 (0-based)
    kw = dict(fps=1, seconds=2)
    assert phase_metrics([gt], [pred], 7, 'matlab', 'cholec80', **kw)['relaxed'][
        'accuracy'] == 100.0
    assert phase_metrics([gt], [pred], 7, 'matlab', 'generic', **kw)['relaxed'][
        'accuracy'] == 87.5
    m2 = phase_metrics([gt + 1], [pred + 1], 8, 'matlab', 'm2cai16', **kw)['relaxed']
    assert m2['accuracy'] == 100.0
    with pytest.raises(ValueError, match='7 phases'):
        phase_metrics([gt], [pred], 8, 'matlab', 'cholec80', **kw)


def test_unrelaxed_hand_computed_never_predicted_phase():
    gt = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 0, 0, 1, 1, 0])  # phase 2 never predicted
    u = phase_metrics([gt], [pred], 3)['unrelaxed']
    np.testing.assert_allclose(u['per_phase_precision'], [50, 50, 0])
    np.testing.assert_allclose(u['per_phase_recall'], [100, 50, 0])
    np.testing.assert_allclose(u['per_phase_jaccard'], [50, 100 / 3, 0])
    np.testing.assert_allclose(u['per_phase_f1'], [200 / 3, 50, 0])
    assert u['image_accuracy'] == 50.0
    np.testing.assert_allclose([u['precision'], u['recall'], u['jaccard'], u['f1']],
                               [100 / 3, 50, (50 + 100 / 3) / 3, (200 / 3 + 50) / 3])
    np.testing.assert_allclose(u['jaccard_std'], np.std([50, 100 / 3, 0], ddof=1))


def test_videowise_with_phase_absent_from_a_video():
    gts = [np.array([0, 0, 1, 1]), np.array([0, 0, 0])]
    preds = [np.array([0, 1, 1, 1]), np.array([0, 0, 1])]
    u = phase_metrics(gts, preds, 2)['unrelaxed']
    np.testing.assert_allclose(u['videowise_per_phase_precision'], [100, 200 / 3])
    np.testing.assert_allclose(u['videowise_per_phase_recall'], [175 / 3, 100])
    np.testing.assert_allclose(u['videowise_jaccard'], (175 / 3 + 200 / 3) / 2)
    np.testing.assert_allclose(u['per_phase_jaccard'], [60, 50])  # pooled
    np.testing.assert_allclose(u['per_video_accuracy'], [75, 200 / 3])
    np.testing.assert_allclose(u['image_accuracy'], 500 / 7)
    np.testing.assert_allclose(u['video_accuracy_std'], np.std([75, 200 / 3], ddof=1))


def test_pooled_equals_sklearn_with_19_classes():
    rng = np.random.default_rng(0)
    gts, preds = [], []
    for _ in range(5):
        gt = np.repeat(rng.integers(0, 18, 30), rng.integers(5, 40, 30))  # phase 18 never in gt
        pred = np.where(rng.random(gt.size) < 0.7, gt, rng.integers(0, 19, gt.size))
        gts.append(gt)
        preds.append(pred)
    res = phase_metrics(gts, preds, 19, 'matlab', 'generic', fps=1)
    y, p = np.concatenate(gts), np.concatenate(preds)
    prec, rec, f1, _ = precision_recall_fscore_support(y, p, labels=range(19), zero_division=0)
    jac = jaccard_score(y, p, labels=range(19), average=None, zero_division=0)
    u = res['unrelaxed']
    np.testing.assert_allclose(u['per_phase_precision'], 100 * prec, atol=1e-10)
    np.testing.assert_allclose(u['per_phase_recall'], 100 * rec, atol=1e-10)
    np.testing.assert_allclose(u['per_phase_jaccard'], 100 * jac, atol=1e-10)
    np.testing.assert_allclose(u['per_phase_f1'], 100 * f1, atol=1e-10)
    np.testing.assert_allclose(u['image_accuracy'], 100 * np.mean(y == p))
    assert res['relaxed']['per_phase_jaccard'].shape == (19,)
    assert np.isnan(res['relaxed']['per_phase_jaccard'][18])
    summary = phase_summary(res)
    assert summary['protocol'] == 'generic-matlab' and len(summary['per_phase_recall']) == 19


def test_pooled_macro_averages_like_sklearn_when_a_phase_never_occurs():
    # phase 6 of 7 appears in neither ground truth nor predictions; phase 5 is never predicted
    rng = np.random.default_rng(1)
    gts, preds = [], []
    for _ in range(4):
        gt = np.repeat(rng.integers(0, 6, 20), rng.integers(5, 30, 20))
        pred = np.where(rng.random(gt.size) < 0.8, gt, rng.integers(0, 5, gt.size))
        pred[pred == 5] = 4
        gts.append(gt)
        preds.append(pred)
    u = phase_metrics(gts, preds, 7)['unrelaxed']
    y, p = np.concatenate(gts), np.concatenate(preds)
    prec, rec, _, _ = precision_recall_fscore_support(y, p, average='macro', zero_division=0)
    jac = jaccard_score(y, p, average='macro', zero_division=0)
    np.testing.assert_allclose([u['precision'], u['recall'], u['jaccard']],
                               [100 * prec, 100 * rec, 100 * jac], atol=1e-10)
    per_phase_j = jaccard_score(y, p, average=None, zero_division=0)  # over the 6 seen phases
    np.testing.assert_allclose(u['jaccard_std'], 100 * np.std(per_phase_j, ddof=1), atol=1e-10)


def test_invalid_inputs():
    with pytest.raises(ValueError, match='3 frames but the prediction has 2'):
        phase_metrics([np.array([0, 1, 1])], [np.array([0, 1])], 2)
    with pytest.raises(ValueError, match='out of range'):
        phase_metrics([np.array([0, 2])], [np.array([0, 1])], 2)
    with pytest.raises(ValueError, match='fps'):
        phase_metrics([np.array([0, 1])], [np.array([0, 1])], 2, 'matlab')
    with pytest.raises(ValueError, match='relaxation'):
        phase_metrics([np.array([0, 1])], [np.array([0, 1])], 2, 'loose')


def test_bootstrap_and_wilcoxon():
    rng = np.random.default_rng(1)
    gts = [np.repeat(np.arange(3), 20) for _ in range(8)]
    preds = [np.where(rng.random(60) < 0.8, g, rng.integers(0, 3, 60)) for g in gts]
    stats = compute_phase_stats(gts, preds, 3, 'matlab', 'generic', fps=1)
    ci = phase_bootstrap_ci(stats, n_resamples=200, seed=0)
    again = phase_bootstrap_ci(stats, n_resamples=200, seed=0)
    assert ci == again
    point = phase_metrics(gts, preds, 3, 'matlab', 'generic', fps=1)
    low, high = ci['unrelaxed']['video_accuracy']
    assert low <= point['unrelaxed']['video_accuracy'] <= high
    assert 'accuracy' in ci['relaxed']
    a = np.array([0.9, 0.8, 0.85, 0.95, 0.7, 0.88])
    res = paired_wilcoxon(a, a - np.array([0.05, 0.02, 0.0, 0.03, 0.01, 0.04]))
    assert res['num_videos'] == 6 and res['pvalue'] < 0.05
    with pytest.raises(ValueError):
        paired_wilcoxon(a, a[:-1])


def _copy(tmp_path):
    gt, pred = tmp_path / 'gt', tmp_path / 'pred'
    shutil.copytree(os.path.join(DATA, 'cholec80', 'gt'), gt)
    shutil.copytree(os.path.join(DATA, 'cholec80', 'pred'), pred)
    for f in list(gt.iterdir()) + list(pred.iterdir()):
        f.chmod(0o644)
    return gt, pred


def test_cli_errors_name_file_and_line(tmp_path, capsys):
    tool = load_tool('analysis/eval_phase')
    gt, pred = _copy(tmp_path)
    args = ['--gt-dir', str(gt), '--pred-dir', str(pred), '--protocol', 'cholec80-matlab']
    assert tool.main(args) == 2
    assert '--fps is required' in capsys.readouterr().err
    args += ['--fps', '1']

    (pred / 'video52-phase.txt').rename(tmp_path / 'moved.txt')
    assert tool.main(args) == 2
    assert 'video52-phase.txt' in capsys.readouterr().err
    (tmp_path / 'moved.txt').rename(pred / 'video52-phase.txt')

    lines = (pred / 'video41-phase.txt').read_text().splitlines()
    (pred / 'video41-phase.txt').write_text('\n'.join(lines[:5] + ['4\t9'] + lines[6:]) + '\n')
    assert tool.main(args) == 2
    assert 'video41-phase.txt:6: unknown phase id 9' in capsys.readouterr().err

    # 25-fps ground truth against 1-fps predictions: frame indices differ.
    n = len(lines) - 1
    (pred / 'video41-phase.txt').write_text(
        'Frame\tPhase\n' + ''.join(f'{25 * i}\t{lines[i + 1].split()[1]}\n' for i in range(n)))
    assert tool.main(args) == 2
    assert 'video41-phase.txt:3: frame index 25' in capsys.readouterr().err

    (pred / 'video41-phase.txt').write_text('\n'.join(lines[:-1]) + '\n')
    assert tool.main(args) == 2
    assert f'video41-phase.txt:{n + 1}' in capsys.readouterr().err


def test_cli_class_names_and_unrelaxed(tmp_path):
    tool = load_tool('analysis/eval_phase')
    names = ['Prep', 'Calot', 'Clip', 'Dissect', 'Pack', 'Clean', 'Retract']
    for sub in ('gt', 'pred'):
        (tmp_path / sub).mkdir()
        for f in os.listdir(os.path.join(DATA, 'cholec80', sub)):
            rows = open(os.path.join(DATA, 'cholec80', sub, f)).read().splitlines()
            text = rows[0] + '\n' + ''.join(
                f'{r.split()[0]}\t{names[int(r.split()[1])]}\n' for r in rows[1:])
            (tmp_path / sub / f).write_text(text)
    (tmp_path / 'names.txt').write_text('\n'.join(names) + '\n')
    out = tmp_path / 'res.json'
    assert tool.main(['--gt-dir', str(tmp_path / 'gt'), '--pred-dir', str(tmp_path / 'pred'),
                      '--protocol', 'unrelaxed', '--classes', str(tmp_path / 'names.txt'),
                      '--out', str(out)]) == 0
    res = json.loads(out.read_text())
    assert res['protocol'] == 'unrelaxed' and res['classes'] == names
    assert res['accuracy'] == res['video_accuracy']
    assert res['jaccard'] == res['unrelaxed']['jaccard']
    with pytest.raises(PhaseFileError, match='unknown phase'):
        load_phase_dirs(str(tmp_path / 'gt'), str(tmp_path / 'pred'), names[:-1])


def _matlab_reference(gt, pred, window, special):
    """Literal 1-based emulation of the script's per-segment statements (slow, for testing)."""
    diff = [int(p) - int(g) for g, p in zip(gt, pred)]
    updated = list(diff)
    start = 0
    while start < len(gt):
        end = start
        while end + 1 < len(gt) and gt[end + 1] == gt[start]:
            end += 1
        cur = diff[start:end + 1]
        t = min(window, len(cur))
        late, early = special.get(int(gt[start]), ((-1,), (1,)))
        mask = [cur[j] in late for j in range(t)]  # cur(cur(1:t) == late) = 0
        for j in range(t):
            if mask[j]:
                cur[j] = 0
        mask = [cur[len(cur) - t + j] in early for j in range(t)]  # cur(cur(end-t+1:end)...)
        for j in range(t):  # a length-t logical index selects among the first t elements
            if mask[j]:
                cur[j] = 0
        updated[start:end + 1] = cur
        start = end + 1
    return np.array(updated)


def test_relax_diff_matches_literal_emulation():
    rng = np.random.default_rng(7)
    special = {3: ((-1,), (1, 2)), 4: ((-1,), (1, 2)), 5: ((-1, -2), (1, 2)),
               6: ((-1, -2), (1, 2))}
    acc = transition_accepts('cholec80', 7)
    for _ in range(30):
        gt = np.repeat(rng.integers(0, 7, 12), rng.integers(1, 15, 12))
        pred = np.clip(gt + rng.integers(-2, 3, gt.size) * (rng.random(gt.size) < 0.4), 0, 6)
        for window in (1, 3, 10):
            np.testing.assert_array_equal(relax_diff(gt, pred, window, acc, 'matlab'),
                                          _matlab_reference(gt, pred, window, special))
