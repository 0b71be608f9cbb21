"""Fault injection on media: load errors name file, video and frame; check_media finds bad media
before training; on_bad_sample='skip' replaces a bad sample deterministically, within a budget."""
from __future__ import annotations

import json
import logging
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
import torch

from surgvista_mm.datasets import base_clip_dataset
from surgvista_mm.datasets.base_clip_dataset import BadSampleBudgetError
from surgvista_mm.datasets.media import MediaError
from surgvista_mm.datasets.media_check import check_manifests
from surgvista_mm.registry import DATASETS
from tests.helpers.tools import load_tool


@pytest.fixture(scope='module')
def demo(make_demo) -> str:
    return make_demo('--videos', '2', '--frames', '16', '--size', '64', '--web-videos', '1')


@pytest.fixture
def data(demo, tmp_path) -> str:
    out = str(tmp_path / 'demo')
    shutil.copytree(demo, out)
    return out


def _ds(root, manifest='manifests/demo_frames.json', **kw):
    return DATASETS.build(dict(type='SurgicalPretrainDataset', data_root=root,
                               sources=[dict(manifest=manifest)], clip_len=4, frame_interval=1,
                               pipeline=[dict(type='SurgicalFrameLoader'),
                                         dict(type='PackSurgVistaInputs')], **kw))


def _frame(root, vid, k):
    return osp.join(root, 'frames', vid, f'{k:06d}.jpg')


def test_zero_byte_and_corrupt_jpeg_errors_name_file_video_and_frame(data):
    open(_frame(data, 'video01', 5), 'wb').close()
    ds = _ds(data)
    with pytest.raises(MediaError, match=r"frame 5 of video 'video01' is an empty file "
                                         r"\(0 bytes\): .*video01/000005.jpg") as info:
        ds[5]  # the clip of frame 5 needs frames 2..5
    assert (info.value.video_id, info.value.frame) == ('video01', 5)
    assert isinstance(info.value, ValueError)
    with open(_frame(data, 'video02', 3), 'wb') as f:
        f.write(b'\x00garbage' * 10)
    with pytest.raises(MediaError, match=r"frame 3 of video 'video02' cannot be decoded.*"
                                         r"video02/000003.jpg"):
        ds[16 + 4]


def test_decord_errors_name_the_video(data):
    path = osp.join(data, 'videos', 'web01.mp4')
    with open(path, 'r+b') as f:
        f.truncate(200)
    ds = _ds(data, 'manifests/demo_web.json')
    with pytest.raises(MediaError, match=r"video 'web01'.*web01.mp4") as info:
        ds[3]
    assert info.value.video_id == 'web01' and info.value.path == path


