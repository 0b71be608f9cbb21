"""tools/data/prepare.py on small synthetic releases built in each official layout: the output is
read by the registered datasets / configs; errors name file and line; nothing half-written."""
from __future__ import annotations

import json
import os
import os.path as osp
import shutil

import cv2
import numpy as np
import pytest
from mmengine.config import Config

from surgvista_mm.data_prep.releases import CONVERTERS, ReleaseError, prepare
from surgvista_mm.datasets import SurgicalPretrainDataset, load_manifest
from surgvista_mm.datasets.action_dataset import SURGICAL_ACTIONS160_CLASSES
from surgvista_mm.datasets.cholec80_cvs_dataset import read_cholec80_cvs
from surgvista_mm.datasets.phase_dataset import CHOLEC80_PHASES
from surgvista_mm.datasets.phase_labels import CATARACT101_PHASES
from surgvista_mm.registry import DATASETS
from tests.helpers.synth_video import write_video
from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
N, FPS = 75, 25.0  # 3 s videos -> 3 one-fps frames


@pytest.fixture(scope='module')
def clip(tmp_path_factory):
    return write_video(str(tmp_path_factory.mktemp('clip') / 'clip.mp4'), N, FPS)


def _put(path, text):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def _vid(clip, path):
    os.makedirs(osp.dirname(path), exist_ok=True)
    shutil.copy(clip, path)


def _jpgs(folder, names):
    os.makedirs(folder, exist_ok=True)
    for n in names:
        cv2.imwrite(osp.join(folder, n), np.full((16, 24, 3), 80, np.uint8))


# --------------------------------------------------------------------- release builders
def build_cholec80(r, clip):
    for v in ('video01', 'video41'):
        _vid(clip, f'{r}/videos/{v}.mp4')
        _put(f'{r}/phase_annotations/{v}-phase.txt', 'Frame\tPhase\n' + ''.join(
            f'{i}\t{CHOLEC80_PHASES[i // 30]}\n' for i in range(N)))
        _put(f'{r}/tool_annotations/{v}-tool.txt',
             'Frame\tGrasper\tBipolar\tHook\tScissors\tClipper\tIrrigator\tSpecimenBag\n' +
             ''.join(f'{25 * k}\t1\t0\t0\t0\t0\t0\t0\n' for k in range(3)))
    return dict(config='finetune_cholec80_phase.py', include=['video01', 'video41'],
                labels=[0, 0, 1])


def build_m2cai16(r, clip):
    for folder, v in (('train_dataset', 'workflow_video_01'),
                      ('test_dataset', 'test_workflow_video_01')):
        _vid(clip, f'{r}/{folder}/{v}.mp4')
        _put(f'{r}/{folder}/{v}.txt', 'Frame\tPhase\n' + ''.join(
            f'{i}\t{"TrocarPlacement" if i < 30 else "Preparation"}\n' for i in range(N)))
    return dict(config='finetune_m2cai16_phase.py',
                include=['workflow_video_01', 'test_workflow_video_01'], labels=[0, 0, 1])


def build_autolaparo(r, clip):
    for v in ('01', '15'):
        _vid(clip, f'{r}/videos/{v}.mp4')
        _put(f'{r}/labels/label_{v}.txt', 'Frame\tPhase\n1\t1\n2\t2\n3\t7\n')
    return dict(config='finetune_autolaparo_phase.py', include=['01', '15'], labels=[0, 1, 6])


def build_pmlr50(r, clip):
    for v in ('01', '40'):
        _jpgs(f'{r}/frames/{v}', [f'{k:08d}.jpg' for k in range(3)])
        _put(f'{r}/phase_annotations/{v}.txt', 'frame phase\n0 0\n1 3\n2 4\n')
    return dict(config='finetune_pmlr50_phase.py', include=['01', '40'], labels=[0, 3, 4])


def build_cataracts(r, clip):
    for v, gt in (('train01', 'train_gt'), ('test07', 'dev_gt'), ('test02', 'test_gt')):
        _vid(clip, f'{r}/videos/micro/{v}.mp4')
        _put(f'{r}/ground_truth/CATARACTS_2020/{gt}/{v}.csv', 'Frame,Steps\n' + ''.join(
            f'{i + 1},{3 if i < 25 else 18}\n' for i in range(N)))
    return dict(config='finetune_cataracts_phase.py', include=['test02'], labels=[3, 18, 18])


