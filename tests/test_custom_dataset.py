"""Your own dataset in one option: the custom templates take everything from ``data_root``
(classes, manifest), class counts come from one place, schedules follow the epochs, options
that change nothing are refused."""
from __future__ import annotations

import math
import os
import os.path as osp

import cv2
import numpy as np
import pytest

from surgvista_mm.data_prep.releases import prepare
from surgvista_mm.utils import ConfigError, load_config
from surgvista_mm.utils.config_follow import follow_schedule, schedule_lengths
from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PHASE = osp.join(ROOT, 'configs', 'finetune', 'surgvista_vitb_custom_phase.py')
TRIPLET = osp.join(ROOT, 'configs', 'finetune', 'surgvista_vitb_custom_triplet.py')
DEMO_FT = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')
CHOLEC80 = osp.join(ROOT, 'configs', 'finetune', 'surgvista_vitb_cholec80_phase.py')
CLASSES = ('Port placement', 'Target exposure', 'Vessel clipping', 'Specimen removal',
           'Wound closure')


def _put(path: str, text: str) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(text)


def make_generic_phase_release(root: str, seconds: int = 10) -> None:
    """4 videos of 1-fps frames (32 x 40), 5 classes whose names hold spaces, 2 s per phase."""
    _put(f'{root}/classes.txt', '\n'.join(CLASSES) + '\n')
    for i, vid in enumerate(('case_1', 'case_2', 'case_3', 'case_4')):
        os.makedirs(f'{root}/frames/{vid}')
        rows = ['frame,phase']
        for t in range(seconds):
            phase = min(t // 2, len(CLASSES) - 1)
            img = np.full((32, 40, 3), 40 * phase + 10 * i, np.uint8)
            cv2.imwrite(f'{root}/frames/{vid}/{t:06d}.jpg', img)
            rows.append(f'{t},{CLASSES[phase]}')
        _put(f'{root}/labels/{vid}.csv', '\n'.join(rows) + '\n')
    for split, vids in (('train', 'case_1\ncase_2'), ('val', 'case_3'), ('test', 'case_4')):
        _put(f'{root}/splits/{split}.txt', vids + '\n')


@pytest.fixture(scope='module')
def prepared(tmp_path_factory) -> str:
    base = tmp_path_factory.mktemp('custom')
    release, out = str(base / 'release'), str(base / 'mine')
    make_generic_phase_release(release)
    prepare('generic_phase', release, out)
    return out


def _toy_options(data_root: str, work_dir: str) -> dict:
    """The one required option, and toy sizes (model, clip, loaders, 2 epochs) for the CPU."""
    pipeline = [dict(type='SurgicalFrameLoader'),
                dict(type='mmaction.Resize', scale=(32, 32), keep_ratio=False),
                dict(type='PackSurgVistaClipInputs')]
    opts = {'data_root': data_root, 'model.backbone.init_cfg': None,
            'model.backbone.img_size': 32, 'model.backbone.num_frames': 4,
            'model.backbone.embed_dims': 48, 'model.backbone.depth': 1,
            'model.backbone.num_heads': 2, 'model.cls_head.in_channels': 48,
            'train_cfg.max_epochs': 2, 'param_scheduler.0.end': 1, 'param_scheduler.1.begin': 1,
            'default_hooks.logger.interval': 1,
            'work_dir': work_dir, 'optim_wrapper.optimizer.lr': 1e-3}
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        opts.update({f'{loader}.batch_size': 4, f'{loader}.num_workers': 0,
                     f'{loader}.persistent_workers': False, f'{loader}.pin_memory': False,
                     f'{loader}.dataset.clip_len': 4, f'{loader}.dataset.frame_interval': 1,
                     f'{loader}.dataset.pipeline': pipeline})
    opts['test_evaluator.bootstrap'] = 0
    return opts


def test_custom_phase_template_trains_from_one_option(prepared, tmp_path):
    from surgvista_mm.utils.cli import build_runner
    cfg = load_config(PHASE, _toy_options(prepared, str(tmp_path / 'work')))
    # every class count followed classes.txt
    assert cfg.model.cls_head.num_classes == 5
    assert [a.num_classes for a in cfg.model.data_preprocessor.blending.augments] == [5, 5]
    assert cfg.val_evaluator.num_classes == cfg.test_evaluator.num_classes == 5
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        assert cfg[loader].dataset.classes == CLASSES
        assert cfg[loader].dataset.manifest == 'manifests/mine.json'
    assert cfg.val_evaluator.relaxation == 'none'  # unrelaxed by default
    # the cosine follows train_cfg.max_epochs=2 (the template: 50 epochs, warm-up 5 -> 1 here)
    assert (cfg.param_scheduler[1].end, cfg.param_scheduler[1].T_max) == (2, 1)
    runner, _ = build_runner(cfg, PHASE, 'none')
    assert runner.train_dataloader.dataset.metainfo['classes'] == CLASSES
    runner.train()
    assert runner.epoch == 2
    metrics = runner.test()
    for key in ('phase/unrelaxed/image_accuracy', 'phase/unrelaxed/jaccard'):
        assert math.isfinite(metrics[key]) and 0 <= metrics[key] <= 100, (key, metrics)
    assert not any('cholec80' in k for k in metrics)


def test_template_needs_data_root():
    with pytest.raises(ConfigError, match=r'train_dataloader\.dataset\.data_root uses '
                                          r'\$\{data_root\} but data_root is not set'):
        load_config(PHASE)


def test_template_manifest_and_classes_errors(prepared, tmp_path):
    import shutil
    root = str(tmp_path / 'two')
    shutil.copytree(prepared, root)
    shutil.copy(f'{root}/manifests/mine.json', f'{root}/manifests/other.json')
    with pytest.raises(ConfigError, match=r"manifest 'manifests/\*\.json' matches 2 files"):
        load_config(PHASE, {'data_root': root})
    os.remove(f'{root}/manifests/other.json')
    os.remove(f'{root}/classes.txt')
    with pytest.raises(ConfigError, match=r'class file not found: .*two/classes\.txt'):
        load_config(PHASE, {'data_root': root})


def test_class_counts_from_one_place_and_mismatches_name_both_keys(prepared):
    # a list of names is the other form of the setting
    cfg = load_config(PHASE, {'data_root': prepared, 'classes': ['a', 'b', 'c']})
    assert cfg.model.cls_head.num_classes == 3 and cfg.test_dataloader.dataset.classes == (
        'a', 'b', 'c')
    # an explicit count that disagrees with the setting
    with pytest.raises(ConfigError, match=r'model\.cls_head\.num_classes has 7 classes but '
                                          r'classes \(.*classes\.txt\'\) has 5'):
        load_config(PHASE, {'data_root': prepared, 'model.cls_head.num_classes': 7})
    # no setting (the demo config): two different explicit counts, both keys named
    with pytest.raises(ConfigError, match=r'train_dataloader\.dataset\.classes has 7 classes but '
                                          r'model\.cls_head\.num_classes has 5'):
        load_config(DEMO_FT, {'model.cls_head.num_classes': 5})
    with pytest.raises(ConfigError, match=r'has 7 classes but val_evaluator\.num_classes has 5'):
        load_config(DEMO_FT, {'val_evaluator.num_classes': 5})
    with pytest.raises(ConfigError, match=r'blending\.augments\.1\.num_classes has 8'):
        load_config(CHOLEC80, {'model.data_preprocessor.blending.augments.1.num_classes': 8})


def test_custom_triplet_template_counts_the_map(tmp_path):
    from tests.test_data_prep_releases import build_generic_triplet
    release, out = str(tmp_path / 'release'), str(tmp_path / 'tri')
    build_generic_triplet(release, None)
    prepare('generic_triplet', release, out)
    cfg = load_config(TRIPLET, {'data_root': out})
    assert cfg.model.cls_head.num_classes == 89 and cfg.model.data_preprocessor.blending is None
    assert cfg.train_dataloader.dataset.num_classes == 89
    assert cfg.val_evaluator.num_classes == 89
    assert cfg.val_evaluator.maps == f'{out}/maps.txt'
    from surgvista_mm.registry import DATASETS, METRICS
    ds = DATASETS.build(dict(cfg.val_dataloader.dataset, pipeline=[]))
    assert ds.video_ids() == ['p02'] and ds.metainfo['num_classes'] == 89
    assert METRICS.build(cfg.val_evaluator).null_classes == (88,)


def test_schedule_follows_max_epochs():
    cfg = load_config(DEMO_FT, {'train_cfg.max_epochs': 3})
    warm, cos = cfg.param_scheduler
    assert (warm.end, cos.begin, cos.end, cos.T_max) == (1, 1, 3, 2)
    cfg = load_config(CHOLEC80, {'train_cfg.max_epochs': 20})
    assert cfg.param_scheduler[1].end == 20 and cfg.param_scheduler[1].T_max == 15
    # a run that ends inside the warm-up: the cosine never runs, said with the numbers
    cfg = load_config(CHOLEC80)
    before = schedule_lengths(cfg)
    cfg.train_cfg.max_epochs = 4
    notes = follow_schedule(cfg, before, 'c80')
    assert (cfg.param_scheduler[1].begin, cfg.param_scheduler[1].end) == (5, 50)
    assert notes[0] == ('c80: param_scheduler.1 (CosineAnnealingLR) begins at 5, not before '
                        'train_cfg.max_epochs=4: it never runs (the run ends inside the warm-up)')


def test_schedule_that_still_ends_elsewhere_is_a_warning(tmp_path):
    cfg = load_config(DEMO_FT)
    cfg.train_cfg.max_epochs = 4  # edited in a child config, not by an option
    notes = follow_schedule(cfg, {'max_epochs': 4})
    assert notes == [f'<config>: the LR schedule ends at epochs 10 but training stops at '
                     "train_cfg.max_epochs=4: the last LR is not the schedule's final value"]


def test_option_for_a_variable_nothing_reads_is_refused(prepared):
    with pytest.raises(ConfigError, match=r'--cfg-options max_epochs: .* set '
                                          r'train_cfg\.max_epochs \(the LR schedule follows it\)'):
        load_config(DEMO_FT, {'max_epochs': 2})
    with pytest.raises(ConfigError, match=r'--cfg-options data_root: .*set '
                                          r'train_dataloader\.dataset\.data_root, '
                                          r'val_dataloader\.dataset\.data_root, '
                                          r'test_dataloader\.dataset\.data_root instead'):
        load_config(CHOLEC80, {'data_root': '/elsewhere'})
    with pytest.raises(ConfigError, match=r'--cfg-options pretrained: .*set '
                                          r'model\.backbone\.init_cfg\.checkpoint instead'):
        load_config(CHOLEC80, {'pretrained': 'x.pth'})
    # in the templates data_root is read (${data_root}), and so is `pretrained`
    cfg = load_config(PHASE, {'data_root': prepared, 'pretrained': 'x.pth'})
    assert cfg.model.backbone.init_cfg.checkpoint == 'x.pth'


def test_pretrain_on_own_videos_in_three_commands(tmp_path, monkeypatch):
    """extract_frames.py -> build_manifest.py -> train.py --sources (docs/data.md)."""
    from tests.helpers.synth_video import smooth_frames, write_video
    videos = tmp_path / 'my_videos'
    videos.mkdir()
    for i in range(2):
        write_video(str(videos / f'case{i}.mp4'), 48, 4.0, smooth_frames(i))  # 12 s each
    frames = str(tmp_path / 'mine_frames')
    assert load_tool('data/extract_frames').main([str(videos), '--out', frames]) == 0
    manifest = str(tmp_path / 'mine.json')
    assert load_tool('build_manifest').main([frames, '--out', manifest]) == 0
    train = load_tool('train')
    work = str(tmp_path / 'work')
    monkeypatch.setattr('sys.argv', [
        'train.py', osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py'),
        '--sources', manifest, '--work-dir', work, '--cfg-options',
        'train_cfg.max_epochs=1', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'model.teacher=None',
        'model.distill_decoder=None', 'model.distill_head=None'])
    cfg = train.configure(train.parse_args())
    assert cfg.train_dataloader.dataset.sources == [dict(name='mine', manifest=manifest)]
    from surgvista_mm.utils.cli import build_runner
    runner, _ = build_runner(cfg, 'surgvista_demo.py', 'none')
    assert len(runner.train_dataloader.dataset) == 24  # 2 videos x 12 1-fps frames
    runner.train()
    assert runner.iter == 24 // 8 and osp.isfile(osp.join(work, 'epoch_1.pth'))
    with pytest.raises(ConfigError, match='--sources replaces train_dataloader.dataset.sources'):
        from surgvista_mm.utils.config_follow import replace_sources
        replace_sources(load_config(DEMO_FT), [manifest])
    with pytest.raises(ConfigError, match=r"--sources: manifest not found: 'nope\.json'"):
        replace_sources(load_config(osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')),
                        ['nope.json'])


def test_missing_init_checkpoint_is_reported_before_the_runner(prepared, tmp_path, monkeypatch,
                                                              capsys):
    train = load_tool('train')
    work = str(tmp_path / 'work')
    monkeypatch.setattr('sys.argv', ['train.py', PHASE, '--work-dir', work, '--cfg-options',
                                     f'data_root={prepared}', 'pretrained=missing/ep.pth'])
    with pytest.raises(SystemExit) as exit_:
        train.main()
    assert str(exit_.value) == (
        f'error: {PHASE}: model.backbone.init_cfg.checkpoint: file not found: \'missing/ep.pth\' '
        '(give --cfg-options pretrained=PATH, or '
        'model.backbone.init_cfg=None to start from random weights)')
    assert not osp.exists(work)  # no runner: no work dir, no config dump
    assert 'Config:' not in capsys.readouterr().out
