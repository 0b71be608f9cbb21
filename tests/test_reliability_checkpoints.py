"""Fault injection on checkpoints: no code runs from a checkpoint, no checkpoint is lost."""
from __future__ import annotations

import errno
import os
import os.path as osp
import pickletools
import shutil
import signal
import subprocess
import sys
import zipfile

import pytest
import torch
from mmengine.config import Config
from mmengine.fileio.backends import LocalBackend
from mmengine.logging import HistoryBuffer

from surgvista_mm.engine import CheckpointLoadError, SurgVistaRunner
from surgvista_mm.engine.checkpoint_io import (find_resume_checkpoint, is_complete_checkpoint,
                                               load_checkpoint_file)
from tests.helpers.devices import CPU_ONLY_ENV
from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN_CFG = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')
FINETUNE_CFG = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')


class _CreatesFile:
    """Unpickling this calls ``open(path, 'w')``: the file appears iff the pickle is executed."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, 'w'))


def _pickle_globals(path) -> list:
    """``module.name`` of every global a ``torch.save`` file's pickle refers to (read with
    pickletools, nothing executed)."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read(next(n for n in archive.namelist() if n.endswith('/data.pkl')))
    names, strings = [], []
    for op, arg, _ in pickletools.genops(data):
        if op.name == 'GLOBAL':
            names.append(arg.replace(' ', '.'))
        elif op.name == 'STACK_GLOBAL':
            names.append('.'.join(strings[-2:]))
        elif isinstance(arg, str):
            strings.append(arg)
    return names


@pytest.fixture(scope='module')
def demo_root(make_demo) -> str:
    return make_demo('--videos', '2', '--frames', '16', '--size', '64', '--web-videos', '1')


@pytest.fixture(scope='module')
def ft_root(make_demo) -> str:
    return make_demo('--videos', '3', '--frames', '24', '--size', '64', '--web-videos', '0',
                     '--no-progress')


def _write_cfg(path, demo_root: str, max_epochs: int, extra: str = '', keep: int = 1) -> str:
    path.write_text(f"""_base_ = [{PRETRAIN_CFG!r}]
data_root = {demo_root!r}
model = dict(teacher=dict(checkpoint=data_root + '/teacher/demo_teacher_vit.pth'))
train_dataloader = dict(batch_size=16, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
train_cfg = dict(max_epochs={max_epochs})
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(max_keep_ckpts={keep}))
visualizer = dict(vis_backends=[dict(type='LocalVisBackend')])
{extra}
""")
    return str(path)


@pytest.fixture(scope='module')
def epoch1(tmp_path_factory, demo_root) -> str:
    """The work dir of an uninterrupted 2-epoch run keeping both checkpoints: ``epoch_2.pth``
    is the reference; ``epoch_1.pth`` records keep_ckpt_ids=[1], so with max_keep_ckpts=1
    mmengine's own hook would delete it when a resumed run saves epoch 2."""
    root = tmp_path_factory.mktemp('epoch1')
    work = str(root / 'work')
    _runner(_write_cfg(root / 'c.py', demo_root, 2, keep=2), work).train()
    return work


def _copy_run(src: str, dst) -> str:
    """A work dir holding only ``src``'s ``epoch_1.pth``, named by ``last_checkpoint``."""
    dst.mkdir()
    shutil.copy(osp.join(src, 'epoch_1.pth'), dst / 'epoch_1.pth')
    (dst / 'last_checkpoint').write_text(str(dst / 'epoch_1.pth'))
    return str(dst)


def _runner(cfg_path: str, work_dir: str, **overrides) -> SurgVistaRunner:
    cfg = Config.fromfile(cfg_path)
    cfg.work_dir = work_dir
    cfg.merge_from_dict(overrides)
    return SurgVistaRunner.from_cfg(cfg)


def _evil(path, marker) -> str:
    """A file shaped like a training checkpoint whose unpickling would create ``marker``."""
    torch.save({'meta': {'epoch': 1, 'iter': 2}, 'state_dict': {'w': torch.zeros(1)},
                'optimizer': {}, 'param_schedulers': [], 'x': _CreatesFile(str(marker))}, path)
    return str(path)