def build_cataract101(r, clip):
    for v in (269, 270):
        _vid(clip, f'{r}/videos/case_{v}.mp4')
    _put(f'{r}/videos.csv', 'VideoID;Frames;FPS;Surgeon;Experience\n269;75;25;1;2\n270;75;25;2;1\n')
    _put(f'{r}/phases.csv', 'PhaseID;Name\n' + ''.join(
        f'{i + 1};{n}\n' for i, n in enumerate(CATARACT101_PHASES)))
    _put(f'{r}/annotations.csv', 'VideoID;FrameNo;Phase\n269;10;1\n269;40;2\n270;0;3\n')
    return dict(config='finetune_cataract101_phase.py', include=['case_269'], labels=[0, 1])


def build_cataract21(r, clip):
    for v in ('case_01', 'case_18'):
        _vid(clip, f'{r}/videos/{v}.mp4')
        names = ['not_initialized'] * 25 + ['Incision'] * 25 + ['Antibiotikum'] * 25
        _put(f'{r}/labels/{v}.csv', ''.join(f'{i},{n}\n' for i, n in enumerate(names)))
    return dict(config='finetune_cataract21_phase.py', include=['case_01', 'case_18'],
                labels=[0, 1, 10])


def build_cholect50(r, clip):
    for v in ('VID05', 'VID92'):
        folder = f'{r}/videos/{v}'
        os.makedirs(folder)
        for k in range(3):
            cv2.imwrite(f'{folder}/{k:06d}.png', np.full((16, 24, 3), 9, np.uint8))
        ann = {'0': [[-1] * 15], '1': [[7, 0, 1, -1, -1, -1, -1, 0, 0, 1, -1, -1, -1, -1, 0]],
               '2': [[94, 0, 1, -1, -1, -1, -1, 9, 14, 1, -1, -1, -1, -1, 1]]}
        _put(f'{r}/labels/{v}.json', json.dumps(dict(video=int(v[3:]), fps=1, num_frames=3,
                                                     annotations=ann)))
    shutil.copy(osp.join(ROOT, 'surgvista_mm', 'evaluation', 'data', 'cholect50_maps.txt'),
                f'{r}/label_mapping.txt')
    return dict(triplet='cholect50', num_classes=100, positives={1: [7], 2: [94]})


def build_endoscapes(r, clip):
    for split, vids in (('train', [1, 2]), ('val', [121]), ('test', [162])):
        _put(f'{r}/{split}_vids.txt', ''.join(f'{float(v):.18e}\n' for v in vids))
        images = [dict(file_name=f'{v}_{25 * k}.jpg', id=v * 1000 + k, is_ds_keyframe=True,
                       ds=[0.0, 1 / 3, 1.0]) for v in vids for k in (0, 5)]
        if split != 'val':  # val: only in all_metadata.csv
            _put(f'{r}/{split}/annotation_ds_coco.json', json.dumps(dict(images=images)))
        _jpgs(f'{r}/{split}', [im['file_name'] for im in images])
    _put(f'{r}/all_metadata.csv', 'vid,frame,avg_cvs,C1,C2,C3,is_ds_keyframe\n'
         '121,0,0.4,0.0,0.33,1.0,True\n121,125,0.4,0.0,0.33,1.0,True\n')
    return dict(splits={'test': ['162'], 'train': ['1', '2'], 'val': ['121']})


def build_cholec80_cvs(r, clip):
    import openpyxl
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(['video', 'initial_minute', 'initial_second', 'final_minute', 'final_second',
               'two_structures', 'cystic_plate', 'hepatocystic_triangle', 'Total',
               'critical_view'])
    ws.append([1, 12, 5, 13, 40, 1, 0, 2, 3, 0])
    ws.append([45, 0, 10, 0, 20, 2, 2, 2, 6, 1])
    os.makedirs(r)
    wb.save(f'{r}/cholec80-CVS.xlsx')
    return dict(cvs=[(1, 725, 820, [1, 0, 2]), (45, 10, 20, [2, 2, 2])])


def build_surgicalactions160(r, clip):
    for c, name in enumerate(SURGICAL_ACTIONS160_CLASSES, start=1):
        for m in range(1, 9):
            _vid(clip, f'{r}/{c:02d}_{name}/{c:02d}_{m:02d}.mp4')
    return dict(pretrain=None, count=128, splits={'test': 16})


def build_heichole(r, clip):
    _vid(clip, f'{r}/Videos/Full/Hei-Chole1.mp4')
    _vid(clip, f'{r}/Videos/HD/Hei-Chole1.mp4')  # the HD copy is ignored
    return dict(pretrain='heichole_train', count=1)


def build_pitvis(r, clip):
    _vid(clip, f'{r}/video_01.mp4')
    _vid(clip, f'{r}/sub/video_02.mp4')
    return dict(pretrain='pitvis', count=2)


