"""Generic formats for private datasets: triplet CSV reader, Prostate21 / ESD57 configs read a
prepared folder, PSI-AVA (train-only) videos can not enter val / test, the triplet class count,
map and split are configurable."""
from __future__ import annotations

import json
import os.path as osp

import numpy as np
import pytest
from mmengine.config import Config

from surgvista_mm.data_prep.releases import ReleaseError, prepare
from surgvista_mm.datasets import read_generic_triplet_csv
from surgvista_mm.datasets.cholect50_dataset import challenge_split
from surgvista_mm.registry import DATASETS, METRICS
from tests.helpers.synth_video import write_video
from tests.test_data_prep_releases import build_generic_triplet

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PROSTATE = osp.join(ROOT, 'configs', 'finetune', 'surgvista_vitb_prostate21_triplet.py')


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    return write_video(str(tmp_path_factory.mktemp('clip') / 'clip.mp4'), 75, 25.0)


def test_generic_triplet_csv(tmp_path):
    p = tmp_path / 'v.csv'
    p.write_text('frame,triplets\n0,\n1,3 5\n2,88\n')
    labels = read_generic_triplet_csv(str(p), 89)
    assert labels.shape == (3, 89) and labels.dtype == np.uint8
    assert [np.flatnonzero(r).tolist() for r in labels] == [[], [3, 5], [88]]
    with pytest.raises(ValueError,
                       match=r'v\.csv:4: unknown triplet id \'88\' \(expected 0\.\.9\)'):
        read_generic_triplet_csv(str(p), 10)
    with pytest.raises(ValueError, match=r'v\.csv: 3 rows for a video of 4 frames'):
        read_generic_triplet_csv(str(p), 89, num_frames=4)
    p.write_text('frame,triplets\n0,1\n2,1\n')
    with pytest.raises(ValueError, match=r'v\.csv:3: frame \'2\' should be 1'):
        read_generic_triplet_csv(str(p), 89)
    p.write_text('frame;ids\n')
    with pytest.raises(ValueError, match=r'v\.csv:1: expected the header'):
        read_generic_triplet_csv(str(p), 89)


def _prepared_prostate(tmp_path, clip):
    release = str(tmp_path / 'release')
    build_generic_triplet(release, clip)
    out = str(tmp_path / 'prostate21')
    prepare('generic_triplet', release, out)
    return release, out


def test_prostate21_config_reads_generic_format_psi_ava_only_in_training(tmp_path,
                                                                         clip):
    release, out = _prepared_prostate(tmp_path, clip)
    cfg = Config.fromfile(PROSTATE)
    for key, vid in (('train_dataloader', 'CASE001'), ('val_dataloader', 'p02'),
                     ('test_dataloader', 'p03')):
        ds = DATASETS.build(dict(cfg[key].dataset, data_root=out, pipeline=[]))
        assert ds.video_ids() == [vid] and ds.metainfo['num_classes'] == 89
        assert ds.get_data_info(1)['gt_label'].shape == (89,)
    # a PSI-AVA (train-only) video put in the test split: the test dataset refuses to build
    with open(f'{out}/splits/test.txt', 'a') as f:
        f.write('CASE001\n')
    with pytest.raises(ValueError, match=r"both included and excluded: \['CASE001'\]"):
        DATASETS.build(dict(cfg.test_dataloader.dataset, data_root=out, pipeline=[]))
    # ... and prepare refuses such a release, naming the file and line
    with open(f'{release}/splits/val.txt', 'a') as f:
        f.write('CASE001\n')
    with pytest.raises(ReleaseError, match=r"val\.txt:2: video 'CASE001' is also in the train"):
        prepare('generic_triplet', release, str(tmp_path / 'again'))
    # the metric reads the prepared map and null classes
    ev = dict(cfg.val_evaluator, maps=f'{out}/maps.txt', null_classes=f'{out}/null_classes.txt')
    metric = METRICS.build(ev)
    assert metric.num_triplets == 89 and metric.null_classes == (88,)
    with pytest.raises(ValueError, match='not num_classes=100'):
        METRICS.build(dict(ev, num_classes=100))


def test_cholect50_dataset_class_count_and_split_are_arguments(tmp_path):
    assert challenge_split('train', dict(val=[2], test=[3]), (1, 2, 3, 4)) == [1, 4]
    root = tmp_path / 'T'
    for v in (1, 4):
        d = root / 'videos' / f'VID{v:02d}'
        d.mkdir(parents=True)
        import cv2
        for k in range(2):
            cv2.imwrite(str(d / f'{k:06d}.png'), np.zeros((8, 8, 3), np.uint8))
        (root / 'labels').mkdir(exist_ok=True)
        ann = {'0': [[11] + [-1] * 14], '1': [[-1] * 15]}
        (root / 'labels' / f'VID{v:02d}.json').write_text(
            json.dumps(dict(num_frames=2, annotations=ann)))
    ds = DATASETS.build(dict(type='CholecT50TripletDataset', data_root=str(root), split='train',
                             splits=dict(val=[2], test=[3]), all_videos=[1, 2, 3, 4],
                             num_classes=12))
    assert ds.video_ids() == ['VID01', 'VID04'] and ds.metainfo['num_classes'] == 12
    assert ds.get_data_info(0)['gt_label'].shape == (12,)
    with pytest.raises(ValueError, match='triplet id 11 >= 10'):
        DATASETS.build(dict(type='CholecT50TripletDataset', data_root=str(root), videos=[1],
                            num_classes=10))
