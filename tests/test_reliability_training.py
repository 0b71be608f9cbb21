"""Fault injection on training runs (issue 16, round 3): batch sizes, work-dir locks, resume
checks of the model and optimizer configs, ruined weights."""
from __future__ import annotations

import os.path as osp

import pytest
from mmengine.config import Config

from surgvista_mm.engine import SurgVistaRunner
from tests.helpers.devices import CPU_ONLY_ENV
from tests.test_reliability_checkpoints import demo_root, ft_root  # noqa: F401 (fixtures)

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CFG = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')
FINETUNE_CFG = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')


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


# --------------------------------------------------------------------------- one run per work dir
# loads only engine/work_dir_lock.py (standard library), not the whole package: starts at once
_HOLD = ('import importlib.util, sys, time; '
         'spec = importlib.util.spec_from_file_location("wdl", sys.argv[2]); '
         'wdl = importlib.util.module_from_spec(spec); spec.loader.exec_module(wdl); '
         'lock = wdl.acquire_work_dir_lock(sys.argv[1]); print("locked", flush=True); '
         'time.sleep(600)')


def _hold_lock(work_dir: str):  # noqa: ANN202
    """A separate process holding ``work_dir``'s lock, as a first training run would."""
    import subprocess
    import sys
    module = osp.join(ROOT, 'surgvista_mm', 'engine', 'work_dir_lock.py')
    proc = subprocess.Popen([sys.executable, '-c', _HOLD, work_dir, module], cwd=ROOT,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == 'locked'
    return proc


def test_second_training_in_a_work_dir_fails_at_start(tmp_path, demo_root):
    import json
    import signal

    from surgvista_mm.engine.work_dir_lock import WorkDirLockedError
    work = tmp_path / 'w'
    first = _hold_lock(str(work))
    try:
        owner = json.loads((work / 'train.lock').read_text())
        assert owner['pid'] == first.pid and owner['host']
        runner = SurgVistaRunner.from_cfg(_pretrain_cfg(demo_root, str(work)))
        with pytest.raises(WorkDirLockedError, match=rf'{work} is in use by another training '
                           rf'run \(PID {first.pid} on host .*-c.*lock file .*train.lock'):
            runner.train()
        assert not (work / 'epoch_1.pth').exists()
    finally:
        first.send_signal(signal.SIGKILL)  # dies without cleaning up: a stale lock file
        first.wait()
    assert (work / 'train.lock').exists()
    warnings = []
    from surgvista_mm.engine.work_dir_lock import acquire_work_dir_lock
    acquire_work_dir_lock(str(work), warnings.append).release()
    assert len(warnings) == 1 and f'left by a run that no longer runs (PID {first.pid}' in \
        warnings[0]
    assert not (work / 'train.lock').exists()  # released: removed
    runner = SurgVistaRunner.from_cfg(_pretrain_cfg(demo_root, str(work)))
    runner.train()  # the work dir is free again
    assert (work / 'epoch_1.pth').is_file() and not (work / 'train.lock').exists()


def test_locked_work_dir_stops_every_rank(tmp_path, demo_root):
    """Distributed: rank 0 holds the lock; when it cannot, every rank fails at start with the
    same message instead of waiting in a collective for rank 0."""
    import os
    import signal
    import subprocess
    import sys
    import time
    work = tmp_path / 'dist'
    cfg = _pretrain_cfg(demo_root, str(work))
    cfg.dump(str(tmp_path / 'dist.py'))
    first = _hold_lock(str(work))
    env = dict(os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1',
               PORT=str(29500 + (os.getpid() + 7) % 1000), **CPU_ONLY_ENV)
    start = time.monotonic()
    try:
        proc = subprocess.run(['bash', osp.join(ROOT, 'tools', 'dist_train.sh'),
                               str(tmp_path / 'dist.py'), '2', '--work-dir', str(work)],
                              cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    log = proc.stdout + proc.stderr
    assert proc.returncode != 0, log[-3000:]
    assert time.monotonic() - start < 120  # not env_cfg.dist_cfg.timeout (1800 s)
    assert log.count(f'is in use by another training run (PID {first.pid}') >= 2, log[-3000:]
    assert not (work / 'epoch_1.pth').exists()


# --------------------------------------------------------------------------- resume checks
@pytest.fixture(scope='module')
def epoch1(tmp_path_factory, demo_root) -> str:
    """``epoch_1.pth`` of a 1-epoch pre-training run (num_heads 4, lr 1.5e-3)."""
    work = tmp_path_factory.mktemp('epoch1') / 'w'
    SurgVistaRunner.from_cfg(_pretrain_cfg(demo_root, str(work))).train()
    return str(work / 'epoch_1.pth')


def _resume_cfg(demo_root: str, epoch1: str, work, **overrides) -> Config:
    return _pretrain_cfg(demo_root, str(work), 2, resume=True, load_from=epoch1, **overrides)


def test_resume_with_a_changed_model_is_refused_naming_the_keys(tmp_path, demo_root, epoch1):
    import torch

    from surgvista_mm.engine.resume_checks import ResumeConfigError
    record = torch.load(epoch1, weights_only=True)['meta']['run_config']  # plain data
    assert record['model']['backbone']['num_heads'] == 4
    # num_heads 4 -> 2 changes no weight shape: mmengine resumed it silently
    runner = SurgVistaRunner.from_cfg(_resume_cfg(demo_root, epoch1, tmp_path / 'a',
                                                  **{'model.backbone.num_heads': 2}))
    with pytest.raises(ResumeConfigError, match=r'model config differs .*'
                       r'model\.backbone\.num_heads: checkpoint 4, config 2\).*'
                       r'--resume-allow-model-change'):
        runner.train()
    assert not (tmp_path / 'a' / 'epoch_2.pth').exists()
    # explicitly allowed
    runner = SurgVistaRunner.from_cfg(_resume_cfg(demo_root, epoch1, tmp_path / 'b',
                                                  **{'model.backbone.num_heads': 2,
                                                     'resume_allow_model_change': True}))
    runner.train()
    assert runner.epoch == 2
    # weights into a new run (load_from without resume, e.g. fine-tuning) are not a resume
    runner = SurgVistaRunner.from_cfg(_pretrain_cfg(demo_root, str(tmp_path / 'c'), 1,
                                                    resume=False, load_from=epoch1,
                                                    **{'model.backbone.num_heads': 2}))
    runner.train()
    assert runner.epoch == 1


def test_resume_with_a_changed_lr_is_refused_or_applied(tmp_path, demo_root, epoch1):
    from surgvista_mm.engine.checkpoint_io import load_checkpoint_file
    from surgvista_mm.engine.resume_checks import ResumeConfigError
    lower = {'optim_wrapper.optimizer.lr': 7.5e-4}
    runner = SurgVistaRunner.from_cfg(_resume_cfg(demo_root, epoch1, tmp_path / 'a', **lower))
    with pytest.raises(ResumeConfigError, match=r'optim_wrapper\.optimizer\.lr: checkpoint '
                       r'0\.0015, config 0\.00075\).*--resume-override-optim'):
        runner.train()
    # applied: the LR schedule of a run made with lr 7.5e-4 from the start, at the same step
    SurgVistaRunner.from_cfg(_resume_cfg(demo_root, epoch1, tmp_path / 'b',
                                         resume_override_optim=True, **lower)).train()
    SurgVistaRunner.from_cfg(_pretrain_cfg(demo_root, str(tmp_path / 'c'), 2, **lower)).train()
    resumed = load_checkpoint_file(str(tmp_path / 'b' / 'epoch_2.pth'))
    fresh = load_checkpoint_file(str(tmp_path / 'c' / 'epoch_2.pth'))
    old = load_checkpoint_file(epoch1)
    lrs = [[g['lr'] for g in c['optimizer']['param_groups']] for c in (resumed, fresh, old)]
    assert lrs[0] == lrs[1] and lrs[0][0] < lrs[2][0]
    for a, b in zip(resumed['param_schedulers'], fresh['param_schedulers']):
        assert a == b, (a, b)
    assert set(resumed['param_schedulers'][1]['base_values']) == {7.5e-4}
    # the moments were kept from the checkpoint, not restarted
    assert resumed['optimizer']['state'][0]['step'] == fresh['optimizer']['state'][0]['step']


def test_resume_at_another_total_batch_under_auto_scale_lr_is_refused_or_applied(tmp_path,
                                                                                demo_root):
    """auto_scale_lr scales the config's LR to the clips per optimizer step; a resume at another
    batch size gave the log line "LR scaled by 0.5" but kept the checkpoint's LR (the record held
    the unscaled config LR, so even --resume-override-optim found nothing to apply)."""
    import torch

    from surgvista_mm.engine.resume_checks import ResumeConfigError
    scaled = {'auto_scale_lr': dict(enable=True, base_batch_size=4),
              'train_dataloader.batch_size': 4}
    SurgVistaRunner.from_cfg(_pretrain_cfg(demo_root, str(tmp_path / 'w'), 1, **scaled)).train()
    epoch1 = str(tmp_path / 'w' / 'epoch_1.pth')
    record = torch.load(epoch1, weights_only=True)['meta']['run_config']['auto_scale_lr']
    assert record == {'clips_per_step': 4, 'factor': 1.0, 'scaled_lr': 1.5e-3}
    half = dict(scaled, **{'train_dataloader.batch_size': 2})
    runner = SurgVistaRunner.from_cfg(_resume_cfg(demo_root, epoch1, tmp_path / 'a', **half))
    with pytest.raises(ResumeConfigError, match=r'auto_scale_lr\.clips_per_step: checkpoint 4, '
                       r'config 2; auto_scale_lr\.factor: checkpoint 1\.0, config 0\.5; '
                       r'auto_scale_lr\.scaled_lr: checkpoint 0\.0015, config 0\.00075\) '
                       r'\(auto_scale_lr scales .*--resume-override-optim'):
        runner.train()
    assert not (tmp_path / 'a' / 'epoch_2.pth').exists()
    # applied: the scaled LR of this launch, with the moments of the checkpoint
    SurgVistaRunner.from_cfg(_resume_cfg(demo_root, epoch1, tmp_path / 'b',
                                         resume_override_optim=True, **half)).train()
    resumed = torch.load(tmp_path / 'b' / 'epoch_2.pth', weights_only=True)
    assert set(resumed['param_schedulers'][1]['base_values']) == {7.5e-4}
    assert resumed['meta']['run_config']['auto_scale_lr']['scaled_lr'] == 7.5e-4
    assert int(resumed['optimizer']['state'][0]['step']) == resumed['meta']['iter']


# --------------------------------------------------------------------------- ruined weights
def _tiny_run(work_dir: str, **hook_args):  # noqa: ANN202
    """A non-finite hook with ``hook_args``, set up (``before_train``) on a stand-in runner
    training a Linear(4, 4) with SGD."""
    from types import SimpleNamespace

    import torch
    from mmengine.logging import MessageHub

    from surgvista_mm.engine import SurgVistaNonFiniteLossHook
    model = torch.nn.Linear(4, 4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    runner = SimpleNamespace(iter=0, epoch=0, work_dir=work_dir, model=model,
                             optim_wrapper=SimpleNamespace(optimizer=optimizer),
                             message_hub=MessageHub.get_instance('test_ruined_weights'))
    hook = SurgVistaNonFiniteLossHook(**hook_args)
    hook.before_train(runner)
    return hook, runner


def test_weights_beyond_the_bound_stop_the_run_with_a_finite_loss(tmp_path):
    import torch

    from surgvista_mm.engine import NonFiniteLossError
    hook, runner = _tiny_run(str(tmp_path), check_interval=2, max_param_norm=1e4)
    hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})
    with torch.no_grad():
        runner.model.weight.mul_(1e34)  # finite, ruined
    runner.iter = 1
    with pytest.raises(NonFiniteLossError, match=r'parameter norm inf \(non-finite parameters, '
                       r'or ones too large .*none saved yet'):
        hook.after_train_iter(runner, 1, outputs={'loss': torch.tensor(1.0)})
    hook, runner = _tiny_run(str(tmp_path), max_param_norm=1e4)
    with torch.no_grad():
        runner.model.weight.mul_(1e6)
    with pytest.raises(NonFiniteLossError, match=r'parameter norm [0-9.]+e\+06 above '
                       r'max_param_norm=10000 \(the weights are being ruined'):
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})
    # gradients: measured in an optimizer step pre-hook on check iterations, before the step
    hook, runner = _tiny_run(str(tmp_path), max_grad_norm=1e6)
    (runner.model(torch.ones(1, 4)).sum() * 1e12).backward()
    runner.optim_wrapper.optimizer.step()
    with pytest.raises(NonFiniteLossError, match=r'gradient norm .* above max_grad_norm=1e\+06'):
        hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})
    hook.after_train(runner)
    assert not hook._handles


