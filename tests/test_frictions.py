"""Smaller frictions of the private-dataset path (issue 17, section 6): data tools on empty or
bad input, plot titles, comparison labels, package data."""
from __future__ import annotations

import os
import os.path as osp

from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_extract_frames_without_videos_writes_no_manifest(tmp_path, capsys):
    main = load_tool('data/extract_frames').main
    (tmp_path / 'empty').mkdir()
    out = tmp_path / 'frames'
    assert main([str(tmp_path / 'empty'), '--out', str(out)]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: no video file in ['{tmp_path}/empty'] (extensions: .mp4,")
    assert not out.exists()
    (tmp_path / 'fake.mp4').write_text('not a video')
    assert main([str(tmp_path / 'fake.mp4'), '--out', str(out)]) == 1  # a bad video
    assert 'manifest: none (no complete video)' in capsys.readouterr().out
    assert not (out / 'manifest.json').exists()


def test_build_manifest_on_a_non_video_prints_one_line(tmp_path, capsys):
    (tmp_path / 'fake.mp4').write_text('not a video')
    out = tmp_path / 'm.json'
    assert load_tool('build_manifest').main([str(tmp_path), '--out', str(out)]) == 1
    err = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith('error')]
    assert len(err) == 1 and err[0].startswith(
        f"error: cannot read video 'fake' ({tmp_path}/fake.mp4): not a readable video (")
    assert err[0].endswith('nothing written') and not out.exists()


def _one_video(tmp_path):
    """Ground truth and two prediction folders with the same name (so labelled A and B)."""
    import shutil
    gold = osp.join(ROOT, 'tests', 'data', 'golden_phase', 'cholec80')
    first = sorted(os.listdir(f'{gold}/gt'))[0]
    dirs = {}
    for sub, src in (('gt', 'gt'), ('a/pred', 'pred'), ('b/pred', 'gt')):
        os.makedirs(tmp_path / sub)
        shutil.copy(f'{gold}/{src}/{first}', tmp_path / sub / first)
        dirs[sub] = str(tmp_path / sub)
    return dirs


def test_plot_titles_count_one_video_and_name_sides_once(tmp_path, monkeypatch):
    import surgvista_mm.visualization as vis
    titles = []
    for name in ('plot_paired_scores', 'plot_phase_ribbons'):
        real = getattr(vis, name)

        def spy(*args, _real=real, **kwargs):
            titles.append(args[6] if len(args) > 6 else args[4])
            return _real(*args, **kwargs)
        monkeypatch.setattr(vis, name, spy)
    d = _one_video(tmp_path)
    common = ['--gt-dir', d['gt'], '--protocol', 'unrelaxed']
    assert load_tool('analysis/compare_phase').main(
        common + ['--pred-a', d['a/pred'], '--pred-b', d['b/pred'], '--bootstrap', '10',
                  '--plot', str(tmp_path / 'cmp.png')]) == 0
    assert load_tool('analysis/eval_phase').main(
        common + ['--pred-dir', d['a/pred'], '--plot', str(tmp_path / 'ev.png')]) == 0
    assert titles[0].startswith('unrelaxed, per-video jaccard: A vs B\n'), titles[0]
    assert titles[1].endswith('(1 video, percent)'), titles[1]


def test_count_and_side_label():
    from surgvista_mm.utils.text import count, side_label
    assert [count(n, 'video') for n in (0, 1, 2)] == ['0 videos', '1 video', '2 videos']
    assert side_label('A', 'A') == 'A' and side_label('baseline', 'B') == 'baseline (B)'


def test_setup_declares_every_package_folder_and_its_data(monkeypatch):
    """setuptools warned 'Package would be ignored' for data folders without __init__.py; every
    folder under surgvista_mm is now a declared package and its non-Python files are package
    data (the wheel built from it held the 113 modules and 17 data files)."""
    import fnmatch
    import runpy

    import setuptools
    seen = {}
    monkeypatch.setattr(setuptools, 'setup', lambda **kw: seen.update(kw))
    monkeypatch.chdir(ROOT)
    runpy.run_path(osp.join(ROOT, 'setup.py'), run_name='__main__')
    packages, data = set(seen['packages']), seen['package_data']
    for dirpath, dirnames, filenames in os.walk(osp.join(ROOT, 'surgvista_mm')):
        dirnames[:] = [d for d in dirnames if d != '__pycache__']
        pkg = osp.relpath(dirpath, ROOT).replace(os.sep, '.')
        assert pkg in packages, pkg
        for name in filenames:
            if not name.endswith(('.py', '.pyc')):
                assert any(fnmatch.fnmatch(name, g) for g in data.get(pkg, [])), (pkg, name)
    assert not any('__pycache__' in p for p in packages)