def test_check_media_reports_every_bad_file(data, tmp_path):
    open(_frame(data, 'video01', 2), 'wb').close()                        # 0 bytes
    raw = open(_frame(data, 'video01', 4), 'rb').read()
    open(_frame(data, 'video01', 4), 'wb').write(raw[:len(raw) // 2])     # truncated
    cv2.imwrite(_frame(data, 'video02', 7), np.zeros((32, 40, 3), np.uint8))  # mis-sized
    import os
    os.remove(_frame(data, 'video02', 9))                                  # missing
    manifests = [osp.join(data, 'manifests', m) for m in ('demo_frames.json', 'demo_web.json')]
    report = check_manifests(manifests, workers=2, progress=False)
    found = {(p.video_id, p.frame): p.problem for p in report.problems}
    assert set(found) == {('video01', 2), ('video01', 4), ('video02', 7), ('video02', 9)}
    assert 'empty' in found[('video01', 2)] and 'truncated' in found[('video01', 4)]
    assert "40x32 differs from the video's" in found[('video02', 7)]
    assert found[('video02', 9)] == 'missing'
    assert report.videos == 3 and report.frames == 48
    # the command line and build_manifest --verify say the same and exit 1
    assert load_tool('data/check_media').main([*manifests, '--no-progress']) == 1
    video = json.load(open(manifests[1]))['videos'][0]
    video['num_frames'] = 40  # longer than the file
    json.dump(dict(videos=[video], data_root='..'), open(manifests[1], 'w'))
    bad_len = check_manifests([manifests[1]], progress=False).problems
    assert len(bad_len) == 1 and 'the manifest says 40 1-fps frames, the file has 16' in \
        bad_len[0].problem
    build = load_tool('build_manifest')
    assert build.main([osp.join(data, 'frames'), '--out', str(tmp_path / 'm.json'),
                       '--verify', '--workers', '2', '--allow-gaps']) == 1


def test_skip_replaces_bad_samples_deterministically_within_a_budget(data, monkeypatch):
    open(_frame(data, 'video01', 5), 'wb').close()  # samples 5..8 need frame 5
    logged = []
    monkeypatch.setattr(base_clip_dataset, 'print_log',
                        lambda msg, logger=None, level=logging.INFO: logged.append((level, msg)))
    with pytest.raises(MediaError):
        _ds(data)[5]  # 'error' is the default
    ds = _ds(data, on_bad_sample='skip', max_bad_samples=3)
    first = ds[(6, 2)]
    warnings = [m for level, m in logged if level == logging.WARNING]
    assert len(warnings) == 1 and 'video01/000005.jpg' in warnings[0]
    again = _ds(data, on_bad_sample='skip', max_bad_samples=3)[(6, 2)]  # e.g. after a resume
    assert torch.equal(first['inputs'], again['inputs'])
    logged.clear()
    assert first['data_samples'].frame_index not in (5, 6, 7, 8) or \
        first['data_samples'].video_id != 'video01'
    ds[(6, 3)]  # the same sample in another epoch is not counted twice
    ds[5]
    assert ds.bad_sample_count() == 2
    assert not logged  # each bad file is logged once
    ds[7]
    with pytest.raises(BadSampleBudgetError, match=r'4 samples failed to load, more than '
                                                    r'max_bad_samples=3.*000005.jpg'):
        ds[8]
    with pytest.raises(ValueError, match='for training'):
        _ds(data, on_bad_sample='skip', test_mode=True)


def test_skip_counts_bad_samples_across_dataloader_workers(data):
    from torch.utils.data import DataLoader
    open(_frame(data, 'video01', 5), 'wb').close()  # samples 5..8 need frame 5
    ds = _ds(data, on_bad_sample='skip', max_bad_samples=10)
    loader = DataLoader(ds, batch_size=2, num_workers=2, sampler=[4, 5, 6, 7, 8, 9],
                        collate_fn=lambda batch: batch)
    seen = [len(batch) for batch in loader]
    assert seen == [2, 2, 2]
    assert ds.bad_sample_count() == 4  # recorded by the workers, read by the main process


def test_crop_loader_errors_are_media_errors_too(data):
    """The fast pre-training loader (libjpeg-turbo region decode) names file, video and frame."""
    from surgvista_mm.registry import TRANSFORMS
    loader = TRANSFORMS.build(dict(type='SurgicalFrameCropLoader', input_size=32))
    ds = _ds(data)
    info = ds.get_data_info(5)
    with open(_frame(data, 'video01', 4), 'wb') as f:
        f.write(b'\xff\xd8\xff' + b'\x00' * 64)  # a JPEG signature, then garbage
    with pytest.raises(MediaError, match=r"frame 4 of video 'video01' cannot be decoded: "
                                         r".*video01/000004.jpg") as err:
        loader(dict(info, rng=np.random.default_rng(0)))
    assert err.value.frame == 4
    import os
    os.remove(_frame(data, 'video01', 3))
    with pytest.raises(MediaError, match=r"frame 3 of video 'video01' not found"):
        loader(dict(info, rng=np.random.default_rng(0)))
