"""Optimizer groups, config checks, atomic writes and the non-finite-loss hook."""
from __future__ import annotations

import json
import os

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config

from surgvista_mm.engine import NonFiniteLossError, SurgVistaOptimWrapperConstructor
from surgvista_mm.utils import ConfigError, atomic_write_json, check_config, load_config


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.patch_embed = nn.Linear(4, 4)
        self.blocks = nn.ModuleList([nn.Linear(4, 4) for _ in range(2)])
        self.mask_token = nn.Parameter(torch.zeros(1, 1, 4))

    def get_layer_depth(self, name: str, prefix: str = ''):
        name = name[len(prefix):]
        if name.startswith('patch_embed') or name.startswith('mask_token'):
            return 0, 4
        if name.startswith('blocks'):
            return int(name.split('.')[1]) + 1, 4
        return 3, 4


class _Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = _Backbone()
        self.head = nn.Linear(4, 2)
        self.frozen = nn.Linear(4, 4).requires_grad_(False)


def _groups(paramwise_cfg=None):
    ctor = SurgVistaOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=1.0, weight_decay=0.05)), paramwise_cfg)
    return ctor(_Model()).optimizer.param_groups


def test_no_decay_rules_and_frozen_params_left_out():
    groups = _groups()
    decay = {n for g in groups if g['weight_decay'] > 0 for n in g['param_names']}
    no_decay = {n for g in groups if g['weight_decay'] == 0 for n in g['param_names']}
    assert decay == {'backbone.patch_embed.weight', 'backbone.blocks.0.weight',
                     'backbone.blocks.1.weight', 'head.weight'}
    assert 'backbone.mask_token' in no_decay and 'head.bias' in no_decay
    assert not any(n.startswith('frozen') for g in groups for n in g['param_names'])
    assert len(groups) == 2  # grouped, not one group per parameter


def test_layer_decay_scales():
    groups = _groups(dict(layer_decay_rate=0.5))
    scale = {n: g['lr'] for g in groups for n in g['param_names']}
    assert scale['backbone.patch_embed.weight'] == pytest.approx(0.5 ** 3)
    assert scale['backbone.blocks.0.weight'] == pytest.approx(0.5 ** 2)
    assert scale['backbone.blocks.1.bias'] == pytest.approx(0.5)
    assert scale['head.weight'] == pytest.approx(1.0)


def test_unknown_paramwise_key_raises():
    with pytest.raises(KeyError, match='layer_decay'):
        _groups(dict(layer_decay=0.75))


def test_config_typo_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="did you mean 'optim_wrapper'"):
        check_config(Config(dict(optim_wraper=dict())), 'cfg.py')
    check_config(Config(dict(img_size=224, optim_wrapper=dict())), 'cfg.py')  # helpers are fine
    with pytest.raises(ConfigError, match='not found'):
        load_config(str(tmp_path / 'nope.py'))
    bad = tmp_path / 'bad.py'
    bad.write_text('model = dict(\n')
    with pytest.raises(ConfigError, match='bad.py'):
        load_config(str(bad))


def test_atomic_json_nan_to_null(tmp_path):
    path = tmp_path / 'out' / 'r.json'
    atomic_write_json(str(path), {'a': float('nan'), 'b': [1.0, float('inf')]})
    assert json.loads(path.read_text()) == {'a': None, 'b': [1.0, None]}
    assert os.listdir(path.parent) == ['r.json']  # no temporary file left behind
    umask = os.umask(0)
    os.umask(umask)
    assert (path.stat().st_mode & 0o777) == (0o666 & ~umask)  # as open() would, not 0o600


def test_non_finite_hook_raises_after_interval():
    from types import SimpleNamespace

    from surgvista_mm.engine import SurgVistaNonFiniteLossHook
    hook = SurgVistaNonFiniteLossHook(check_interval=3)
    runner = SimpleNamespace(iter=0, epoch=0, work_dir='/nonexistent')
    hook.before_train(runner)
    hook.after_train_iter(runner, 0, outputs={'loss': torch.tensor(1.0)})
    runner.iter = 1
    hook.after_train_iter(runner, 1, outputs={'loss': torch.tensor(float('nan'))})  # not checked yet
    runner.iter = 2
    with pytest.raises(NonFiniteLossError, match='iteration 3'):
        hook.after_train_iter(runner, 2, outputs={'loss': torch.tensor(1.0)})


def test_bf16_amp_config_runs_on_cpu():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope

    from surgvista_mm.compat import adapt_optim_wrapper_for_cpu
    if torch.cuda.is_available():
        pytest.skip('the swap only happens without CUDA')
    cfg = Config(dict(optim_wrapper=dict(type='AmpOptimWrapper', dtype='bfloat16',
                                         accumulative_counts=2, loss_scale='dynamic',
                                         optimizer=dict(type='AdamW', lr=1e-3))))
    assert 'SurgVistaAutocastOptimWrapper' in adapt_optim_wrapper_for_cpu(cfg)
    init_default_scope('surgvista_mm')
    model = nn.Linear(4, 4)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 4))
    assert out.dtype == torch.bfloat16
    fp16 = Config(dict(optim_wrapper=dict(type='AmpOptimWrapper', dtype='float16',
                                          optimizer=dict(type='AdamW', lr=1e-3))))
    with pytest.raises(ValueError, match='needs a GPU'):
        adapt_optim_wrapper_for_cpu(fp16)


def test_external_weights_with_argparse_options_load_safely(tmp_path):
    """Published checkpoints store an argparse Namespace beside the weights (spec section 6)."""
    import argparse

    from surgvista_mm.checkpoint.safe_load import load_external_weights
    path = tmp_path / 'published.pth'
    torch.save({'model': {'w': torch.ones(2)}, 'args': argparse.Namespace(lr=1e-3, name='x')},
               path)
    loaded = load_external_weights(str(path))
    assert loaded['args'].lr == 1e-3 and torch.equal(loaded['model']['w'], torch.ones(2))

    class Evil:
        def __reduce__(self):
            return (print, ('pwned',))
    torch.save({'x': Evil()}, tmp_path / 'evil.pth')
    with pytest.raises(RuntimeError, match='evil.pth'):
        load_external_weights(str(tmp_path / 'evil.pth'))


def test_gpu_node_without_usable_cuda_refuses_cpu_fallback(monkeypatch):
    import surgvista_mm.compat as compat
    if torch.cuda.is_available():
        pytest.skip('CUDA works here')
    real_exists = os.path.exists
    monkeypatch.setattr(compat.os.path, 'exists',
                        lambda p: True if p == '/dev/nvidia0' else real_exists(p))
    monkeypatch.delenv('SURGVISTA_ALLOW_CPU', raising=False)
    with pytest.raises(RuntimeError, match='SURGVISTA_ALLOW_CPU=1'):
        compat.patch_runner_cfg_for_device(Config(dict()), 'pytorch')
    monkeypatch.setenv('SURGVISTA_ALLOW_CPU', '1')
    assert compat.patch_runner_cfg_for_device(Config(dict()), 'none') is None
