"""tools/make_demo_data.py: layout, determinism, idempotence, teacher checkpoint."""
import filecmp
import json
import os
import os.path as osp

import pytest
import torch

from surgvista_mm.datasets.manifest import load_manifest
from tests.helpers.tools import load_tool

ARGS = ['--videos', '3', '--frames', '12', '--size', '32', '--no-progress']


@pytest.fixture(scope='module')
def tool():
    return load_tool('make_demo_data')


def test_layout_and_labels(tool, tmp_path):
    out = str(tmp_path / 'demo')
    assert tool.main(['--out', out] + ARGS) == 0
    frames = {e.video_id: e for e in load_manifest(osp.join(out, 'manifests',
                                                            'demo_frames.json'))}
    assert sorted(frames) == ['video01', 'video02', 'video03']
    assert frames['video01'].num_frames == 12
    assert sorted(os.listdir(frames['video01'].frame_dir))[:2] == ['000000.jpg', '000001.jpg']
    (web,) = load_manifest(osp.join(out, 'manifests', 'demo_web.json'))
    assert web.video.endswith('web01.mp4') and osp.isfile(web.video) and web.num_frames == 12
    with open(osp.join(out, 'splits', 'test.txt')) as f:
        assert f.read().split() == ['video03']
    with open(osp.join(out, 'phase_annotations', 'video02-phase.txt')) as f:
        lines = f.read().splitlines()
    assert lines[0] == 'Frame\tPhase' and len(lines) == 1 + 12 * 25
    rows = [line.split('\t') for line in lines[1:]]
    assert [int(r[0]) for r in rows] == list(range(12 * 25))
    assert rows[0][1] in tool.PHASES and all(r[1] in tool.PHASES for r in rows)
    import cv2
    img = cv2.imread(osp.join(frames['video01'].frame_dir, '000003.jpg'))
    assert img.shape == (32, 40, 3)
    b, g, r = img.reshape(-1, 3).mean(0)
    assert r > g and r > b  # tissue-coloured


def test_teacher_checkpoint(tool, tmp_path):
    out = str(tmp_path / 'demo')
    assert tool.main(['--out', out, '--teacher-width', '32', '--teacher-depth', '3',
                      '--teacher-img', '48', '--teacher-patch', '16'] + ARGS) == 0
    sd = torch.load(osp.join(out, 'teacher', 'demo_teacher_vit.pth'), weights_only=True)
    assert sd['cls_token'].shape == (1, 1, 32) and sd['pos_embed'].shape == (1, 9, 32)
    assert sd['patch_embed.proj.weight'].shape == (32, 3, 16, 16)
    assert sd['blocks.2.mlp.fc1.weight'].shape == (128, 32)
    assert sd['blocks.2.mlp.fc2.weight'].shape == (32, 128)
    for name in ('norm1', 'attn.q', 'attn.k', 'attn.v', 'attn.proj', 'norm2', 'mlp.fc1',
                 'mlp.fc2'):
        assert f'blocks.0.{name}.weight' in sd and f'blocks.0.{name}.bias' in sd
    assert 'blocks.3.norm1.weight' not in sd and 'norm.bias' in sd
    assert len(sd) == 4 + 3 * 16 + 2
    with open(osp.join(out, 'teacher', 'demo_teacher_vit.json')) as f:
        info = json.load(f)
    assert (info['embed_dims'], info['depth'], info['num_patches']) == (32, 3, 9)


def test_deterministic_and_idempotent(tool, tmp_path, capsys):
    a, b = str(tmp_path / 'a'), str(tmp_path / 'b')
    assert tool.main(['--out', a] + ARGS) == 0
    assert tool.main(['--out', b] + ARGS) == 0
    cmp = filecmp.dircmp(a, b)
    for sub in ('frames/video02', 'phase_annotations', 'manifests', 'teacher'):
        names = os.listdir(osp.join(a, sub))
        match, mismatch, errors = filecmp.cmpfiles(osp.join(a, sub), osp.join(b, sub), names,
                                                   shallow=False)
        assert not mismatch and not errors, (sub, mismatch)
    assert not cmp.left_only and not cmp.right_only
    # a second run keeps everything; other arguments are refused without --force
    path = osp.join(a, 'frames', 'video01', '000000.jpg')
    mtime = os.stat(path).st_mtime_ns
    assert tool.main(['--out', a] + ARGS) == 0
    assert 'already complete' in capsys.readouterr().out
    assert os.stat(path).st_mtime_ns == mtime
    assert tool.main(['--out', a, '--seed', '1'] + ARGS) == 2
    assert tool.main(['--out', a, '--seed', '1', '--force'] + ARGS) == 0
    assert not filecmp.cmp(path, osp.join(b, 'frames', 'video01', '000000.jpg'), shallow=False)
    # an interrupted run (no completion marker) resumes, keeping the files already written
    os.remove(osp.join(b, 'demo_info.json'))
    os.remove(osp.join(b, 'frames', 'video03', '000011.jpg'))
    assert tool.main(['--out', b] + ARGS) == 0
    assert osp.isfile(osp.join(b, 'frames', 'video03', '000011.jpg'))
    assert not [f for f in os.listdir(osp.join(b, 'frames', 'video03')) if f.startswith('.tmp')]