def test_nan_stop_names_the_last_checkpoint_with_sound_weights(tmp_path, demo_root, epoch1):
    """Epoch 2 ruins the weights (patch embedding x 1e12: the loss stays finite) → the run stops
    naming epoch_1.pth; a newer checkpoint recorded as unsound is skipped."""
    import shutil
    import time

    import torch
    from mmengine.hooks import Hook

    from surgvista_mm.engine import NonFiniteLossError
    from surgvista_mm.engine.checkpoint_io import load_checkpoint_file, to_plain
    from surgvista_mm.engine.hooks.non_finite_loss_hook import last_sound_checkpoint
    assert torch.load(epoch1, weights_only=True)['meta']['weights_check']['sound'] is True

    class _Ruin(Hook):
        def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
            if runner.epoch == 1 and batch_idx == 0:
                with torch.no_grad():
                    runner.model.backbone.patch_embed.proj.weight.mul_(1e12)
            self.loss = float(outputs['loss'])

    work = tmp_path / 'w'
    work.mkdir()
    shutil.copy(epoch1, work / 'epoch_1.pth')
    runner = SurgVistaRunner.from_cfg(_pretrain_cfg(demo_root, str(work), 2))
    ruin = _Ruin()
    runner.register_hook(ruin, priority='VERY_HIGH')
    with pytest.raises(NonFiniteLossError, match=r'parameter norm .* above max_param_norm=100000'
                       r'.*weights were finite and within bounds: .*epoch_1\.pth\. .*'
                       r'--resume-override-optim'):
        runner.train()
    assert ruin.loss == ruin.loss and abs(ruin.loss) < 1e30  # the loss was finite
    assert not (work / 'epoch_2.pth').exists()
    # a newer checkpoint recorded with ruined weights is skipped
    bad = load_checkpoint_file(str(work / 'epoch_1.pth'))
    bad['meta']['weights_check'] = dict(param_norm=1e34, finite=True, sound=False)
    time.sleep(0.01)
    torch.save(to_plain(bad), work / 'iter_9.pth')
    assert last_sound_checkpoint([str(work)]) == (str(work / 'epoch_1.pth'),
                                                  [str(work / 'iter_9.pth')])


