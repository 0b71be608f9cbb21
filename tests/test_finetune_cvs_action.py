"""CVS (Endoscapes2023, Cholec80-CVS) and SurgicalActions160 datasets on tiny synthetic releases."""
from __future__ import annotations

import json
import math
import os.path as osp

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from surgvista_mm.datasets import (Cholec80CVSDataset, EndoscapesCVSDataset,
                                   SurgicalActions160Dataset, surgical_actions160_split)
from surgvista_mm.datasets.action_dataset import list_surgical_actions160

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
# video -> (first frame, number of 1-fps frames, {keyframe: ds})
ENDO = {'train': {3: (500, 12, {500: [1, 2 / 3, 0], 625: [1 / 3, 1 / 3, 1 / 3],
                                750: [1, 1, 1]}),
                  4: (0, 6, {100: [0, 0, 2 / 3]})},
        'val': {7: (25, 8, {150: [2 / 3, 0, 1 / 3], 175: [1, 1, 0]})},
        'test': {9: (0, 6, {125: [0, 1, 1]})}}


def _endoscapes(root: str, with_csv: bool = True) -> str:
    rows = []
    for split, vids in ENDO.items():
        d = osp.join(root, split)
        images = []
        for vid, (first, n, keys) in vids.items():
            for k in range(n):
                frame = first + 25 * k
                img = np.full((24, 32, 3), (vid * 20 + k * 5) % 255, np.uint8)
                cv2.imwrite(osp.join(_mk(d), f'{vid}_{frame}.jpg'), img)
                key = frame in keys
                images.append(dict(file_name=f'{vid}_{frame}.jpg', id=vid * 10 ** 6 + frame,
                                   video_id=vid, is_ds_keyframe=key,
                                   ds=[round(x, 4) for x in keys.get(frame, [0, 0, 0])]))
                cs = keys.get(frame)
                rows.append(f'{vid},{frame},0,' + (','.join(f'{x:.4f}' for x in cs) if key
                                                   else ',,') + f',{key},,,,,')
        with open(osp.join(d, 'annotation_ds_coco.json'), 'w') as f:
            json.dump(dict(images=[i for i in images if i['is_ds_keyframe']], annotations=[],
                           categories=[]), f)
        with open(osp.join(root, f'{split}_vids.txt'), 'w') as f:
            f.write(''.join(f'{float(v):.18e}\n' for v in vids))
    if with_csv:
        with open(osp.join(root, 'all_metadata.csv'), 'w') as f:
            f.write('vid,frame,avg_cvs,C1,C2,C3,is_ds_keyframe,cvs_annotator_1,cvs_annotator_2,'
                    'cvs_annotator_3,mask_path,label_path\n' + '\n'.join(rows) + '\n')
    return root


def _mk(d: str) -> str:
    import os
    os.makedirs(d, exist_ok=True)
    return d


@pytest.fixture()
def endo_root(tmp_path) -> str:
    return _endoscapes(str(tmp_path / 'endoscapes'))


@pytest.mark.parametrize('source', ['coco', 'csv'])
def test_endoscapes_samples_clips_labels(endo_root, source):
    ds = EndoscapesCVSDataset(endo_root, 'train', ann_source=source)
    assert len(ds) == 4 and ds.video_ids() == ['3', '4']
    info = ds.get_data_info(0)  # keyframe 500 = first frame of video 3: all clamped
    assert info['frame_index'] == 500 and info['frame_inds'].tolist() == [500] * 8
    assert info['gt_label'].tolist() == [1, 1, 0]
    np.testing.assert_allclose(info['gt_score'], [1, 2 / 3, 0], atol=1e-3)
    info = ds.get_data_info(2)  # keyframe 750 = 10 s in: 4 s stride, clamped at 500
    assert info['frame_inds'].tolist() == [500] * 5 + [550, 650, 750]
    assert info['gt_label'].tolist() == [1, 1, 1]
    assert ds.get_data_info(1)['gt_label'].tolist() == [0, 0, 0]  # 1/3 rounds down
    four = EndoscapesCVSDataset(endo_root, 'train', task='single_label4', ann_source=source)
    assert [four.get_data_info(i)['gt_label'] for i in range(4)] == [2, 0, 3, 1]
    assert len(EndoscapesCVSDataset(endo_root, 'val')) == 2