def test_crafted_pickle_is_refused_at_every_entry_point(tmp_path, demo_root, ft_root, monkeypatch):
    marker = tmp_path / 'pwned'
    evil = _evil(tmp_path / 'epoch_1.pth', marker)
    # the file really is dangerous, shown without unpickling it: its pickle calls io.open, and
    # that call (the object's __reduce__, what a full unpickle runs) creates a file
    assert 'io.open' in _pickle_globals(evil)
    probe = tmp_path / 'probe'
    make, args = _CreatesFile(str(probe)).__reduce__()
    make(*args).close()
    assert probe.exists()

    cfg = _write_cfg(tmp_path / 'c.py', demo_root, 1)
    # 1. auto-resume: last_checkpoint names the crafted file
    work = tmp_path / 'auto'
    work.mkdir()
    (work / 'last_checkpoint').write_text(evil)
    with pytest.raises(CheckpointLoadError, match=r'io\.open.*could run code'):
        _runner(cfg, str(work)).load_or_resume()
    # 2. --resume FILE (tools/train.py sets resume=True, load_from=FILE)
    with pytest.raises(CheckpointLoadError, match='epoch_1.pth'):
        _runner(cfg, str(tmp_path / 'r'), resume=True, load_from=evil).load_or_resume()
    # 3. load_from (resume=False)
    with pytest.raises(CheckpointLoadError):
        _runner(cfg, str(tmp_path / 'l'), resume=False, load_from=evil).load_or_resume()
    # 4. the teacher's checkpoint
    with pytest.raises(RuntimeError, match='weights_only=True'):
        _runner(cfg, str(tmp_path / 't'), **{'model.teacher.checkpoint': evil}
                ).model.init_weights()
    # 5. init_cfg Pretrained of the backbone
    with pytest.raises(RuntimeError, match='weights_only=True'):
        _runner(cfg, str(tmp_path / 'i'), **{'model.backbone.init_cfg': dict(
            type='Pretrained', checkpoint=evil, prefix='backbone.')}).model.init_weights()
    # ... and an init_cfg read by mmengine's own loader (torch's default weights_only=True)
    with pytest.raises(Exception, match='[Ww]eights only load failed'):
        _runner(cfg, str(tmp_path / 'm'), **{'model.init_cfg': dict(
            type='Pretrained', checkpoint=evil)}).model.init_weights()
    # 6. the converter, own-run kind and published kinds, function and command line
    from surgvista_mm.checkpoint import convert_file
    with pytest.raises(CheckpointLoadError):
        convert_file(evil, str(tmp_path / 'o.pth'), 'surgvista-mm')
    convert = load_tool('convert_checkpoint')
    for kind in ('surgvista-mm', 'videomae'):
        assert convert.main([evil, str(tmp_path / f'{kind}.pth'), '--kind', kind]) == 1
    assert not (tmp_path / 'o.pth').exists()
    # 7. tools/test.py
    ft = Config.fromfile(FINETUNE_CFG)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        ft[key].dataset.data_root = ft_root
        ft[key].num_workers, ft[key].persistent_workers = 0, False
    ft.visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend')])
    ft_path = str(tmp_path / 'ft.py')
    ft.dump(ft_path)
    monkeypatch.setattr(sys, 'argv', ['test.py', ft_path, evil, '--work-dir',
                                      str(tmp_path / 'test')])
    with pytest.raises(CheckpointLoadError):
        load_tool('test').main()
    assert not marker.exists()


def test_history_buffer_allow_list_admits_no_other_getattr(tmp_path):
    class _Lookup:
        def __reduce__(self):
            return (getattr, (HistoryBuffer, '__init__'))
    torch.save({'x': _Lookup()}, tmp_path / 'g.pth')
    with pytest.raises(CheckpointLoadError, match='g.pth'):
        load_checkpoint_file(str(tmp_path / 'g.pth'))


