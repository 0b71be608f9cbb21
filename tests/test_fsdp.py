"""FSDP through mmengine's FlexibleRunner (SurgVistaFSDPStrategy) on the CPU: 2 gloo ranks
train the demo pre-training config, write a one-file checkpoint that loads with
weights_only=True, keep the no-decay rule for 1-D parameters although FSDP flattens them, and
resume — with SurgVistaRunner's guards: the run-config record, a changed LR refused on resume
(applied with --resume-override-optim), the work dir's lock."""
from __future__ import annotations

import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.helpers.devices import CPU_ONLY_ENV

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CFG = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')


@pytest.fixture(scope='module')
def demo_root(make_demo) -> str:
    return make_demo('--videos', '2', '--frames', '16', '--size', '64', '--web-videos', '1')


def _train(cfg_path, work, max_epochs, *args, options=(), ok=True):
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(29400 + os.getpid() % 500), osp.join(ROOT, 'tools', 'train.py'),
           cfg_path, '--launcher', 'pytorch', '--work-dir', str(work), *args,
           '--cfg-options', f'train_cfg.max_epochs={max_epochs}', *options]
    env = dict(os.environ, **CPU_ONLY_ENV, OMP_NUM_THREADS='1', PYTHONPATH=ROOT)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert (proc.returncode == 0) == ok, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def test_fsdp_two_gloo_ranks_train_save_and_resume(tmp_path, demo_root):
    cfg = tmp_path / 'fsdp.py'
    cfg.write_text(f"""_base_ = [{DEMO_CFG!r}]
data_root = {demo_root!r}
model = dict(teacher=dict(checkpoint=data_root + '/teacher/demo_teacher_vit.pth'))
train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
runner_type = 'SurgVistaFlexibleRunner'
strategy = dict(type='SurgVistaFSDPStrategy')
visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
""")
    work = tmp_path / 'w'
    _train(str(cfg), work, 1)
    ckpt = torch.load(work / 'epoch_1.pth', weights_only=True)  # plain containers, one file
    state = ckpt['state_dict']
    assert 'backbone.blocks.0.attn.qkv.weight' in state
    assert not any('fsdp' in k or k.startswith('module.') for k in state)
    groups = ckpt['optimizer']['param_groups']
    decay = {n for g in groups if g['weight_decay'] > 0 for n in g['param_names']}
    no_decay = {n for g in groups if g['weight_decay'] == 0 for n in g['param_names']}
    assert decay and all(state[n].ndim >= 2 for n in decay)
    assert {n for n in state if state[n].ndim <= 1} <= no_decay | {
        n for n in state if n not in decay and n not in no_decay}
    assert 'backbone.blocks.0.norm1.weight' in no_decay  # 1-D: no decay, though FSDP flattened
    assert 'backbone.blocks.0.attn.qkv.weight' in decay  # 2-D
    assert ckpt['meta']['run_config']['optimizer']['lr'] == 1.5e-3  # SurgVistaRunner's record
    assert not (work / 'train.lock').exists()  # held while training, released after
    # a changed LR is refused on resume (FlexibleRunner restored the checkpoint's LR silently)
    log = _train(str(cfg), work, 2, options=['optim_wrapper.optimizer.lr=0.5'], ok=False)
    assert 'optim_wrapper.optimizer.lr: checkpoint 0.0015, config 0.5' in log
    assert '--resume-override-optim' in log and not (work / 'epoch_2.pth').exists()
    # ... and applied with --resume-override-optim (into another work dir)
    _train(str(cfg), tmp_path / 'o', 2, '--resume', str(work / 'epoch_1.pth'),
           '--resume-override-optim', options=['optim_wrapper.optimizer.lr=0.5'])
    override = torch.load(tmp_path / 'o' / 'epoch_2.pth', weights_only=True)
    assert set(override['param_schedulers'][1]['base_values']) == {0.5}
    assert int([s['step'] for s in override['optimizer']['state'].values()][0]) == \
        override['meta']['iter']  # the moments were kept
    # resume=True in the config: continues from epoch_1.pth; max_epochs 1 -> 2 moves the LR
    # schedule's end (utils/config_follow.py), a schedule change that needs the option too
    assert 'param_scheduler[1].end: checkpoint' in log
    log = _train(str(cfg), work, 2, '--resume-override-optim')
    assert f'auto-resume from {work / "epoch_1.pth"}' in log  # SurgVistaRunner's auto-resume
    second = torch.load(work / 'epoch_2.pth', weights_only=True)
    assert second['meta']['epoch'] == 2 and second['meta']['iter'] == 2 * ckpt['meta']['iter']
    step = [s['step'] for s in second['optimizer']['state'].values()][0]
    assert int(step) == second['meta']['iter']  # the optimizer state was restored, not reset
