"""End-to-end pre-training under mmengine's Runner on generated data: resume, DDP, NaN stop."""
from __future__ import annotations

import glob
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from surgvista_mm.engine.checkpoint_io import load_checkpoint_file
from surgvista_mm.engine import NonFiniteLossError, SurgVistaRunner
from tests.helpers.devices import CPU_ONLY_ENV

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
DEMO_CFG = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')


@pytest.fixture(scope='module')
def demo_root(make_demo) -> str:
    return make_demo('--videos', '2', '--frames', '16', '--size', '64', '--web-videos', '1')


def _write_cfg(path, demo_root: str, max_epochs: int, extra: str = '') -> str:
    path.write_text(f"""_base_ = [{DEMO_CFG!r}]
data_root = {demo_root!r}
model = dict(teacher=dict(checkpoint=data_root + '/teacher/demo_teacher_vit.pth'))
train_dataloader = dict(batch_size=8, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(logger=dict(interval=1))
visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
{extra}
""")
    return str(path)


def _run(cfg_path: str, work_dir: str, name: str) -> SurgVistaRunner:
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = work_dir
    cfg.experiment_name = name
    runner = SurgVistaRunner.from_cfg(cfg)
    runner.train()
    return runner


def _assert_same_state(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=0, atol=1e-6, msg=key)


def test_resume_matches_uninterrupted_run(tmp_path, demo_root):
    # The LR schedule is fixed by the config (4 epochs); only the loop length differs.
    full = _write_cfg(tmp_path / 'full.py', demo_root, 2)
    first = _write_cfg(tmp_path / 'first.py', demo_root, 1)
    _run(full, str(tmp_path / 'a'), 'full')
    _run(first, str(tmp_path / 'b'), 'b1')
    assert not osp.exists(tmp_path / 'b' / 'epoch_2.pth')
    _run(full, str(tmp_path / 'b'), 'b2')  # resume=True in the config: picks up epoch_1.pth
    a = load_checkpoint_file(str(tmp_path / 'a' / 'epoch_2.pth'))
    b = load_checkpoint_file(str(tmp_path / 'b' / 'epoch_2.pth'))
    assert a['meta']['iter'] == b['meta']['iter'] > 0
    _assert_same_state(a['state_dict'], b['state_dict'])
    assert not any(k.startswith('teacher') for k in a['state_dict'])  # frozen teacher not saved
    opt_a, opt_b = a['optimizer']['state'], b['optimizer']['state']
    assert opt_a.keys() == opt_b.keys()
    for k in opt_a:
        for name in ('exp_avg', 'exp_avg_sq'):
            torch.testing.assert_close(opt_a[k][name], opt_b[k][name], rtol=0, atol=1e-6)
    assert a['param_schedulers'] == b['param_schedulers']
    # weights really changed during training
    init = _run(_write_cfg(tmp_path / 'zero.py', demo_root, 0), str(tmp_path / 'c'), 'c')
    w0 = init.model.state_dict()['backbone.blocks.0.attn.qkv.weight']
    assert not torch.allclose(w0, a['state_dict']['backbone.blocks.0.attn.qkv.weight'])


FT_CFG = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')


def _finetune_cfg(root: str, work_dir: str) -> Config:
    """The demo fine-tuning config at test size (dropout 0.2, drop-path 0.1, mixup/cutmix,
    RandAugment, random erasing all on), 2 epochs of 3 iterations, every checkpoint kept."""
    cfg = Config.fromfile(FT_CFG)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = root
        cfg[key].num_workers, cfg[key].persistent_workers = 0, False
    cfg.train_cfg.max_epochs = 2
    # mixup / cutmix on every batch (the demo's 30% may skip all 3 batches of an epoch); each of
    # dropout + drop-path and blending alone made a resume differ (up to 7e-3) before the fix
    cfg.model.data_preprocessor.blending.probs = [0.5, 0.5]
    cfg.default_hooks.checkpoint.max_keep_ckpts = -1
    cfg.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    cfg.work_dir = work_dir
    return cfg


def test_finetune_resume_matches_uninterrupted_run(tmp_path, make_demo):
    """Fine-tuning draws from the process-wide generators (dropout, drop-path, mixup/cutmix):
    a run resumed from epoch_1.pth (as after kill -9 during epoch 2) must end bit-exact."""
    root = make_demo('--videos', '3', '--frames', '24', '--size', '64', '--web-videos', '0',
                     '--no-progress')
    SurgVistaRunner.from_cfg(_finetune_cfg(root, str(tmp_path / 'a'))).train()
    (tmp_path / 'b').mkdir()
    (tmp_path / 'b' / 'epoch_1.pth').write_bytes((tmp_path / 'a' / 'epoch_1.pth').read_bytes())
    resumed = SurgVistaRunner.from_cfg(_finetune_cfg(root, str(tmp_path / 'b')))
    resumed.train()  # auto-resume from the copied epoch_1.pth
    assert resumed.iter == 6
    a = load_checkpoint_file(str(tmp_path / 'a' / 'epoch_2.pth'))
    b = load_checkpoint_file(str(tmp_path / 'b' / 'epoch_2.pth'))
    for key in a['state_dict']:
        assert torch.equal(a['state_dict'][key], b['state_dict'][key]), key
    loss_a = a['message_hub']['log_scalars']['train/loss'].data[0][-3:]
    loss_b = b['message_hub']['log_scalars']['train/loss'].data[0][-3:]
    assert loss_a.tolist() == loss_b.tolist()  # the 3 losses of epoch 2