def test_own_checkpoints_are_plain_and_kill_during_save_loses_nothing(tmp_path, demo_root,
                                                                       epoch1):
    """kill -9 while epoch 2 is being written (max_keep_ckpts=1): epoch 1 survives, auto-resume
    finishes the run with the weights of an uninterrupted one."""
    cfg = _write_cfg(tmp_path / 'c.py', demo_root, 2)
    ref = epoch1  # the uninterrupted run
    plain = torch.load(osp.join(ref, 'epoch_2.pth'), weights_only=True)  # no allow-list needed
    assert isinstance(plain['message_hub']['log_scalars']['train/loss'], dict)

    work = tmp_path / 'crash'
    _copy_run(epoch1, work)
    env = dict(os.environ, PYTHONPATH=ROOT, **CPU_ONLY_ENV, OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-m', 'tests.helpers.crash_during_save', cfg,
                           str(work), 'epoch_2.pth'], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    assert (work / '.epoch_2.pth.tmp').is_file()  # the half-written file
    assert not (work / 'epoch_2.pth').exists()
    assert is_complete_checkpoint(str(work / 'epoch_1.pth'))  # not deleted before the save
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_1.pth')

    resumed = _runner(cfg, str(work))
    resumed.train()  # resume=True in the config
    assert not (work / '.epoch_2.pth.tmp').exists()  # stale temporary file removed
    assert not (work / 'epoch_1.pth').exists()  # superseded, removed after epoch 2 was written
    a = load_checkpoint_file(osp.join(ref, 'epoch_2.pth'))
    b = load_checkpoint_file(str(work / 'epoch_2.pth'))
    assert a['meta']['iter'] == b['meta']['iter'] > 0
    for key in a['state_dict']:
        torch.testing.assert_close(a['state_dict'][key], b['state_dict'][key], rtol=0,
                                   atol=1e-6, msg=key)
    assert a['param_schedulers'] == b['param_schedulers']


def test_full_disk_names_the_path_and_keeps_the_previous_checkpoint(tmp_path, demo_root,
                                                                   epoch1, monkeypatch):
    cfg = _write_cfg(tmp_path / 'c.py', demo_root, 2)
    work = tmp_path / 'w'
    _copy_run(epoch1, work)
    put = LocalBackend.put

    def full_disk(self, obj, filepath):  # noqa: ANN001
        if osp.basename(str(filepath)) == '.epoch_2.pth.tmp':
            with open(filepath, 'wb') as f:
                f.write(obj[:100])
            raise OSError(errno.ENOSPC, 'No space left on device')
        put(self, obj, filepath)

    monkeypatch.setattr(LocalBackend, 'put', full_disk)
    with pytest.raises(OSError, match=r'could not write the checkpoint .*epoch_2\.pth') as info:
        _runner(cfg, str(work)).train()
    assert info.value.errno == errno.ENOSPC
    assert is_complete_checkpoint(str(work / 'epoch_1.pth'))
    assert not (work / '.epoch_2.pth.tmp').exists()
    assert (work / 'last_checkpoint').read_text().strip() == str(work / 'epoch_1.pth')


def test_auto_resume_falls_back_to_newest_complete_checkpoint(tmp_path):
    for n in (1, 2, 3):
        torch.save({'meta': {'epoch': n}}, tmp_path / f'epoch_{n}.pth')
    (tmp_path / 'epoch_3.pth').write_bytes((tmp_path / 'epoch_3.pth').read_bytes()[:50])
    pointer = tmp_path / 'last_checkpoint'
    assert find_resume_checkpoint(str(tmp_path))[0] == str(tmp_path / 'epoch_2.pth')  # missing
    for text, why in (('', 'is empty'), (str(tmp_path / 'epoch_9.pth'), 'does not exist'),
                      (str(tmp_path / 'epoch_3.pth'), 'truncated')):
        pointer.write_text(text)
        path, note = find_resume_checkpoint(str(tmp_path))
        assert path == str(tmp_path / 'epoch_2.pth') and why in note and 'epoch_2.pth' in note
    pointer.write_text(str(tmp_path / 'epoch_1.pth'))
    assert find_resume_checkpoint(str(tmp_path)) == (str(tmp_path / 'epoch_1.pth'), None)
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert find_resume_checkpoint(str(empty)) == (None, None)


def test_resume_without_optimizer_state_is_an_error_unless_allowed(tmp_path, demo_root, epoch1):
    cfg = _write_cfg(tmp_path / 'c.py', demo_root, 1)
    full = load_checkpoint_file(osp.join(epoch1, 'epoch_1.pth'))
    weights = {k: v for k, v in full.items() if k not in ('optimizer', 'param_schedulers')}
    torch.save(weights, tmp_path / 'best_x.pth')
    best = str(tmp_path / 'best_x.pth')
    with pytest.raises(ValueError, match=r'best_x.pth: it has no optimizer / param_schedulers'):
        _runner(cfg, str(tmp_path / 'b'), load_from=best).train()
    cfg2 = _write_cfg(tmp_path / 'c2.py', demo_root, 2)
    runner = _runner(cfg2, str(tmp_path / 'c'), load_from=best, allow_partial_resume=True)
    runner.train()
    assert runner.epoch == 2