def test_endoscapes_pipeline_packs_gt_score(endo_root):
    ds = EndoscapesCVSDataset(endo_root, 'test', pipeline=[
        dict(type='SurgicalFrameLoader'), dict(type='PackSurgVistaCVSInputs')])
    out = ds[(0, 0)]
    assert tuple(out['inputs'].shape) == (1, 3, 8, 24, 32)
    sample = out['data_samples']
    assert sample.gt_label.tolist() == [0, 1, 1] and sample.gt_score.dtype.is_floating_point
    assert sample.metainfo['video_id'] == '9' and sample.metainfo['frame_index'] == 125


def test_endoscapes_errors_name_the_file(tmp_path):
    root = _endoscapes(str(tmp_path / 'e'), with_csv=False)
    with pytest.raises(FileNotFoundError, match='all_metadata.csv'):
        EndoscapesCVSDataset(root, 'train', ann_source='csv')
    with open(osp.join(root, 'all_metadata.csv'), 'w') as f:
        f.write('vid,frame,avg_cvs,C1,C2,C3,is_ds_keyframe\n3,500,0,x,0,0,True\n')
    with pytest.raises(ValueError, match=r'all_metadata.csv:2'):
        EndoscapesCVSDataset(root, 'train', ann_source='csv')
    with open(osp.join(root, 'val_vids.txt'), 'w') as f:
        f.write('seven\n')
    with pytest.raises(ValueError, match='val_vids.txt:1'):
        EndoscapesCVSDataset(root, 'val')
    import os
    os.remove(osp.join(root, 'test', 'annotation_ds_coco.json'))
    with pytest.raises(FileNotFoundError, match='annotation_ds_coco.json'):
        EndoscapesCVSDataset(root, 'test')


CVS_HEADER = ('video,initial_minute,initial_second,final_minute,final_second,two_structures,'
              'cystic_plate,hepatocystic_triangle,Total,critical_view\n')


def _cholec80_cvs(root: str, rows: str) -> dict:
    manifest = dict(videos=[dict(video_id=f'video{n:02d}', num_frames=200, frame_dir=f'v{n}')
                            for n in (1, 2, 41)])
    with open(osp.join(root, 'm.json'), 'w') as f:
        json.dump(manifest, f)
    with open(osp.join(root, 'cvs.csv'), 'w') as f:
        f.write(CVS_HEADER + rows)
    return dict(ann_file='cvs.csv', manifest='m.json', data_root=root)


def test_cholec80_cvs_segments(tmp_path):
    rows = ('1,0,10,0,25,1,0,1,2,0\n'    # score 2, seconds 10-25
            '1,1,0,1,2,2,2,2,6,1\n'      # score 6: dropped
            '1,2,0,1,50,1,1,1,3,0\n'     # end < start: dropped
            '2,3,0,4,0,2,1,2,5,1\n'      # 180-240 s: end clamped to 199
            '41,0,0,0,3,0,0,0,0,0\n')    # test video
    args = _cholec80_cvs(str(tmp_path), rows)
    train = Cholec80CVSDataset(split='train', **args)
    assert len(train) == 2 and train.video_ids() == ['video01', 'video02']
    a, b = train.get_data_info(0), train.get_data_info(1)
    assert a['gt_label'] == 2 and b['gt_label'] == 5
    assert a['frame_inds'].tolist() == [10 + int((j + 0.5) * 16 / 16) for j in range(16)]
    assert b['frame_inds'].min() >= 180 and b['frame_inds'].max() <= 199
    test = Cholec80CVSDataset(split='test', **args)
    c = test.get_data_info(0)
    assert c['gt_label'] == 0 and len(c['frame_inds']) == 16 and c['frame_inds'].max() <= 3
    assert np.all(np.diff(c['frame_inds']) >= 0)


def test_cholec80_cvs_malformed_row(tmp_path):
    args = _cholec80_cvs(str(tmp_path), '1,0,10,0,25,1,0,1,2,0\n1,0,x,0,25,1,0,1,2,0\n')
    with pytest.raises(ValueError, match=r'cvs.csv: row 3'):
        Cholec80CVSDataset(split='train', **args)
    args = _cholec80_cvs(str(tmp_path), '1,0,10,0,25,3,0,1,2,0\n')
    with pytest.raises(ValueError, match='0, 1 or 2'):
        Cholec80CVSDataset(split='train', **args)
    with pytest.raises(FileNotFoundError, match='nope.csv'):
        Cholec80CVSDataset(split='train', ann_file='nope.csv', manifest='m.json',
                           data_root=str(tmp_path))