def test_resume_config_comparison_rules():
    """Lists by index, 1 == 1.0, NaN == NaN, weight locations and kernels ignored; a checkpoint
    without a record resumes with a warning saying nothing could be compared."""
    from mmengine.config import Config

    from surgvista_mm.engine.resume_checks import (check_resume_config, config_differences,
                                                   run_config_record)
    old = {'backbone': {'depth': 2, 'drop': 0.0, 'scale': float('nan'), 'with_cp': False,
                        'init_cfg': {'checkpoint': 'a.pth'}}, 'sizes': [1, 2]}
    new = {'backbone': {'depth': 2.0, 'drop': 0.1, 'scale': float('nan'), 'with_cp': True,
                        'init_cfg': None}, 'sizes': [1, 2, 3], 'extra': 'x'}
    assert config_differences(old, new, 'model') == [
        ('model.backbone.drop', 0.0, 0.1), ('model.sizes', [1, 2], [1, 2, 3]),
        ('model.extra', '<absent>', 'x')]
    cfg = Config(dict(model=dict(type='M', depth=2), optim_wrapper=dict(
        optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.95))),
        param_scheduler=[dict(type='LinearLR', start_factor=1e-3)]))
    record = run_config_record(cfg, 1)
    assert record['optimizer']['betas'] == [0.9, 0.95]  # plain lists
    warnings = []
    logger = type('L', (), {'warning': staticmethod(warnings.append)})
    assert check_resume_config(cfg, {'meta': {'run_config': record}}, 'e.pth', logger, 1) == []
    assert check_resume_config(cfg, {'meta': {}}, 'old.pth', logger, 1) == []
    assert len(warnings) == 1 and 'old.pth holds no run_config' in warnings[0]


