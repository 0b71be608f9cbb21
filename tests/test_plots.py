"""Plots and the comparison tool: phase ribbons, compare_phase on golden data, training curves."""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import wilcoxon

from surgvista_mm.evaluation.phase_eval import (evaluate_phase_dirs, per_video_metric,
                                                protocol_score)
from surgvista_mm.evaluation.functional import phase_bootstrap_ci
from surgvista_mm.visualization import load_scalar_log, plot_phase_ribbons, save_figure

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GOLDEN = os.path.join(ROOT, 'tests', 'data', 'golden_phase', 'cholec80')
NAMES = ['Preparation', 'CalotTriangleDissection', 'ClippingCutting', 'GallbladderDissection',
         'GallbladderPackaging', 'CleaningCoagulation', 'GallbladderRetraction']


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(
        name, os.path.join(ROOT, 'tools', 'analysis', f'{name}.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _check_png(path, min_side=100):
    from matplotlib.image import imread

    assert os.path.isfile(path) and os.path.getsize(path) > 0
    with open(path, 'rb') as f:
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    img = imread(path)
    assert img.ndim == 3 and img.shape[2] in (3, 4)
    assert min(img.shape[:2]) >= min_side
    assert img[..., :3].std() > 0.01  # not a blank canvas
    assert not [n for n in os.listdir(os.path.dirname(path)) if n.endswith('.tmp')]
    return img


def _perturbed_copy(src, dst, fraction=0.1, seed=0):
    """Copy of the golden predictions with a fraction of frames set to another phase."""
    rng = np.random.default_rng(seed)
    dst.mkdir()
    for name in sorted(os.listdir(src)):
        rows = open(os.path.join(src, name)).read().splitlines()
        out = [rows[0]]
        for row in rows[1:]:
            frame, phase = row.split()
            if rng.random() < fraction:
                phase = str((int(phase) + int(rng.integers(1, 7))) % 7)
            out.append(f'{frame}\t{phase}')
        (dst / name).write_text('\n'.join(out) + '\n')
    return dst


def test_ribbons_one_pair_per_video_and_png(tmp_path):
    rng = np.random.default_rng(0)
    gts = {f'video{i}': np.repeat(np.arange(4), rng.integers(5, 30, 4)) for i in (1, 2, 10)}
    preds = {v: np.where(rng.random(g.size) < 0.8, g, rng.integers(0, 4, g.size))
             for v, g in gts.items()}
    fig = plot_phase_ribbons(gts, preds, ['a', 'b', 'c', 'd'], [80.0, 70.0, np.nan, 60.0],
                             'toy', per_phase_jaccard_std=[5.0, 3.0, np.nan, 1.0])
    ribbons = next(ax for ax in fig.axes if ax.get_label() == 'ribbons')
    gids = sorted(c.get_gid() for c in ribbons.collections if c.get_gid())
    assert gids == sorted(f'{v}/{w}' for v in gts for w in ('gt', 'pred'))
    assert [t.get_text() for t in ribbons.get_yticklabels()] == ['video1', 'video2', 'video10']
    legend = [t.get_text() for t in ribbons.get_legend().get_texts()]
    assert legend == ['a', 'b', 'c', 'd']
    bars = next(ax for ax in fig.axes if ax.get_label() == 'jaccard')
    assert len(bars.patches) == 4
    path = tmp_path / 'sub' / 'ribbons.png'
    save_figure(fig, str(path))
    _check_png(str(path))
    with pytest.raises(ValueError, match='unsupported image type'):
        save_figure(fig, str(tmp_path / 'x.unknown'))
    with pytest.raises(ValueError, match='different videos'):
        plot_phase_ribbons(gts, {'video1': preds['video1']}, None, [1, 2, 3, 4])


def test_eval_phase_plot_option(tmp_path, capsys):
    out = tmp_path / 'phase.png'
    names = tmp_path / 'names.txt'
    names.write_text('\n'.join(NAMES) + '\n')
    args = ['--gt-dir', f'{GOLDEN}/gt', '--pred-dir', f'{GOLDEN}/pred', '--protocol',
            'cholec80-matlab', '--fps', '1', '--plot', str(out)]
    assert _load_tool('eval_phase').main(args) == 0
    assert f'written {out}' in capsys.readouterr().out
    img = _check_png(str(out))
    assert img.shape[0] > 800  # 12 videos of ribbons plus the bar chart


def test_compare_phase_on_golden(tmp_path, capsys):
    pred_b = _perturbed_copy(os.path.join(GOLDEN, 'pred'), tmp_path / 'pred_b')
    out, plot = tmp_path / 'cmp.json', tmp_path / 'cmp.png'
    protocol = 'cholec80-matlab'
    args = ['--gt-dir', f'{GOLDEN}/gt', '--pred-a', f'{GOLDEN}/pred', '--pred-b', str(pred_b),
            '--protocol', protocol, '--fps', '1', '--metric', 'jaccard', '--out', str(out),
            '--plot', str(plot)]
    assert _load_tool('compare_phase').main(args) == 0
    printed = capsys.readouterr().out
    assert 'Wilcoxon' in printed and 'video52-phase' in printed
    res = json.loads(out.read_text())
    for key in ('protocol', 'metric', 'fps', 'num_classes', 'classes', 'videos', 'a', 'b',
                'difference', 'wilcoxon', 'bootstrap'):
        assert key in res, key
    for side in ('a', 'b'):
        for key in ('name', 'pred_dir', 'score', 'ci95', 'per_video', 'per_video_mean'):
            assert key in res[side], (side, key)
    for key in ('statistic', 'pvalue', 'num_videos', 'alternative', 'zero_method'):
        assert key in res['wilcoxon'], key
    assert res['protocol'] == protocol and res['metric'] == 'jaccard'
    assert res['bootstrap'] == {'n_resamples': 1000, 'seed': 0, 'level': 0.95, 'unit': 'video'}
    assert len(res['videos']) == 12 and len(res['a']['per_video']) == 12

    # A's score is eval_phase's number for the same protocol (the golden MATLAB output).
    ev_out = tmp_path / 'eval.json'
    assert _load_tool('eval_phase').main(['--gt-dir', f'{GOLDEN}/gt', '--pred-dir',
                                          f'{GOLDEN}/pred', '--protocol', protocol, '--fps', '1',
                                          '--out', str(ev_out)]) == 0
    ev = json.loads(ev_out.read_text())
    assert res['a']['score'] == pytest.approx(ev['jaccard'], abs=1e-12)
    expected = json.load(open(os.path.join(GOLDEN, 'expected.json')))
    assert res['a']['score'] == pytest.approx(expected['jaccard'], abs=1e-6)
    assert res['b']['score'] < res['a']['score']

    # The p-value is scipy's on the per-video differences; A's CI is phase_bootstrap_ci's.
    diff = np.array(res['a']['per_video']) - np.array(res['b']['per_video'])
    ref = wilcoxon(diff, alternative='greater', zero_method='wilcox')
    assert res['wilcoxon']['pvalue'] == pytest.approx(ref.pvalue, rel=1e-12)
    assert res['wilcoxon']['statistic'] == pytest.approx(ref.statistic)
    evaluation = evaluate_phase_dirs(f'{GOLDEN}/gt', f'{GOLDEN}/pred', protocol, fps=1)
    ci = phase_bootstrap_ci(evaluation.stats, 1000, 0)['relaxed']['jaccard']
    np.testing.assert_allclose(res['a']['ci95'], ci)
    low, high = res['difference']['ci95']
    assert low <= res['difference']['score'] <= high
    np.testing.assert_allclose(res['a']['per_video'],
                               per_video_metric(evaluation.stats, 'jaccard'))
    _check_png(str(plot))


def test_compare_phase_accuracy_unrelaxed_and_errors(tmp_path, capsys):
    tool = _load_tool('compare_phase')
    pred_b = _perturbed_copy(os.path.join(GOLDEN, 'pred'), tmp_path / 'pred_b', 0.05, 1)
    out = tmp_path / 'acc.json'
    assert tool.main(['--gt-dir', f'{GOLDEN}/gt', '--pred-a', f'{GOLDEN}/pred', '--pred-b',
                      str(pred_b), '--protocol', 'unrelaxed', '--metric', 'accuracy',
                      '--bootstrap', '200', '--out', str(out)]) == 0
    res = json.loads(out.read_text())
    ev = evaluate_phase_dirs(f'{GOLDEN}/gt', f'{GOLDEN}/pred', 'unrelaxed')
    assert res['a']['score'] == pytest.approx(ev.summary['video_accuracy'])
    assert res['a']['score'] == pytest.approx(res['a']['per_video_mean'])
    assert res['a']['score'] == pytest.approx(protocol_score(ev.stats, 'accuracy'))
    # identical sets: the report says why there is no p-value instead of failing
    assert tool.main(['--gt-dir', f'{GOLDEN}/gt', '--pred-a', f'{GOLDEN}/pred', '--pred-b',
                      f'{GOLDEN}/pred', '--protocol', 'unrelaxed', '--bootstrap', '10',
                      '--out', str(out)]) == 0
    assert 'not computed' in capsys.readouterr().out
    assert json.loads(out.read_text())['wilcoxon']['pvalue'] is None
    assert tool.main(['--gt-dir', f'{GOLDEN}/gt', '--pred-a', f'{GOLDEN}/pred', '--pred-b',
                      str(tmp_path / 'nowhere'), '--protocol', 'unrelaxed']) == 2
    assert 'nowhere' in capsys.readouterr().err
    assert tool.main(['--gt-dir', f'{GOLDEN}/gt', '--pred-a', f'{GOLDEN}/pred', '--pred-b',
                      str(pred_b), '--protocol', 'cholec80-matlab']) == 2
    assert '--fps is required' in capsys.readouterr().err


def _write_scalars(run_dir, iters, lr0=1e-3, extra_val=False):
    vis = run_dir / 'vis_data'
    vis.mkdir(parents=True)
    lines = []
    for it in iters:
        lines.append(json.dumps({'lr': lr0 / it, 'loss': 2.0 / it, 'loss_pixel': 1.5 / it,
                                 'loss_distill': 0.5 / it, 'time': 0.1, 'data_time': 0.01,
                                 'epoch': 1 + it // 100, 'iter': it, 'step': it}))
    if extra_val:
        lines.append(json.dumps({'phase/jaccard': 55.0, 'step': 1}))
    (vis / 'scalars.json').write_text('\n'.join(lines) + '\n')
    return vis / 'scalars.json'


def test_plot_training_log(tmp_path, capsys):
    tool = _load_tool('plot_training_log')
    work = tmp_path / 'work'
    first = _write_scalars(work / '20250101_000000', range(10, 160, 10))
    _write_scalars(work / '20250102_000000', range(110, 310, 10), extra_val=True)  # resumed
    out = tmp_path / 'curves.png'
    assert tool.main([str(work), '--out', str(out)]) == 0
    assert 'curves.png' in capsys.readouterr().out
    _check_png(str(out))

    log = load_scalar_log(str(work))
    assert len(log.files) == 2 and log.run_starts == [110.0]
    xs = [x for x, _ in log.train['loss']]
    assert xs == list(range(10, 310, 10))  # resumed run replaces the overlap, time order kept
    assert log.val['phase/jaccard'] == [(1.0, 55.0)]
    assert load_scalar_log(str(work), 'latest').files[-1].endswith(
        os.path.join('20250102_000000', 'vis_data', 'scalars.json'))
    assert len(load_scalar_log(str(work), 'latest').files) == 1

    from surgvista_mm.visualization import plot_training_curves
    fig = plot_training_curves(log)
    train_ax = next(ax for ax in fig.axes if ax.get_label() == 'train')
    assert {ln.get_label() for ln in train_ax.get_lines()} >= {'loss', 'loss_pixel',
                                                               'loss_distill'}
    fig = plot_training_curves(log, ['loss', 'lr', 'phase/jaccard'])
    assert any(ax.get_label() == 'val' for ax in fig.axes)

    # a single file, chosen keys
    assert tool.main([str(first), '--keys', 'loss', 'lr', '--out', str(out)]) == 0
    assert tool.main([str(first), '--keys', 'nope', '--out', str(out)]) == 2
    assert "['nope']" in capsys.readouterr().err
    empty = tmp_path / 'empty_work'
    empty.mkdir()
    assert tool.main([str(empty), '--out', str(out)]) == 2
    err = capsys.readouterr().err
    assert str(empty) in err and 'no scalars file' in err
    bad = tmp_path / 'bad.json'
    bad.write_text('{"loss": 1, "iter": 1}\nnot json\n')
    assert tool.main([str(bad), '--out', str(out)]) == 2
    assert f'{bad}:2' in capsys.readouterr().err


def test_import_does_not_load_matplotlib():
    code = ('import sys, surgvista_mm, surgvista_mm.visualization, '
            'surgvista_mm.evaluation.phase_eval; '
            'assert "matplotlib" not in sys.modules, "matplotlib imported"')
    subprocess.run([sys.executable, '-c', code], cwd=ROOT, check=True, timeout=120)
