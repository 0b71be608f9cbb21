"""SurgicalPretrainDataset, SurgVistaEpochSampler and the full pre-training pipeline."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import torch
from mmengine.dataset import default_collate, pseudo_collate
from torch.utils.data import DataLoader

import surgvista_mm  # noqa: F401  (registers the modules)
from surgvista_mm.datasets import causal_clip_indices
from surgvista_mm.registry import DATA_SAMPLERS, DATASETS

FRAMES, SIZE = 24, 32


@pytest.fixture(scope='module')
def demo(make_demo):
    return make_demo('--videos', '3', '--frames', str(FRAMES), '--size', str(SIZE),
                     '--web-fps', '2.5', '--no-progress')


def pipeline(size=32, clip_len=16):
    return [dict(type='SurgicalFrameLoader'),
            dict(type='TSNMultiScaleCrop', input_size=size),
            dict(type='TubeMasking', input_size=(clip_len, size, size), patch_size=16,
                 tubelet_size=2, mask_ratio=0.75),
            dict(type='PackSurgVistaInputs')]


def build(demo, sources=None, **kw):
    if sources is None:
        sources = [dict(manifest='manifests/demo_frames.json', exclude='splits/test.txt'),
                   dict(manifest='manifests/demo_web.json')]
    cfg = dict(type='SurgicalPretrainDataset', sources=sources, data_root=demo)
    cfg.update(kw)
    return DATASETS.build(cfg)


def test_clip_indices():
    assert causal_clip_indices(60, 16, 4).tolist() == list(range(0, 61, 4))
    assert causal_clip_indices(100, 16, 4).tolist() == list(range(40, 101, 4))
    assert causal_clip_indices(5, 4, 2).tolist() == [0, 1, 3, 5]  # -1 clamped to 0
    assert causal_clip_indices(0, 3, 4).tolist() == [0, 0, 0]


def test_samples_and_clips(demo):
    ds = build(demo)
    assert ds.video_ids() == ['video01', 'video02', 'web01']
    assert len(ds) == 3 * FRAMES  # the web video has 24 1-fps frames too (60 frames at 2.5 fps)
    info = ds.get_data_info(FRAMES + 9)  # video02, frame 9
    assert (info['video_id'], info['frame_index']) == ('video02', 9)
    assert info['frame_inds'].tolist() == [0] * 13 + [1, 5, 9]
    last = ds.get_data_info(len(ds) - 1)
    assert (last['video_id'], last['frame_index']) == ('web01', FRAMES - 1)
    assert last['native_fps'] == pytest.approx(2.5)
    with pytest.raises(IndexError, match='out of range'):
        ds.get_data_info(len(ds))


def test_include_exclude(demo):
    ds = build(demo, [dict(manifest='manifests/demo_frames.json', include=['video02'])])
    assert ds.video_ids() == ['video02']
    ds = build(demo, [dict(manifest='manifests/demo_frames.json', min_frames=FRAMES + 1),
                      dict(manifest='manifests/demo_web.json')])
    assert ds.video_ids() == ['web01']
    with pytest.raises(ValueError, match=r'demo_frames.json.*both included and excluded.*video03'):
        build(demo, [dict(manifest='manifests/demo_frames.json', include=['video03'],
                          exclude='splits/test.txt')])
    with pytest.raises(ValueError, match=r"demo_frames.json.*not in the manifest.*'video99'"):
        build(demo, [dict(manifest='manifests/demo_frames.json', include=['video99'])])
    with pytest.raises(ValueError, match="unknown keys.*'exclued'"):
        build(demo, [dict(manifest='manifests/demo_frames.json', exclued=['video03'])])


def test_missing_paths(demo, tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.json'):
        build(demo, [dict(manifest='manifests/nope.json')])
    with pytest.raises(FileNotFoundError, match='data_root not found'):
        build(str(tmp_path / 'absent'))
    copy = str(tmp_path / 'demo')
    shutil.copytree(demo, copy)
    shutil.rmtree(osp.join(copy, 'frames', 'video02'))
    with pytest.raises(FileNotFoundError, match=r"frame folder of video 'video02'.*frames/video02"):
        build(copy)
    os.remove(osp.join(copy, 'frames', 'video01', '000005.jpg'))
    ds = build(copy, [dict(manifest='manifests/demo_frames.json', include=['video01'])],
               pipeline=pipeline())
    ds[4]  # clip of frame 4 does not need frame 5
    with pytest.raises(FileNotFoundError, match=r"frame 5 of video 'video01'.*000005.jpg"):
        ds[9]
    with open(osp.join(copy, 'frames', 'video01', '000006.jpg'), 'wb') as f:
        f.write(b'not a jpeg')
    with pytest.raises(ValueError, match=r"frame 6 of video 'video01' cannot be decoded"):
        ds.pipeline(ds.get_data_info(6) | dict(rng=np.random.default_rng(0)))


def test_pipeline_outputs(demo):
    ds = build(demo, pipeline=pipeline())
    for idx in (0, FRAMES + 3, len(ds) - 1):  # frame folder, clamped start, video file
        out = ds[idx]
        x, sample = out['inputs'], out['data_samples']
        assert x.dtype == torch.uint8 and x.shape == (3, 16, SIZE, SIZE)
        assert sample.mask.dtype == torch.bool and sample.mask.shape == (8 * 2 * 2,)
        assert int(sample.mask.sum()) == 8 * 3
        assert isinstance(sample.video_id, str) and isinstance(sample.frame_index, int)
    assert ds[len(ds) - 1]['data_samples'].video_id == 'web01'
    # a clamped clip repeats its first frame
    x = ds[FRAMES + 3]['inputs']
    assert torch.equal(x[:, 0], x[:, 14]) and not torch.equal(x[:, 14], x[:, 15])


def test_video_frames_match_the_timestamp(demo):
    """1-fps frame k of the mp4 is native frame round(2.5 k): compare with direct decoding."""
    import decord
    ds = build(demo, [dict(manifest='manifests/demo_web.json')],
               pipeline=[dict(type='SurgicalFrameLoader')])
    res = ds[(7, 0)]
    reader = decord.VideoReader(osp.join(demo, 'videos', 'web01.mp4'))
    expect = reader.get_batch([int(np.floor(k * 2.5 + 0.5)) for k in res['frame_inds']]).asnumpy()
    assert np.array_equal(np.stack(res['imgs']), expect)


def test_rng_determinism(demo):
    ds = build(demo, pipeline=pipeline())
    a, b = ds[(10, 3)], ds[(10, 3)]
    assert torch.equal(a['inputs'], b['inputs'])
    assert torch.equal(a['data_samples'].mask, b['data_samples'].mask)
    ds.set_epoch(3)
    assert torch.equal(ds[10]['data_samples'].mask, a['data_samples'].mask)
    masks = {tuple(ds[(10, e)]['data_samples'].mask.tolist()) for e in range(6)}
    assert len(masks) > 1  # epochs differ
    other = build(demo, pipeline=pipeline(), seed=1)
    assert not all(torch.equal(other[(i, 3)]['data_samples'].mask, ds[(i, 3)]['data_samples'].mask)
                   for i in range(4))


def test_sampler_sharding(demo, monkeypatch):
    import mmengine.dataset.sampler as sampler_mod
    ds = build(demo)
    shards = []
    for rank in range(2):
        monkeypatch.setattr(sampler_mod, 'get_dist_info', lambda r=rank: (r, 2))
        s = DATA_SAMPLERS.build(dict(type='SurgVistaEpochSampler', shuffle=True, seed=7),
                                default_args=dict(dataset=ds))
        s.set_epoch(5)
        items = list(s)
        assert len(items) == len(s) == (len(ds) + 1) // 2
        assert all(isinstance(i, tuple) and i[1] == 5 for i in items)
        shards.append([i for i, _ in items])
    assert sorted(shards[0] + shards[1]) == list(range(len(ds)))  # 72 samples: no padding
    monkeypatch.setattr(sampler_mod, 'get_dist_info', lambda: (0, 1))
    s = DATA_SAMPLERS.build(dict(type='SurgVistaEpochSampler', shuffle=True, seed=7),
                            default_args=dict(dataset=ds))
    s.set_epoch(5)
    order5 = [i for i, _ in s]
    s.set_epoch(6)
    assert [i for i, _ in s] != order5


def test_dataloader(demo):
    ds = build(demo, pipeline=pipeline())
    s = DATA_SAMPLERS.build(dict(type='SurgVistaEpochSampler', shuffle=True, seed=0),
                            default_args=dict(dataset=ds))
    s.set_epoch(2)
    batch = next(iter(DataLoader(ds, batch_size=3, sampler=s, collate_fn=pseudo_collate)))
    assert len(batch['inputs']) == 3 and batch['inputs'][0].shape == (3, 16, SIZE, SIZE)
    first = next(iter(s))
    ref = ds[first]
    assert torch.equal(batch['inputs'][0], ref['inputs'])
    assert batch['data_samples'][0].frame_index == ref['data_samples'].frame_index
    batch = next(iter(DataLoader(ds, batch_size=2, sampler=s, collate_fn=default_collate,
                                 num_workers=1)))
    assert batch['inputs'].shape == (2, 3, 16, SIZE, SIZE)
    assert torch.equal(batch['inputs'][0], ref['inputs'])  # same sample in a worker process


def test_video_index_past_end(demo):
    ds = build(demo, [dict(manifest='manifests/demo_web.json')],
               pipeline=[dict(type='SurgicalFrameLoader')])
    info = ds.get_data_info(0)
    info['frame_inds'] = np.array([0, FRAMES + 5])
    with pytest.raises(IndexError, match=r"video 'web01'.*past its 60 frames"):
        ds.pipeline(info)
    info['filename'] = osp.join(demo, 'videos', 'gone.mp4')
    with pytest.raises(FileNotFoundError, match=r"video 'web01' not found.*gone.mp4"):
        ds.pipeline(info)