def test_lock_without_flock_checks_the_recorded_pid(tmp_path, monkeypatch):
    """On a file system without flock the recorded owner decides: a live PID on this host or any
    PID on another host is refused; a dead PID on this host is taken over with a warning."""
    import json
    import os
    import socket
    import subprocess

    from surgvista_mm.engine import work_dir_lock as wdl
    monkeypatch.setattr(wdl, '_flock', lambda fd: None)
    gone = subprocess.Popen(['true'])  # a PID that no longer runs
    gone.wait()
    host = socket.gethostname()
    lock = tmp_path / 'train.lock'
    for owner, refused in (({'pid': os.getppid(), 'host': host}, 'in use by another training'),
                           ({'pid': gone.pid, 'host': 'node-b'}, 'locked by a training run on '
                            'another host'),
                           ({'pid': gone.pid, 'host': host}, None)):
        lock.write_text(json.dumps(owner))
        warnings = []
        if refused:
            with pytest.raises(wdl.WorkDirLockedError, match=refused):
                wdl.acquire_work_dir_lock(str(tmp_path), warnings.append)
            assert json.loads(lock.read_text()) == owner  # left as it was
        else:
            held = wdl.acquire_work_dir_lock(str(tmp_path), warnings.append)
            assert json.loads(lock.read_text())['pid'] == os.getpid()
            assert f'no longer runs (PID {gone.pid}' in warnings[0]
            held.release()
            assert not lock.exists()
