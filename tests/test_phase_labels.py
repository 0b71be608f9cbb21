"""Official phase label formats (CATARACTS, Cataract-101, Cataract-21, PmLR50), configs."""
import json
import os.path as osp

import cv2
import numpy as np
import pytest

import surgvista_mm  # noqa: F401
from surgvista_mm.datasets.manifest import native_index
from surgvista_mm.datasets.phase_labels import (CATARACT21_PHASES, CATARACT101_PHASES,
                                                CATARACTS_STEPS, PMLR50_PHASES,
                                                cataract101_split, read_cataract21_csv,
                                                read_cataract101, read_cataracts_csv,
                                                read_phase_labels, read_pmlr50_txt,
                                                seeded_split)
from surgvista_mm.registry import DATASETS
from surgvista_mm.utils import load_config

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def test_cataracts_non_integer_fps(tmp_path):
    fps = 29.2
    steps = [(n // 40) % 19 for n in range(200)]  # native frames 0..199
    f = tmp_path / 'train01.csv'
    f.write_text('Frame,Steps\n' + ''.join(f'{n + 1},{s}\n' for n, s in enumerate(steps)))
    got = read_cataracts_csv(str(f), CATARACTS_STEPS, fps)
    want = [steps[native_index(k, fps)] for k in range(7)]  # round(6 * 29.2) = 175 < 200
    assert got.tolist() == want
    assert [native_index(k, fps) for k in (1, 2, 3)] == [29, 58, 88]  # not 29k
    assert read_cataracts_csv(str(f), CATARACTS_STEPS, fps, num_frames=3).tolist() == want[:3]
    with pytest.raises(ValueError, match='fps'):
        read_cataracts_csv(str(f), CATARACTS_STEPS, None)
    bad = tmp_path / 'bad.csv'
    bad.write_text('Frame,Steps\n1,0\n2,19\n')
    with pytest.raises(ValueError, match=r'bad.csv:3: unknown phase 19'):
        read_cataracts_csv(str(bad), CATARACTS_STEPS, 30.0)
    bad.write_text('Frame,Steps\n1,0\nx,1\n')
    with pytest.raises(ValueError, match=r"bad.csv:3: bad frame number 'x'"):
        read_cataracts_csv(str(bad), CATARACTS_STEPS, 30.0)
    bad.write_text('Frame;Steps\n1;0\n')
    with pytest.raises(ValueError, match=r'bad.csv:1: expected the header'):
        read_cataracts_csv(str(bad), CATARACTS_STEPS, 30.0)


def _cataract101(tmp_path, with_videos=True):
    ann = tmp_path / 'annotations.csv'
    ann.write_text('VideoID;FrameNo;Phase\n269;68;1\n269;1043;2\n269;1500;2\n269;2000;10\n'
                   '270;0;3\n')
    if with_videos:
        (tmp_path / 'videos.csv').write_text('VideoID;Frames;FPS;Surgeon;Experience\n'
                                             '269;2100;25;1;2\n270;100;25;2;1\n')
    return str(ann)


def test_cataract101_run_length_and_unlabelled_prefix(tmp_path):
    ann = _cataract101(tmp_path)
    got = read_cataract101(ann, 'case_269', CATARACT101_PHASES)
    # 2100 native frames at 25 fps -> 1-fps frames 0..83 (native 0..2075)
    assert len(got) == 84
    assert got[:3].tolist() == [-1, -1, -1]  # native 0, 25, 50 < 68
    assert got[3] == 0  # native 75 >= 68
    assert got[41] == 0 and got[42] == 1  # 1025 < 1043 <= 1050
    assert got[79] == 1 and got[80] == 9  # 1975 < 2000 <= 2000
    assert set(got[42:80].tolist()) == {1}  # phase 2 twice in a row
    assert read_cataract101(ann, 'case_270', CATARACT101_PHASES).tolist() == [2] * 4
    assert len(read_cataract101(ann, 'case_269', CATARACT101_PHASES, num_frames=10)) == 10
    with pytest.raises(ValueError, match='no annotation rows for video 271'):
        read_cataract101(ann, 'case_271', CATARACT101_PHASES)
    bad = tmp_path / 'b' / 'annotations.csv'
    bad.parent.mkdir()
    bad.write_text('VideoID;FrameNo;Phase\n1;0;1\n1;5;11\n')
    with pytest.raises(ValueError, match=r'annotations.csv:3: unknown phase 11'):
        read_cataract101(str(bad), 'case_1', CATARACT101_PHASES)
    bad.write_text('VideoID;FrameNo;Phase\n1;10;1\n1;5;2\n')
    with pytest.raises(ValueError, match=r'annotations.csv:3: start frame 5'):
        read_cataract101(str(bad), 'case_1', CATARACT101_PHASES)


def test_cataract21_merge_and_not_initialized(tmp_path):
    names = ['not_initialized'] * 30 + ['Incision'] * 30 + ['Antibiotikum'] * 30
    f = tmp_path / 'case_01.csv'
    f.write_text(''.join(f'{n},{name}\n' for n, name in enumerate(names)))
    assert len(CATARACT21_PHASES) == 11
    got = read_cataract21_csv(str(f), CATARACT21_PHASES, 25.0)
    assert got.tolist() == [0, 0, 1, 10]  # native 0, 25, 50, 75; Antibiotikum -> Tonisieren
    assert read_phase_labels('cataract21', str(f), CATARACT21_PHASES, 'case_01',
                             native_fps=None, label_fps=25).tolist() == got.tolist()
    f.write_text('0,not_initialized\n1,Mittagessen\n')
    with pytest.raises(ValueError, match=r"case_01.csv:2: unknown phase 'Mittagessen'"):
        read_cataract21_csv(str(f), CATARACT21_PHASES, 25.0)


def test_pmlr50_header(tmp_path):
    f = tmp_path / '01.txt'
    f.write_text('Frame Phase\n0 0\n1 0\n2 1\n3 4\n')
    assert read_pmlr50_txt(str(f), PMLR50_PHASES).tolist() == [0, 0, 1, 4]
    f.write_text('Frame Phase\n0 0\n1 5\n')
    with pytest.raises(ValueError, match=r'01.txt:3: unknown phase 5'):
        read_pmlr50_txt(str(f), PMLR50_PHASES)
    f.write_text('Frame Phase\n0 0 0\n')
    with pytest.raises(ValueError, match=r'01.txt:2: expected'):
        read_pmlr50_txt(str(f), PMLR50_PHASES)
    with pytest.raises(ValueError, match='unknown label_format'):
        read_phase_labels('nope', str(f), PMLR50_PHASES, '01')


def test_cataract101_split_is_seeded():
    ids = [f'case_{i}' for i in range(200, 301)]
    a, b = cataract101_split(ids, 0), cataract101_split(list(reversed(ids)), 0)
    assert a == b
    train, val, test = a
    assert (len(train), len(val), len(test)) == (50, 10, 41)
    assert sorted(train + val + test, key=lambda v: int(v[5:])) == ids
    assert cataract101_split(ids, 1) != a
    with pytest.raises(ValueError):
        seeded_split(ids, (50, 10, 10))
    with pytest.raises(ValueError):
        cataract101_split(ids[:100])


def test_phase_dataset_with_cataract101_labels(tmp_path):
    root = tmp_path / 'cat101'
    frames = root / 'frames' / 'case_269'
    frames.mkdir(parents=True)
    for k in range(84):
        cv2.imwrite(str(frames / f'{k:06d}.jpg'), np.full((16, 16, 3), k, np.uint8))
    (root / 'manifests').mkdir()
    (root / 'manifests' / 'm.json').write_text(json.dumps(dict(data_root='..', videos=[
        dict(video_id='case_269', frame_dir='frames/case_269', num_frames=84)])))
    _cataract101(root)
    ds = DATASETS.build(dict(type='SurgicalPhaseDataset', data_root=str(root),
                             manifest='manifests/m.json', label_dir='.',
                             classes=CATARACT101_PHASES, label_format='cataract101',
                             label_file_tmpl=None,
                             pipeline=[dict(type='SurgicalFrameLoader')]))
    assert len(ds) == 84 - 3  # the 3 unlabelled frames are no samples
    first = ds.get_data_info(0)
    assert (first['frame_index'], first['gt_label']) == (3, 0)
    assert first['frame_inds'].tolist() == [0] * 15 + [3]  # earlier frames still clip context
    assert [ds.get_data_info(i)['gt_label'] for i in (38, 39, 76, 77)] == [0, 1, 1, 9]
    out = ds[0]
    assert int(out['imgs'][-1][0, 0, 0]) == 3


def test_phase_dataset_cataracts_needs_fps(tmp_path):
    root = tmp_path / 'cataracts'
    (root / 'frames' / 'train01').mkdir(parents=True)
    (root / 'gt').mkdir()
    (root / 'gt' / 'train01.csv').write_text(
        'Frame,Steps\n' + ''.join(f'{n + 1},{n // 30}\n' for n in range(120)))
    video = dict(video_id='train01', frame_dir='frames/train01', num_frames=4)
    cfg = dict(type='SurgicalPhaseDataset', data_root=str(root), manifest='m.json',
               label_dir='gt', classes=CATARACTS_STEPS, label_format='cataracts',
               label_file_tmpl=None)
    (root / 'm.json').write_text(json.dumps(dict(videos=[dict(video, fps=29.2)])))
    ds = DATASETS.build(cfg)
    assert [ds.get_data_info(i)['gt_label'] for i in range(4)] == [0, 0, 1, 2]  # 0,29,58,88
    (root / 'm.json').write_text(json.dumps(dict(videos=[video])))
    with pytest.raises(ValueError, match='native frame rate'):
        DATASETS.build(cfg).full_init()


SPLITS = {'cataracts': (19, 25, 5, 20), 'cataract21': (11, 14, 3, 4), 'pmlr50': (5, 35, 5, 10)}


@pytest.mark.parametrize('key', ['cataracts', 'cataract101', 'cataract21', 'pmlr50'])
def test_new_phase_configs(key):
    cfg = load_config(osp.join(ROOT, 'configs', 'finetune', f'surgvista_vitb_{key}_phase.py'))
    classes = {'cataracts': 19, 'cataract101': 10, 'cataract21': 11, 'pmlr50': 5}[key]
    assert cfg.model.cls_head.num_classes == classes
    assert [a.num_classes for a in cfg.model.data_preprocessor.blending.augments] == [classes] * 2
    for ev in (cfg.val_evaluator, cfg.test_evaluator):
        assert (ev.type, ev.num_classes, ev.relaxation) == ('SurgicalPhaseMetric', classes,
                                                            'none')
    assert cfg.optim_wrapper.optimizer.lr == pytest.approx(5e-4)
    assert cfg.train_cfg.max_epochs == 50 and cfg.param_scheduler[0].end == 5
    ds = {k: cfg[f'{k}_dataloader'].dataset for k in ('train', 'val', 'test')}
    assert len({len(d.classes) for d in ds.values()} | {classes}) == 1
    assert all(d.label_format == key for d in ds.values())
    inc = {k: d.include for k, d in ds.items()}
    if key == 'cataract101':
        assert len(set(inc.values())) == 3
        return
    assert (len(ds['train'].classes),) + tuple(
        len(inc[k]) for k in ('train', 'val', 'test')) == SPLITS[key]
    assert not (set(inc['train']) & set(inc['val']) or set(inc['train']) & set(inc['test'])
                or set(inc['val']) & set(inc['test']))


def test_cataract101_split_tool_never_silently_changes_a_split(tmp_path):
    from tests.helpers.tools import load_tool
    tool = load_tool('cataract101_split')
    (tmp_path / 'videos.csv').write_text(
        'VideoID;Frames;FPS\n' + ''.join(f'{i};100;25\n' for i in range(200, 301)))
    assert tool.main([str(tmp_path)]) == 0
    sizes = {n: len((tmp_path / 'splits' / f'{n}.txt').read_text().splitlines()) - 1
             for n in ('train', 'val', 'test')}
    assert sizes == {'train': 50, 'val': 10, 'test': 41}
    before = (tmp_path / 'splits' / 'test.txt').read_text()
    assert tool.main([str(tmp_path)]) == 0  # same seed: same files, accepted
    with pytest.raises(SystemExit, match='different split'):
        tool.main([str(tmp_path), '--seed', '1'])
    assert (tmp_path / 'splits' / 'test.txt').read_text() == before
    assert tool.main([str(tmp_path), '--seed', '1', '--force']) == 0
    assert (tmp_path / 'splits' / 'test.txt').read_text() != before
