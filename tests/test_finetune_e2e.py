"""End-to-end fine-tuning on generated demo data: train one short epoch, validate, test."""
from __future__ import annotations

import glob
import math
import os.path as osp
from typing import Dict, List

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook

from surgvista_mm.engine import SurgVistaRunner
from tests.helpers.devices import CPU_ONLY_ENV

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CFG = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')
PROTOCOL = 'cholec80-matlab'


class _KeepValMetrics(Hook):
    """Records the metrics of every validation epoch."""

    def __init__(self) -> None:
        self.metrics: List[Dict[str, float]] = []

    def after_val_epoch(self, runner, metrics=None) -> None:  # noqa: ANN001
        self.metrics.append(dict(metrics or {}))


@pytest.fixture(scope='module')
def demo_root(make_demo) -> str:
    return make_demo('--videos', '3', '--frames', '24', '--size', '64', '--web-videos', '0',
                     '--no-progress')


def _cfg(demo_root: str, work_dir: str) -> Config:
    cfg = Config.fromfile(DEMO_CFG)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = demo_root
        cfg[key].num_workers = 0
        cfg[key].persistent_workers = False
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=1,
                                convert_to_iter_based=True)]
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    cfg.work_dir = work_dir
    cfg.experiment_name = 'ft'
    return cfg


def _check_metrics(metrics: Dict[str, float]) -> None:
    assert any(k.startswith(f'phase/{PROTOCOL}/') for k in metrics), sorted(metrics)
    assert any(k.startswith('phase/unrelaxed/') for k in metrics), sorted(metrics)
    for key in (f'phase/{PROTOCOL}/accuracy', 'phase/unrelaxed/image_accuracy',
                'phase/unrelaxed/video_accuracy'):
        assert math.isfinite(metrics[key]) and 0.0 <= metrics[key] <= 100.0, key


def test_demo_finetune_trains_validates_and_tests(demo_root, tmp_path):
    runner = SurgVistaRunner.from_cfg(_cfg(demo_root, str(tmp_path / 'work')))
    keep = _KeepValMetrics()
    runner.register_hook(keep, priority='LOWEST')
    runner.train()
    assert runner.iter == 24 // 8  # 1 training video (+ 1 val, 1 test) x 24 frames, batch 8
    assert len(keep.metrics) == 1
    _check_metrics(keep.metrics[0])
    loss = runner.message_hub.get_scalar('train/loss').current()
    assert math.isfinite(loss)
    assert osp.isfile(osp.join(str(tmp_path / 'work'), 'epoch_1.pth'))
    assert glob.glob(osp.join(str(tmp_path / 'work'),
                              'best_phase_unrelaxed_image_accuracy*.pth'))
    _check_metrics(runner.test())


def test_tools_test_py_scores_a_checkpoint(demo_root, tmp_path):
    """tools/test.py loads the run's own checkpoint (weights_only=True) and reports the metrics."""
    import os
    import subprocess
    import sys

    work = str(tmp_path / 'work')
    cfg = _cfg(demo_root, work)
    runner = SurgVistaRunner.from_cfg(cfg)
    runner.train()
    expected = runner.test()
    cfg_path = str(tmp_path / 'ft.py')
    cfg.dump(cfg_path)
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), cfg_path,
           osp.join(work, 'epoch_1.pth'), '--work-dir', str(tmp_path / 'test')]
    env = dict(os.environ, **CPU_ONLY_ENV)
    # the run's own checkpoint loads with weights_only=True: no trust flag exists or is needed
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    key = f'phase/{PROTOCOL}/accuracy'
    assert f'{key}: {expected[key]:.4f}' in log
