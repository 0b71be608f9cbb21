"""Leakage guard: planted re-encoded / resized / trimmed / renamed copy of a test video is found
by content; clean sources pass; shipped test lists stop a pre-training source by id."""
from __future__ import annotations

import os.path as osp
import shutil

import numpy as np
import pytest

from surgvista_mm.data_prep.benchmarks import (benchmark_test_ids, infer_benchmark,
                                               list_benchmarks)
from surgvista_mm.data_prep.leakage import check_leakage, load_pretrain_videos
from surgvista_mm.datasets import SurgicalPretrainDataset
from surgvista_mm.datasets.manifest import VideoEntry, num_frames_at_1fps, write_manifest
from surgvista_mm.datasets.pretrain_dataset import check_source_leakage
from surgvista_mm.utils import load_config
from tests.helpers.synth_video import smooth_frames, write_video
from tests.helpers.tools import load_tool

FPS, SECONDS = 25.0, 16


def _manifest(path, videos, source):
    write_manifest(str(path), [dict(video_id=osp.splitext(osp.basename(v))[0], video=v,
                                    num_frames=num_frames_at_1fps(n, FPS), fps=FPS)
                               for v, n in videos], source=source)
    return str(path)


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    d = tmp_path_factory.mktemp('leak')
    n = int(FPS * SECONDS)
    t1 = write_video(str(d / 'video45.mp4'), n, FPS, smooth_frames(1))
    t2 = write_video(str(d / 'video46.mp4'), n, FPS, smooth_frames(5))
    # the planted copy: trimmed by 3.4 s, re-encoded (MJPG) at 3/4 resolution, renamed
    trim = int(3.4 * FPS)
    dup = write_video(str(d / 'web_0042.avi'), n - trim, FPS, smooth_frames(1), size=(72, 96),
                      fourcc='MJPG', start=trim)
    clean = [write_video(str(d / f'web_{i:04d}.mp4'), n, FPS, smooth_frames(10 + i))
             for i in range(2)]
    test = _manifest(d / 'cholec80.json', [(t1, n), (t2, n)], 'cholec80')
    dirty = _manifest(d / 'web_dirty.json', [(clean[0], n), (dup, n - trim)], 'web')
    ok = _manifest(d / 'web_clean.json', [(c, n) for c in clean], 'web')
    return dict(test=test, dirty=dirty, clean=ok, dir=d)


def test_planted_duplicate_is_found_and_clean_source_passes(corpus, capsys):
    tool = load_tool('data/check_leakage')
    assert tool.main(['--pretrain', corpus['dirty'], '--test', corpus['test']]) == 1
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith('OVERLAP')]
    assert len(lines) == 1, out
    assert '[content] pre-training web:web_0042 <-> test cholec80:video45' in lines[0]
    assert '0s->3s' in lines[0] or '0s->4s' in lines[0]  # the 3.4 s trim
    assert tool.main(['--pretrain', corpus['clean'], '--test', corpus['test']]) == 0
    assert 'no overlap found' in capsys.readouterr().out


def test_overlap_details_and_file_hash(corpus, tmp_path):
    shutil.copy(corpus['dir'] / 'video46.mp4', tmp_path / 'renamed.mp4')
    n = int(FPS * SECONDS)
    pre = load_pretrain_videos([_manifest(tmp_path / 'm.json',
                                          [(str(tmp_path / 'renamed.mp4'), n)], 'web')])
    test = load_pretrain_videos([corpus['test']])
    found = check_leakage(pre, test, progress=False)
    kinds = {(o.kind, o.test_video_id) for o in found}
    assert kinds == {('file', 'video46'), ('content', 'video46')}
    content = [o for o in found if o.kind == 'content'][0]
    assert len(content.frames) >= SECONDS - 2
    assert all(t == p and d <= 2 for p, t, d in content.frames)  # same video: offset 0