def test_non_finite_loss_stops_and_keeps_last_good_checkpoint(tmp_path, demo_root):
    work = str(tmp_path / 'w')
    _run(_write_cfg(tmp_path / 'ok.py', demo_root, 1), work, 'ok')
    before = (tmp_path / 'w' / 'epoch_1.pth').read_bytes()
    bad = _write_cfg(tmp_path / 'bad.py', demo_root, 2,
                     "model.update(pixel_head=dict(loss_weight=float('nan')))\n"
                     'resume_allow_model_change = True  # the injected NaN is a model change')
    with pytest.raises(NonFiniteLossError, match='epoch_1.pth'):
        _run(bad, work, 'bad')
    assert not osp.exists(tmp_path / 'w' / 'epoch_2.pth')
    assert (tmp_path / 'w' / 'epoch_1.pth').read_bytes() == before


def test_dist_train_two_gloo_ranks(tmp_path, demo_root):
    cfg = _write_cfg(tmp_path / 'dist.py', demo_root, 1, """
custom_imports = dict(imports=['surgvista_mm', 'tests.helpers.rank_dump_hook'],
                      allow_failed_imports=False)
custom_hooks = [dict(type='SurgVistaNonFiniteLossHook'), dict(type='_TestRankWeightsDumpHook')]
""")
    work = tmp_path / 'dist'
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PORT=str(29500 + os.getpid() % 1000), **CPU_ONLY_ENV)
    proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'), cfg, '2',
                           '--work-dir', str(work)], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'world size: 2' in log and 'GPU number: 2' in log
    r0 = torch.load(work / 'rank0_final.pth', weights_only=True)
    r1 = torch.load(work / 'rank1_final.pth', weights_only=True)
    _assert_same_state(r0, r1)
    ckpt = load_checkpoint_file(str(work / 'epoch_1.pth'))
    _assert_same_state(ckpt['state_dict'], r0)
    # each rank saw half of the samples: 2 iterations of 8 per rank instead of 4 for 1 process
    assert ckpt['meta']['iter'] == 2


def test_slurm_dry_run_prints_srun(tmp_path):
    env = dict(os.environ, DRY_RUN='1', GPUS='16', PYTHON=sys.executable)
    out = subprocess.run(['bash', osp.join(ROOT, 'tools', 'slurm_train.sh'), 'gpu', 'sv',
                          'configs/pretrain/surgvista_vitb.py', 'work_dirs/sv', '--seed', '1'],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert out.startswith('srun -p gpu --job-name=sv --gres=gpu:8 --ntasks=16 ')
    assert '--cpus-per-task=12 ' in out  # the config's 10 workers + 2 (tools/misc/resources.py)
    assert '--launcher=slurm' in out and '--work-dir=work_dirs/sv' in out
    assert out.strip().endswith('--seed 1')
    # a worker count overridden on the command line sizes the request
    out = subprocess.run(['bash', osp.join(ROOT, 'tools', 'slurm_train.sh'), 'gpu', 'sv',
                          'configs/pretrain/surgvista_vitb.py', 'work_dirs/sv', '--cfg-options',
                          'train_dataloader.num_workers=3'],
                         env=env, capture_output=True, text=True, check=True).stdout
    assert '--cpus-per-task=5 ' in out


def test_checkpoints_are_written_atomically(tmp_path, demo_root):
    work = tmp_path / 'at'
    _run(_write_cfg(tmp_path / 'at.py', demo_root, 1), str(work), 'at')
    assert (work / 'epoch_1.pth').is_file()
    assert not glob.glob(str(work / '.*.tmp'))
    assert (work / 'last_checkpoint').read_text().strip().endswith('epoch_1.pth')


def test_train_py_bf16_amp_config_on_cpu(tmp_path, demo_root):
    """tools/train.py runs a bf16 AmpOptimWrapper config on a machine without CUDA."""
    cfg = _write_cfg(tmp_path / 'bf16.py', demo_root, 1)
    work = tmp_path / 'bf16'
    env = dict(os.environ, **CPU_ONLY_ENV)
    proc = subprocess.run(
        [sys.executable, osp.join(ROOT, 'tools', 'train.py'), cfg, '--work-dir', str(work),
         '--cfg-options', 'optim_wrapper.type=AmpOptimWrapper', 'optim_wrapper.dtype=bfloat16'],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'SurgVistaAutocastOptimWrapper' in log
    ckpt = load_checkpoint_file(str(work / 'epoch_1.pth'))
    assert all(torch.isfinite(v).all() for v in ckpt['state_dict'].values())


def test_train_py_seed_and_resume_flags():
    import argparse

    from tests.helpers.tools import load_tool
    tool = load_tool('train')
    base = dict(config=DEMO_CFG, work_dir=None, cfg_options=None, launcher='none', local_rank=0,
                resume=None, no_resume=False, seed=None, sources=None)
    cfg = tool.configure(argparse.Namespace(**base))
    assert cfg.resume is True and cfg.train_dataloader.dataset.seed == 0
    assert cfg.work_dir == osp.join('work_dirs', 'surgvista_demo')
    cfg = tool.configure(argparse.Namespace(**dict(base, seed=7, no_resume=True)))
    assert cfg.randomness.seed == 7 and cfg.train_dataloader.dataset.seed == 7  # crops, masks
    assert cfg.resume is False
    cfg = tool.configure(argparse.Namespace(**dict(base, resume='w/epoch_3.pth')))
    assert cfg.resume is True and cfg.load_from == 'w/epoch_3.pth'
    assert cfg.resume_override_optim is False and cfg.resume_allow_model_change is False
    cfg = tool.configure(argparse.Namespace(**dict(base, resume_override_optim=True,
                                                   resume_allow_model_change=True)))
    assert cfg.resume_override_optim is True and cfg.resume_allow_model_change is True
