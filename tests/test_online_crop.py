"""Online inference equals training on letterboxed video: the crop box found by
extract_frames.py --crop-margin is recorded per video, and online_phase.py cuts the same box
(from the manifest, or found the same way), giving test.py's per-second phases."""
from __future__ import annotations

import csv
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

from surgvista_mm.data_prep.frames import margin_box
from surgvista_mm.data_prep.releases import prepare
from surgvista_mm.utils import load_config
from tests.helpers.devices import CPU_ONLY_ENV
from tests.helpers.synth_video import smooth_frames, write_video
from tests.helpers.tools import load_tool
from tests.test_custom_dataset import CLASSES, PHASE, _put, _toy_options

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
H, W, TOP, BOTTOM = 120, 160, 22, 98  # picture rows 22..97, black above and below


def letterboxed(seed: int):
    picture = smooth_frames(seed, (BOTTOM - TOP, W))

    def frame(i: int) -> np.ndarray:
        img = np.zeros((H, W, 3), np.uint8)
        img[TOP:BOTTOM] = np.maximum(picture(i), 40)  # no black inside the picture
        return img
    return frame


def test_margin_box_leaves_no_black_strip():
    frame = letterboxed(0)
    assert margin_box([frame(i) for i in range(0, 40, 4)]) == (0, TOP, W, BOTTOM)
    # the Cholec80 rule at height 300 alone reached 1-2 rows into the margin here
    tall = [np.pad(frame(i), ((50, 50), (0, 0), (0, 0))) for i in range(0, 40, 4)]
    assert margin_box(tall) == (0, TOP + 50, W, BOTTOM + 50)


@pytest.fixture(scope='module')
def letterboxed_release(tmp_path_factory):
    base = tmp_path_factory.mktemp('letterbox')
    release = str(base / 'release')
    os.makedirs(f'{release}/videos')
    seconds = 12
    for i, vid in enumerate(('lb1', 'lb2', 'lb3')):
        write_video(f'{release}/videos/{vid}.mp4', seconds * 5, 5.0, letterboxed(i))
        _put(f'{release}/labels/{vid}.csv', 'frame,phase\n' + ''.join(
            f'{t},{CLASSES[t * 5 // seconds]}\n' for t in range(seconds)))
    _put(f'{release}/classes.txt', '\n'.join(CLASSES) + '\n')
    for split, vid in (('train', 'lb1'), ('val', 'lb2'), ('test', 'lb3')):
        _put(f'{release}/splits/{split}.txt', vid + '\n')
    frames = str(base / 'frames')
    assert load_tool('data/extract_frames').main([
        f'{release}/videos', '--out', frames, '--crop-margin', '--png']) == 0
    out = str(base / 'mine')
    prepare('generic_phase', release, out, frames=frames)
    return dict(release=release, frames=frames, out=out, base=str(base))


def test_crop_box_recorded_in_the_manifests(letterboxed_release):
    built = f'{letterboxed_release["base"]}/built.json'  # build_manifest.py keeps it too
    assert load_tool('build_manifest').main([letterboxed_release['frames'], '--out', built,
                                             '--frames-glob', '*.png']) == 0
    for path in (f'{letterboxed_release["frames"]}/manifest.json', built,
                 f'{letterboxed_release["out"]}/manifests/mine.json'):
        with open(path) as f:
            videos = json.load(f)['videos']
        assert [v['crop_box'] for v in videos] == [[0, TOP, W, BOTTOM]] * 3, path


def test_online_on_letterboxed_mp4_equals_test_py(letterboxed_release, tmp_path):
    d = letterboxed_release
    cfg = load_config(PHASE, _toy_options(d['out'], str(tmp_path / 'work')))
    from mmengine.registry import init_default_scope

    from surgvista_mm.registry import MODELS
    init_default_scope('surgvista_mm')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    torch.nn.init.normal_(model.cls_head.head.weight, std=0.1)  # the zero-initialised head
    ckpt = str(tmp_path / 'toy.pth')
    torch.save(dict(state_dict=model.state_dict(), meta=dict(epoch=1)), ckpt)
    cfg_path = str(tmp_path / 'toy_custom.py')
    cfg.dump(cfg_path)
    results = str(tmp_path / 'results')
    env = dict(os.environ, **CPU_ONLY_ENV, PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'test.py'), cfg_path, ckpt,
                           '--work-dir', str(tmp_path / 'test'), '--out-dir', results],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    with open(osp.join(results, 'pred', 'lb3-phase.txt')) as f:
        test_ids = [int(line.split('\t')[1]) for line in f.read().splitlines()[1:]]
    assert len(test_ids) == 12

    online = load_tool('inference/online_phase').main
    video = f'{d["release"]}/videos/lb3.mp4'

    def run(name: str, *extra: str) -> tuple:
        out = str(tmp_path / name)
        assert online([cfg_path, ckpt, video, '--out-dir', out, '--no-progress', '--no-plot',
                       *extra]) == 0
        with open(osp.join(out, 'lb3_phases.csv')) as f:
            rows = list(csv.reader(f))[1:]
        with open(osp.join(out, 'lb3_phases.json')) as f:
            doc = json.load(f)
        return [int(r[1]) for r in rows], np.asarray(doc['probs']), doc.get('crop_box')

    ids, probs, box = run('from_manifest', '--manifest', f'{d["out"]}/manifests/mine.json')
    assert box == [0, TOP, W, BOTTOM] and ids == test_ids
    with np.load(osp.join(results, 'scores.npz')) as z:
        np.testing.assert_allclose(probs, z['scores'], atol=2e-6)
    assert np.ptp(probs, axis=0).max() > 1e-3  # the scores move with the video
    ids2, probs2, box2 = run('detected', '--crop-margin')
    assert box2 == box and ids2 == test_ids
    np.testing.assert_allclose(probs2, probs, atol=2e-6)
    # without the crop the model sees other pixels (the bug this fixes)
    _, uncropped, none = run('uncropped')
    assert none is None and np.abs(uncropped - probs).max() > 1e-3


def test_crop_options_are_checked(letterboxed_release, tmp_path):
    from surgvista_mm.inference.crop import apply_crop
    from surgvista_mm.inference.frames import open_frames
    d = letterboxed_release
    source = open_frames(f'{d["release"]}/videos/lb1.mp4')
    with pytest.raises(ValueError, match='not both'):
        apply_crop(source, f'{d["out"]}/manifests/mine.json', True)
    with pytest.raises(KeyError, match=r"video 'x' is not in"):
        source.video_id = 'x'
        apply_crop(source, f'{d["out"]}/manifests/mine.json')
    with pytest.raises(ValueError, match='is a frame folder'):
        apply_crop(open_frames(f'{d["frames"]}/lb1'), crop_margin=True)
