"""Fault injection on configs and distributed runs: errors name the key; a stopped rank times
out."""
from __future__ import annotations

import argparse
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
from mmengine.config import Config

from surgvista_mm.utils import ConfigError, check_config, load_config
from surgvista_mm.utils.config_check import CfgOptionsAction
from tests.helpers.devices import CPU_ONLY_ENV
from tests.helpers.tools import load_tool

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PRETRAIN = osp.join(ROOT, 'configs', 'pretrain', 'surgvista_demo.py')
FINETUNE = osp.join(ROOT, 'configs', 'finetune', 'surgvista_demo_phase.py')


@pytest.mark.parametrize('option, match', [
    ({'optim_wrapper.optimizer.lr': 'fast'},
     r"optim_wrapper.optimizer.lr: expected a number \(the config has .*\), got str 'fast'"),
    ({'model.backbone.depth': 2.5},
     r'model.backbone.depth: expected an integer \(the config has 2\), got float 2.5'),
    ({'train_cfg.max_epochs': 'ten'}, r'train_cfg.max_epochs: expected an integer'),
    ({'model.backbone': 3}, r'model.backbone: expected a dict'),
    ({'env_cfg.dist_cgf': 1}, r"env_cfg has no key 'dist_cgf'; did you mean 'dist_cfg'\?"),
])
def test_bad_cfg_options_name_the_key_and_the_type(option, match):
    with pytest.raises(ConfigError, match=match):
        load_config(PRETRAIN, option)


def test_typo_in_an_option_of_a_typed_dict_is_checked_against_the_class():
    cfg = load_config(PRETRAIN, {'optim_wrapper.optimizer.lrr': 1e-3})
    with pytest.raises(ConfigError, match=r"optim_wrapper.optimizer.lrr: AdamW has no argument "
                                          r"'lrr'; did you mean 'lr'\?"):
        check_config(cfg, 'x.py')
    cfg = load_config(PRETRAIN, {'optim_wrapper.type': 'AmpOptimWrapper',
                                 'optim_wrapper.dtype': 'bfloat16'})  # dtype is no typo of type
    check_config(cfg, 'x.py')


def test_good_cfg_options_still_apply():
    cfg = load_config(PRETRAIN, {'optim_wrapper.optimizer.lr': 1, 'model.backbone.depth': 3,
                                 'log_level': 2024, 'model.backbone.init_cfg': None,
                                 'train_dataloader.dataset.new_key': 1})
    assert cfg.optim_wrapper.optimizer.lr == 1 and cfg.model.backbone.depth == 3
    assert cfg.log_level == '2024'  # a number given for a string entry becomes a string


def test_cfg_option_without_equals_is_a_clear_usage_error(capsys):
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction)
    with pytest.raises(SystemExit):
        parser.parse_args(['--cfg-options', 'a=1', 'foo'])
    assert "'foo' is not KEY=VALUE" in capsys.readouterr().err


def test_non_positive_max_epochs_is_an_error():
    for value in (0, -1, 2.5):
        cfg = load_config(PRETRAIN)
        cfg.train_cfg.max_epochs = value
        with pytest.raises(ConfigError, match=r'train_cfg.max_epochs must be a positive integer'):
            check_config(cfg, 'demo.py')


@pytest.mark.parametrize('path, key, value, match', [
    (PRETRAIN, 'model.backbone', 'embed_dim',
     r"model.backbone.embed_dim: SurgVistaViT has no argument 'embed_dim'; did you mean "
     r"'embed_dims'\?"),
    (PRETRAIN, 'model', 'mask_ration', r"model.mask_ration: .* did you mean"),
    (FINETUNE, 'model.cls_head', 'num_class', r"did you mean 'num_classes'\?"),
    (FINETUNE, 'train_dataloader.dataset', 'label_header_', r"did you mean 'label_header'\?"),
    (FINETUNE, 'train_dataloader.dataset.pipeline.0', 'num_thread',
     r"pipeline\[0\].num_thread: .*did you mean 'num_threads'\?"),
])
def test_nested_typos_are_reported_with_the_nearest_key(path, key, value, match):
    cfg = load_config(path)
    node = cfg
    for part in key.split('.'):
        node = node[int(part)] if part.isdigit() else node[part]
    node[value] = 1
    with pytest.raises(ConfigError, match=match):
        check_config(cfg, 'x.py')


def test_config_errors_come_before_the_config_dump(monkeypatch, capsys):
    train = load_tool('train')
    monkeypatch.setattr(sys, 'argv', ['train.py', PRETRAIN, '--cfg-options',
                                      'model.backbone.embed_dim=8'])
    with pytest.raises(SystemExit, match="did you mean 'embed_dims'"):
        train.main()
    captured = capsys.readouterr()
    assert 'Config:' not in captured.out + captured.err  # the Runner was never built


def test_stopped_rank_times_out_with_a_clear_message(tmp_path):
    """2 gloo ranks, ``env_cfg.dist_cfg.timeout=3``; rank 1 SIGSTOPs itself mid-epoch."""
    port = str(29600 + os.getpid() % 300)
    procs = []
    for rank in (0, 1):
        env = dict(os.environ, PYTHONPATH=ROOT, **CPU_ONLY_ENV, RANK=str(rank),
                   LOCAL_RANK=str(rank), WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
                   MASTER_PORT=port, OMP_NUM_THREADS='1')
        procs.append(subprocess.Popen(
            [sys.executable, '-m', 'tests.helpers.dist_timeout_run', str(tmp_path), '3'],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    try:
        start = time.monotonic()
        out, _ = procs[0].communicate(timeout=120)
        elapsed = time.monotonic() - start
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGKILL)
            p.wait()
    assert procs[0].returncode != 0, out[-3000:]
    assert 'DistributedTimeoutError: rank 0 of 2' in out, out[-3000:]
    assert 'env_cfg.dist_cfg.timeout=3 s' in out and 'Timed out waiting 3000ms' in out
    assert elapsed < 100


def test_default_runtime_documents_the_dist_timeout():
    from surgvista_mm.engine.runner import DEFAULT_DIST_TIMEOUT_S, dist_timeout_seconds
    cfg = Config.fromfile(PRETRAIN)
    assert cfg.env_cfg.dist_cfg.timeout == DEFAULT_DIST_TIMEOUT_S == 1800
    assert dist_timeout_seconds(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=5))))) == 5
    with pytest.raises(ValueError, match='timeout must be a positive number'):
        dist_timeout_seconds(Config(dict(env_cfg=dict(dist_cfg=dict(timeout=0)))))


def test_only_collective_timeouts_are_explained_as_such():
    from surgvista_mm.engine.runner import _is_timeout
    assert _is_timeout(RuntimeError('[../third_party/gloo/gloo/transport/tcp/unbound_buffer.cc:'
                                    '78] Timed out waiting 2000ms for recv operation'))
    assert not _is_timeout(RuntimeError('DataLoader worker (pid 7) timed out after 5 seconds'))