def build_psi_ava(r, clip):
    _jpgs(f'{r}/keyframes/CASE001', [f'{k:05d}.jpg' for k in range(4)])
    _jpgs(f'{r}/keyframes/CASE002', [f'{k:05d}.jpg' for k in range(2, 5)])
    return dict(pretrain='psi_ava', count=2)


def build_bernbypass70(r, clip):
    _vid(clip, f'{r}/BernBypass70/videos/BBP01.mp4')
    return dict(pretrain='bernbypass70', count=1)


def build_strasbypass70(r, clip):
    _vid(clip, f'{r}/StrasBypass70/videos/SBP01.mp4')
    return dict(pretrain='strasbypass70', count=1)


def build_web(r, clip):
    _vid(clip, f'{r}/a/web1.mp4')
    _vid(clip, f'{r}/b/web2.mp4')
    _put(f'{r}/notes.txt', 'not a video')
    _put(f'{r}/b/broken.mp4', 'not a video either')  # left out, with a note
    return dict(pretrain='web_corpus', count=2, notes=['left out: ', 'broken.mp4: unreadable'])


def build_generic_phase(r, clip):
    classes = ('Lesion Detection', 'Lesion Marking', 'Submucosal Injection', 'Mucosal Incision',
               'Submucosal Dissection', 'Wound Management', 'Wound Suturing', 'Others')
    _put(f'{r}/classes.txt', '\n'.join(classes) + '\n')
    for v in ('esd01', 'esd02', 'esd03'):
        _vid(clip, f'{r}/videos/{v}.mp4')
        _put(f'{r}/labels/{v}.csv', 'frame,phase\n0,Lesion Detection\n1,2\n2,Others\n')
    for s, v in (('train', 'esd01'), ('val', 'esd02'), ('test', 'esd03')):
        _put(f'{r}/splits/{s}.txt', v + '\n')
    return dict(config='../../finetune/surgvista_vitb_esd57_phase.py', labels=[0, 2, 7],
                out_name='esd57')


def build_generic_triplet(r, clip):
    _put(f'{r}/maps.txt', '# IVT, I, V, T, IV, IT\n' + ''.join(
        f'{t},{t % 7},{t % 10},{(t // 7) % 10},{t % 70},{t % 70}\n' for t in range(89)))
    _put(f'{r}/null_classes.txt', '88\n')
    for v in ('CASE001', 'p02', 'p03'):
        _jpgs(f'{r}/frames/{v}', [f'{k:06d}.jpg' for k in range(3)])
        _put(f'{r}/labels/{v}.csv', 'frame,triplets\n0,\n1,3 88\n2,17\n')
    for s, v in (('train', 'CASE001'), ('val', 'p02'), ('test', 'p03'),
                 ('train_only', 'CASE001')):
        _put(f'{r}/splits/{s}.txt', v + '\n')
    return dict(config='../../finetune/surgvista_vitb_prostate21_triplet.py',
                positives={1: [3, 88], 2: [17]}, out_name='prostate21')


BUILDERS = {name[len('build_'):]: fn for name, fn in globals().items()
            if name.startswith('build_')}


def test_every_converter_has_a_test_and_states_its_files():
    assert set(BUILDERS) == set(CONVERTERS)
    for spec in CONVERTERS.values():
        assert '->' in spec.expects and 'ROOT' in spec.expects


def _base_dataset(config: str, out: str, **over) -> dict:
    cfg = Config.fromfile(osp.join(ROOT, 'configs', '_base_', 'datasets', config))
    ds = dict(cfg.test_dataloader.dataset)
    ds.update(data_root=out, pipeline=[], test_mode=True, **over)
    return ds


