"""Fine-tuning datasets: online phase recognition and CholecT50 triplets."""
import json
import os
import os.path as osp

import cv2
import numpy as np
import pytest
import torch

import surgvista_mm  # noqa: F401
from surgvista_mm.datasets import CHOLEC80_PHASES, read_phase_file, read_triplet_labels
from surgvista_mm.datasets.cholect50_dataset import challenge_split
from surgvista_mm.registry import DATASETS


@pytest.fixture(scope='module')
def demo(make_demo):
    return make_demo('--videos', '3', '--frames', '20', '--size', '32', '--web-videos', '0',
                     '--no-progress')


def test_read_phase_file_formats(tmp_path):
    f = tmp_path / 'video01-phase.txt'
    f.write_text('Frame\tPhase\n' + ''.join(
        f'{n}\t{CHOLEC80_PHASES[min(n // 50, 6)]}\n' for n in range(130)))
    assert read_phase_file(str(f), CHOLEC80_PHASES).tolist() == [0, 0, 1, 1, 2, 2]  # rows 0..125
    assert read_phase_file(str(f), CHOLEC80_PHASES, num_frames=3).tolist() == [0, 0, 1]
    g = tmp_path / 'label_01.txt'  # AutoLaparo: 1-fps rows, 1-based frames and phases
    g.write_text('Frame\tPhase\n1\t1\n2\t1\n3\t7\n')
    names = [f'p{i}' for i in range(7)]
    assert read_phase_file(str(g), names, label_fps=1, first_frame=1,
                           int_base=1).tolist() == [0, 0, 6]
    h = tmp_path / 'bad.txt'
    h.write_text('Frame\tPhase\n0\tLunch\n')
    with pytest.raises(ValueError, match=r"bad.txt:2: unknown phase 'Lunch'"):
        read_phase_file(str(h), CHOLEC80_PHASES)
    with pytest.raises(FileNotFoundError, match='nope.txt'):
        read_phase_file(str(tmp_path / 'nope.txt'), CHOLEC80_PHASES)


def test_phase_dataset(demo):
    pipe = [dict(type='SurgicalFrameLoader'), dict(type='TSNMultiScaleCrop', input_size=32),
            dict(type='PackSurgVistaInputs')]
    ds = DATASETS.build(dict(type='SurgicalPhaseDataset', data_root=demo,
                             manifest='manifests/demo_frames.json',
                             label_dir='phase_annotations', exclude='splits/test.txt',
                             pipeline=pipe))
    assert ds.video_ids() == ['video01', 'video02'] and len(ds) == 40
    assert ds.metainfo['classes'] == CHOLEC80_PHASES
    labels = read_phase_file(osp.join(demo, 'phase_annotations', 'video02-phase.txt'),
                             CHOLEC80_PHASES)
    info = ds.get_data_info(20 + 7)
    assert (info['video_id'], info['frame_index'], info['gt_label']) == ('video02', 7,
                                                                         labels[7])
    assert info['frame_inds'].tolist() == [0] * 14 + [3, 7]
    out = ds[27]
    assert out['inputs'].shape == (3, 16, 32, 32)
    assert out['data_samples'].gt_label.tolist() == [labels[7]]
    assert out['data_samples'].frame_index == 7
    test = DATASETS.build(dict(type='SurgicalPhaseDataset', data_root=demo,
                               manifest='manifests/demo_frames.json',
                               label_dir='phase_annotations', include='splits/test.txt'))
    assert test.video_ids() == ['video03']
    with pytest.raises(FileNotFoundError, match=r"labels of video 'video01'.*v01.txt"):
        DATASETS.build(dict(type='SurgicalPhaseDataset', data_root=demo,
                            manifest='manifests/demo_frames.json', label_dir='phase_annotations',
                            label_file_tmpl='v{num:02d}.txt'))


def _make_cholect50(root, vids=(5, 92), frames=6):
    for v in vids:
        d = osp.join(root, 'videos', f'VID{v:02d}')
        os.makedirs(d)
        for k in range(frames):
            cv2.imwrite(osp.join(d, f'{k:06d}.png'), np.full((24, 32, 3), 10 * k, np.uint8))
        ann = {str(k): [[-1] + [-1] * 14] for k in range(frames)}
        ann['2'] = [[7, 0, 1, -1, -1, -1, -1, 0, 0, 1, -1, -1, -1, -1, 0],
                    [94, 0, 1, -1, -1, -1, -1, 9, 14, 1, -1, -1, -1, -1, 0]]
        os.makedirs(osp.join(root, 'labels'), exist_ok=True)
        with open(osp.join(root, 'labels', f'VID{v:02d}.json'), 'w') as f:
            json.dump(dict(video=v, fps=1, num_frames=frames, annotations=ann), f)


def test_cholect50(tmp_path):
    root = str(tmp_path / 'CholecT50')
    _make_cholect50(root)
    labels = read_triplet_labels(osp.join(root, 'labels', 'VID05.json'))
    assert labels.shape == (6, 100) and labels.sum() == 2 and labels[2, [7, 94]].all()
    assert len(challenge_split('train')) == 40 and challenge_split('test')[0] == 92
    ds = DATASETS.build(dict(type='CholecT50TripletDataset', data_root=root, videos=[5, 'VID92'],
                             pipeline=[dict(type='SurgicalFrameLoader'),
                                       dict(type='PackSurgVistaInputs')]))
    assert len(ds) == 12 and ds.video_ids() == ['VID05', 'VID92']
    out = ds[(6 + 2, 0)]
    assert out['inputs'].shape == (3, 16, 24, 32)
    assert out['data_samples'].video_id == 'VID92' and out['data_samples'].frame_index == 2
    gt = out['data_samples'].gt_label
    assert gt.shape == (100,) and torch.nonzero(gt).flatten().tolist() == [7, 94]
    with pytest.raises(FileNotFoundError, match="video 'VID18'"):
        DATASETS.build(dict(type='CholecT50TripletDataset', data_root=root, split='val'))