def test_mmengine_format_checkpoints_load_with_the_exact_allow_list(tmp_path):
    """Files in mmengine's own format (older runs, other OpenMMLab projects) still load safely,
    and plain files round-trip HistoryBuffer / arrays / a state dict's _metadata."""
    import numpy as np
    from collections import OrderedDict

    from surgvista_mm.engine.checkpoint_io import from_plain, to_plain
    state = OrderedDict(w=torch.ones(2))
    state._metadata = OrderedDict({'': {'version': 2}})
    legacy = {'state_dict': state, 'message_hub': {
        'log_scalars': {'train/loss': HistoryBuffer([1.0, 3.0], [1, 1])},
        'runtime_info': {'eta': np.float64(2.5), 'best': np.array([1, 2])}}}
    torch.save(legacy, tmp_path / 'legacy.pth')
    with pytest.raises(Exception):
        torch.load(tmp_path / 'legacy.pth', weights_only=True)  # mmengine's format as such
    loaded = load_checkpoint_file(str(tmp_path / 'legacy.pth'))
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == 2.0
    assert loaded['message_hub']['runtime_info']['eta'] == 2.5
    torch.save(to_plain(legacy), tmp_path / 'plain.pth')
    back = from_plain(torch.load(tmp_path / 'plain.pth', weights_only=True))
    assert isinstance(back['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    assert back['message_hub']['log_scalars']['train/loss'].current() == 3.0
    assert back['message_hub']['runtime_info']['best'].tolist() == [1, 2]
    assert back['state_dict']._metadata == {'': {'version': 2}}
    with pytest.raises(TypeError, match=r"checkpoint\['x'\]: a .*_CreatesFile cannot be stored"):
        to_plain({'x': _CreatesFile('nope')})


def test_previous_best_checkpoint_is_removed_only_after_the_new_one_is_written(tmp_path):
    from types import SimpleNamespace

    from mmengine.fileio import get_file_backend
    from mmengine.logging import MessageHub, MMLogger

    from surgvista_mm.engine import SurgVistaCheckpointHook
    old = tmp_path / 'best_acc_epoch_1.pth'
    old.write_bytes(b'old best')
    hub = MessageHub.get_instance('test_best_deferral')
    hub.update_info('best_score', 0.5)
    seen = []

    def save_checkpoint(out_dir, filename, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        seen.append(old.exists())  # the previous best is still there while the new one is saved
        (tmp_path / filename).write_bytes(b'new best')

    runner = SimpleNamespace(epoch=2, iter=20, message_hub=hub, save_checkpoint=save_checkpoint,
                             logger=MMLogger.get_instance('test_best_deferral'))
    hook = SurgVistaCheckpointHook(interval=1, save_best='acc', rule='greater')
    hook.out_dir, hook.best_ckpt_path = str(tmp_path), str(old)
    hook.file_backend = get_file_backend(str(tmp_path))
    hook._save_best_checkpoint(runner, {'acc': 0.9})
    assert seen == [True]
    assert not old.exists() and (tmp_path / 'best_acc_epoch_2.pth').read_bytes() == b'new best'


def test_own_checkpoint_converts_without_any_flag(tmp_path, epoch1):
    out = tmp_path / 'backbone.pth'
    convert = load_tool('convert_checkpoint')
    assert convert.main([osp.join(epoch1, 'epoch_1.pth'), str(out), '--kind', 'surgvista-mm',
                         '--config', PRETRAIN_CFG]) == 0
    saved = torch.load(out, weights_only=True)
    own = load_checkpoint_file(osp.join(epoch1, 'epoch_1.pth'))['state_dict']
    assert saved['state_dict'] and all(k.startswith('backbone.') for k in saved['state_dict'])
    for key, value in saved['state_dict'].items():
        assert torch.equal(value, own[key]), key


def test_runner_refuses_to_run_when_torch_load_is_forced_unsafe(tmp_path, demo_root, monkeypatch):
    runner = _runner(_write_cfg(tmp_path / 'c.py', demo_root, 1), str(tmp_path / 'w'))
    monkeypatch.setenv('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    with pytest.raises(RuntimeError, match='TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD is set'):
        runner.train()