@pytest.mark.parametrize('dataset', sorted(BUILDERS))
def test_converter_output_is_read_by_the_datasets(dataset, clip, tmp_path):
    release = str(tmp_path / 'release')
    expect = BUILDERS[dataset](release, clip)
    out = str(tmp_path / expect.get('out_name', 'out'))
    plan = prepare(dataset, release, out, check=True)
    assert not osp.exists(out)  # --check writes nothing
    for text in expect.get('notes', []):
        assert any(text in n for n in plan.notes), plan.notes
    prepare(dataset, release, out)
    written = {osp.relpath(osp.join(d, f), out) for d, _, fs in os.walk(out) for f in fs}
    assert written == set(plan.files) | set(plan.manifests)
    for rel in plan.manifests:
        load_manifest(osp.join(out, rel))
    if 'config' in expect:
        over = {} if 'include' not in expect else dict(include=expect['include'])
        ds = DATASETS.build(_base_dataset(expect['config'], out, **over))
        assert len(ds) > 0
        first = ds.get_data_info(ds.sample_indices_of_video(0)[0])
        if 'labels' in expect:
            info = ds._video_info(0)
            assert info['labels'][-len(expect['labels']):].tolist() == expect['labels']
        else:
            for t, pos in expect['positives'].items():
                gt = ds.get_data_info(t)['gt_label']
                assert np.flatnonzero(gt).tolist() == pos
        assert first['video_id'] in ds.video_ids()
    if expect.get('triplet') == 'cholect50':
        ds = DATASETS.build(dict(type='SurgicalTripletDataset',
                                 manifest=f'{out}/manifests/cholect50.json',
                                 label_dir=f'{out}/labels', num_classes=100,
                                 label_format='cholect50'))
        assert ds.video_ids() == ['VID05', 'VID92'] and len(ds) == 6
        for t, pos in expect['positives'].items():
            assert np.flatnonzero(ds.get_data_info(t)['gt_label']).tolist() == pos
        assert open(f'{out}/splits/test.txt').read().split()[-1] == 'VID92'
    if 'pretrain' in expect:
        manifest = [m for m in plan.manifests][0]
        entries = load_manifest(osp.join(out, manifest))
        assert len(entries) == expect['count']
        if expect['pretrain']:
            assert manifest == f'manifests/{expect["pretrain"]}.json'
            ds = SurgicalPretrainDataset([dict(manifest=osp.join(out, manifest))], clip_len=2)
            assert len(ds) == sum(e.num_frames for e in entries)
    if 'cvs' in expect:
        got = [(s['video'], s['start'], s['end'], s['criteria'].tolist())
               for s in read_cholec80_cvs(f'{out}/surgeons_annotations.csv')]
        assert got == expect['cvs']
    for split, want in expect.get('splits', {}).items():
        ids = [x for x in open(f'{out}/splits/{split}.txt').read().split('\n')
               if x and not x.startswith('#')]
        assert (len(ids) if isinstance(want, int) else ids) == want


@pytest.mark.parametrize('damage, message', [
    ('length', r'video01-phase\.txt:21: annotation length .* disagrees with video \'video01\''),
    ('label', r'video41-phase\.txt:7: unknown label \'Clipping\''),
    ('missing', r'missing file: .*tool_annotations/video41-tool\.txt'),
    ('order', r'video01-phase\.txt:4: frame 5 where 2 was expected'),
])
def test_errors_name_file_and_line_and_nothing_is_written(damage, message, clip, tmp_path,
                                                          capsys):
    release = str(tmp_path / 'release')
    build_cholec80(release, clip)
    phase = f'{release}/phase_annotations/video01-phase.txt'
    lines = open(phase).read().splitlines()
    if damage == 'length':
        _put(phase, '\n'.join(lines[:21]) + '\n')  # 20 frames = 1 s, the video has 3
    elif damage == 'label':
        p41 = f'{release}/phase_annotations/video41-phase.txt'
        rows = open(p41).read().splitlines()
        rows[6] = '5\tClipping'
        _put(p41, '\n'.join(rows) + '\n')
    elif damage == 'missing':
        os.remove(f'{release}/tool_annotations/video41-tool.txt')
    else:
        lines[3] = '5\tPreparation'
        _put(phase, '\n'.join(lines) + '\n')
    out = tmp_path / 'out'
    with pytest.raises(ReleaseError, match=message):
        prepare('cholec80', release, str(out))
    assert not out.exists() and os.listdir(tmp_path) == ['release']  # no temp folder left
    tool = load_tool('data/prepare')
    assert tool.main(['cholec80', '--root', release, '--out', str(out)]) == 1
    assert 'error:' in capsys.readouterr().err and not out.exists()


def test_cli_check_force_and_frames_option(clip, tmp_path, capsys):
    release = str(tmp_path / 'release')
    build_autolaparo(release, clip)
    tool = load_tool('data/prepare')
    assert tool.main(['autolaparo', '--root', release, '--check']) == 0
    assert 'is valid' in capsys.readouterr().out
    out = str(tmp_path / 'out')
    assert tool.main(['autolaparo', '--root', release, '--out', out]) == 0
    assert tool.main(['autolaparo', '--root', release, '--out', out]) == 1  # exists
    assert '--force' in capsys.readouterr().err
    # frames extracted first: the manifest lists the frame folders
    frames = str(tmp_path / 'frames')
    assert load_tool('data/extract_frames').main([f'{release}/videos', '--out', frames]) == 0
    assert tool.main(['autolaparo', '--root', release, '--out', out, '--frames', frames,
                      '--force']) == 0
    entries = load_manifest(f'{out}/manifests/autolaparo.json')
    assert [e.frame_dir for e in entries] == [f'{frames}/01', f'{frames}/15']
    assert [e.num_frames for e in entries] == [3, 3] and entries[0].fps == pytest.approx(25)
