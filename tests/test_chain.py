"""The whole user journey at toy size: pre-train -> fine-tune from that checkpoint (the one
documented option) -> tools/test.py --out-dir (one process and two gloo ranks) -> eval_phase.py on
the written files -> online inference on the held-out mp4, whose per-second predictions equal
test.py's."""
from __future__ import annotations

import csv
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import torch
from mmengine.config import Config

from surgvista_mm.engine import SurgVistaRunner
from tests.helpers.devices import CPU_ONLY_ENV
from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')
FINETUNE = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')
DEMO_ARGS = ('--videos', '3', '--frames', '24', '--size', '64', '--web-videos', '0',
             '--no-progress')


def _tiny(cfg: Config, work_dir: str) -> Config:
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if cfg.get(key):
            cfg[key].num_workers = 0
            cfg[key].persistent_workers = False
    cfg.train_cfg.max_epochs = 1
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=1)]
    cfg.default_hooks.logger.interval = 1
    cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    cfg.work_dir = work_dir
    return cfg


def test_pretrain_finetune_test_eval_online(make_demo, tmp_path):
    demo = make_demo(*DEMO_ARGS)
    # 1. pre-train (one epoch)
    pre = Config.fromfile(PRETRAIN)
    pre.train_dataloader.dataset.data_root = demo
    pre.train_dataloader.dataset.sources = [s for s in pre.train_dataloader.dataset.sources
                                            if s['name'] == 'demo_frames']
    pre.model.teacher.checkpoint = osp.join(demo, 'teacher', 'demo_teacher_vit.pth')
    pre_dir = str(tmp_path / 'pre')
    SurgVistaRunner.from_cfg(_tiny(pre, pre_dir)).train()
    pre_ckpt = osp.join(pre_dir, 'epoch_1.pth')

    # 2. fine-tune from it through model.backbone.init_cfg.checkpoint (as --cfg-options does)
    ft = Config.fromfile(FINETUNE)
    ft.merge_from_dict({'model.backbone.init_cfg.checkpoint': pre_ckpt})
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ft[key].dataset.data_root = demo
    ft_dir = str(tmp_path / 'ft')
    ft = _tiny(ft, ft_dir)
    from surgvista_mm.registry import MODELS
    backbone = MODELS.build(ft.model.backbone)
    backbone.init_weights()
    from surgvista_mm.checkpoint.safe_load import load_checkpoint_file
    pre_state = load_checkpoint_file(pre_ckpt)['state_dict']
    assert torch.equal(backbone.patch_embed.proj.weight,
                       pre_state['backbone.patch_embed.proj.weight'])
    assert torch.equal(backbone.blocks[1].mlp.fc2.weight,
                       pre_state['backbone.blocks.1.mlp.fc2.weight'])
    SurgVistaRunner.from_cfg(ft).train()
    (best,) = glob.glob(osp.join(ft_dir, 'best_phase_unrelaxed_image_accuracy_*.pth'))

    # 3. tools/test.py --out-dir on the held-out video's mp4 (a video file, as a new video is)
    ft.test_dataloader.dataset.manifest = 'manifests/demo_videos.json'
    cfg_path = str(tmp_path / 'ft_test.py')
    ft.dump(cfg_path)
    out = str(tmp_path / 'results')
    cmd = [sys.executable, osp.join(ROOT, 'tools', 'test.py'), cfg_path, best,
           '--work-dir', str(tmp_path / 'test'), '--out-dir', out]
    env = dict(os.environ, **CPU_ONLY_ENV, PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    with open(osp.join(out, 'metrics.json')) as f:
        report = json.load(f)
    assert report['protocol'] == 'cholec80-matlab' and report['videos'] == ['video03']
    refused = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=600)
    assert refused.returncode != 0 and 'already holds results' in refused.stderr
    assert 'use --force' in refused.stderr and out in refused.stderr

    # 3b. two gloo ranks under tools/dist_test.sh write the same files
    out2 = str(tmp_path / 'results_2ranks')
    denv = dict(env, PYTHON=sys.executable, OMP_NUM_THREADS='1',
                PORT=str(29700 + os.getpid() % 1000))
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_test.sh'), cfg_path, best, '2',
                           '--work-dir', str(tmp_path / 'test2'), '--out-dir', out2],
                          cwd=ROOT, env=denv, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert 'world size: 2' in proc.stdout + proc.stderr
    for sub in ('pred', 'gt'):
        with open(osp.join(out, sub, 'video03-phase.txt')) as a, \
                open(osp.join(out2, sub, 'video03-phase.txt')) as b:
            assert a.read() == b.read()
    with np.load(osp.join(out, 'scores.npz')) as a, np.load(osp.join(out2, 'scores.npz')) as b:
        np.testing.assert_allclose(a['scores'], b['scores'], atol=1e-6)
        assert a['frame_indices'].tolist() == b['frame_indices'].tolist()

    # 4. eval_phase.py on the written files reproduces the test run's numbers
    rescored = str(tmp_path / 'rescored.json')
    assert load_tool('analysis/eval_phase').main([
        '--gt-dir', osp.join(out, 'gt'), '--pred-dir', osp.join(out, 'pred'),
        '--protocol', 'cholec80-matlab', '--fps', '1', '--out', rescored]) == 0
    with open(rescored) as f:
        again = json.load(f)
    for name in ('jaccard', 'precision', 'recall', 'accuracy', 'image_accuracy'):
        assert abs(again[name] - report['eval_phase'][name]) <= 1e-9, name
    metrics = report['metrics']
    assert abs(metrics['phase/cholec80-matlab/jaccard'] - again['jaccard']) <= 1e-9
    assert abs(metrics['phase/unrelaxed/image_accuracy'] - again['image_accuracy']) <= 1e-9

    # 5. online inference on the same mp4: the same per-second predictions
    online = str(tmp_path / 'online')
    video = osp.join(demo, 'videos', 'video03.mp4')
    assert load_tool('inference/online_phase').main([
        FINETUNE, best, video, '--out-dir', online, '--batch', '5', '--no-progress']) == 0
    with open(osp.join(online, 'video03_phases.csv')) as f:
        rows = list(csv.reader(f))
    assert rows[0][:3] == ['second', 'phase_id', 'phase_name'] and len(rows[0]) == 3 + 7
    online_ids = [int(r[1]) for r in rows[1:]]
    with open(osp.join(out, 'pred', 'video03-phase.txt')) as f:
        test_ids = [int(line.split('\t')[1]) for line in f.read().splitlines()[1:]]
    assert online_ids == test_ids and len(online_ids) == 24
    with open(osp.join(online, 'video03_phases.json')) as f:
        doc = json.load(f)
    with np.load(osp.join(out, 'scores.npz')) as z:
        np.testing.assert_allclose(np.asarray(doc['probs']), z['scores'], atol=2e-6)
    assert doc['real_time_factor'] > 0
    assert osp.getsize(osp.join(online, 'video03_timeline.png')) > 5000