def test_shipped_lists_and_pretrain_dataset_guard(corpus, tmp_path):
    assert {'cholec80', 'm2cai16', 'autolaparo', 'pmlr50', 'cataracts', 'cataract21',
            'cholect50', 'endoscapes', 'surgicalactions160'} <= set(list_benchmarks())
    assert benchmark_test_ids('cholec80') == tuple(f'video{i}' for i in range(41, 81))
    assert len(benchmark_test_ids('surgicalactions160')) == 48
    assert infer_benchmark('m2cai16_workflow') == 'm2cai16'
    assert infer_benchmark('manifests/cholec80.json') == 'cholec80'
    assert infer_benchmark('web') is None and infer_benchmark('heichole') is None
    src = dict(name='cholec80', manifest=corpus['test'])
    with pytest.raises(ValueError, match=r"source 'cholec80'.*benchmark 'cholec80'.*"
                                         r"\['video45', 'video46'\]"):
        SurgicalPretrainDataset([src], clip_len=2, frame_interval=1)
    ds = SurgicalPretrainDataset([dict(src, allow_test_videos=True)], clip_len=2,
                                 frame_interval=1)
    assert ds.num_videos == 2
    assert SurgicalPretrainDataset([dict(src, benchmark=None)], clip_len=2).num_videos == 2
    # the check_leakage id check reports it too (no content needed)
    tool = load_tool('data/check_leakage')
    assert tool.main(['--pretrain', corpus['test'], '--test', corpus['clean'],
                      '--no-content']) == 1


def test_pretrain_config_sources_pass_the_guard(repo_root):
    cfg = load_config(osp.join(repo_root, 'configs', 'pretrain', 'surgvista_vitb.py'))
    for src in cfg.train_dataloader.dataset.sources:
        ids = src.get('include') or []
        entries = [VideoEntry(i, 10, frame_dir='x') for i in ids]
        check_source_leakage(src, entries, src['manifest'])  # training videos only
        if src['name'] == 'cholec80':
            with pytest.raises(ValueError, match='video41'):
                check_source_leakage(src, entries + [VideoEntry('video41', 9, frame_dir='y')],
                                     src['manifest'])


def test_a_pretrain_config_stands_in_for_manifests(corpus, tmp_path, capsys):
    cfg = tmp_path / 'pre.py'
    cfg.write_text(
        f"data_root = {str(corpus['dir'])!r}\n"
        "train_dataloader = dict(dataset=dict(type='SurgicalPretrainDataset', "
        "data_root=data_root, sources=[dict(name='web', manifest='web_dirty.json', "
        "exclude=['web_0000'])]))\n")
    tool = load_tool('data/check_leakage')
    assert tool.main(['--pretrain', str(cfg), '--test', corpus['test'],
                      '--test-ids', 'video45']) == 1
    out = capsys.readouterr().out
    assert out.startswith('1 pre-training videos, 1 test videos')  # exclude applied
    assert 'web:web_0042 <-> test cholec80:video45' in out


def test_match_frames_needs_a_consistent_offset_and_a_share_of_the_overlap():
    from surgvista_mm.data_prep.leakage import match_frames
    rng = np.random.default_rng(0)
    test = rng.integers(0, 2 ** 63, 300, dtype=np.int64).astype(np.uint64)
    t_secs = np.arange(300)
    # a copy of seconds 40..99, 1 bit flipped per frame: found at offset 40
    copy = test[40:100] ^ np.uint64(1)
    found = match_frames(np.arange(60), copy, t_secs, test)
    assert len(found) == 60 and all(t - p == 40 and d == 1 for p, t, d in found)
    # an unrelated long video with 4 chance look-alikes at one offset: not an overlap
    other = rng.integers(0, 2 ** 63, 300, dtype=np.int64).astype(np.uint64)
    other[[10, 50, 90, 130]] = test[[15, 55, 95, 135]]
    assert match_frames(np.arange(300), other, t_secs, test) == []
    assert len(match_frames(np.arange(300), other, t_secs, test, min_fraction=0.0)) == 4
    # look-alikes at scattered offsets never add up
    other[[10, 50, 90, 130]] = test[[200, 3, 150, 40]]
    assert match_frames(np.arange(300), other, t_secs, test, min_fraction=0.0) == []
    # a sparsely sampled test video (every 5 s): the copy is still found
    assert len(match_frames(np.arange(60), copy, t_secs[::5], test[::5])) == 12