def _actions(root: str, classes=(1, 2, 3), clips=10, frames=20) -> str:
    names = ['abdominal_access', 'injection', 'cutting']
    for c in classes:
        d = _mk(osp.join(root, f'{c:02d}_{names[c - 1]}'))
        for m in range(1, clips + 1):
            w = cv2.VideoWriter(osp.join(d, f'{c:02d}_{m:02d}.mp4'),
                                cv2.VideoWriter_fourcc(*'mp4v'), 25, (32, 24))
            for k in range(frames):
                w.write(np.full((24, 32, 3), (k * 10 + c * 30) % 255, np.uint8))
            w.release()
    return root


def test_surgical_actions160_split_is_seeded_and_stratified():
    clips = [f'{c:02d}_x/{c:02d}_{m:02d}.mp4' for c in range(1, 17) for m in range(1, 11)]
    split = surgical_actions160_split(clips, seed=0)
    assert (len(split['train']), len(split['val']), len(split['test'])) == (112, 0, 48)
    assert split == surgical_actions160_split(list(reversed(clips)), seed=0)
    assert split != surgical_actions160_split(clips, seed=1)
    assert not set(split['train']) & set(split['test'])
    for c in range(1, 17):
        assert sum(p.startswith(f'{c:02d}_') for p in split['test']) == 3
    carved = surgical_actions160_split(clips, seed=0, val_per_class=1)
    assert len(carved['val']) == 16 and carved['test'] == split['test']
    assert set(carved['train']) | set(carved['val']) == set(split['train'])


def test_surgical_actions160_dataset(tmp_path):
    root = _actions(str(tmp_path / 'sa160'))
    assert len(list_surgical_actions160(root)) == 30
    ds = SurgicalActions160Dataset(root, split='test', pipeline=[
        dict(type='SurgicalFrameLoader'), dict(type='PackSurgVistaClipInputs')])
    assert len(ds) == 9
    info = ds.get_data_info(0)
    assert info['gt_label'] == int(info['video_id'][:2]) - 1
    assert info['frame_inds'].tolist() == [int((j + 0.5) * 20 / 16) for j in range(16)]
    out = ds[(0, 0)]
    assert tuple(out['inputs'].shape) == (1, 3, 16, 24, 32)
    assert len(SurgicalActions160Dataset(root, split='train')) == 21


def test_endoscapes_runner_one_epoch(endo_root, tmp_path):
    from surgvista_mm.engine import SurgVistaRunner
    cfg = Config.fromfile(osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py'))
    cfg.model.cls_head.update(num_classes=3, multi_label=True, label_smooth_eps=0.0)
    cfg.model.data_preprocessor.blending = None
    size = cfg.img_size
    common = dict(type='EndoscapesCVSDataset', data_root=endo_root, clip_len=8,
                  frame_interval=4)
    test_pipe = [dict(type='SurgicalFrameLoader'),
                 dict(type='mmaction.Resize', scale=(size, size), keep_ratio=False),
                 dict(type='PackSurgVistaCVSInputs')]
    for key, split in (('train_dataloader', 'train'), ('val_dataloader', 'val'),
                       ('test_dataloader', 'test')):
        cfg[key] = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        sampler=dict(type='SurgVistaEpochSampler' if split == 'train'
                                     else 'DefaultSampler', shuffle=split == 'train'),
                        dataset=dict(common, split=split, pipeline=test_pipe,
                                     test_mode=split != 'train'))
    cfg.val_evaluator = dict(type='SurgicalCVSMetric', task='multilabel')
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1, save_best='cvs/mAP',
                                        rule='greater')
    cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    cfg.work_dir = str(tmp_path / 'work')
    runner = SurgVistaRunner.from_cfg(cfg)
    runner.train()
    metrics = runner.val()
    assert math.isfinite(metrics['cvs/mAP']) and 0.0 <= metrics['cvs/mAP'] <= 1.0
    assert math.isfinite(runner.message_hub.get_scalar('train/loss').current())
