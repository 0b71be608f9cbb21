"""Fault injection on training runs (issue 16, round 3): batch sizes, work-dir locks, resume
checks of the model and optimizer configs, ruined weights."""
from __future__ import annotations

import os.path as osp

import pytest
from mmengine.config import Config

from surgvista_mm.engine import SurgVistaRunner

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CFG = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')
FINETUNE_CFG = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')


@pytest.fixture(scope='module')
def demo_root(make_demo) -> str:
    return make_demo('--videos', '2', '--frames', '16', '--size', '64', '--web-videos', '1')


@pytest.fixture(scope='module')
def ft_root(make_demo) -> str:
    return make_demo('--videos', '3', '--frames', '24', '--size', '64', '--web-videos', '0',
                     '--no-progress')


def _pretrain_cfg(demo_root: str, work_dir: str, max_epochs: int = 1, **overrides) -> Config:
    cfg = Config.fromfile(PRETRAIN_CFG)
    cfg.data_root = demo_root
    cfg.model.teacher.checkpoint = demo_root + '/teacher/demo_teacher_vit.pth'
    cfg.train_dataloader.dataset.data_root = demo_root
    cfg.train_dataloader.num_workers, cfg.train_dataloader.persistent_workers = 0, False
    cfg.train_cfg.max_epochs = max_epochs
    cfg.default_hooks.logger.interval = 1
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    return _finish(cfg, work_dir, overrides)


def _finetune_cfg(ft_root: str, work_dir: str, max_epochs: int = 1, **overrides) -> Config:
    cfg = Config.fromfile(FINETUNE_CFG)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = ft_root
        cfg[key].num_workers, cfg[key].persistent_workers = 0, False
    cfg.train_cfg.max_epochs = max_epochs
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    return _finish(cfg, work_dir, overrides)


def _finish(cfg: Config, work_dir: str, overrides: dict) -> Config:
    cfg.work_dir = work_dir
    cfg.experiment_name = f'{osp.basename(osp.dirname(work_dir))}_{osp.basename(work_dir)}'
    cfg.merge_from_dict(overrides)
    return cfg


# --------------------------------------------------------------------------- batch > dataset
def test_batch_larger_than_dataset_is_named_before_training(tmp_path, ft_root):
    """1 training video of 24 frames, batch 32, drop_last=True: no batch per epoch. mmengine
    said 'epoch_length must be a positive integer' (from the LR scheduler)."""
    from surgvista_mm.engine.loop_checks import EmptyEpochError
    cfg = _finetune_cfg(ft_root, str(tmp_path / 'w'), **{'train_dataloader.batch_size': 32})
    runner = SurgVistaRunner.from_cfg(cfg)
    with pytest.raises(EmptyEpochError, match=r'train_dataloader: batch_size 32 is larger than '
                       r'the 24 samples of the dataset \(SurgicalPhaseDataset\) and '
                       r'drop_last=True.*train_dataloader.batch_size to at most 24'):
        runner.train()
    assert not osp.exists(tmp_path / 'w' / 'epoch_1.pth')
    # without drop_last the same batch size gives one (short) batch per epoch and trains
    cfg = _finetune_cfg(ft_root, str(tmp_path / 'k'), **{'train_dataloader.batch_size': 32,
                                                         'train_dataloader.drop_last': False})
    runner = SurgVistaRunner.from_cfg(cfg)
    runner.train()
    assert runner.iter == 1


# --------------------------------------------------------------------------- another run's files
def test_resuming_another_runs_checkpoint_leaves_its_files(tmp_path, ft_root):
    """``--resume other/epoch_1.pth`` restores other's message hub, whose ``best_ckpt`` names
    other/best_*.pth; when this run found a better score it deleted that file."""
    import glob

    import torch

    from surgvista_mm.engine.checkpoint_io import load_checkpoint_file, to_plain
    other = tmp_path / 'other'
    SurgVistaRunner.from_cfg(_finetune_cfg(ft_root, str(other))).train()
    best = glob.glob(str(other / 'best_*.pth'))
    assert len(best) == 1
    ckpt = load_checkpoint_file(str(other / 'epoch_1.pth'))
    assert ckpt['message_hub']['runtime_info']['best_ckpt'] == best[0]
    ckpt['message_hub']['runtime_info']['best_score'] = -1.0  # the next epoch is a new best
    torch.save(to_plain(ckpt), other / 'epoch_1.pth')
    before = sorted(p.name for p in other.iterdir())

    mine = tmp_path / 'mine'
    runner = SurgVistaRunner.from_cfg(_finetune_cfg(ft_root, str(mine), 2, resume=True,
                                                    load_from=str(other / 'epoch_1.pth')))
    runner.train()
    assert runner.epoch == 2
    assert glob.glob(str(mine / 'best_*epoch_2.pth'))  # its own new best
    assert osp.isfile(best[0])  # the other run's best is untouched
    assert sorted(p.name for p in other.iterdir()) == before


def test_copied_work_dir_resumes_from_its_own_files(tmp_path):
    import shutil

    import torch

    from surgvista_mm.engine.checkpoint_io import find_resume_checkpoint
    src = tmp_path / 'src'
    src.mkdir()
    torch.save({'meta': {'epoch': 1}}, src / 'epoch_1.pth')
    (src / 'last_checkpoint').write_text(str(src / 'epoch_1.pth'))  # absolute, as written
    copy = tmp_path / 'copy'
    shutil.copytree(src, copy)
    assert find_resume_checkpoint(str(copy)) == (str(copy / 'epoch_1.pth'), None)
    # a cwd-relative name (work_dir given as a relative path) resolves the same way
    (copy / 'last_checkpoint').write_text('work_dirs/src/epoch_1.pth')
    assert find_resume_checkpoint(str(copy)) == (str(copy / 'epoch_1.pth'), None)
